//! The callee side: calls this end serves. A call's route is looked up once; a whole
//! unary request to a sync handler is answered inline (no stream state, no task, no
//! reference counts), other handlers start as their request completes (async ones polled
//! once before they are spawned), streaming handlers get channels. Replies wait behind the
//! call's queued messages (see `send`).

use std::sync::Arc;

use bytes::Bytes;
use muxwire_core::time::Duration as CoreDuration;
use muxwire_core::wire::{Codec, StatusCode, StreamId};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::incoming::{Incoming, Piece};
use super::one_way::WaitingOneWay;
use super::Driver;
use crate::commands::{CallRef, Cmd};
use crate::compress;
use crate::handle::Channel;
use crate::handler::{
    BoxFuture, CancelState, Context, Inbound, Outbound, SyncHandler, UnaryHandler,
};
use crate::method_stats::CallTimer;
use crate::panics::{self, CatchPanic};
use crate::route::{Method, Route, Router, Unary};
use crate::stats::Stats;
use crate::status::Status;

/// The calls this side serves, and what serving them reuses.
pub(super) struct Callee {
    /// The handlers; taken out while one runs, so that it is borrowed, not shared.
    pub(super) router: Option<Arc<Router>>,
    /// Calls being served, by stream id.
    pub(super) served: FxHashMap<u32, Served>,
    /// The generation the next served call gets.
    pub(super) next_gen: u64,
    /// Cancellation states to reuse (see `cancel_state`).
    cancel_pool: Vec<Arc<CancelState>>,
    /// The context lent to sync handlers (see `run_sync`).
    pub(super) spare_ctx: Option<Context>,
    /// Dropped one-way messages not yet logged, and when the last warning was.
    dropped_unlogged: u64,
    last_drop_warning: Option<Instant>,
    /// Why this connection's peer may not call at all (`Router::authorize_connections`):
    /// every call is answered with it.
    pub(super) refused: Option<Status>,
    /// The watch of the call being answered inline, until its reply goes out or takes a
    /// stream of its own.
    pub(super) inline_watch: Option<InlineWatch>,
}

impl Callee {
    /// Lets go of pooled states and spare map capacity (the connection is idle).
    pub(super) fn trim(&mut self) {
        self.cancel_pool = Vec::new();
        self.served.shrink_to_fit();
    }
}

/// A connection warns about dropped one-way messages at most this often.
const DROP_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A call this side serves.
pub(super) struct Served {
    /// Tells this call from earlier ones on the same stream id.
    pub(super) gen: u64,
    /// The method called (the router's copy, or the name as received if unregistered).
    pub(super) method: Bytes,
    /// Messages for a streaming handler, with their wire size (credit returned on take).
    pub(super) inbound: Option<mpsc::UnboundedSender<Result<(Bytes, usize), Status>>>,
    /// Shared with the handler's context.
    pub(super) cancel: Arc<CancelState>,
    /// The request's message being put together.
    pub(super) incoming: Incoming,
    /// The request of a unary call, gathered until END_STREAM.
    pub(super) unary: Option<(Unary, Context, Option<Bytes>)>,
    /// The codec the caller compressed its request with, if any: replies use it too
    /// (`Options::reply_with_request_codec`).
    pub(super) request_codec: Option<Codec>,
    /// The method's counters, with `Options::method_metrics`.
    pub(super) timer: Option<CallTimer>,
    /// When the call arrived and whose interceptors wait for its end, if any do.
    pub(super) intercepted: Option<Intercepted>,
}

/// A served call's arrival, for the interceptors of `router` that wait for its end.
pub(super) type Intercepted = (std::time::Instant, Arc<Router>);

/// What a call answered inline (`inline_sync`) hands to the stream state its reply gets
/// when it cannot go out at once (`serve_on_stream`), to be ended there.
#[derive(Default)]
pub(super) struct InlineWatch {
    pub(super) timer: Option<CallTimer>,
    pub(super) intercepted: Option<Intercepted>,
}

impl Served {
    /// A served call of generation `gen`, to `method`.
    pub(super) fn new(
        gen: u64,
        method: Bytes,
        cancel: Arc<CancelState>,
        inbound: Option<mpsc::UnboundedSender<Result<(Bytes, usize), Status>>>,
        unary: Option<(Unary, Context, Option<Bytes>)>,
    ) -> Served {
        Served {
            gen,
            method,
            inbound,
            cancel,
            incoming: Incoming::default(),
            unary,
            request_codec: None,
            timer: None,
            intercepted: None,
        }
    }
}

impl Callee {
    /// Serves calls with `router`'s handlers (none: every call is UNIMPLEMENTED).
    pub(super) fn new(router: Option<Arc<Router>>) -> Callee {
        Callee {
            router,
            served: FxHashMap::default(),
            next_gen: 1,
            cancel_pool: Vec::new(),
            spare_ctx: None,
            dropped_unlogged: 0,
            last_drop_warning: None,
            refused: None,
            inline_watch: None,
        }
    }

    /// The same, answering every call with `refused` if it is set (the connection's peer
    /// was refused by `Router::authorize_connections`).
    pub(super) fn refusing(mut self, refused: Option<Status>) -> Callee {
        if let Some(r) = &refused {
            tracing::info!(code = r.code.name(), message = %r.message, "connection refused by its check");
        }
        self.refused = refused;
        self
    }

    /// Counts a one-way message dropped for `why`, and warns now and then (a peer that
    /// sends many must not flood the log).
    fn one_way_dropped(&mut self, stats: &Stats, method: &str, why: &str) {
        Stats::add(&stats.one_way_dropped, 1);
        self.dropped_unlogged += 1;
        let now = Instant::now();
        if self
            .last_drop_warning
            .is_none_or(|t| now.duration_since(t) >= DROP_WARNING_EVERY)
        {
            tracing::warn!(
                method,
                dropped = self.dropped_unlogged,
                "one-way message dropped: {why} (counted in stats.one_way_dropped; \
                 logged at most every 10 s per connection)"
            );
            self.dropped_unlogged = 0;
            self.last_drop_warning = Some(now);
        }
    }

    /// A fresh cancellation state, recycled when nothing else holds one (a call's
    /// context is gone once its handler finished), so steady traffic allocates none.
    pub(super) fn cancel_state(&mut self) -> Arc<CancelState> {
        while let Some(c) = self.cancel_pool.pop() {
            if Arc::strong_count(&c) == 1 {
                c.reset();
                return c;
            }
        }
        Arc::new(CancelState::default())
    }

    /// Keeps `c` for reuse (up to a bound).
    fn recycle(&mut self, c: Arc<CancelState>) {
        if self.cancel_pool.len() < 4096 {
            self.cancel_pool.push(c);
        }
    }
}

impl Driver {
    /// A handler's context with a fresh (or recycled) cancellation state.
    fn new_context(
        &mut self,
        method: Bytes,
        deadline: Option<Instant>,
        metadata: Vec<(String, Bytes)>,
    ) -> Context {
        Context {
            method,
            deadline,
            metadata,
            cancel: self.callee.cancel_state(),
            peer: Channel::new(self.handle.clone(), self.opts.clone()),
        }
    }

    /// Runs a one-way call's handler: no stream state, no reply. This is the hot path of
    /// a notification stream, so it moves what it can instead of sharing it.
    fn one_way_call(
        &mut self,
        stream: u32,
        method: &[u8],
        entries: Vec<(String, Bytes)>,
        deadline: Option<CoreDuration>,
        body: Option<(Bytes, Codec, bool)>,
    ) {
        let Some((data, codec, _)) = body else {
            return;
        };
        let wire = data.len();
        let mut entries = entries;
        if let Err(refused) = self.admit(method, &mut entries, deadline, true) {
            let why = format!("refused: {refused}");
            self.callee
                .one_way_dropped(&self.stats, &String::from_utf8_lossy(method), &why);
            self.conn.consume(StreamId(stream), wire);
            return;
        }
        // Borrow the router without sharing it (no reference count per message).
        let router = self.callee.router.take();
        let held = self.run_one_way(router.as_deref(), method, entries, deadline, data, codec);
        self.callee.router = router;
        if !held {
            self.conn.consume(StreamId(stream), wire);
        }
    }

    /// Runs one-way call `method` with `router`'s handler, if it has a unary one. Returns
    /// true if the message's connection credit is held (by a handler still running, or by
    /// the message waiting for a handler slot); it comes back when the handler finishes.
    fn run_one_way(
        &mut self,
        router: Option<&Router>,
        method: &[u8],
        entries: Vec<(String, Bytes)>,
        deadline: Option<CoreDuration>,
        data: Bytes,
        codec: Codec,
    ) -> bool {
        let wire = data.len();
        if self.opts.method_metrics {
            // One-way calls count as started only: nobody waits for their end.
            match router.map(|r| (r, r.get(method))) {
                Some((_, Some(route))) => route.metrics.started(),
                Some((r, None)) => r.unknown.started(),
                None => {}
            }
        }
        // Named in warnings only: not checked as UTF-8 on the way.
        let name = || String::from_utf8_lossy(method);
        let (method, handler) = match router.and_then(|r| r.get(method)) {
            Some(Route {
                name,
                method: Method::Unary(h),
                ..
            }) => (name, h),
            Some(_) => {
                let why = "the method is streaming, a one-way call needs a unary handler";
                self.callee.one_way_dropped(&self.stats, &name(), why);
                return false;
            }
            None => {
                let why = "no handler for its method";
                self.callee.one_way_dropped(&self.stats, &name(), why);
                return false;
            }
        };
        let req = match compress::decompress(codec, data, self.opts.max_message_size as usize) {
            Ok(req) => req,
            Err(e) => {
                let why = e.to_string();
                self.callee.one_way_dropped(&self.stats, &name(), &why);
                return false;
            }
        };
        let deadline =
            deadline.map(|d| Instant::now() + std::time::Duration::from_micros(d.as_micros()));
        match handler {
            Unary::Sync(h) => {
                let code = match self.run_sync(&**h, method, deadline, entries, req) {
                    Ok(_) => StatusCode::OK,
                    Err(status) => status.code,
                };
                self.tally.one_way_ended(code);
                false
            }
            Unary::Async(h) if !self.one_way.has_room() => {
                // Every slot is taken: the message waits, holding its credit.
                self.one_way.waiting.push_back(WaitingOneWay {
                    method: method.clone(),
                    handler: h.clone(),
                    entries,
                    deadline,
                    req,
                    wire,
                });
                true
            }
            Unary::Async(h) => {
                let h = h.clone();
                self.start_one_way(method, &*h, entries, deadline, req, wire)
            }
        }
    }

    /// Starts an async one-way handler; returns true if it runs on (in a task holding a
    /// slot and `wire` bytes of credit), false if it finished at once.
    fn start_one_way(
        &mut self,
        method: &Bytes,
        h: &dyn UnaryHandler,
        entries: Vec<(String, Bytes)>,
        deadline: Option<Instant>,
        req: Bytes,
        wire: usize,
    ) -> bool {
        let ctx = self.new_context(method.clone(), deadline, entries);
        let (held, code) = match start_unary(method, h, ctx, req) {
            Ok((fut, None)) => {
                let slot = self.one_way.take(wire);
                let watched = CatchPanic::new(fut, method.clone());
                tokio::spawn(async move {
                    let _ = watched.await;
                    drop(slot);
                });
                (true, StatusCode::OK)
            }
            Ok((_, Some(Ok(_)))) => (false, StatusCode::OK),
            Ok((_, Some(Err(status)))) | Err(status) => (false, status.code),
        };
        self.tally.one_way_ended(code);
        held
    }

    /// Collects the slots and credit of one-way handlers that finished, and starts
    /// waiting ones in the slots freed. With `all`, every waiting one starts (the
    /// connection is closing: none is left behind).
    pub(super) fn one_way_finished(&mut self, all: bool) {
        let credit = self.one_way.collect();
        if credit > 0 {
            self.conn.consume_connection(credit);
        }
        while all || self.one_way.has_room() {
            let Some(w) = self.one_way.waiting.pop_front() else {
                break;
            };
            let held =
                self.start_one_way(&w.method, &*w.handler, w.entries, w.deadline, w.req, w.wire);
            if !held {
                self.conn.consume_connection(w.wire);
            }
        }
    }

    /// Runs a sync handler. It only borrows its context, so one is kept and refilled: no
    /// reference counts change per call.
    fn run_sync(
        &mut self,
        h: &dyn SyncHandler,
        method: &Bytes,
        deadline: Option<Instant>,
        entries: Vec<(String, Bytes)>,
        req: Bytes,
    ) -> Result<Bytes, Status> {
        if self.callee.spare_ctx.is_none() {
            self.callee.spare_ctx = Some(self.new_context(Bytes::new(), None, Vec::new()));
        }
        // Used in place (a context is large: moving it out and back cost more than the
        // rest of this function).
        let ctx = self.callee.spare_ctx.as_mut().expect("filled above");
        // The kept context still names the last method (the router's copy): a run of calls
        // to one method shares it without touching its count.
        if ctx.method.as_ptr() != method.as_ptr() || ctx.method.len() != method.len() {
            ctx.method = method.clone();
        }
        ctx.deadline = deadline;
        ctx.metadata = entries;
        let ctx = &*ctx;
        let done = panics::catch(&ctx.method, || h.call(ctx, req)).and_then(|r| r);
        // Keep it only if the handler kept no part of it.
        if Arc::strong_count(&ctx.cancel) == 1 {
            if let Some(ctx) = self.callee.spare_ctx.as_mut() {
                ctx.metadata.clear();
            }
        } else {
            self.callee.spare_ctx = None;
        }
        done
    }

    /// A unary call whose whole request came in its CALL frame, to a sync handler: answered
    /// here and now, with no stream state (unless a large reply needs it) and no reference
    /// counts per call. The handler runs before the next frame is read, so nothing can
    /// cancel it meanwhile (as on the stream path, where a sync handler runs at once too).
    #[allow(clippy::too_many_arguments)]
    fn inline_sync(
        &mut self,
        stream: u32,
        method: &Bytes,
        h: &dyn SyncHandler,
        watch: InlineWatch,
        entries: Vec<(String, Bytes)>,
        deadline: Option<CoreDuration>,
        data: Bytes,
        codec: Codec,
    ) {
        self.callee.inline_watch = Some(watch);
        self.conn.consume(StreamId(stream), data.len());
        let max = self.opts.max_message_size as usize;
        let result = compress::decompress(codec, data, max).and_then(|req| {
            let deadline =
                deadline.map(|d| Instant::now() + std::time::Duration::from_micros(d.as_micros()));
            self.run_sync(h, method, deadline, entries, req)
        });
        let hint = (codec != Codec::Identity).then_some(codec);
        let sent = self.write_reply(stream, method, result.map(Some), hint);
        // Still here: the reply went out inline (else its stream state took the watch,
        // and the call ends there).
        let watch = self.callee.inline_watch.take();
        if let Some(code) = sent {
            self.tally.ended(code);
            let watch = watch.unwrap_or_default();
            if let Some(t) = watch.timer {
                t.end(code);
            }
            if let Some((since, router)) = watch.intercepted {
                self.end_intercepted(Some(&router), method, code, since);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn incoming_call(
        &mut self,
        stream: u32,
        method: &[u8],
        entries: Vec<(String, Bytes)>,
        deadline: Option<CoreDuration>,
        one_way: bool,
        end: bool,
        body: Option<(Bytes, Codec, bool)>,
    ) {
        if one_way {
            self.one_way_call(stream, method, entries, deadline, body);
            return;
        }
        #[cfg(test)]
        if method == super::tests::PANIC_METHOD.as_bytes() {
            panic!("a test asked this connection's driver to panic");
        }
        let mut entries = entries;
        let intercepted = match self.admit(method, &mut entries, deadline, false) {
            Ok(since) => since,
            Err(refused) => {
                self.refuse(stream, method, refused);
                return;
            }
        };
        // The hot path: borrow the router (no reference count) and answer a whole request
        // to a sync handler inline.
        let router = self.callee.router.take();
        let sync = match router.as_deref().and_then(|r| r.get(method)) {
            Some(Route {
                name,
                method: Method::Unary(Unary::Sync(h)),
                metrics,
            }) if end => Some((name, h, metrics)),
            _ => None,
        };
        let body = match (sync, body) {
            (Some((name, h, metrics)), Some((data, codec, false))) => {
                let metrics = self.opts.method_metrics.then_some(metrics);
                let watch = InlineWatch {
                    timer: metrics.map(CallTimer::start),
                    intercepted: intercepted.zip(router.clone()),
                };
                self.inline_sync(stream, name, &**h, watch, entries, deadline, data, codec);
                self.callee.router = router;
                return;
            }
            (_, body) => body,
        };
        self.callee.router = router;
        let router = self.callee.router.clone();
        let cancel = self.callee.cancel_state();
        let gen = self.callee.next_gen;
        self.callee.next_gen += 1;
        let call = CallRef { stream, gen };
        let Some(route) = router.as_ref().and_then(|r| r.get(method)).cloned() else {
            let unknown = Bytes::copy_from_slice(method);
            let mut served = Served::new(gen, unknown, cancel, None, None);
            served.intercepted = intercepted.zip(router.clone());
            if let Some(r) = router.as_ref().filter(|_| self.opts.method_metrics) {
                served.timer = Some(CallTimer::start(&r.unknown));
            }
            self.callee.served.insert(stream, served);
            let msg = format!("unknown method {:?}", String::from_utf8_lossy(method));
            self.reply(stream, Err(Status::unimplemented(msg)));
            return;
        };
        let ctx = Context {
            // The router's copy of the name: the received frame may be large, and the
            // context lives as long as the handler runs.
            method: route.name.clone(),
            deadline: deadline
                .map(|d| Instant::now() + std::time::Duration::from_micros(d.as_micros())),
            metadata: entries,
            cancel: cancel.clone(),
            peer: Channel::new(self.handle.clone(), self.opts.clone()),
        };
        let timer = self
            .opts
            .method_metrics
            .then(|| CallTimer::start(&route.metrics));
        match route.method {
            Method::Unary(h) => {
                let mut served = Served::new(gen, route.name, cancel, None, Some((h, ctx, None)));
                served.timer = timer;
                served.intercepted = intercepted.zip(router.clone());
                self.callee.served.insert(stream, served);
                if let Some((data, codec, more)) = body {
                    self.message(stream, Piece::Bytes(data), codec, more, end);
                } else if end {
                    self.half_closed(stream);
                }
            }
            Method::Streaming(h) => {
                let (itx, irx) = mpsc::unbounded_channel();
                let mut served = Served::new(gen, route.name, cancel, Some(itx), None);
                served.timer = timer;
                served.intercepted = intercepted.zip(router.clone());
                self.callee.served.insert(stream, served);
                let inbound = Inbound::new(irx, self.handle.clone(), call);
                let outbound = Outbound::new(self.handle.clone(), call);
                let method = ctx.method.clone();
                match panics::catch(&method, || h.call(ctx, inbound, outbound)) {
                    Ok(fut) => {
                        let handle = self.handle.clone();
                        tokio::spawn(async move {
                            let result = CatchPanic::new(fut, method).await.map(|()| None);
                            handle.send(Cmd::Reply { call, result });
                        });
                    }
                    Err(status) => {
                        self.reply(stream, Err(status));
                        return;
                    }
                }
                if let Some((data, codec, more)) = body {
                    self.message(stream, Piece::Bytes(data), codec, more, end);
                } else if end {
                    self.half_closed(stream);
                }
            }
        }
    }

    /// The caller half-closed served call `stream`: a unary handler starts now, a
    /// streaming one sees the end of its inbound messages.
    pub(super) fn half_closed(&mut self, stream: u32) {
        let Some(s) = self.callee.served.get_mut(&stream) else {
            return;
        };
        if let Some((h, ctx, req)) = s.unary.take() {
            let Some(req) = req else {
                self.reply(
                    stream,
                    Err(Status::invalid_argument(
                        "a unary method takes exactly one request message",
                    )),
                );
                return;
            };
            // Handlers that finish on their first poll are answered inline (no task, no
            // channel hop); the rest run as tasks and answer through the command channel.
            // A handler that panics fails its own call with INTERNAL (see `panics`).
            match h {
                Unary::Sync(h) => {
                    let result = panics::catch(&ctx.method, || h.call(&ctx, req)).and_then(|r| r);
                    drop(ctx);
                    self.reply(stream, result.map(Some));
                }
                Unary::Async(h) => {
                    let method = ctx.method.clone();
                    match start_unary(&method, &*h, ctx, req) {
                        Err(status) => self.reply(stream, Err(status)),
                        Ok((fut, Some(result))) => {
                            drop(fut);
                            self.reply(stream, result.map(Some));
                        }
                        Ok((fut, None)) => {
                            let handle = self.handle.clone();
                            let call = CallRef {
                                stream,
                                gen: self.callee.served.get(&stream).map_or(0, |s| s.gen),
                            };
                            tokio::spawn(async move {
                                let result = CatchPanic::new(fut, method).await.map(Some);
                                handle.send(Cmd::Reply { call, result });
                            });
                        }
                    }
                }
            }
        } else {
            // Streaming: closing the channel ends the handler's inbound stream.
            s.inbound = None;
        }
    }

    /// Forgets served call `stream` (cancelling its handler) and counts its end with `code`.
    pub(super) fn end_served(&mut self, stream: u32, code: StatusCode) {
        if let Some(mut s) = self.callee.served.remove(&stream) {
            let s_timer = s.timer.take();
            let intercepted = s.intercepted.take().map(|i| (i, s.method.clone()));
            self.partials.release(&s.incoming);
            s.cancel.cancel();
            let cancel = s.cancel.clone();
            drop(s);
            self.callee.recycle(cancel);
            self.queues.remove(&stream);
            self.tally.ended(code);
            if let Some(t) = s_timer {
                t.end(code);
            }
            if let Some(((since, router), method)) = intercepted {
                self.end_intercepted(Some(&router), &method, code, since);
            }
        }
    }

    /// True if `call` is still the call served on its stream id.
    pub(super) fn is_current(&self, call: CallRef) -> bool {
        self.callee
            .served
            .get(&call.stream)
            .is_some_and(|s| s.gen == call.gen)
    }

    /// A served call's outcome: STATUS with the final message, or queued behind data.
    pub(super) fn reply(&mut self, stream: u32, result: Result<Option<Bytes>, Status>) {
        if !self.callee.served.contains_key(&stream) {
            return;
        }
        if let Some(q) = self.queues.get_mut(&stream) {
            if !q.items.is_empty() {
                q.status = Some(result);
                return;
            }
        }
        let Some(s) = self.callee.served.get(&stream) else {
            return;
        };
        let (method, hint) = (s.method.clone(), s.request_codec);
        if let Some(code) = self.write_reply(stream, &method, result, hint) {
            self.end_served(stream, code);
        }
    }
}

/// An async unary handler's future.
type UnaryFuture = BoxFuture<Result<Bytes, Status>>;

/// The future of an async unary handler, and its outcome if it finished on its first poll
/// (see `poll_once`); a panic in either step is the call's INTERNAL status.
fn start_unary(
    method: &[u8],
    h: &dyn UnaryHandler,
    ctx: Context,
    req: Bytes,
) -> Result<(UnaryFuture, Option<Result<Bytes, Status>>), Status> {
    panics::catch(method, || {
        let mut fut = h.call(ctx, req);
        let polled = poll_once(&mut fut);
        (fut, polled)
    })
}

/// Polls a handler's future once, without a task. A future that is not ready has
/// registered nothing useful with the no-op waker; it is then spawned and polled again with
/// a real one.
fn poll_once<T>(fut: &mut BoxFuture<T>) -> Option<T> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
