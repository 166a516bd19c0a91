//! Counters kept by clients and servers, readable as a snapshot at any time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::method_stats::{MethodMetrics, MethodSnapshot};

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
    pub(crate) one_way_dropped: AtomicU64,
    /// Connections closed, by connection error code (13: codes this version does not
    /// know), closed by this end and by the peer.
    closed_local: [AtomicU64; 14],
    closed_by_peer: [AtomicU64; 14],
    pub(crate) keepalive_timeouts: AtomicU64,
    /// Per-method counters, when `Options::method_metrics` is on (see `track_methods`).
    methods: std::sync::Mutex<Vec<(String, std::sync::Arc<MethodMetrics>)>>,
    pub(crate) server_write_queue_peak: AtomicU64,
    pub(crate) refused_max_connections: AtomicU64,
    pub(crate) refused_connection_budget: AtomicU64,
    pub(crate) refused_server_cancel_budget: AtomicU64,
}

/// A point-in-time copy of [`Stats`] (more counters may be added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The most bytes one connection has had waiting for its socket (at most 8 MiB: a
    /// connection takes no new work 512 KiB below that until its writer catches up).
    pub write_queue_peak: u64,
    /// Message bytes read from the socket straight into the buffer of the message they
    /// continue (chunks of 64 KiB and more), instead of being copied there.
    pub bytes_in_place: u64,
    /// One-way messages received and dropped: no unary handler for their method, or a
    /// body that could not be decompressed (each also logged, at most every 10 s per
    /// connection).
    pub one_way_dropped: u64,
    /// Connections this end closed, by connection error code (index = code: NO_ERROR for
    /// a drain, an idle timeout or a shutdown; index 13 counts codes past TIMEOUT).
    pub connections_closed_local: [u64; 14],
    /// Connections the peer closed (its GOAWAY, or the transport ending), by code.
    pub connections_closed_by_peer: [u64; 14],
    /// Connections closed because the peer did not answer a keepalive PING within
    /// `Options::ping_timeout` (also counted under TIMEOUT above).
    pub keepalive_timeouts: u64,
    /// Calls handled, per method: counts by status code and latency histograms (empty
    /// unless `Options::method_metrics` is on). Sorted by name, with calls to
    /// unregistered methods last, under [`crate::UNKNOWN_METHOD`].
    pub methods: Vec<MethodSnapshot>,
    /// Servers: the most bytes all connections together have had waiting for their
    /// sockets (see `Options::server_outbound_limit`).
    pub server_write_queue_peak: u64,
    /// Servers: connections refused because `max_connections` were open.
    pub refused_max_connections: u64,
    /// Servers: connections refused because `connection_budget` new connections had come
    /// in that second.
    pub refused_connection_budget: u64,
    /// Servers: connections refused, or closed for cancelling a call, because
    /// `server_cancel_budget` CANCELs had come in that second over the whole server.
    pub refused_server_cancel_budget: u64,
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
            one_way_dropped: self.one_way_dropped.load(Relaxed),
            connections_closed_local: std::array::from_fn(|i| self.closed_local[i].load(Relaxed)),
            connections_closed_by_peer: std::array::from_fn(|i| {
                self.closed_by_peer[i].load(Relaxed)
            }),
            keepalive_timeouts: self.keepalive_timeouts.load(Relaxed),
            methods: self
                .methods
                .lock()
                .expect("lock")
                .iter()
                .map(|(name, m)| m.snapshot(name))
                .collect(),
            server_write_queue_peak: self.server_write_queue_peak.load(Relaxed),
            refused_max_connections: self.refused_max_connections.load(Relaxed),
            refused_connection_budget: self.refused_connection_budget.load(Relaxed),
            refused_server_cancel_budget: self.refused_server_cancel_budget.load(Relaxed),
        }
    }

    /// Reports these methods' counters from now on (in place of any before): a router's
    /// (`Router::metrics`).
    pub(crate) fn track_methods(&self, methods: Vec<(String, std::sync::Arc<MethodMetrics>)>) {
        *self.methods.lock().expect("lock") = methods;
    }

    /// Counts a connection closed with connection error `code`, by the peer or not.
    pub(crate) fn connection_closed(&self, code: muxwire_core::wire::ErrorCode, by_peer: bool) {
        let i = (code.0 as usize).min(13);
        let side = if by_peer {
            &self.closed_by_peer
        } else {
            &self.closed_local
        };
        side[i].fetch_add(1, Relaxed);
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
}

/// The per-call counts of one connection, kept by its driver and added to the shared
/// [`Stats`] once per turn (before its frames go out, so a peer that sees a reply also
/// sees it counted): one atomic operation per counter per turn instead of several per call.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    started: u64,
    ok: u64,
    failed: [u64; 17],
    /// Calls tracked as in flight that started and ended since the last publish.
    opened: u64,
    closed: u64,
    frames_out: u64,
}

impl Tally {
    /// A call started; `tracked` unless it is one-way (those are never in flight).
    pub(crate) fn started(&mut self, tracked: bool) {
        self.started += 1;
        self.opened += u64::from(tracked);
    }

    /// A tracked call ended with `code`.
    pub(crate) fn ended(&mut self, code: muxwire_core::wire::StatusCode) {
        self.outcome(code);
        self.closed += 1;
    }

    /// A one-way call's handler ended with `code`.
    pub(crate) fn one_way_ended(&mut self, code: muxwire_core::wire::StatusCode) {
        self.outcome(code);
    }

    fn outcome(&mut self, code: muxwire_core::wire::StatusCode) {
        if code.0 == 0 {
            self.ok += 1;
        } else {
            self.failed[code.effective().0 as usize] += 1;
        }
    }

    /// A frame was encoded.
    pub(crate) fn frame_out(&mut self) {
        self.frames_out += 1;
    }

    /// Adds the counts to `stats` and starts again from zero.
    pub(crate) fn publish(&mut self, stats: &Stats) {
        let t = std::mem::take(self);
        let add = |c: &AtomicU64, n: u64| {
            if n > 0 {
                c.fetch_add(n, Relaxed);
            }
        };
        add(&stats.calls_started, t.started);
        add(&stats.calls_ok, t.ok);
        for (c, n) in stats.calls_failed.iter().zip(t.failed) {
            add(c, n);
        }
        add(&stats.frames_out, t.frames_out);
        // Opened before closed: a call counted in both never takes the gauge below zero.
        add(&stats.in_flight, t.opened);
        if t.closed > 0 {
            stats.in_flight.fetch_sub(t.closed, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muxwire_core::wire::StatusCode;

    #[test]
    fn a_tally_adds_up_and_keeps_one_way_calls_out_of_the_gauge() {
        let stats = Stats::default();
        let mut t = Tally::default();
        t.started(true);
        t.started(true);
        t.started(false);
        t.ended(StatusCode::OK);
        t.one_way_ended(StatusCode::INTERNAL);
        t.frame_out();
        assert_eq!(
            stats.snapshot(),
            StatsSnapshot::default(),
            "nothing before publish"
        );
        t.publish(&stats);
        let s = stats.snapshot();
        assert_eq!((s.calls_started, s.calls_ok, s.in_flight), (3, 1, 1));
        assert_eq!(s.calls_failed[StatusCode::INTERNAL.0 as usize], 1);
        assert_eq!(s.frames_out, 1);
        t.ended(StatusCode::CANCELLED);
        t.publish(&stats);
        t.publish(&stats);
        let s = stats.snapshot();
        assert_eq!(s.in_flight, 0);
        assert_eq!(s.calls_failed.iter().sum::<u64>(), 2);
    }
}
