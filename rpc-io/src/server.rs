//! Servers: handlers registered by method name, a context per call, graceful shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use muxwire_core::wire::Side;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::commands::{CallRef, Cmd, StreamKey};
use crate::driver;
use crate::handle::{Handle, Peer};
use crate::runtime::RuntimeHandle;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Sockets, Transport};
use crate::worker::{OnWorkers, Responder, WorkerHandler, WorkerPool};
use crate::{Endpoint, Options, Status};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The name of the built-in method that lists the registered methods, one per line.
pub const LIST_METHOD: &str = "muxwire.list";

/// Whether a call was cancelled; shared between the connection and the handler.
#[derive(Debug, Default)]
pub struct CancelState {
    flag: AtomicBool,
    notify: Notify,
}

impl CancelState {
    /// Makes a recycled state fresh again (only done when nothing else holds it).
    pub(crate) fn reset(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// True once the call was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// What a handler knows about its call.
pub struct Context {
    /// The METHOD bytes (UTF-8, validated by the codec), borrowed from the input.
    pub(crate) method: Bytes,
    pub(crate) deadline: Option<Instant>,
    pub(crate) metadata: Vec<(String, Bytes)>,
    pub(crate) cancel: Arc<CancelState>,
    pub(crate) peer: Peer,
}

impl Context {
    /// The method called.
    pub fn method(&self) -> &str {
        std::str::from_utf8(&self.method).unwrap_or("")
    }

    /// When the caller stops waiting, if it set a deadline.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.deadline.map(Instant::into_std)
    }

    /// The time left before the deadline (pass it on to nested calls).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The caller's metadata entries, in order.
    pub fn metadata(&self) -> &[(String, Bytes)] {
        &self.metadata
    }

    /// The first metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// True once the caller cancelled, the deadline passed or the connection died.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.flag.load(Ordering::Acquire)
    }

    /// Resolves when the call is cancelled (see [`Context::is_cancelled`]).
    pub async fn cancelled(&self) {
        loop {
            let n = self.cancel.notify.notified();
            if self.is_cancelled() {
                return;
            }
            n.await;
        }
    }

    /// A handle to call or notify the caller back over the same connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

/// A unary handler: one request, one reply.
pub trait UnaryHandler: Send + Sync + 'static {
    /// Handles one call.
    fn call(&self, ctx: Context, request: Bytes) -> BoxFuture<Result<Bytes, Status>>;
}

impl<F, Fut> UnaryHandler for F
where
    F: Fn(Context, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Bytes, Status>> + Send + 'static,
{
    fn call(&self, ctx: Context, request: Bytes) -> BoxFuture<Result<Bytes, Status>> {
        Box::pin(self(ctx, request))
    }
}

/// A unary handler that answers without awaiting anything. It runs on the connection's
/// task with no future, no task and no allocation per call; keep it short.
pub trait SyncHandler: Send + Sync + 'static {
    /// Handles one call.
    fn call(&self, ctx: &Context, request: Bytes) -> Result<Bytes, Status>;
}

impl<F> SyncHandler for F
where
    F: Fn(&Context, Bytes) -> Result<Bytes, Status> + Send + Sync + 'static,
{
    fn call(&self, ctx: &Context, request: Bytes) -> Result<Bytes, Status> {
        self(ctx, request)
    }
}

/// A streaming handler: reads the caller's messages, writes its own, returns the status.
pub trait StreamHandler: Send + Sync + 'static {
    /// Handles one call.
    fn call(
        &self,
        ctx: Context,
        inbound: Inbound,
        outbound: Outbound,
    ) -> BoxFuture<Result<(), Status>>;
}

impl<F, Fut> StreamHandler for F
where
    F: Fn(Context, Inbound, Outbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    fn call(
        &self,
        ctx: Context,
        inbound: Inbound,
        outbound: Outbound,
    ) -> BoxFuture<Result<(), Status>> {
        Box::pin(self(ctx, inbound, outbound))
    }
}

/// The caller's messages, in order; `None` after its half-close.
pub struct Inbound {
    rx: mpsc::UnboundedReceiver<Result<(Bytes, usize), Status>>,
    handle: Handle,
    call: CallRef,
}

impl Inbound {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<Result<(Bytes, usize), Status>>,
        handle: Handle,
        call: CallRef,
    ) -> Inbound {
        Inbound { rx, handle, call }
    }

    /// The next message. Taking it returns its flow-control credit to the caller, so a
    /// slow handler slows the caller down instead of buffering without bound.
    pub async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        std::future::poll_fn(|cx| self.poll_next_message(cx)).await
    }

    /// Polls for the next message (see [`Inbound::next`]); `Inbound` is also a
    /// `futures_core::Stream`.
    pub fn poll_next_message(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Status>>> {
        let next = std::task::ready!(self.rx.poll_recv(cx));
        std::task::Poll::Ready(next.map(|m| {
            m.map(|(m, wire)| {
                self.handle.send(Cmd::Consume {
                    call: self.call,
                    n: wire,
                });
                m
            })
        }))
    }
}

impl futures_core::Stream for Inbound {
    type Item = Result<Bytes, Status>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

/// Sends messages to the caller.
#[derive(Clone)]
pub struct Outbound {
    handle: Handle,
    call: CallRef,
    budget: Arc<crate::budget::Budget>,
}

impl Outbound {
    pub(crate) fn new(handle: Handle, call: CallRef) -> Outbound {
        let budget = crate::budget::Budget::new();
        Outbound {
            handle,
            call,
            budget,
        }
    }

    /// Sends one message to the caller. Waits while 4 MiB of this call's messages are
    /// still queued unwritten, so a slow caller slows the handler down.
    pub async fn send(&self, message: Bytes) -> Result<(), Status> {
        self.handle
            .send_budgeted(StreamKey::Served(self.call), &self.budget, message)
            .await
    }
}

#[derive(Clone)]
pub(crate) enum Method {
    Unary(Unary),
    Streaming(Arc<dyn StreamHandler>),
}

/// The two kinds of unary handler.
#[derive(Clone)]
pub(crate) enum Unary {
    Async(Arc<dyn UnaryHandler>),
    Sync(Arc<dyn SyncHandler>),
}

/// A registered method: its handler, and its name as `Bytes` for handler contexts (so a
/// context never holds on to the received frame the name came in).
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) name: Bytes,
    pub(crate) method: Method,
}

/// Handlers by method name. Registering a name twice (or the built-in `muxwire.list`,
/// or an empty name) is an error that [`Server::bind`] reports.
#[derive(Clone, Default)]
pub struct Router {
    methods: BTreeMap<String, Route>,
    /// Handlers for the worker pool, bound to one when the router is put to use.
    workers: BTreeMap<String, Arc<dyn WorkerHandler>>,
    list: Option<Route>,
    /// Why the registrations are invalid, if they are (reported at bind).
    invalid: Option<Status>,
}

impl Router {
    /// An empty router (the built-in `muxwire.list` is always there).
    pub fn new() -> Router {
        Router::default()
    }

    /// Registers a unary handler.
    pub fn unary(self, name: &str, handler: impl UnaryHandler) -> Router {
        self.add(name, Method::Unary(Unary::Async(Arc::new(handler))))
    }

    /// Registers a unary handler that answers without awaiting (see [`SyncHandler`]).
    pub fn unary_sync(self, name: &str, handler: impl SyncHandler) -> Router {
        self.add(name, Method::Unary(Unary::Sync(Arc::new(handler))))
    }

    /// Registers a streaming handler.
    pub fn streaming(self, name: &str, handler: impl StreamHandler) -> Router {
        self.add(name, Method::Streaming(Arc::new(handler)))
    }

    /// Registers a unary handler that runs on the worker pool (never on a connection's
    /// task) and answers through its [`Responder`], from any thread, now or later: the
    /// kind foreign code (C callbacks, Python functions) and blocking code are served
    /// with. The pool is bounded by `Options::worker_threads` and `worker_queue`.
    pub fn unary_worker(mut self, name: &str, handler: impl WorkerHandler) -> Router {
        if self.duplicate(name) {
            return self;
        }
        self.workers.insert(name.to_string(), Arc::new(handler));
        self.list = None;
        self
    }

    /// Registers a unary handler that may block (file IO, a lock, heavy CPU): it runs on
    /// the worker pool and its return value is the reply.
    pub fn unary_blocking<F>(self, name: &str, handler: F) -> Router
    where
        F: Fn(Context, Bytes) -> Result<Bytes, Status> + Send + Sync + 'static,
    {
        self.unary_worker(name, move |ctx: Context, req: Bytes, r: Responder| {
            // The call may be gone by now; then nobody waits for this answer.
            let _ = r.finish(handler(ctx, req));
        })
    }

    fn add(mut self, name: &str, method: Method) -> Router {
        if self.duplicate(name) {
            return self;
        }
        let route = Route {
            name: Bytes::copy_from_slice(name.as_bytes()),
            method,
        };
        self.methods.insert(name.to_string(), route);
        self.list = None;
        self
    }

    /// Records the first invalid registration (an empty name, or one already taken);
    /// true if `name` cannot be registered.
    fn duplicate(&mut self, name: &str) -> bool {
        let problem = if name.is_empty() {
            Some(Status::invalid_argument("a method name cannot be empty"))
        } else if name == LIST_METHOD
            || self.methods.contains_key(name)
            || self.workers.contains_key(name)
        {
            Some(Status::already_exists(format!(
                "method {name:?} is registered twice"
            )))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                // The first problem is the one reported; the first handler stays.
                self.invalid.get_or_insert(problem);
                true
            }
            None => false,
        }
    }

    /// Whether the registrations are valid: the first duplicate or empty name otherwise
    /// (the same error [`Server::bind`] returns).
    pub fn check(&self) -> Result<(), Status> {
        match &self.invalid {
            Some(s) => Err(s.clone()),
            None => Ok(()),
        }
    }

    /// The registered method names (plus the built-in listing), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.methods.keys().cloned().collect();
        v.extend(self.workers.keys().cloned());
        v.push(LIST_METHOD.to_string());
        v.sort();
        v
    }

    /// The router put to use: worker handlers bound to a new pool sized by `opts`, and
    /// the listing of its methods built.
    pub(crate) fn sealed(mut self, opts: &Options) -> Router {
        if !self.workers.is_empty() {
            let pool = WorkerPool::new(opts.worker_threads, opts.worker_queue);
            for (name, handler) in std::mem::take(&mut self.workers) {
                let bound = OnWorkers {
                    handler,
                    pool: pool.clone(),
                };
                let route = Route {
                    name: Bytes::copy_from_slice(name.as_bytes()),
                    method: Method::Unary(Unary::Async(Arc::new(bound))),
                };
                self.methods.insert(name, route);
            }
        }
        let listing = Bytes::from(self.names().join("\n"));
        let list = move |_ctx: &Context, _req: Bytes| Ok(listing.clone());
        self.list = Some(Route {
            name: Bytes::from_static(LIST_METHOD.as_bytes()),
            method: Method::Unary(Unary::Sync(Arc::new(list))),
        });
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Route> {
        if name == LIST_METHOD {
            return self.list.as_ref();
        }
        self.methods.get(name)
    }
}

/// A server: a router and options, ready to listen.
pub struct Server {
    router: Arc<Router>,
    opts: Arc<Options>,
}

/// A listening server. Dropping it stops listening and drains its connections (calls in
/// flight finish; new ones are refused as safe to retry), as [`Running::shutdown`] does
/// without waiting.
pub struct Running {
    local: Endpoint,
    stats: Arc<Stats>,
    conns: Arc<Mutex<Vec<Handle>>>,
    stop_accept: Arc<Notify>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// A server for `router` with `opts`.
    pub fn new(router: Router, opts: Options) -> Server {
        Server {
            router: Arc::new(router.sealed(&opts)),
            opts: Arc::new(opts),
        }
    }

    /// Binds `endpoint` (`tcp://host:port`, port 0 for any; `unix:///path`) and serves in
    /// the background.
    pub async fn bind(self, endpoint: &str) -> Result<Running, Status> {
        let sockets = Sockets::new(&self.opts);
        self.bind_via(&sockets, endpoint).await
    }

    /// Binds on the runtime `rt` (the server and its connections live there) from any
    /// async caller, on another runtime or none.
    pub async fn bind_on(self, rt: &RuntimeHandle, endpoint: &str) -> Result<Running, Status> {
        let endpoint = endpoint.to_string();
        rt.run(async move { self.bind(&endpoint).await }).await?
    }

    /// Like [`Server::bind`], over any [`Transport`].
    pub async fn bind_via(
        self,
        transport: &dyn Transport,
        endpoint: &str,
    ) -> Result<Running, Status> {
        let endpoint: Endpoint = endpoint
            .parse()
            .map_err(|e: crate::EndpointError| Status::invalid_argument(e.0))?;
        if RuntimeHandle::current().is_none() {
            return Err(Status::failed_precondition(
                "a muxwire server runs on a tokio runtime and this task is not on one: use \
                 Server::bind_on, or Runtime::block_on from synchronous code",
            ));
        }
        self.opts.validate()?;
        self.router.check()?;
        let listener = transport
            .listen(&endpoint)
            .await
            .map_err(|e| Status::unavailable(format!("cannot listen on {endpoint}: {e}")))?;
        let local = listener
            .local_endpoint()
            .map_err(|e| Status::internal(e.to_string()))?;
        let stats = Arc::new(Stats::default());
        let conns: Arc<Mutex<Vec<Handle>>> = Arc::default();
        let stop_accept = Arc::new(Notify::new());
        let accept_task = {
            let (stats, conns, stop) = (stats.clone(), conns.clone(), stop_accept.clone());
            let (router, opts) = (self.router, self.opts);
            tokio::spawn(async move {
                loop {
                    let io = tokio::select! {
                        _ = stop.notified() => break,
                        r = listener.accept() => match r {
                            Ok(io) => io,
                            Err(e) => {
                                tracing::warn!(%e, "accept failed");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        },
                    };
                    tracing::debug!(peer = %io.peer, "accepted");
                    let (h, _task) = driver::spawn(
                        io,
                        Side::Acceptor,
                        opts.clone(),
                        stats.clone(),
                        Some(router.clone()),
                    );
                    let mut list = conns.lock().expect("lock");
                    list.retain(|c| !c.closed.is_closed());
                    list.push(h);
                }
            })
        };
        tracing::info!(%local, "listening");
        Ok(Running {
            local,
            stats,
            conns,
            stop_accept,
            accept_task,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // After `shutdown` this finds nothing left to do.
        self.stop_accept.notify_one();
        for c in self.conns.lock().expect("lock").drain(..) {
            c.send(Cmd::Drain);
        }
    }
}

impl Running {
    /// Where the server listens (with the real port if 0 was asked for).
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// The server's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.conns
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| !c.closed.is_closed())
            .count()
    }

    /// Stops accepting, drains every connection (calls in flight finish, new ones are
    /// refused as safe to retry), and after `grace` closes whatever is left.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop_accept.notify_one();
        let _ = (&mut self.accept_task).await;
        let conns: Vec<Handle> = self.conns.lock().expect("lock").drain(..).collect();
        for c in &conns {
            c.send(Cmd::Drain);
        }
        let all_closed = async {
            for c in &conns {
                c.closed.wait().await;
            }
        };
        if tokio::time::timeout(grace, all_closed).await.is_err() {
            for c in &conns {
                c.send(Cmd::Close);
            }
            for c in &conns {
                c.closed.wait().await;
            }
        }
    }
}
