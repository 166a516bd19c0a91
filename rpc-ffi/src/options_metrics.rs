//! `muxwire_options` settings for what a client or server observes of itself.

use crate::options::{edit, muxwire_options};
use crate::result::muxwire_result;

/// When true, keep counters and a latency histogram per method for the calls this end
/// serves (`muxwire_stats_snapshot_method`). Default false: it reads the clock twice per
/// call and adds to counters every connection shares.
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_method_metrics(
    opts: *mut muxwire_options,
    on: bool,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            o.method_metrics = on;
            Ok(())
        })
    }
}
