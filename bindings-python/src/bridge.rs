//! Completions from the runtime to an asyncio event loop.
//!
//! A [`LoopBridge`] belongs to one event loop. A call's outcome is queued on it from a
//! runtime thread, and the first outcome queued while none is pending schedules the bridge
//! itself with `loop.call_soon_threadsafe`; run on the loop, it settles every queued
//! future at once. Under load many completions share one wake-up of the loop.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat};
use tokio::sync::oneshot;

use crate::errors::status_err;

/// A finished call, waiting to settle its future on the loop.
pub(crate) enum Outcome {
    /// A unary call's reply.
    Reply(Result<Bytes, Status>),
    /// A call with no reply body (notify).
    Done(Result<(), Status>),
    /// A round-trip time (ping).
    Elapsed(Result<Duration, Status>),
    /// A stream's next message (`None` at its end).
    Next(Option<Result<Bytes, Status>>),
    /// A Python object made on the loop (a connected client).
    Made(Result<Make, Status>),
}

/// Makes the Python object an [`Outcome::Made`] settles its future with.
pub(crate) type Make = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Outcomes queued for the loop, and whether a drain is already scheduled.
#[derive(Default)]
struct Queue {
    ready: Vec<(Py<PyAny>, Outcome)>,
    scheduled: bool,
}

/// Settles asyncio futures of one event loop with outcomes from runtime threads.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct LoopBridge {
    event_loop: Py<PyAny>,
    call_soon_threadsafe: Py<PyAny>,
    queue: Mutex<Queue>,
}

impl LoopBridge {
    /// Queues `outcome` for `future` (from any thread) and wakes the loop if needed.
    pub(crate) fn complete(bridge: &Py<LoopBridge>, future: Py<PyAny>, outcome: Outcome) {
        let this = bridge.get();
        let wake = {
            let mut q = this.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.ready.push((future, outcome));
            !std::mem::replace(&mut q.scheduled, true)
        };
        if wake {
            Python::attach(|py| {
                if let Err(err) = this.call_soon_threadsafe.call1(py, (bridge.clone_ref(py),)) {
                    // The loop is closed: nobody can await these futures any more.
                    let mut q = this.queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.ready.clear();
                    q.scheduled = false;
                    crate::log::warn(format!(
                        "an asyncio call finished after its event loop closed: {err}"
                    ));
                }
            });
        }
    }
}

#[pymethods]
impl LoopBridge {
    /// A bridge to `event_loop`.
    #[new]
    fn new(event_loop: Bound<'_, PyAny>) -> PyResult<LoopBridge> {
        let call_soon_threadsafe = event_loop.getattr("call_soon_threadsafe")?.unbind();
        Ok(LoopBridge {
            event_loop: event_loop.unbind(),
            call_soon_threadsafe,
            queue: Mutex::default(),
        })
    }

    /// The event loop this bridge settles futures on.
    #[getter]
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    /// Settles every queued future (run on the loop by `call_soon_threadsafe`).
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let ready = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.scheduled = false;
            std::mem::take(&mut q.ready)
        };
        for (future, outcome) in ready {
            settle(py, future.bind(py), outcome)?;
        }
        Ok(())
    }
}

/// Sets `future`'s result or exception, unless it is already done (cancelled).
fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    if future
        .call_method0(pyo3::intern!(py, "done"))?
        .is_truthy()?
    {
        return Ok(());
    }
    let result: Result<Bound<'_, PyAny>, Status> = match outcome {
        Outcome::Reply(r) => r.map(|b| PyBytes::new(py, &b).into_any()),
        Outcome::Done(r) => r.map(|()| py.None().into_bound(py)),
        Outcome::Elapsed(r) => r.map(|d| PyFloat::new(py, d.as_secs_f64()).into_any()),
        Outcome::Next(None) => Ok(py.None().into_bound(py)),
        Outcome::Next(Some(r)) => r.map(|b| PyBytes::new(py, &b).into_any()),
        Outcome::Made(r) => match r {
            Ok(make) => Ok(make(py)?.into_bound(py)),
            Err(status) => Err(status),
        },
    };
    match result {
        Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
        Err(status) => {
            let err = status_err(py, status);
            future.call_method1(pyo3::intern!(py, "set_exception"), (err.into_value(py),))?
        }
    };
    Ok(())
}

/// Cancels an asyncio call on the wire when cancelled or dropped before it finished.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct CallGuard {
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

#[pymethods]
impl CallGuard {
    /// Cancels the call (nothing happens if it already finished).
    fn cancel(&self) {
        self.cancel.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl CallGuard {
    /// Runs `work` on `rt` and settles `future` with its outcome on `bridge`'s loop; the
    /// guard cancels it.
    pub(crate) fn start<F>(
        rt: &RuntimeHandle,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        work: F,
    ) -> CallGuard
    where
        F: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        rt.spawn(async move {
            tokio::select! {
                biased;
                _ = rx => {}
                outcome = work => LoopBridge::complete(&bridge, future, outcome),
            }
        });
        CallGuard {
            cancel: Mutex::new(Some(tx)),
        }
    }
}
