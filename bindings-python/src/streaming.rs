//! Streaming handlers in Python: `handler(ctx, requests)` gets the caller's messages as an
//! iterator and returns an iterable of replies. Each call runs on a thread of its own
//! (`muxwire-stream`), at most [`StreamHandlers::limit`] at once (later calls wait for
//! one to finish), never on the runtime. Messages cross between that thread and the call
//! through bounded queues ([`REQUEST_QUEUE`], [`REPLY_QUEUE`] messages), so a slow handler
//! pushes back on its caller through flow control.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use muxwire::{Context, Inbound, Outbound, RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot, Semaphore};

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
