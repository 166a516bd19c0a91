//! The panic boundary: no panic unwinds into C. Every entry point runs its body through
//! one of these functions; a panic becomes `MUXWIRE_RESULT_PANIC` (or the documented
//! default value) with its message as the last error, and the panic hook sends panic
//! messages to the log callback instead of stderr.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{set_last_error, set_last_failure, Outcome};
use crate::log;
use crate::result::muxwire_result;

/// Runs a fallible entry point: its result, or PANIC.
pub(crate) fn guard(f: impl FnOnce() -> Outcome) -> muxwire_result {
    quiet_panics();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => muxwire_result::Ok,
        Ok(Err(failure)) => {
            set_last_failure(&failure.message, failure.details, failure.trailers);
            failure.code
        }
        Err(payload) => {
            set_last_error(&format!("muxwire panicked: {}", panic_text(&*payload)));
            muxwire_result::Panic
        }
    }
}

/// Runs an entry point that returns a value: that value, or `on_panic`.
pub(crate) fn guard_value<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    quiet_panics();
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        set_last_error(&format!("muxwire panicked: {}", panic_text(&*payload)));
        on_panic
    })
}

/// The message a panic carried.
fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Replaces the panic hook of this library's copy of std (a cdylib or staticlib has its
/// own) with one that logs through the log callback: a host's stderr stays clean.
fn quiet_panics() {
    // The crate's own tests keep the default hook, so that a failing test says why.
    if cfg!(test) {
        return;
    }
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let text = panic_text(info.payload());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            log::emit_panic(&format!("thread {name} panicked{place}: {text}"));
        }));
    });
}
