//! `muxwire_set_log_callback`: where the library's log records go.

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use crate::args::UserData;
use crate::boundary::guard;
use crate::error::Failure;
use crate::log::{install, muxwire_log_fn, MAX_LEVEL, SINK};
use crate::result::muxwire_result;

/// Sets the function that receives the library's log records at `max_level` and below
/// (`MUXWIRE_LOG_LEVEL_OFF` or a NULL `callback`: none, the default). Replaces any
/// earlier callback; `userdata` is handed to every call. May be called at any time from
/// any thread. Fails with FAILED_PRECONDITION if this copy of the library shares its
/// process-wide Rust log dispatcher with other code that set one first.
#[no_mangle]
pub extern "C" fn muxwire_set_log_callback(
    callback: muxwire_log_fn,
    userdata: *mut c_void,
    max_level: i32,
) -> muxwire_result {
    guard(|| {
        if !(0..=5).contains(&max_level) {
            return Err(Failure::invalid(format!(
                "max_level {max_level} is not a muxwire_log_level (0..5)"
            )));
        }
        install()?;
        let level = if callback.is_some() {
            max_level as u8
        } else {
            0
        };
        *SINK.write().unwrap_or_else(|e| e.into_inner()) =
            callback.map(|f| (f, UserData(userdata)));
        MAX_LEVEL.store(level, Ordering::Release);
        tracing_core::callsite::rebuild_interest_cache();
        Ok(())
    })
}
