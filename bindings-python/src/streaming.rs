//! Streaming handlers in Python. A sync handler, `handler(ctx, requests)`, gets the caller's
//! messages as an iterator and returns an iterable of replies. Each call runs on a thread of its own
//! (`muxwire-stream`), at most [`StreamHandlers::limit`] at once (later calls wait for
//! one to finish), never on the runtime. Messages cross between that thread and the call
//! through bounded queues ([`REQUEST_QUEUE`], [`REPLY_QUEUE`] messages), so a slow handler
//! pushes back on its caller through flow control.
//!
//! An async handler (`muxwire.AsyncServer.stream`) runs as a task on its event loop, started
//! through the loop's [`LoopBridge`] (no runtime thread waits for the GIL); it reads and
//! writes the call through a [`StreamCall`] (see [`serve_async`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use muxwire::{Context, Inbound, Outbound, RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::bridge::{CallGuard, LoopBridge, Make, Outcome};
use crate::context::{reply_body, CallContext};
use crate::errors::{err_to_status, muxwire_err};

/// Requests waiting for the handler to take them, per call.
const REQUEST_QUEUE: usize = 16;
/// Replies waiting to be sent, per call.
const REPLY_QUEUE: usize = 16;

/// The caller's messages, as a Python iterator (blocking, the GIL released while waiting).
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct Requests {
    rx: Mutex<mpsc::Receiver<Bytes>>,
}

#[pymethods]
impl Requests {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next message; StopIteration once the caller half-closed (or the call ended).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut rx = self
            .rx
            .try_lock()
            .map_err(|_| muxwire_err(py, "another thread is reading these requests"))?;
        let rx: &mut mpsc::Receiver<Bytes> = &mut rx;
        let next = py.detach(|| rx.blocking_recv());
        Ok(next.map(|m| PyBytes::new(py, &m)))
    }
}

/// Where streaming handlers run: at most `limit` calls at once.
#[derive(Clone)]
pub(crate) struct StreamHandlers {
    slots: Arc<Semaphore>,
    rt: RuntimeHandle,
}

impl StreamHandlers {
    /// At most `limit` streaming calls run at once on `rt`'s server.
    pub(crate) fn limit(limit: usize, rt: RuntimeHandle) -> StreamHandlers {
        StreamHandlers {
            slots: Arc::new(Semaphore::new(limit)),
            rt,
        }
    }

    /// Serves one call with `handler`: feeds its requests, sends its replies, returns the
    /// status it ended with.
    pub(crate) async fn serve(
        self,
        handler: Arc<Py<PyAny>>,
        ctx: Context,
        mut inbound: Inbound,
        outbound: Outbound,
    ) -> Result<(), Status> {
        let _slot = self
            .slots
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the server is shutting down"))?;
        let (req_tx, req_rx) = mpsc::channel::<Bytes>(REQUEST_QUEUE);
        let (rep_tx, mut rep_rx) = mpsc::channel::<Bytes>(REPLY_QUEUE);
        let (done_tx, done_rx) = oneshot::channel::<Result<(), Status>>();
        let (rt, ctx) = (self.rt.clone(), Arc::new(ctx));
        let call = ctx.clone();
        std::thread::Builder::new()
            .name("muxwire-stream".into())
            .spawn(move || {
                let outcome = run(&handler, call, req_rx, rep_tx, rt);
                let _ = done_tx.send(outcome);
            })
            .map_err(|e| {
                Status::resource_exhausted(format!("cannot start a handler thread: {e}"))
            })?;
        // Requests go in and replies come out at the same time: a handler that answers
        // as it reads never waits for a queue the other side is not emptying.
        let (mut req_tx, mut pending, mut reading) = (Some(req_tx), None::<Bytes>, true);
        loop {
            // A sender of its own for this turn, so that `req_tx` can be dropped below.
            let sender = req_tx.clone();
            tokio::select! {
                // Cancelled (or past its deadline): dropping the queues ends the handler's
                // requests and fails its next reply.
                _ = ctx.cancelled() => return Err(Status::cancelled("the call was cancelled")),
                reply = rep_rx.recv() => match reply {
                    Some(m) => tokio::select! {
                        sent = outbound.send(m) => sent?,
                        _ = ctx.cancelled() => return Err(Status::cancelled("the call was cancelled")),
                    },
                    None => break, // the handler returned (or failed)
                },
                permit = async move {
                    match sender {
                        Some(tx) => tx.reserve_owned().await.ok(),
                        None => None,
                    }
                },
                    if pending.is_some() => match (permit, pending.take()) {
                    (Some(p), Some(m)) => drop(p.send(m)),
                    _ => req_tx = None, // the handler stopped reading
                },
                m = inbound.next(), if reading && pending.is_none() => match m {
                    Some(Ok(m)) => pending = Some(m),
                    // Half-closed (or failed): the requests end for the handler.
                    Some(Err(_)) | None => {
                        reading = false;
                        req_tx = None;
                    }
                },
            }
        }
        done_rx.await.unwrap_or_else(|_| {
            Err(Status::internal(
                "the handler thread ended without an outcome",
            ))
        })
    }
}

/// Runs `handler` on this thread: its replies go to `replies`, its outcome is returned.
fn run(
    handler: &Py<PyAny>,
    ctx: Arc<Context>,
    requests: mpsc::Receiver<Bytes>,
    replies: mpsc::Sender<Bytes>,
    rt: RuntimeHandle,
) -> Result<(), Status> {
    Python::attach(|py| {
        let method = ctx.method().to_string();
        let started = (|| -> PyResult<Bound<'_, PyAny>> {
            let ctx = Py::new(py, CallContext::new(ctx, rt))?;
            let requests = Py::new(
                py,
                Requests {
                    rx: Mutex::new(requests),
                },
            )?;
            handler
                .bind(py)
                .call1((ctx, requests))?
                .try_iter()
                .map(Bound::into_any)
        })();
        let replies_iter = started.map_err(|e| err_to_status(py, &e))?;
        for item in replies_iter.try_iter().map_err(|e| err_to_status(py, &e))? {
            let item = item.map_err(|e| err_to_status(py, &e))?;
            let message = reply_body(&item, &method)?;
            if py.detach(|| replies.blocking_send(message)).is_err() {
                return Err(Status::cancelled(
                    "the call ended before its replies were sent",
                ));
            }
        }
        Ok(())
    })
}

/// What a streaming call's cancellation does to an async handler: the callback Python
/// registered (its task's `cancel`), called once on the loop.
#[derive(Default)]
struct OnCancel {
    callback: Mutex<Option<Py<PyAny>>>,
}

impl OnCancel {
    fn take(&self) -> Option<Py<PyAny>> {
        self.callback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// One streaming call served by an async handler, as the handler's task on the event
/// loop sees it (through `muxwire.AsyncServer`): the caller's messages come from
/// `_start_next`, replies go out with `_start_send`, and `finish` or `fail` ends the call.
/// Both directions are bounded: a message is taken from the caller (returning its
/// flow-control credit) only when the handler asks for it, and `_start_send` waits while
/// 4 MiB of replies are unwritten.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct StreamCall {
    ctx: Arc<Context>,
    inbound: Arc<tokio::sync::Mutex<Inbound>>,
    outbound: Outbound,
    done: Mutex<Option<oneshot::Sender<Result<(), Status>>>>,
    on_cancel: Arc<OnCancel>,
    rt: RuntimeHandle,
}

impl StreamCall {
    fn end(&self, outcome: Result<(), Status>) -> bool {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        done.is_some_and(|d| d.send(outcome).is_ok())
    }
}

#[pymethods]
impl StreamCall {
    /// The call's context (method, metadata, deadline, cancellation, peer).
    #[getter]
    fn context(&self) -> CallContext {
        CallContext::new(self.ctx.clone(), self.rt.clone())
    }

    /// True once the call is gone (cancelled, past its deadline, or its connection died).
    #[getter]
    fn cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// Starts taking the caller's next message; `future` is settled with it, or with
    /// `None` once the caller half-closed.
    fn _start_next(&self, bridge: Py<LoopBridge>, future: Py<PyAny>) -> CallGuard {
        let inbound = self.inbound.clone();
        let work = async move { Outcome::Next(inbound.lock().await.next().await) };
        CallGuard::start(bridge, future, work)
    }

    /// Starts sending `data` as a reply; `future` is settled once it is queued.
    fn _start_send(
        &self,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<CallGuard> {
        let message = reply_body(data, self.ctx.method())
            .map_err(|s| pyo3::exceptions::PyTypeError::new_err(s.message))?;
        let outbound = self.outbound.clone();
        let work = async move { Outcome::Done(outbound.send(message).await) };
        Ok(CallGuard::start(bridge, future, work))
    }

    /// Ends the call OK (after the replies sent); False if it already ended.
    fn finish(&self) -> bool {
        self.end(Ok(()))
    }

    /// Ends the call with the status `error` stands for (an `RpcError` keeps its status;
    /// anything else is INTERNAL); False if it already ended.
    fn fail(&self, py: Python<'_>, error: Bound<'_, PyAny>) -> bool {
        self.end(Err(err_to_status(py, &PyErr::from_value(error))))
    }

    /// Calls `callback()` on the loop once if the call is cancelled before it ends (at
    /// once if it already is).
    fn _on_cancel(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        *self
            .on_cancel
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(callback);
        // The server's side takes the callback when it sees the cancellation; if that
        // happened before it was stored, it is called here.
        if self.ctx.is_cancelled() {
            if let Some(cb) = self.on_cancel.take() {
                cb.call0(py)?;
            }
        }
        Ok(())
    }
}

/// Serves one call with an async streaming handler: `dispatch(call)` is called on the
/// loop of `bridge` with the call's [`StreamCall`]; the call ends when the handler
/// finishes or fails, or when it is cancelled (which cancels the handler's task).
pub(crate) async fn serve_async(
    bridge: Arc<Py<LoopBridge>>,
    dispatch: Arc<Py<PyAny>>,
    ctx: Context,
    inbound: Inbound,
    outbound: Outbound,
    rt: RuntimeHandle,
) -> Result<(), Status> {
    let (done_tx, done_rx) = oneshot::channel();
    let (ctx, on_cancel) = (Arc::new(ctx), Arc::new(OnCancel::default()));
    let call = StreamCall {
        ctx: ctx.clone(),
        inbound: Arc::new(tokio::sync::Mutex::new(inbound)),
        outbound,
        done: Mutex::new(Some(done_tx)),
        on_cancel: on_cancel.clone(),
        rt,
    };
    let make: Make = Box::new(move |py| Ok(Py::new(py, call)?.into_any()));
    LoopBridge::call_soon(&bridge, dispatch, make);
    tokio::select! {
        outcome = done_rx => outcome.unwrap_or_else(|_| {
            Err(Status::internal("the handler's task ended without an outcome"))
        }),
        _ = ctx.cancelled() => {
            if let Some(cb) = on_cancel.take() {
                LoopBridge::call_soon(&bridge, Arc::new(cb), Box::new(|py| Ok(py.None())));
            }
            Err(Status::cancelled("the call was cancelled"))
        }
    }
}
