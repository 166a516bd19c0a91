//! Counters kept by clients and servers, readable as a snapshot at any time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, shared by every connection of a client or server.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) calls_started: AtomicU64,
    pub(crate) calls_ok: AtomicU64,
    pub(crate) calls_failed: [AtomicU64; 17],
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) write_syscalls: AtomicU64,
    pub(crate) read_syscalls: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) limit_rejections: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) write_queue_peak: AtomicU64,
    pub(crate) bytes_in_place: AtomicU64,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Calls started (made by a client, or received by a server).
    pub calls_started: u64,
    /// Calls that ended OK.
    pub calls_ok: u64,
    /// Calls that failed, by status code (index = code; reserved codes count as UNKNOWN).
    pub calls_failed: [u64; 17],
    /// Bytes read from sockets.
    pub bytes_in: u64,
    /// Bytes written to sockets.
    pub bytes_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// `writev` calls.
    pub write_syscalls: u64,
    /// `read` calls.
    pub read_syscalls: u64,
    /// Calls in flight now.
    pub in_flight: u64,
    /// Connections re-established after a failure.
    pub reconnects: u64,
    /// Calls or frames rejected by a limit.
    pub limit_rejections: u64,
    /// Connections opened.
    pub connections: u64,
    /// The most bytes one connection has had waiting for its socket (bounded: past 8 MiB
    /// a connection takes no new work until its writer catches up).
    pub write_queue_peak: u64,
    /// Message bytes read from the socket straight into the buffer of the message they
    /// continue (chunks of 64 KiB and more), instead of being copied there.
    pub bytes_in_place: u64,
}

impl Stats {
    /// Copies every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut failed = [0; 17];
        for (i, c) in self.calls_failed.iter().enumerate() {
            failed[i] = c.load(Relaxed);
        }
        StatsSnapshot {
            calls_started: self.calls_started.load(Relaxed),
            calls_ok: self.calls_ok.load(Relaxed),
            calls_failed: failed,
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            frames_in: self.frames_in.load(Relaxed),
            frames_out: self.frames_out.load(Relaxed),
            write_syscalls: self.write_syscalls.load(Relaxed),
            read_syscalls: self.read_syscalls.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            limit_rejections: self.limit_rejections.load(Relaxed),
            connections: self.connections.load(Relaxed),
            write_queue_peak: self.write_queue_peak.load(Relaxed),
            bytes_in_place: self.bytes_in_place.load(Relaxed),
        }
    }

    /// Raises `c` to `v` if `v` is larger.
    pub(crate) fn peak(c: &AtomicU64, v: u64) {
        if v > c.load(Relaxed) {
            c.fetch_max(v, Relaxed);
        }
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub(crate) fn ended(&self, code: muxwire_core::wire::StatusCode) {
        if code.0 == 0 {
            self.calls_ok.fetch_add(1, Relaxed);
        } else {
            self.calls_failed[code.effective().0 as usize].fetch_add(1, Relaxed);
        }
        self.in_flight.fetch_sub(1, Relaxed);
    }
}
