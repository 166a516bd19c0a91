//! `muxwire_stats`: a copy of a client's or server's counters.

use muxwire::StatsSnapshot;

/// A client's or server's counters at one moment.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct muxwire_stats {
    /// Calls started (made by a client, or received by a server).
    pub calls_started: u64,
    /// Calls that ended OK.
    pub calls_ok: u64,
    /// Calls that failed, by status code (index = code, 0 unused).
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
    /// One-way messages received and dropped (no handler, or undecodable).
    pub one_way_dropped: u64,
}

impl From<StatsSnapshot> for muxwire_stats {
    fn from(s: StatsSnapshot) -> muxwire_stats {
        muxwire_stats {
            calls_started: s.calls_started,
            calls_ok: s.calls_ok,
            calls_failed: s.calls_failed,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            frames_in: s.frames_in,
            frames_out: s.frames_out,
            write_syscalls: s.write_syscalls,
            read_syscalls: s.read_syscalls,
            in_flight: s.in_flight,
            reconnects: s.reconnects,
            limit_rejections: s.limit_rejections,
            connections: s.connections,
            one_way_dropped: s.one_way_dropped,
        }
    }
}
