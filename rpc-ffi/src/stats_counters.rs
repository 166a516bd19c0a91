//! Any counter of a `muxwire_stats_snapshot` by name: the ones `muxwire_stats` has no
//! field for (the write queue's peak, bytes read in place, connections refused by each
//! server limit) and every other, so that counters the runtime adds can be read without
//! a new struct layout.

use std::ffi::c_char;

use muxwire::StatsSnapshot;

use crate::args::{obj, text, Out};
use crate::boundary::guard;
use crate::error::Failure;
use crate::result::muxwire_result;
use crate::stats_snapshot::muxwire_stats_snapshot;

/// Every counter by name.
fn counters(s: &StatsSnapshot) -> [(&'static str, u64); 19] {
    [
        ("calls_started", s.calls_started),
        ("calls_ok", s.calls_ok),
        ("bytes_in", s.bytes_in),
        ("bytes_out", s.bytes_out),
        ("frames_in", s.frames_in),
        ("frames_out", s.frames_out),
        ("write_syscalls", s.write_syscalls),
        ("read_syscalls", s.read_syscalls),
        ("in_flight", s.in_flight),
        ("reconnects", s.reconnects),
        ("limit_rejections", s.limit_rejections),
        ("connections", s.connections),
        ("write_queue_peak", s.write_queue_peak),
        ("bytes_in_place", s.bytes_in_place),
        ("one_way_dropped", s.one_way_dropped),
        ("keepalive_timeouts", s.keepalive_timeouts),
        ("refused_max_connections", s.refused_max_connections),
        ("refused_connection_budget", s.refused_connection_budget),
        (
            "refused_server_cancel_budget",
            s.refused_server_cancel_budget,
        ),
    ]
}

/// Stores the counter called `name` in `*value`: `calls_started`, `calls_ok`, `bytes_in`,
/// `bytes_out`, `frames_in`, `frames_out`, `write_syscalls`, `read_syscalls`,
/// `in_flight`, `reconnects`, `limit_rejections`, `connections`, `write_queue_peak` (the
/// most bytes one connection had waiting for its socket), `bytes_in_place`,
/// `one_way_dropped`, `keepalive_timeouts`, and for servers `refused_max_connections`,
/// `refused_connection_budget`, `refused_server_cancel_budget` (connections refused by
/// each limit). NOT_FOUND for a name it does not know (the message lists the names).
///
/// # Safety
/// `snapshot` NULL or live; `name` NULL or a NUL-terminated string; `value` NULL or valid
/// for writing a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_counter(
    snapshot: *const muxwire_stats_snapshot,
    name: *const c_char,
    value: *mut u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (s, name) = unsafe { (obj(snapshot, "snapshot")?, text(name, "name")?) };
        let out = Out::new(value, "value")?;
        let all = counters(&s.stats);
        let Some((_, v)) = all.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            return Err(Failure::new(
                muxwire_result::NotFound,
                format!("no counter {name:?}; there are {}", names.join(", ")),
            ));
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(*v) };
        Ok(())
    })
}
