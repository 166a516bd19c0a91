//! Waiting for the runtime from a Python thread: the GIL is released while waiting, and
//! the wait wakes every [`SIGNAL_CHECK_INTERVAL`] to run Python's signal handlers, so
//! Ctrl-C raises `KeyboardInterrupt` in a blocking call (dropping the future, which
//! cancels the call on the wire).

use std::future::Future;
use std::time::Duration;

use muxwire::{RuntimeHandle, Status};
use pyo3::prelude::*;

use crate::errors::status_err;

/// How often a blocking wait wakes to run Python's signal handlers.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `fut` to completion on the calling thread with the GIL released, running Python's
/// signal handlers between polls; an exception they raise drops `fut` and propagates.
pub(crate) fn wait<F>(py: Python<'_>, rt: &RuntimeHandle, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let polled = py.detach(|| rt.wait_for(fut.as_mut(), SIGNAL_CHECK_INTERVAL));
        match polled {
            Ok(Some(out)) => return Ok(out),
            Ok(None) => py.check_signals()?,
            Err(status) => return Err(status_err(py, status)),
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
