//! `Stream`: one streaming call. Requests go out with `send` (then `done_writing`), replies
//! come in by iteration; `cancel` ends the call from any thread. The blocking methods wait
//! with the GIL released; the `_start_*` methods serve `muxwire.AsyncStream`.
//!
//! One thread at a time may send, and one may read: a second one gets `MuxwireError`
//! instead of waiting on a lock with the GIL held.

use std::sync::Arc;

use bytes::Bytes;
use muxwire::{CallSink, CallStream, RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::Mutex;

use crate::args::body;
use crate::bridge::{CallGuard, LoopBridge, Outcome};
use crate::errors::muxwire_err;
use crate::flag::Flag;
use crate::runtime::Owner;
use crate::wait::wait_ok;

/// A streaming call in progress.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct Stream {
    sink: Arc<Mutex<Option<CallSink>>>,
    replies: Arc<Mutex<Option<CallStream>>>,
    cancel: Arc<Flag>,
    rt: RuntimeHandle,
    owner: Owner,
    method: String,
}

impl Stream {
    /// A stream over the two halves of an opened call.
    pub(crate) fn new(
        sink: CallSink,
        replies: CallStream,
        rt: RuntimeHandle,
        method: String,
    ) -> Stream {
        Stream {
            sink: Arc::new(Mutex::new(Some(sink))),
            replies: Arc::new(Mutex::new(Some(replies))),
            cancel: Arc::default(),
            rt,
            owner: Owner::here("Stream"),
            method,
        }
    }
}

/// Sends `message` on the sink, if the request side is still open.
async fn send_on(sink: &mut Option<CallSink>, message: Bytes) -> Result<(), Status> {
    match sink.as_mut() {
        Some(s) => s.send(message).await,
        None => Err(Status::failed_precondition(
            "the request side of this stream is finished (done_writing or cancel)",
        )),
    }
}

/// The next reply: `None` at the end (OK); CANCELLED once cancelled.
async fn next_on(replies: &mut Option<CallStream>, cancel: &Flag) -> Option<Result<Bytes, Status>> {
    if cancel.is_set() {
        // Dropping the reply half cancels the call on the wire (if it has not ended).
        replies.take();
        return Some(Err(Status::cancelled("the stream was cancelled")));
    }
    let stream = replies.as_mut()?;
    tokio::select! {
        m = stream.next() => m,
        _ = cancel.wait() => {
            // Dropping the reply half cancels the call on the wire.
            replies.take();
            Some(Err(Status::cancelled("the stream was cancelled")))
        }
    }
}

#[pymethods]
impl Stream {
    /// The method called.
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// Sends one request message; waits while the peer's flow control pushes back.
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.owner.check(py)?;
        let message = body(data)?;
        let mut sink = self
            .sink
            .try_lock()
            .map_err(|_| muxwire_err(py, "another thread is sending on this stream"))?;
        wait_ok(py, &self.rt, send_on(&mut sink, message))
    }

    /// Half-closes: no more requests from this side (replies keep coming).
    fn done_writing(&self, py: Python<'_>) -> PyResult<()> {
        let mut sink = self
            .sink
            .try_lock()
            .map_err(|_| muxwire_err(py, "another thread is sending on this stream"))?;
        match sink.take() {
            Some(s) => s.finish().map_err(|e| crate::errors::status_err(py, e)),
            None => Ok(()),
        }
    }

    /// Cancels the call (from any thread): the server sees it cancelled (unless it already
    /// ended), and every read from now on raises `Cancelled`.
    fn cancel(&self) {
        self.cancel.set();
        // A half that a send or a read holds is dropped as soon as it lets go: at once if
        // it is free, otherwise on the runtime (an asyncio read whose task was cancelled
        // lets go only when the runtime drops its work).
        match self.sink.clone().try_lock_owned() {
            Ok(mut sink) => drop(sink.take()),
            Err(_) => {
                let sink = self.sink.clone();
                self.rt.spawn(async move { drop(sink.lock().await.take()) });
            }
        }
        match self.replies.clone().try_lock_owned() {
            Ok(mut replies) => drop(replies.take()),
            Err(_) => {
                let replies = self.replies.clone();
                self.rt
                    .spawn(async move { drop(replies.lock().await.take()) });
            }
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The next reply; StopIteration once the call ended OK; the status as an exception
    /// if it failed.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        self.owner.check(py)?;
        let mut replies = self
            .replies
            .try_lock()
            .map_err(|_| muxwire_err(py, "another thread is reading this stream"))?;
        let cancel = self.cancel.clone();
        match wait_ok(py, &self.rt, async {
            next_on(&mut replies, &cancel).await.transpose()
        })? {
            Some(m) => Ok(Some(PyBytes::new(py, &m))),
            None => Ok(None),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving the block cancels the call if it has not ended.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.cancel();
    }

    /// Starts sending `data`; `future` is settled once it is queued.
    fn _start_send(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let (message, sink) = (body(data)?, self.sink.clone());
        let work = async move {
            let mut sink = sink.lock().await;
            Outcome::Done(send_on(&mut sink, message).await)
        };
        Ok(CallGuard::start(bridge, future, work))
    }

    /// Starts reading the next reply; `future` is settled with it (`None` at the end).
    fn _start_next(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let (replies, cancel) = (self.replies.clone(), self.cancel.clone());
        let work = async move {
            let mut replies = replies.lock().await;
            Outcome::Next(next_on(&mut replies, &cancel).await)
        };
        Ok(CallGuard::start(bridge, future, work))
    }
}
