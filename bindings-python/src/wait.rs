//! Waiting for the runtime from a Python thread: the GIL is released while waiting, and
//! the wait wakes every [`SIGNAL_CHECK_INTERVAL`] to run Python's signal handlers, so
//! Ctrl-C raises `KeyboardInterrupt` in a blocking call (dropping the future, which
//! cancels the call on the wire).
//!
//! The future is polled on the calling thread, in the runtime's context, and the thread
//! sleeps until the runtime wakes it: a call costs the runtime's wake-up of this thread and
//! nothing else (no timer is registered with the runtime for the signal checks, which would
//! wake the runtime's timer driver on every call).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use muxwire::{RuntimeHandle, Status};
use pyo3::prelude::*;

use crate::errors::status_err;

/// How often a blocking wait wakes to run Python's signal handlers.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Wake-ups in a row (none of them finishing the future) after which the wait checks
/// signals anyway.
const WAKES_PER_CHECK: u32 = 1024;

/// Unparks the waiting thread.
struct Unpark {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `fut` to completion on the calling thread with the GIL released, running Python's
/// signal handlers between polls; an exception they raise drops `fut` and propagates.
pub(crate) fn wait<F>(py: Python<'_>, rt: &RuntimeHandle, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = std::pin::pin!(fut);
    if tokio::runtime::Handle::try_current().is_ok() {
        // A runtime's own thread: the runtime refuses the wait with a clear status.
        return match rt.wait_for(fut.as_mut(), Duration::ZERO) {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(status_err(
                py,
                Status::failed_precondition("cannot wait here"),
            )),
            Err(status) => Err(status_err(py, status)),
        };
    }
    let unpark = Arc::new(Unpark {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    loop {
        let polled = py.detach(|| {
            let _runtime = crate::runtime::enter();
            let mut cx = Context::from_waker(&waker);
            for _ in 0..WAKES_PER_CHECK {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return Some(out);
                }
                if !unpark.woken.swap(false, Ordering::AcqRel) {
                    std::thread::park_timeout(SIGNAL_CHECK_INTERVAL);
                    if !unpark.woken.swap(false, Ordering::AcqRel) {
                        return None; // no wake-up for a while: check signals
                    }
                }
            }
            None
        });
        match polled {
            Some(out) => return Ok(out),
            None => py.check_signals()?,
        }
    }
}

/// [`wait`] for a fallible future: its error status becomes the matching exception.
pub(crate) fn wait_ok<F, T>(py: Python<'_>, rt: &RuntimeHandle, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, Status>> + Send,
    T: Send,
{
    wait(py, rt, fut)?.map_err(|s| status_err(py, s))
}
