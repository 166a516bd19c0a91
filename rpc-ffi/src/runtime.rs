//! `muxwire_runtime`: the threads that run connections, servers and completions.

use std::time::Duration;

use muxwire::{Runtime, RuntimeHandle};

use crate::args::{into_handle, take_handle, Out};
use crate::boundary::{guard, guard_value};
use crate::error::Failure;
use crate::result::muxwire_result;

/// Most threads a runtime may ask for.
const MAX_RUNTIME_THREADS: u32 = 1024;
/// How long `muxwire_runtime_free` waits for the runtime's tasks to stop.
const RUNTIME_STOP_WAIT: Duration = Duration::from_secs(5);

/// A pool of threads that runs connections and servers and calls completion callbacks.
/// Thread-safe: use it from any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_runtime {
    rt: Runtime,
    handle: RuntimeHandle,
}

impl muxwire_runtime {
    /// The handle objects made on this runtime keep.
    pub(crate) fn handle(&self) -> &RuntimeHandle {
        &self.handle
    }
}

/// Starts a runtime with `threads` threads (0: one per core; at most 1024) and stores it
/// in `*out`. Free it with `muxwire_runtime_free`.
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_runtime_new(
    threads: u32,
    out: *mut *mut muxwire_runtime,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        if threads > MAX_RUNTIME_THREADS {
            return Err(Failure::invalid(format!(
                "threads = {threads}: a runtime has at most {MAX_RUNTIME_THREADS} threads"
            )));
        }
        let rt = Runtime::new(threads as usize)?;
        let handle = rt.handle();
        // SAFETY: `out` was checked and is writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_runtime { rt, handle })) };
        Ok(())
    })
}

/// Stops the runtime: connections and servers made on it are cut (calls in flight end
/// with UNAVAILABLE or CANCELLED), and every later use of them fails with UNAVAILABLE.
/// Waits up to 5 seconds for its threads. Clients, servers and queues made on it must
/// still be freed. NULL is accepted and does nothing. When called from a library thread
/// (inside a callback) the runtime is stopped from a new thread instead of waiting.
///
/// # Safety
/// `rt` is NULL or a runtime not freed before, that no other thread is freeing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_runtime_free(rt: *mut muxwire_runtime) {
    guard_value((), || {
        // SAFETY: NULL or from muxwire_runtime_new, by the caller's contract.
        let Some(rt) = (unsafe { take_handle(rt) }) else {
            return;
        };
        let muxwire_runtime { rt, handle } = *rt;
        drop(handle);
        if RuntimeHandle::current().is_some() {
            // Stopping a runtime from one of its own tasks would wait for itself.
            let _ = std::thread::Builder::new()
                .name("muxwire-rt-stop".into())
                .spawn(move || rt.shutdown(RUNTIME_STOP_WAIT));
        } else {
            rt.shutdown(RUNTIME_STOP_WAIT);
        }
    });
}
