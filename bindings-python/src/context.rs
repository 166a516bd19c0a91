//! What a Python handler gets: the [`CallContext`] of its call, and (for async handlers)
//! the [`Responder`] that answers it from the event loop.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use muxwire::{Context, RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::oneshot;

use crate::args::body;
use crate::bridge::{LoopBridge, Make};
use crate::errors::err_to_status;
use crate::peer::Peer;

/// A call as its handler sees it: method, metadata, deadline, cancellation.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct CallContext {
    ctx: Arc<Context>,
    rt: RuntimeHandle,
}

impl CallContext {
    /// The context of the call `ctx`, served on `rt`.
    pub(crate) fn new(ctx: Arc<Context>, rt: RuntimeHandle) -> CallContext {
        CallContext { ctx, rt }
    }
}

/// Runs a sync handler (on a worker thread): the reply, or the status its exception means.
pub(crate) fn call_sync(
    handler: &Py<PyAny>,
    ctx: Context,
    request: Bytes,
    rt: &RuntimeHandle,
) -> Result<Bytes, Status> {
    Python::attach(|py| {
        let method = ctx.method().to_string();
        let ctx = Py::new(py, CallContext::new(Arc::new(ctx), rt.clone()))
            .map_err(|e| err_to_status(py, &e))?;
        let data = PyBytes::new(py, &request);
        match handler.call1(py, (ctx, data)) {
            Ok(reply) => reply_body(reply.bind(py), &method),
            Err(err) => Err(err_to_status(py, &err)),
        }
    })
}

#[pymethods]
impl CallContext {
    /// The method called.
    #[getter]
    fn method(&self) -> &str {
        self.ctx.method()
    }

    /// The caller's metadata entries, in order.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyBytes>)> {
        self.ctx
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), PyBytes::new(py, v)))
            .collect()
    }

    /// The first metadata value for `key`, or `None`.
    fn get<'py>(&self, py: Python<'py>, key: &str) -> Option<Bound<'py, PyBytes>> {
        self.ctx.get(key).map(|v| PyBytes::new(py, v))
    }

    /// Seconds left before the caller's deadline, or `None` if it set none.
    #[getter]
    fn remaining(&self) -> Option<f64> {
        self.ctx.remaining().map(|d| d.as_secs_f64())
    }

    /// The caller's deadline on the `time.monotonic()` clock, or `None` if it set none.
    #[getter]
    fn deadline(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        let Some(deadline) = self.ctx.deadline() else {
            return Ok(None);
        };
        let now: f64 = py.import("time")?.call_method0("monotonic")?.extract()?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        Ok(Some(now + left))
    }

    /// True once the caller cancelled, the deadline passed or the connection died.
    #[getter]
    fn cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// The caller, to call back over the connection the call came in on.
    #[getter]
    fn peer(&self) -> Peer {
        Peer::new(self.ctx.peer().clone(), self.rt.clone())
    }

    fn __repr__(&self) -> String {
        format!("CallContext(method={:?})", self.ctx.method())
    }
}

/// The reply a handler returned, as a body (bytes or any buffer of bytes).
pub(crate) fn reply_body(value: &Bound<'_, PyAny>, method: &str) -> Result<bytes::Bytes, Status> {
    body(value).map_err(|_| {
        let kind = value
            .get_type()
            .qualname()
            .map(|q| q.to_string())
            .unwrap_or_default();
        Status::internal(format!(
            "the handler of {method:?} returned {kind}, not bytes"
        ))
    })
}

/// Answers one call from Python, once: with a reply or with an exception.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct Responder {
    /// The runtime's responder, and the sender whose drop ends the cancellation watch.
    inner: Mutex<Option<(muxwire::Responder, Option<oneshot::Sender<()>>)>>,
    ctx: Arc<Context>,
    rt: RuntimeHandle,
    /// The bridge of the loop the handler runs on.
    bridge: Arc<Py<LoopBridge>>,
}

impl Responder {
    /// A responder for the call of `ctx`, whose handler runs on `bridge`'s loop.
    pub(crate) fn new(
        r: muxwire::Responder,
        ctx: Arc<Context>,
        rt: RuntimeHandle,
        bridge: Arc<Py<LoopBridge>>,
    ) -> Responder {
        Responder {
            inner: Mutex::new(Some((r, None))),
            ctx,
            rt,
            bridge,
        }
    }

    fn finish(&self, outcome: Result<bytes::Bytes, Status>) -> bool {
        let taken = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        match taken {
            Some((r, _watch)) => r.finish(outcome).is_ok(),
            None => false,
        }
    }
}

#[pymethods]
impl Responder {
    /// Replies with `data`; False if the call was already answered or is gone.
    fn reply(&self, data: &Bound<'_, PyAny>) -> bool {
        let outcome = reply_body(data, self.ctx.method());
        self.finish(outcome)
    }

    /// Ends the call with the status `error` stands for (an `RpcError` keeps its status;
    /// anything else is INTERNAL); False if the call was already answered or is gone.
    fn fail(&self, py: Python<'_>, error: Bound<'_, PyAny>) -> bool {
        let err = PyErr::from_value(error);
        self.finish(Err(err_to_status(py, &err)))
    }

    /// True once the call is gone (cancelled, past its deadline, or its connection died).
    #[getter]
    fn cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// Calls `callback(None)` on the handler's loop once when the call is cancelled before
    /// it is answered (queued on the loop's bridge, without the GIL).
    fn _on_cancel(&self, callback: Py<PyAny>) {
        let (tx, rx) = oneshot::channel::<()>();
        {
            let mut slot = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_mut() {
                Some((_, watch)) => *watch = Some(tx),
                None => return,
            }
        }
        let (ctx, bridge) = (self.ctx.clone(), self.bridge.clone());
        self.rt.spawn(async move {
            tokio::select! {
                _ = rx => {}
                _ = ctx.cancelled() => {
                    let none: Make = Box::new(|py| Ok(py.None()));
                    LoopBridge::call_soon(&bridge, Arc::new(callback), none);
                }
            }
        });
    }
}
