//! `Client`: calls to one endpoint over a pool of connections. Blocking methods wait with
//! the GIL released (see [`crate::wait`]); the `_start_*` methods, used by
//! `muxwire.AsyncClient`, return at once and settle an asyncio future through a
//! [`LoopBridge`].

use std::future::Future;
use std::mem::ManuallyDrop;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Context, Router, RuntimeHandle, Status};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::{body, call_options, Handlers};
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

/// Connecting, as an owned future (the options checked first): waited for by
/// `Client(...)`, polled on the event loop by `AsyncClient.connect`.
#[allow(clippy::too_many_arguments)]
fn connecting(
    py: Python<'_>,
    url: String,
    common: Common<'_>,
    timeout: Option<f64>,
    pool: usize,
    wait_for_ready: bool,
    handlers: Option<&Bound<'_, PyAny>>,
) -> PyResult<(
    RuntimeHandle,
    impl Future<Output = Result<Client, Status>> + Send + 'static,
)> {
    let opts = options::client(common, timeout, pool, wait_for_ready)?;
    crate::log::sync_level(py);
    let rt = runtime::handle(py)?;
    let router = crate::args::handlers(handlers)?.map(|h| router(h, &rt));
    let on = rt.clone();
    let work = async move {
        let inner = muxwire::Client::connect_with(&url, opts, router).await?;
        Ok(Client {
            inner: ManuallyDrop::new(inner),
            rt: on,
            owner: Owner::here("Client"),
            url,
        })
    };
    Ok((rt, work))
}

/// Each operation once, as an owned future: the blocking method waits for it (the GIL
/// released), its `_start_*` twin polls it on the event loop.
impl Client {
    fn call_work(
        &self,
        py: Python<'_>,
        method: String,
        data: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<impl Future<Output = Result<Bytes, Status>> + Send + 'static> {
        self.owner.check(py)?;
        let (body, opts) = (body(data)?, call_options(timeout, metadata, compression)?);
        Ok(self.inner.call_owned(method, body, opts))
    }

    fn notify_work(
        &self,
        py: Python<'_>,
        method: String,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<impl Future<Output = Result<(), Status>> + Send + 'static> {
        self.owner.check(py)?;
        let (client, body) = ((*self.inner).clone(), body(data)?);
        Ok(async move { client.notify(&method, body).await })
    }

    fn ping_work(
        &self,
        py: Python<'_>,
    ) -> PyResult<impl Future<Output = Result<Duration, Status>> + Send + 'static> {
        self.owner.check(py)?;
        let client = (*self.inner).clone();
        Ok(async move { client.ping().await })
    }

    fn stream_work(
        &self,
        py: Python<'_>,
        method: String,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<impl Future<Output = Result<Stream, Status>> + Send + 'static> {
        self.owner.check(py)?;
        let opts = call_options(timeout, metadata, compression)?;
        let (client, rt) = ((*self.inner).clone(), self.rt.clone());
        Ok(async move {
            let (sink, replies) = client.open_stream(&method, &opts).await?;
            Ok(Stream::new(sink, replies, rt, method))
        })
    }

    fn close_work(&self) -> impl Future<Output = ()> + Send + 'static {
        let client = (*self.inner).clone();
        async move { client.close().await }
    }
}

/// The Python object a made value settles its future with.
fn made<T>(value: T) -> Make
where
    T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>> + Send + 'static,
{
    Box::new(move |py| Ok(Py::new(py, value)?.into_any()))
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
        let common = Common::new(compression, max_message_size, crc, keepalive, agent);
        let (rt, work) = connecting(py, url, common, timeout, pool, wait_for_ready, handlers)?;
        wait_ok(py, &rt, work)
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
        method: String,
        data: &Bound<'py, PyAny>,
        timeout: Option<f64>,
        metadata: Option<&Bound<'py, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let work = self.call_work(py, method, data, timeout, metadata, compression)?;
        Ok(PyBytes::new(py, &wait_ok(py, &self.rt, work)?))
    }

    /// A one-way call: returns once the message is queued on a live connection.
    fn notify(&self, py: Python<'_>, method: String, data: &Bound<'_, PyAny>) -> PyResult<()> {
        wait_ok(py, &self.rt, self.notify_work(py, method, data)?)
    }

    /// The round-trip time of a PING, in seconds.
    fn ping(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(wait_ok(py, &self.rt, self.ping_work(py)?)?.as_secs_f64())
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
        wait(py, &self.rt, self.close_work())
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
        method: String,
        timeout: Option<f64>,
        metadata: Option<&Bound<'_, PyAny>>,
        compression: Option<&str>,
    ) -> PyResult<Stream> {
        let work = self.stream_work(py, method, timeout, metadata, compression)?;
        wait_ok(py, &self.rt, work)
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
        let work = self.stream_work(py, method, timeout, metadata, compression)?;
        Ok(CallGuard::start(bridge, future, async move {
            Outcome::Made(work.await.map(made))
        }))
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
        let work = self.call_work(py, method, data, timeout, metadata, compression)?;
        Ok(CallGuard::start(bridge, future, async move {
            Outcome::Reply(work.await)
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
        let work = self.notify_work(py, method, data)?;
        Ok(CallGuard::start(bridge, future, async move {
            Outcome::Done(work.await)
        }))
    }

    /// Starts a PING whose round-trip time settles `future` on `bridge`'s loop.
    fn _start_ping(
        &self,
        py: Python<'_>,
        bridge: Py<LoopBridge>,
        future: Py<PyAny>,
    ) -> PyResult<CallGuard> {
        let work = self.ping_work(py)?;
        Ok(CallGuard::start(bridge, future, async move {
            Outcome::Elapsed(work.await)
        }))
    }

    /// Starts closing the client; `future` is settled once every connection is closed.
    fn _start_close(&self, bridge: Py<LoopBridge>, future: Py<PyAny>) -> CallGuard {
        let work = self.close_work();
        CallGuard::start(bridge, future, async move {
            work.await;
            Outcome::Done(Ok(()))
        })
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
    let common = Common::new(compression, max_message_size, crc, keepalive, agent);
    let (_, work) = connecting(py, url, common, timeout, pool, wait_for_ready, handlers)?;
    Ok(CallGuard::start(bridge, future, async move {
        Outcome::Made(work.await.map(made))
    }))
}
