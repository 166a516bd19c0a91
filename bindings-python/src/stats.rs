//! A client's or server's counters as a Python object.

use muxwire::StatsSnapshot;
use pyo3::prelude::*;

/// A point-in-time copy of a client's or server's counters.
#[pyclass(frozen, get_all, module = "muxwire._muxwire")]
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Calls started (made by a client, or received by a server).
    calls_started: u64,
    /// Calls that ended OK.
    calls_ok: u64,
    /// Calls that failed, by status code (index = code).
    calls_failed: Vec<u64>,
    /// Bytes read from sockets.
    bytes_in: u64,
    /// Bytes written to sockets.
    bytes_out: u64,
    /// Frames received.
    frames_in: u64,
    /// Frames sent.
    frames_out: u64,
    /// Calls in flight now.
    in_flight: u64,
    /// Connections re-established after a failure.
    reconnects: u64,
    /// Connections opened.
    connections: u64,
    /// Calls or frames rejected by a limit.
    limit_rejections: u64,
    /// One-way messages dropped (no handler, or over a limit).
    one_way_dropped: u64,
}

impl From<StatsSnapshot> for Stats {
    fn from(s: StatsSnapshot) -> Stats {
        Stats {
            calls_started: s.calls_started,
            calls_ok: s.calls_ok,
            calls_failed: s.calls_failed.to_vec(),
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            frames_in: s.frames_in,
            frames_out: s.frames_out,
            in_flight: s.in_flight,
            reconnects: s.reconnects,
            connections: s.connections,
            limit_rejections: s.limit_rejections,
            one_way_dropped: s.one_way_dropped,
        }
    }
}

#[pymethods]
impl Stats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(calls_started={}, calls_ok={}, calls_failed={}, in_flight={}, connections={})",
            self.calls_started,
            self.calls_ok,
            self.calls_failed.iter().sum::<u64>(),
            self.in_flight,
            self.connections
        )
    }
}
