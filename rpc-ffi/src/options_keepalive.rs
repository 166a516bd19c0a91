//! `muxwire_options` keepalive: PINGs on quiet connections, and how long an answer may
//! take before the connection is closed (counted in
//! `muxwire_stats_snapshot_keepalive_timeouts`).

use std::time::Duration;

use crate::error::Failure;
use crate::options::{edit, muxwire_options};
use crate::result::muxwire_result;

/// Sends a PING after `interval_ms` milliseconds without traffic (0: never, the default)
/// and closes the connection if its answer takes longer than `timeout_ms` (at least 1;
/// default 20 000).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_keepalive_ms(
    opts: *mut muxwire_options,
    interval_ms: u64,
    timeout_ms: u64,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            if timeout_ms == 0 {
                return Err(Failure::invalid(
                    "keepalive timeout 0: a PING's answer needs at least 1 ms",
                ));
            }
            o.keepalive = (interval_ms > 0).then(|| Duration::from_millis(interval_ms));
            o.ping_timeout = Duration::from_millis(timeout_ms);
            Ok(())
        })
    }
}
