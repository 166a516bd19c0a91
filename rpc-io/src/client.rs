//! Clients: a pool of connections to one endpoint, reconnecting with backoff (each kept
//! by a task in `keeper`). The calls made over a connection are in `channel`, where a
//! [`Channel`] makes the same calls over one given connection (a handler calling its
//! caller back, or a caller that wants one).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use muxwire_core::wire::{ErrorCode, Side};

use crate::channel::{
    may_compress, method_list, notify_batch_on, notify_confirmed_on, ping_on, request, stream_on,
    unary_req, unary_then, CallOptions, CallSink, CallStream, UnaryCall,
};
use crate::commands::{Bodies, Cmd, OneWayRefused};
use crate::conn_state::{ConnState, StatePublisher, StateWatch};
use crate::driver;
use crate::handle::{closed_before_sent, Channel, Handle, NO_GOAWAY};
use crate::handler::BoxFuture;
use crate::replies::Callback;
use crate::route::{Router, LIST_METHOD};
use crate::runtime::RuntimeHandle;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::{Endpoint, Options, Status};

mod keeper;

use keeper::{keeper, PoolSlot, EAGER, IDLE, WAKING};

/// Why a client cannot start here.
fn not_on_a_runtime() -> Status {
    Status::failed_precondition(
        "muxwire connections run on a tokio runtime and this task is not on one: use \
         Client::connect_on, or Runtime::block_on from synchronous code",
    )
}

thread_local! {
    /// Notifies made on this thread (see `yield_now_and_then`).
    static NOTIFIES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Lets a producer that never waits give other tasks (the connection's among them) a turn
/// now and then: one unit of tokio's cooperative budget every 8th notify, so that a tight
/// loop yields about every thousand messages, which then travel in few large writes.
async fn yield_now_and_then() {
    let n = NOTIFIES.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    if n % 8 == 0 {
        tokio::task::consume_budget().await;
    }
}

/// A call that failed as safe to retry (the peer never processed it: a GOAWAY raced it)
/// is sent again this many times at most, on a live connection.
const TRANSPARENT_RETRIES: u32 = 2;

/// How long a call sent again waits for a reconnect at most (a reconnect to a live server
/// takes milliseconds; one that hangs should not hold a call that a `Balanced` client
/// would rather send to another endpoint).
const RETRY_RECONNECT_WAIT: Duration = Duration::from_secs(2);

struct Inner {
    endpoint: Endpoint,
    transport: Arc<dyn Transport>,
    opts: Arc<Options>,
    stats: Arc<Stats>,
    router: Option<Arc<Router>>,
    slots: Vec<PoolSlot>,
    next: AtomicUsize,
    shutdown: AtomicBool,
    state: StatePublisher,
    /// The runtime the client's connections run on.
    rt: RuntimeHandle,
}

impl Drop for Inner {
    /// The last clone of a client is gone: drain its connections (calls still in flight,
    /// such as a handler's callback, finish), instead of leaving them open.
    fn drop(&mut self) {
        for s in &mut self.slots {
            if let Some(h) = s.handle.get_mut().ok().and_then(Option::take) {
                h.send(Cmd::Drain);
            }
            // A keeper waiting for a call finds the client gone and ends.
            s.wake.notify_one();
        }
    }
}

impl Inner {
    /// Ready while any pooled connection has completed its handshake and is live; Idle
    /// while every slot waits for a call after an idle close; Connecting while a
    /// connection is being set up; TransientFailure otherwise.
    fn publish_state(&self) {
        if self.shutdown.load(Ordering::Acquire) {
            return;
        }
        let state = if self.slots.iter().any(|s| s.live().is_some()) {
            ConnState::Ready
        } else if self
            .slots
            .iter()
            .all(|s| s.lazy.load(Ordering::Acquire) == IDLE)
        {
            ConnState::Idle
        } else if self.slots.iter().any(|s| {
            s.lazy.load(Ordering::Acquire) == WAKING
                || s.handle
                    .lock()
                    .expect("lock")
                    .as_ref()
                    .is_some_and(|h| !h.closed.is_closed())
        }) {
            ConnState::Connecting
        } else {
            ConnState::TransientFailure
        };
        self.state.set(state);
    }
}

/// A client of one endpoint: a pool of connections that reconnect on their own.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to `url` with default options.
    pub async fn connect(url: &str) -> Result<Client, Status> {
        Client::connect_with(url, Options::default(), None).await
    }

    /// Connects to `url`; `router` serves calls the server makes back to this client.
    /// Fails with UNAVAILABLE if the first connection cannot be made (unless
    /// `wait_for_ready`, in which case it keeps trying in the background).
    pub async fn connect_with(
        url: &str,
        opts: Options,
        router: Option<Router>,
    ) -> Result<Client, Status> {
        Client::connect_via(crate::transport::for_options(&opts), url, opts, router).await
    }

    /// Like [`Client::connect_with`], over any [`Transport`] (TLS, shared memory, a test
    /// harness...).
    pub async fn connect_via(
        transport: Arc<dyn Transport>,
        url: &str,
        opts: Options,
        router: Option<Router>,
    ) -> Result<Client, Status> {
        let endpoint: Endpoint = url
            .parse()
            .map_err(|e: crate::EndpointError| Status::invalid_argument(e.0))?;
        let rt = RuntimeHandle::current().ok_or_else(not_on_a_runtime)?;
        opts.validate()?;
        if let Some(r) = &router {
            r.check()?;
        }
        let router = router.map(|r| Arc::new(r.sealed(&opts)));
        let stats = Arc::new(Stats::default());
        if let Some(r) = router.as_ref().filter(|_| opts.method_metrics) {
            stats.track_methods(r.metrics());
        }
        let pool = opts.pool_size.max(1);
        let wait = opts.wait_for_ready;
        let state = StatePublisher::new(ConnState::Connecting);
        let inner = Arc::new(Inner {
            endpoint,
            transport,
            opts: Arc::new(opts),
            stats,
            router,
            slots: (0..pool).map(|_| PoolSlot::new()).collect(),
            next: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            state,
            rt,
        });
        if !wait {
            // The first connection is made here so that a bad address fails right away.
            let io = inner
                .transport
                .connect(&inner.endpoint)
                .await
                .map_err(|e| {
                    Status::unavailable(format!("cannot connect to {}: {e}", inner.endpoint))
                })?;
            let (h, _) = driver::spawn(
                io,
                Side::Connector,
                inner.opts.clone(),
                inner.stats.clone(),
                inner.router.clone(),
                None,
            );
            // Return once the server's HELLO is in: its limits and codecs are then known.
            let hs = tokio::time::timeout(inner.opts.handshake_timeout, h.ready.wait()).await;
            if hs.is_err() || !h.is_live() {
                h.send(Cmd::Close);
                let goaway = h.peer_goaway.load(Ordering::Acquire);
                return Err(Status::unavailable(if goaway == NO_GOAWAY {
                    format!("no muxwire handshake from {}", inner.endpoint)
                } else {
                    // Over one of its limits (GOAWAY ENHANCE_YOUR_CALM names it), or draining.
                    format!(
                        "{} refused the connection (GOAWAY {})",
                        inner.endpoint,
                        ErrorCode(goaway)
                    )
                }));
            }
            *inner.slots[0].handle.lock().expect("lock") = Some(h);
            inner.state.set(ConnState::Ready);
        }
        for i in 0..pool {
            tokio::spawn(keeper(Arc::downgrade(&inner), i));
        }
        Ok(Client { inner })
    }

    /// Connects on the runtime `rt` (its connections live there) from any async caller,
    /// on another runtime or none: for hosts whose event loop is not tokio.
    pub async fn connect_on(
        rt: &RuntimeHandle,
        url: &str,
        opts: Options,
        router: Option<Router>,
    ) -> Result<Client, Status> {
        let url = url.to_string();
        rt.run(async move { Client::connect_with(&url, opts, router).await })
            .await?
    }

    /// The runtime this client's connections run on.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.inner.rt
    }

    /// A unary call as an owned future (`'static`, `Send`), for code that must store or
    /// hand over the call (bindings, spawned tasks). Dropping it cancels the call.
    pub fn call_owned(
        &self,
        method: impl Into<String>,
        body: Bytes,
        opts: CallOptions,
    ) -> BoxFuture<Result<Bytes, Status>> {
        let (client, method) = (self.clone(), method.into());
        Box::pin(async move { client.call_with(&method, body, &opts).await })
    }

    /// A unary call whose outcome is handed to `done`, on one of the client's runtime
    /// threads (never the caller's): the completion a C callback or a foreign event loop
    /// needs. `done` is called exactly once; keep it short, it runs on the runtime.
    pub fn call_then(
        &self,
        method: impl Into<String>,
        body: Bytes,
        opts: CallOptions,
        done: impl FnOnce(Result<Bytes, Status>) + Send + 'static,
    ) {
        let (method, done): (String, Callback) = (method.into(), Box::new(done));
        let req = unary_req(body, &opts, self.inner.opts.default_timeout);
        // On a live connection the call is queued here and its outcome goes straight to
        // `done`; otherwise a task waits for a connection first.
        if let Ok(h) = self.with_live(Handle::clone) {
            return unary_then(&h, &method, req, done);
        }
        let client = self.clone();
        self.inner.rt.spawn(async move {
            match client.pick(req.timeout).await {
                Ok(h) => unary_then(&h, &method, req, done),
                Err(status) => done(Err(status)),
            }
        });
    }

    /// Watches the connection state: Ready while any pooled connection is live.
    pub fn state(&self) -> StateWatch {
        self.inner.state.watch()
    }

    /// Calls this client has in flight now (counted once per connection turn, so a
    /// moment behind): what load balancing compares.
    pub fn in_flight(&self) -> u64 {
        self.inner
            .stats
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connection state now (see [`Client::state`] to wait for changes).
    pub fn current_state(&self) -> ConnState {
        self.inner.state.get()
    }

    /// A unary call.
    pub async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, Status> {
        self.call_with(method, body, &CallOptions::default()).await
    }

    /// A unary call with options (timeout, metadata, compression).
    pub async fn call_with(
        &self,
        method: &str,
        body: Bytes,
        opts: &CallOptions,
    ) -> Result<Bytes, Status> {
        let started = std::time::Instant::now();
        let mut retries = 0;
        let mut last: Option<Status> = None;
        loop {
            let mut req = unary_req(body.clone(), opts, self.inner.opts.default_timeout);
            let handle = if retries == 0 {
                self.pick(req.timeout).await?
            } else {
                // What is left of the call's time.
                req.timeout = match req.timeout.map(|t| t.checked_sub(started.elapsed())) {
                    Some(None) => return Err(Status::deadline_exceeded()),
                    left => left.flatten(),
                };
                match self.pick_for_retry(req.timeout).await {
                    Some(h) => h,
                    None => return Err(last.take().unwrap_or_else(Status::deadline_exceeded)),
                }
            };
            match UnaryCall::new(&handle, method, req).await {
                // Not processed by the peer (a GOAWAY raced the call, spec section 15.3):
                // sent again, on a live connection.
                Err(s) if s.retry_safe && retries < TRANSPARENT_RETRIES && !self.is_closed() => {
                    retries += 1;
                    last = Some(s);
                }
                r => return r,
            }
        }
    }

    /// A one-way call: no reply, no status. Returns once the message is queued on a live
    /// connection (it is then sent in order with everything else, as credit allows); waits
    /// while 4 MiB of one-way messages are queued on that connection and not yet encoded
    /// (each counted with 64 bytes more, so that empty ones are bounded too); fails
    /// if there is no connection, or with RESOURCE_EXHAUSTED if the message cannot travel
    /// as the single frame a one-way call is (the peer's `max_frame_size`, at most 256 KiB,
    /// less 1 KiB and the method name; 64 KiB frames by default). A body that compression shrinks to fit
    /// is checked after compression: [`Client::notify_confirmed`] reports that outcome.
    pub async fn notify(&self, method: &str, body: Bytes) -> Result<(), Status> {
        yield_now_and_then().await;
        let compressible = may_compress(&self.inner.opts, &body);
        let queue = move |h: &Handle| {
            h.check_one_way(method, body.len(), compressible)?;
            match h.commands.one_way(method, Bodies::One(body)) {
                Ok(()) => Ok(None),
                Err(OneWayRefused::Closed) => Err(closed_before_sent()),
                // The one-way budget is spent: wait for room on this connection.
                Err(OneWayRefused::Full(bodies)) => Ok(Some((h.clone(), bodies))),
            }
        };
        let waits = match self.with_live(queue) {
            Ok(queued) => queued?,
            Err(queue) => queue(&self.pick(None).await?)?,
        };
        match waits {
            None => Ok(()),
            Some((handle, bodies)) => handle.one_way(method, bodies).await,
        }
    }

    /// Many one-way calls to one method, sent in order on one connection: each body is its
    /// own one-way message, as if sent by [`Client::notify`] one after another, but they
    /// cross to the connection's task together, which costs far less per message. Every
    /// body must fit one frame (see [`Client::notify`]); if one cannot, none is sent.
    pub async fn notify_batch(&self, method: &str, bodies: Vec<Bytes>) -> Result<(), Status> {
        if bodies.is_empty() {
            return Ok(());
        }
        let handle = self.pick(None).await?;
        notify_batch_on(&handle, &self.inner.opts, method, bodies).await
    }

    /// A one-way call that waits until the connection has queued it for the socket (or
    /// failed to).
    pub async fn notify_confirmed(&self, method: &str, body: Bytes) -> Result<(), Status> {
        let handle = self.pick(None).await?;
        notify_confirmed_on(&handle, &self.inner.opts, method, body).await
    }

    /// A streaming call: a sink for requests and a stream of replies.
    pub async fn open_stream(
        &self,
        method: &str,
        opts: &CallOptions,
    ) -> Result<(CallSink, CallStream), Status> {
        let req = request(
            method,
            None,
            false,
            false,
            opts,
            self.inner.opts.default_timeout,
        );
        let handle = self.pick(req.timeout).await?;
        stream_on(&handle, req)
    }

    /// One live connection of the pool as a [`Channel`] (waiting for one if
    /// `wait_for_ready`): calls made on it go over that connection, in order, and fail
    /// with UNAVAILABLE once it ends (the pool reconnects; ask for a channel again).
    pub async fn channel(&self) -> Result<Channel, Status> {
        let handle = self.pick(self.inner.opts.default_timeout).await?;
        Ok(Channel::new(handle, self.inner.opts.clone()))
    }

    /// The server's methods (the built-in `muxwire.list`).
    pub async fn list(&self) -> Result<Vec<String>, Status> {
        Ok(method_list(&self.call(LIST_METHOD, Bytes::new()).await?))
    }

    /// Round-trip time of a PING on one connection.
    pub async fn ping(&self) -> Result<Duration, Status> {
        ping_on(&self.pick(None).await?).await
    }

    /// The client's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Drains and closes every connection; later calls fail with UNAVAILABLE.
    pub async fn close(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.state.set(ConnState::Shutdown);
        let handles: Vec<Handle> = self
            .inner
            .slots
            .iter()
            .filter_map(|s| s.handle.lock().expect("lock").take())
            .collect();
        for h in &handles {
            h.send(Cmd::Drain);
        }
        for h in &handles {
            h.closed.wait().await;
        }
        for s in &self.inner.slots {
            s.ready.notify_waiters();
            s.wake.notify_one();
        }
    }

    /// Runs `f` with a live connection, round-robin, without taking a reference to it;
    /// gives `f` back if none is live.
    fn with_live<R, F: FnOnce(&Handle) -> R>(&self, f: F) -> Result<R, F> {
        let inner = &self.inner;
        let n = inner.slots.len();
        let start = if n == 1 {
            0
        } else {
            inner.next.fetch_add(1, Ordering::Relaxed)
        };
        for i in 0..n {
            let slot = inner.slots[(start + i) % n].handle.lock().expect("lock");
            if let Some(h) = slot.as_ref().filter(|h| h.is_live()) {
                return Ok(f(h));
            }
        }
        Err(f)
    }

    /// A live connection (handshake complete), round-robin. With none: a slot idle since
    /// an idle close is woken and the call waits for its reconnect; otherwise the call
    /// waits for a connection if `wait_for_ready`, and fails at once if not.
    async fn pick(&self, timeout: Option<Duration>) -> Result<Handle, Status> {
        if let Some(h) = self.live_handle() {
            return Ok(h);
        }
        let inner = &self.inner;
        if inner.shutdown.load(Ordering::Acquire) {
            return Err(Status::unavailable("client closed"));
        }
        if let Some(h) = self.wake_idle(timeout).await? {
            return Ok(h);
        }
        if !inner.opts.wait_for_ready {
            return Err(Status::refused(format!(
                "not connected to {}",
                inner.endpoint
            )));
        }
        self.wait_live(timeout).await
    }

    /// A live connection for a call sent again: one now, or the one the next reconnect
    /// attempt makes (waiting up to `timeout`, the handshake timeout and
    /// `RETRY_RECONNECT_WAIT`, also without `wait_for_ready`); `None` once an attempt
    /// fails.
    async fn pick_for_retry(&self, timeout: Option<Duration>) -> Option<Handle> {
        if let Some(h) = self.live_handle() {
            return Some(h);
        }
        if let Ok(Some(h)) = self.wake_idle(timeout).await {
            return Some(h);
        }
        let hs = self.inner.opts.handshake_timeout.min(RETRY_RECONNECT_WAIT);
        let bound = timeout.map_or(hs, |t| t.min(hs));
        let failures = || {
            let slots = self.inner.slots.iter();
            slots
                .map(|s| s.failures.load(Ordering::Acquire))
                .sum::<u64>()
        };
        let before = failures();
        let wait = async {
            use std::future::Future;
            loop {
                // Each slot's keeper notifies once an attempt has ended, either way.
                let notified: Vec<_> = self
                    .inner
                    .slots
                    .iter()
                    .map(|s| Box::pin(s.ready.notified()))
                    .collect();
                if let Some(h) = self.live_handle() {
                    return Some(h);
                }
                if failures() > before || self.is_closed() {
                    return None;
                }
                let mut notified = notified;
                std::future::poll_fn(|cx| {
                    for n in notified.iter_mut() {
                        if n.as_mut().poll(cx).is_ready() {
                            return std::task::Poll::Ready(());
                        }
                    }
                    std::task::Poll::Pending
                })
                .await;
            }
        };
        tokio::time::timeout(bound, wait).await.ok().flatten()
    }

    /// A live connection now, round-robin.
    fn live_handle(&self) -> Option<Handle> {
        let inner = &self.inner;
        let n = inner.slots.len();
        let start = if n == 1 {
            0
        } else {
            inner.next.fetch_add(1, Ordering::Relaxed)
        };
        (0..n).find_map(|i| inner.slots[(start + i) % n].live())
    }

    /// Wakes a slot waiting for a call after an idle close and waits for its reconnect:
    /// the connection, or `None` if the attempt failed (or no slot was idle).
    async fn wake_idle(&self, timeout: Option<Duration>) -> Result<Option<Handle>, Status> {
        let Some(slot) = self
            .inner
            .slots
            .iter()
            .find(|s| s.lazy.load(Ordering::Acquire) != EAGER)
        else {
            return Ok(None);
        };
        if slot
            .lazy
            .compare_exchange(IDLE, WAKING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            slot.wake.notify_one();
            self.inner.publish_state();
        }
        let wait = async {
            loop {
                let notified = slot.ready.notified();
                if let Some(h) = slot.live() {
                    return Some(h);
                }
                if slot.lazy.load(Ordering::Acquire) == EAGER || self.is_closed() {
                    return None;
                }
                notified.await;
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| Status::deadline_exceeded()),
            None => Ok(wait.await),
        }
    }

    /// True once the client was closed.
    fn is_closed(&self) -> bool {
        self.inner.shutdown.load(Ordering::Acquire)
    }

    /// Waits for any slot's connection to be live (up to `timeout`).
    async fn wait_live(&self, timeout: Option<Duration>) -> Result<Handle, Status> {
        let inner = &self.inner;
        let n = inner.slots.len();
        let start = if n == 1 {
            0
        } else {
            inner.next.fetch_add(1, Ordering::Relaxed)
        };
        let wait = async {
            loop {
                let slot = &inner.slots[start % n];
                let notified = slot.ready.notified();
                if let Some(h) = slot.live() {
                    return Ok(h);
                }
                if self.is_closed() {
                    return Err(Status::unavailable("client closed"));
                }
                notified.await;
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .unwrap_or_else(|_| Err(Status::deadline_exceeded())),
            None => wait.await,
        }
    }
}
