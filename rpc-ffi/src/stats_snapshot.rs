//! `muxwire_stats_snapshot`: every counter of a client or server at one moment, read
//! through accessors (so that counters can be added without changing a struct's layout):
//! the `muxwire_stats` counters, connections closed by code and side, keepalive timeouts,
//! and per-method counts and latency histograms (`muxwire_options_set_method_metrics`).

use std::ffi::{c_char, CString};

use muxwire::{StatsSnapshot, LATENCY_BOUNDS_US};

use crate::args::{into_handle, obj, take_handle, Out};
use crate::boundary::{guard, guard_value};
use crate::client::muxwire_client;
use crate::error::{c_string, Failure};
use crate::result::muxwire_result;
use crate::server::{muxwire_server, stats_of};
use crate::stats::muxwire_stats;

/// Latency buckets per method: one per bound (`muxwire_latency_bound_us`) and one for
/// anything longer.
pub const MUXWIRE_LATENCY_BUCKETS: usize = 19;

/// Connection error codes counted apart (index 13 counts every code past TIMEOUT).
pub const MUXWIRE_CLOSE_CODES: usize = 14;

const _: () = assert!(LATENCY_BOUNDS_US.len() + 1 == MUXWIRE_LATENCY_BUCKETS);

/// One method's counters in a snapshot.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_method_stats {
    /// The method's name (NUL-terminated; "(unknown)" for calls to unregistered methods),
    /// valid as long as the snapshot.
    pub method: *const c_char,
    /// Calls started.
    pub started: u64,
    /// Calls ended, by status code (index = code; OK at 0).
    pub ended: [u64; 17],
    /// Answered calls by latency: entry `i` counts those up to
    /// `muxwire_latency_bound_us(i)` microseconds (and above the bound before it); the
    /// last counts the rest. One-way calls are not in it.
    pub latency_buckets: [u64; MUXWIRE_LATENCY_BUCKETS],
    /// The sum of those latencies, in microseconds.
    pub latency_sum_us: u64,
}

/// A copy of every counter of a client or server. Immutable: any thread may read it.
#[allow(non_camel_case_types)]
pub struct muxwire_stats_snapshot {
    pub(crate) stats: StatsSnapshot,
    /// The method names as C strings, in the order of `stats.methods`.
    names: Vec<CString>,
}

impl muxwire_stats_snapshot {
    fn new(stats: StatsSnapshot) -> muxwire_stats_snapshot {
        let names = stats.methods.iter().map(|m| c_string(&m.method)).collect();
        muxwire_stats_snapshot { stats, names }
    }
}

/// Upper bound of latency bucket `index` in microseconds (25 µs to 10 s); UINT64_MAX for
/// the last bucket (and past it).
#[no_mangle]
pub extern "C" fn muxwire_latency_bound_us(index: usize) -> u64 {
    LATENCY_BOUNDS_US.get(index).copied().unwrap_or(u64::MAX)
}

/// Takes a snapshot of the server's counters (after shutdown: as they were when it began)
/// and stores it in `*out`; free it with `muxwire_stats_snapshot_free`.
///
/// # Safety
/// `server` is NULL or live; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stats_snapshot(
    server: *const muxwire_server,
    out: *mut *mut muxwire_stats_snapshot,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        let out = Out::new(out, "out")?;
        let snap = muxwire_stats_snapshot::new(stats_of(server));
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(snap)) };
        Ok(())
    })
}

/// Takes a snapshot of the client's counters (its methods: calls it served back, with
/// `muxwire_client_connect_serving`) and stores it in `*out`.
///
/// # Safety
/// `client` is NULL or live; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_stats_snapshot(
    client: *const muxwire_client,
    out: *mut *mut muxwire_stats_snapshot,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(client, "client") }?;
        let out = Out::new(out, "out")?;
        let snap = muxwire_stats_snapshot::new(c.client.stats());
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(snap)) };
        Ok(())
    })
}

/// Frees a snapshot. NULL is accepted and does nothing.
///
/// # Safety
/// `snapshot` is NULL or a snapshot not freed before.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_free(snapshot: *mut muxwire_stats_snapshot) {
    // SAFETY: NULL or from the library, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(snapshot) }));
}

/// Copies the snapshot's `muxwire_stats` counters into `*out`.
///
/// # Safety
/// `snapshot` is NULL or live; `out` NULL or valid for writing a `muxwire_stats`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_counters(
    snapshot: *const muxwire_stats_snapshot,
    out: *mut muxwire_stats,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let s = unsafe { obj(snapshot, "snapshot") }?;
        let out = Out::new(out, "out")?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(s.stats.clone().into()) };
        Ok(())
    })
}

/// Connections closed with connection error `code` (0 NO_ERROR for a drain, idle timeout
/// or shutdown, ...; 13 counts every code past TIMEOUT), by the peer (`by_peer`: its
/// GOAWAY, or the transport ending) or by this end. 0 for a code past 13, or for NULL.
///
/// # Safety
/// `snapshot` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_connections_closed(
    snapshot: *const muxwire_stats_snapshot,
    by_peer: bool,
    code: u32,
) -> u64 {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(s) = (unsafe { snapshot.as_ref() }) else {
            return 0;
        };
        let side = if by_peer {
            &s.stats.connections_closed_by_peer
        } else {
            &s.stats.connections_closed_local
        };
        side.get(code as usize).copied().unwrap_or(0)
    })
}

/// Connections closed because the peer did not answer a keepalive PING in time (also
/// counted as closed by this end with TIMEOUT); 0 for NULL.
///
/// # Safety
/// `snapshot` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_keepalive_timeouts(
    snapshot: *const muxwire_stats_snapshot,
) -> u64 {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { snapshot.as_ref() }.map_or(0, |s| s.stats.keepalive_timeouts)
    })
}

/// How many methods have counters (0 unless `muxwire_options_set_method_metrics` was on;
/// 0 for NULL). Sorted by name, calls to unregistered methods last as "(unknown)".
///
/// # Safety
/// `snapshot` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_method_count(
    snapshot: *const muxwire_stats_snapshot,
) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { snapshot.as_ref() }.map_or(0, |s| s.stats.methods.len())
    })
}

/// Copies method `index`'s counters into `*out` (its `method` valid as long as the
/// snapshot); OUT_OF_RANGE past the last.
///
/// # Safety
/// `snapshot` is NULL or live; `out` NULL or valid for writing a `muxwire_method_stats`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stats_snapshot_method(
    snapshot: *const muxwire_stats_snapshot,
    index: usize,
    out: *mut muxwire_method_stats,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let s = unsafe { obj(snapshot, "snapshot") }?;
        let out = Out::new(out, "out")?;
        let (Some(m), Some(name)) = (s.stats.methods.get(index), s.names.get(index)) else {
            return Err(Failure::new(
                muxwire_result::OutOfRange,
                format!(
                    "method index {index}: the snapshot has {} methods",
                    s.stats.methods.len()
                ),
            ));
        };
        let mut buckets = [0; MUXWIRE_LATENCY_BUCKETS];
        for (b, n) in buckets.iter_mut().zip(&m.latency_buckets) {
            *b = *n;
        }
        let view = muxwire_method_stats {
            method: name.as_ptr(),
            started: m.started,
            ended: m.ended,
            latency_buckets: buckets,
            latency_sum_us: m.latency_sum_us,
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(view) };
        Ok(())
    })
}
