//! `Client`: calls to one endpoint over a pool of connections. Blocking methods wait with
//! the GIL released (see [`crate::wait`]); the `_start_*` methods, used by
//! `muxwire.AsyncClient`, return at once and settle an asyncio future through a
//! [`LoopBridge`].

use bytes::Bytes;
use muxwire::{CallOptions, Context, Router, RuntimeHandle};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::mem::ManuallyDrop;

use crate::args::{body, codec, metadata, seconds, Handlers};
use crate::bridge::{CallGuard, LoopBridge, Make, Outcome};
use crate::context::call_sync;
use crate::options::{self, Common};
use crate::runtime::{self, Owner};
use crate::stats::Stats;
use crate::stream::Stream;
use crate::wait::{wait, wait_ok};

/// A client of one endpoint: a pool of connections that reconnect on their own.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct Client {
    /// Never dropped in a `fork()` child, whose runtime threads are gone (see `Drop`).
    inner: ManuallyDrop<muxwire::Client>,
    rt: RuntimeHandle,
    owner: Owner,
    url: String,
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.owner.is_home() {
            // SAFETY: not used after this point; dropped once.
            #[allow(unsafe_code)]
            unsafe {
                ManuallyDrop::drop(&mut self.inner)
            }
        }
    }
}

/// The methods a client serves to its server (sync handlers, run on worker threads).
fn router(handlers: Handlers, rt: &RuntimeHandle) -> Router {
    handlers
        .into_iter()
        .fold(Router::new(), |router, (name, handler)| {
            let rt = rt.clone();
            router.unary_blocking(&name, move |ctx: Context, req: Bytes| {
                call_sync(&handler, ctx, req, &rt)
            })
        })
}

/// One call's options from Python arguments.
fn call_options(
    timeout: Option<f64>,
    meta: Option<&Bound<'_, PyAny>>,
    compression: Option<&str>,
) -> PyResult<CallOptions> {
    Ok(CallOptions {
        timeout: seconds(timeout, "timeout")?,
        metadata: metadata(meta)?,
        compression: codec(compression)?,
    })
}

#[pymethods]
impl Client {
    /// Connects to `url` (`tcp://host:port` or `unix:///path`).
    #[new]
    #[pyo3(signature = (url, *, timeout=None, compression=None, pool=1, max_message_size=None,
        crc=false, wait_for_ready=false, keepalive=None, agent=None, handlers=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: String,
        timeout: Option<f64>,
        compression: Option<&str>,
        pool: usize,
        max_message_size: Option<usize>,
        crc: bool,
        wait_for_ready: bool,
        keepalive: Option<f64>,
        agent: Option<String>,
        handlers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Client> {
        let common = Common {
            compression,
            max_message_size,
            crc,
            keepalive,
            agent,
        };
        let opts = options::client(common, timeout, pool, wait_for_ready)?;
        crate::log::sync_level(py);
        let rt = runtime::handle(py)?;
        let router = crate::args::handlers(handlers)?.map(|h| router(h, &rt));
        let inner = wait_ok(py, &rt, muxwire::Client::connect_with(&url, opts, router))?;
        Ok(Client {
            inner: ManuallyDrop::new(inner),
            rt,
            owner: Owner::here("Client"),
            url,
        })
    }

    /// The URL this client connects to.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// A unary call: sends `data` to `method` and returns the reply.
    #[pyo3(signature = (method, data, *, timeout=None, metadata=None, compression=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
        metadata: Option<&Bound<'py, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.owner.check(py)?;
        let (body, opts) = (body(data)?, call_options(timeout, metadata, compression)?);
        let reply = wait_ok(py, &self.rt, self.inner.call_with(method, body, &opts))?;
        Ok(PyBytes::new(py, &reply))
    }

    /// A one-way call: returns once the message is queued on a live connection.
    fn notify(&self, py: Python<'_>, method: &str, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.owner.check(py)?;
        let body = body(data)?;
        wait_ok(py, &self.rt, self.inner.notify(method, body))
    }

    /// The round-trip time of a PING, in seconds.
    fn ping(&self, py: Python<'_>) -> PyResult<f64> {
        self.owner.check(py)?;
        Ok(wait_ok(py, &self.rt, self.inner.ping())?.as_secs_f64())
    }

    /// The names of the methods the server offers.
    fn methods(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.owner.check(py)?;
        wait_ok(py, &self.rt, self.inner.list())
    }

    /// The client's counters.
    fn stats(&self) -> Stats {
        self.inner.stats().into()
    }

    /// Drains and closes every connection; later calls fail with `Unavailable`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if !self.owner.is_home() {
            return Ok(());
        }
        wait(py, &self.rt, self.inner.close())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        format!("Client({:?})", self.url)
    }

    /// Opens a streaming call to `method`: send requests on it, iterate over the replies.
    #[pyo3(signature = (method, *, timeout=None, metadata=None, compression=None))]
    fn stream(
        &self,
        py: Python<'_>,
        method: &str,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<Stream> {
        self.owner.check(py)?;
        let opts = call_options(timeout, metadata, compression)?;
        let (sink, replies) = wait_ok(py, &self.rt, self.inner.open_stream(method, &opts))?;
        Ok(Stream::new(
            sink,
            replies,
            self.rt.clone(),
            method.to_string(),
        ))
    }

    /// Starts opening a streaming call; `future` is settled with its `Stream`.
    #[pyo3(signature = (bridge, future, method, timeout=None, metadata=None, compression=None))]
    #[allow(clippy::too_many_arguments)]
    fn _start_stream(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        method: String,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let opts = call_options(timeout, metadata, compression)?;
        let (client, rt) = ((*self.inner).clone(), self.rt.clone());
        let work = async move {
            let opened = client.open_stream(&method, &opts).await;
            Outcome::Made(opened.map(|(sink, replies)| {
                let stream = Stream::new(sink, replies, rt, method);
                let make: Make = Box::new(move |py| Ok(Py::new(py, stream)?.into_any()));
                make
            }))
        };
        Ok(CallGuard::start(&self.rt, bridge, future, work))
    }

    /// Starts a unary call whose reply settles `future` on `bridge`'s loop.
    #[pyo3(signature = (bridge, future, method, data, timeout=None, metadata=None, compression=None))]
    #[allow(clippy::too_many_arguments)]
    fn _start_call(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        method: String,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let (body, opts) = (body(data)?, call_options(timeout, metadata, compression)?);
        let call = self.inner.call_owned(method, body, opts);
        Ok(CallGuard::start(&self.rt, bridge, future, async move {
            Outcome::Reply(call.await)
        }))
    }

    /// Starts a one-way call whose queueing settles `future` on `bridge`'s loop.
    fn _start_notify(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
        method: String,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let (client, body) = ((*self.inner).clone(), body(data)?);
        let work = async move { Outcome::Done(client.notify(&method, body).await) };
        Ok(CallGuard::start(&self.rt, bridge, future, work))
    }

    /// Starts a PING whose round-trip time settles `future` on `bridge`'s loop.
    fn _start_ping(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
    ) -> PyResult<CallGuard> {
        self.owner.check(py)?;
        let client = (*self.inner).clone();
        let work = async move { Outcome::Elapsed(client.ping().await) };
        Ok(CallGuard::start(&self.rt, bridge, future, work))
    }

    /// Starts closing the client; `future` is settled once every connection is closed.
    fn _start_close(&self, bridge: Py<LoopBridge>, future: Py<PyAny>) -> CallGuard {
        let client = (*self.inner).clone();
        let work = async move {
            client.close().await;
            Outcome::Done(Ok(()))
        };
        CallGuard::start(&self.rt, bridge, future, work)
    }
}

/// Connects without blocking: `future` is settled with a `Client` on `bridge`'s loop.
#[pyfunction]
#[pyo3(signature = (bridge, future, url, *, timeout=None, compression=None, pool=1,
    max_message_size=None, crc=false, wait_for_ready=false, keepalive=None, agent=None,
    handlers=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _start_connect(
    py: Python<'_>,
    bridge: Py<LoopBridge>,
    future: Py<PyAny>,
    url: String,
    timeout: Option<f64>,
    compression: Option<&str>,
    pool: usize,
    max_message_size: Option<usize>,
    crc: bool,
    wait_for_ready: bool,
    keepalive: Option<f64>,
    agent: Option<String>,
    handlers: Option<&Bound<'_, PyAny>>,
) -> PyResult<CallGuard> {
    let common = Common {
        compression,
        max_message_size,
        crc,
        keepalive,
        agent,
    };
    let opts = options::client(common, timeout, pool, wait_for_ready)?;
    crate::log::sync_level(py);
    let rt = runtime::handle(py)?;
    let on = rt.clone();
    let router = crate::args::handlers(handlers)?.map(|h| router(h, &rt));
    let work = async move {
        let connected = muxwire::Client::connect_with(&url, opts, router).await;
        Outcome::Made(connected.map(|inner| {
            let client = Client {
                inner: ManuallyDrop::new(inner),
                rt: on,
                owner: Owner::here("Client"),
                url,
            };
            let make: Make = Box::new(move |py| Ok(Py::new(py, client)?.into_any()));
            make
        }))
    };
    Ok(CallGuard::start(&rt, bridge, future, work))
}
