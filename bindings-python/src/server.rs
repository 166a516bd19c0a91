//! `ServerCore`: a bound listener whose methods are Python callables, run on the runtime's
//! worker threads (never on a connection's task). A sync handler's return value is the
//! reply; an async handler is started on its event loop with `call_soon_threadsafe` and
//! answers through a [`Responder`]. `muxwire.Server` and `muxwire.AsyncServer` wrap it.

use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Context, Inbound, Outbound, Router, Running, RuntimeHandle};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::{count, seconds};
use crate::bridge::{LoopBridge, Make};
use crate::context::{call_sync, CallContext, Responder};
use crate::flag::Flag;
use crate::options::Common;
use crate::runtime::{self, Owner};
use crate::stats::Stats;
use crate::streaming::{serve_async, StreamHandlers};
use crate::wait::wait;

/// Worker threads a server may run handlers on at most.
const MAX_WORKERS: usize = 256;
/// Calls that may wait for a worker at most.
const MAX_WORKER_QUEUE: usize = 1 << 20;

/// A running server: bound, serving its methods until shut down.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct ServerCore {
    /// Never dropped in a `fork()` child, whose runtime threads are gone.
    running: Mutex<Option<ManuallyDrop<Running>>>,
    url: String,
    /// The server's counters (they outlive `running`).
    stats: Arc<muxwire::Stats>,
    stopped: Arc<Flag>,
    rt: RuntimeHandle,
    owner: Owner,
}

impl Drop for ServerCore {
    fn drop(&mut self) {
        let running = self.running.get_mut().map(Option::take);
        if let Ok(Some(running)) = running {
            if self.owner.is_home() {
                // Dropping `Running` stops the listener and its connections.
                drop(ManuallyDrop::into_inner(running));
            }
        }
    }
}

/// Starts an async handler on its loop: `dispatch((ctx, data, responder))`, queued on the
/// loop's bridge (this thread never waits for the GIL).
fn start_async(
    bridge: &Arc<Py<LoopBridge>>,
    dispatch: &Arc<Py<PyAny>>,
    ctx: Context,
    request: Bytes,
    responder: muxwire::Responder,
    rt: &RuntimeHandle,
) {
    let (ctx, rt, on) = (Arc::new(ctx), rt.clone(), bridge.clone());
    // If the call cannot be started, the responder, dropped unanswered, ends it with
    // INTERNAL.
    let make: Make = Box::new(move |py| {
        let responder = Responder::new(responder, ctx.clone(), rt.clone(), on);
        let args = (
            CallContext::new(ctx, rt),
            PyBytes::new(py, &request),
            responder,
        );
        Ok(args.into_pyobject(py)?.into_any().unbind())
    });
    LoopBridge::call_soon(bridge, dispatch.clone(), make);
}

#[pymethods]
impl ServerCore {
    /// Binds `url` and serves `methods`: `(name, handler, bridge)` triples, where
    /// `bridge` is `None` for a sync handler `handler(ctx, data) -> bytes`, or the loop's
    /// `LoopBridge` for an async one, called as `handler((ctx, data, responder))` on that
    /// loop; and `streams`: `(name, handler, bridge)` triples, where `bridge` is
    /// `None` for a sync handler `handler(ctx, requests)` returning an iterable of replies
    /// (run on a thread of its own), or the loop's `LoopBridge` for an async one, called as
    /// `handler(call)` with a `StreamCall` on that loop.
    #[new]
    #[pyo3(signature = (url, methods, *, streams=Vec::new(), compression=None,
        max_message_size=None, crc=false, keepalive=None, agent=None, workers=None,
        worker_queue=None, max_concurrent_streams=None, idle_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &str,
        methods: Vec<(String, Py<PyAny>, Option<Py<LoopBridge>>)>,
        streams: Vec<(String, Py<PyAny>, Option<Py<LoopBridge>>)>,
        compression: Option<&str>,
        max_message_size: Option<usize>,
        crc: bool,
        keepalive: Option<f64>,
        agent: Option<String>,
        workers: Option<usize>,
        worker_queue: Option<usize>,
        max_concurrent_streams: Option<usize>,
        idle_timeout: Option<f64>,
    ) -> PyResult<ServerCore> {
        let common = Common::new(compression, max_message_size, crc, keepalive, agent);
        let mut opts = common.options()?;
        if let Some(n) = workers {
            opts.worker_threads = count(n, MAX_WORKERS, "workers")?;
        }
        if let Some(n) = worker_queue {
            opts.worker_queue = count(n, MAX_WORKER_QUEUE, "worker_queue")?;
        }
        if let Some(n) = max_concurrent_streams {
            opts.max_concurrent_streams =
                count(n, u32::MAX as usize, "max_concurrent_streams")? as u32;
        }
        // None keeps the library's default (5 min); 0 turns the idle timeout off.
        if let Some(t) = idle_timeout {
            opts.idle_timeout = seconds(Some(t), "idle_timeout")?.filter(|d| !d.is_zero());
        }
        crate::log::sync_level(py);
        let rt = runtime::handle(py)?;
        let mut router = Router::new();
        for (name, handler, bridge) in methods {
            router = match bridge {
                None => {
                    let rt = rt.clone();
                    router.unary_blocking(&name, move |ctx: Context, req: Bytes| {
                        call_sync(&handler, ctx, req, &rt)
                    })
                }
                Some(bridge) => {
                    let (bridge, handler, rt) = (Arc::new(bridge), Arc::new(handler), rt.clone());
                    router.unary_worker(
                        &name,
                        move |ctx: Context, req: Bytes, r: muxwire::Responder| {
                            start_async(&bridge, &handler, ctx, req, r, &rt)
                        },
                    )
                }
            };
        }
        let stream_handlers = StreamHandlers::limit(opts.worker_threads, rt.clone());
        for (name, handler, bridge) in streams {
            let handler = Arc::new(handler);
            router = match bridge {
                None => {
                    let on = stream_handlers.clone();
                    router.streaming(
                        &name,
                        move |ctx: Context, inbound: Inbound, outbound: Outbound| {
                            on.clone().serve(handler.clone(), ctx, inbound, outbound)
                        },
                    )
                }
                Some(bridge) => {
                    let (bridge, rt) = (Arc::new(bridge), rt.clone());
                    router.streaming(
                        &name,
                        move |ctx: Context, inbound: Inbound, outbound: Outbound| {
                            let (bridge, handler) = (bridge.clone(), handler.clone());
                            serve_async(bridge, handler, ctx, inbound, outbound, rt.clone())
                        },
                    )
                }
            };
        }
        let bind = muxwire::Server::new(router, opts).bind(url);
        let running = wait(py, &rt, bind)?.map_err(|s| crate::errors::status_err(py, s))?;
        let url = running.local_endpoint().to_string();
        let stats = running.stats_handle();
        Ok(ServerCore {
            running: Mutex::new(Some(ManuallyDrop::new(running))),
            url,
            stats,
            stopped: Arc::default(),
            rt,
            owner: Owner::here("Server"),
        })
    }

    /// The URL the server listens on (with the port the system chose for port 0).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The server's counters (still readable after shutdown).
    fn stats(&self) -> Stats {
        self.stats.snapshot().into()
    }

    /// Stops accepting, lets calls in progress finish for up to `grace` seconds, then
    /// closes every connection. Does nothing if already shut down.
    #[pyo3(signature = (grace=5.0))]
    fn shutdown(&self, py: Python<'_>, grace: f64) -> PyResult<()> {
        self.owner.check(py)?;
        let grace = seconds(Some(grace), "grace")?.unwrap_or_default();
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(running) = running {
            let running = ManuallyDrop::into_inner(running);
            let outcome = wait(py, &self.rt, running.shutdown(grace));
            self.stopped.set();
            outcome?;
        }
        Ok(())
    }

    /// True once the server has shut down.
    #[getter]
    fn closed(&self) -> bool {
        self.stopped.is_set()
    }

    /// Blocks until the server has shut down (from another thread or a handler), or up
    /// to `timeout` seconds; True if it has. Ctrl-C raises KeyboardInterrupt.
    #[pyo3(signature = (timeout=None))]
    fn wait_closed(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.owner.check(py)?;
        let timeout = seconds(timeout, "timeout")?.unwrap_or(Duration::MAX);
        let stopped = self.stopped.clone();
        let done = wait(py, &self.rt, async move {
            tokio::time::timeout(timeout, stopped.wait()).await.is_ok()
        })?;
        Ok(done)
    }

    fn __repr__(&self) -> String {
        format!("ServerCore({:?})", self.url)
    }
}
