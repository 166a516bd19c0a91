//! Calls over one connection: unary calls (their outcome in a reply slot), streaming
//! calls ([`CallSink`], [`CallStream`]), confirmed one-way calls, and every kind of call a [`Channel`] makes.
//! Built on the connection's handle and commands; the client picks the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use muxwire_core::wire::Codec;
use tokio::sync::{mpsc, oneshot};

use crate::budget::Budget;
use crate::commands::{Bodies, CallReq, Cmd, Name, OneWayRefused, StreamKey, UnaryReq};
use crate::handle::{Channel, Handle};
use crate::handler::BoxFuture;
use crate::options::Options;
use crate::replies::{Callback, Completion};
use crate::route::LIST_METHOD;
use crate::runtime::RuntimeHandle;
use crate::stats::StatsSnapshot;
use crate::status::Status;

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Fail with DEADLINE_EXCEEDED after this long (sent to the server as its deadline).
    pub timeout: Option<Duration>,
    /// Application metadata (keys: 1 to 255 bytes of `[a-z0-9-_.]`).
    pub metadata: Vec<(String, Bytes)>,
    /// Compress the request with this codec if the server accepts it and it helps.
    pub compression: Option<Codec>,
}

impl CallOptions {
    /// Options with a timeout.
    pub fn timeout(d: Duration) -> CallOptions {
        CallOptions {
            timeout: Some(d),
            ..CallOptions::default()
        }
    }
}

/// A unary call's request, before it is queued.
pub(crate) fn unary_req(
    body: Bytes,
    opts: &CallOptions,
    default_timeout: Option<Duration>,
) -> UnaryReq {
    UnaryReq {
        token: 0,
        method: Name::default(),
        body,
        timeout: opts.timeout.or(default_timeout),
        entries: opts.metadata.clone(),
        compress: opts.compression,
        slot: 0,
    }
}

/// A unary call on one connection: queued when first polled, its outcome taken from its
/// reply slot (no channel, no allocation). Dropped before the outcome is in, it cancels
/// the call on the wire.
pub(crate) struct UnaryCall<'a> {
    handle: &'a Handle,
    method: &'a str,
    /// The request, until it is queued.
    req: Option<UnaryReq>,
    /// The reply slot, while the call is under way.
    slot: Option<u32>,
    /// The call's token on its connection, once queued.
    token: u64,
}

impl<'a> UnaryCall<'a> {
    /// A call to `method` on `handle`, queued when first polled.
    pub(crate) fn new(handle: &'a Handle, method: &'a str, req: UnaryReq) -> UnaryCall<'a> {
        UnaryCall {
            handle,
            method,
            token: 0,
            req: Some(req),
            slot: None,
        }
    }
}

impl Future for UnaryCall<'_> {
    type Output = Result<Bytes, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(req) = this.req.take() {
            let to = Completion::Wake(cx.waker().clone());
            return match this.handle.commands.unary(this.method, req, to) {
                Ok((slot, token)) => {
                    this.slot = Some(slot);
                    this.token = token;
                    Poll::Pending
                }
                Err(_) => Poll::Ready(Err(call_not_sent())),
            };
        }
        let Some(slot) = this.slot else {
            return Poll::Ready(Err(Status::internal("call polled after it ended")));
        };
        let outcome = this.handle.commands.poll_reply(slot, cx);
        if outcome.is_ready() {
            this.slot = None;
        }
        outcome
    }
}

impl Drop for UnaryCall<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.handle.commands.abandon(slot, self.token);
        }
    }
}

/// The status of a call whose connection ended before the call was queued.
pub(crate) fn call_not_sent() -> Status {
    Status::refused("connection closed before the call was sent")
}

/// Queues unary call `req` to `method` on `handle`, its outcome handed to `done` on one of
/// the runtime's threads (never the caller's, never the connection's task). If the
/// connection has ended, `done` gets REFUSED the same way.
pub(crate) fn unary_then(handle: &Handle, method: &str, req: UnaryReq, done: Callback) {
    if let Err(Completion::Callback(done)) =
        handle
            .commands
            .unary(method, req, Completion::Callback(done))
    {
        handle.rt.spawn(async move { done(Err(call_not_sent())) });
    }
}

/// A call to `method` with `opts` (the connection's `default_timeout` if they set none).
pub(crate) fn request(
    method: &str,
    body: Option<Bytes>,
    end: bool,
    one_way: bool,
    opts: &CallOptions,
    default_timeout: Option<Duration>,
) -> CallReq {
    CallReq::new(
        method,
        body,
        end,
        one_way,
        opts.timeout.or(default_timeout),
        opts.metadata.clone(),
        opts.compression,
    )
}

/// Whether the connection may compress `body` (so its size on the wire is not yet known).
pub(crate) fn may_compress(opts: &Options, body: &Bytes) -> bool {
    opts.compress_with.is_some_and(|c| c != Codec::Identity)
        && body.len() >= opts.compress_threshold
}

/// Queues one-way call `req` on `handle` and waits until the connection has queued it for
/// the socket (or failed to).
pub(crate) async fn notify_on(handle: &Handle, req: CallReq) -> Result<(), Status> {
    let mut outcome = Outcome::queue(handle, req)
        .ok_or_else(|| Status::refused("connection closed before the message was sent"))?;
    std::future::poll_fn(|cx| outcome.poll(cx))
        .await
        .map(|_| ())
}

/// The reply slot of a call queued with [`Commands::call`]: its outcome, taken once.
/// Dropped before the outcome is in, it cancels the call.
///
/// [`Commands::call`]: crate::commands::Commands::call
struct Outcome {
    handle: Handle,
    token: u64,
    /// The slot, until the outcome is taken.
    slot: Option<u32>,
}

impl Outcome {
    /// Queues `req` on `handle`; `None` if the connection has ended.
    fn queue(handle: &Handle, req: CallReq) -> Option<Outcome> {
        let token = req.token;
        // The task that polls first replaces this waker with its own.
        let to = Completion::Wake(std::task::Waker::noop().clone());
        let slot = handle.commands.call(Box::new(req), to)?;
        Some(Outcome {
            handle: handle.clone(),
            token,
            slot: Some(slot),
        })
    }

    /// The outcome, once it is in (then `None` slot: polled again, INTERNAL).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, Status>> {
        let Some(slot) = self.slot else {
            return Poll::Ready(Err(Status::internal("call polled after it ended")));
        };
        let outcome = self.handle.commands.poll_reply(slot, cx);
        if outcome.is_ready() {
            self.slot = None;
        }
        outcome
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.handle.commands.abandon(slot, self.token);
        }
    }
}

/// Opens streaming call `req` on `handle`: its sink and its stream of replies.
pub(crate) fn stream_on(
    handle: &Handle,
    mut req: CallReq,
) -> Result<(CallSink, CallStream), Status> {
    let (itx, irx) = mpsc::unbounded_channel();
    req.inbound = Some(itx);
    let token = req.token;
    let outcome = Outcome::queue(handle, req).ok_or_else(call_not_sent)?;
    Ok((
        CallSink {
            handle: handle.clone(),
            token,
            finished: false,
            budget: Budget::new(),
        },
        CallStream {
            handle: handle.clone(),
            token,
            inbound: irx,
            outcome,
            done: false,
        },
    ))
}

/// The sending half of a streaming call.
pub struct CallSink {
    handle: Handle,
    token: u64,
    finished: bool,
    budget: Arc<Budget>,
}

impl CallSink {
    /// Sends one message. Waits while 4 MiB of this call's messages are still queued
    /// unwritten (the peer's flow control then pushes back on the application).
    pub async fn send(&mut self, message: Bytes) -> Result<(), Status> {
        if self.finished {
            return Err(Status::invalid_argument(
                "the request stream is already finished",
            ));
        }
        self.handle
            .send_budgeted(StreamKey::Token(self.token), &self.budget, message)
            .await
    }

    /// Half-closes: no more messages from this side.
    pub fn finish(mut self) -> Result<(), Status> {
        self.finished = true;
        let cmd = Cmd::Send {
            stream: StreamKey::Token(self.token),
            body: None,
            end: true,
            permit: None,
        };
        if self.handle.send(cmd) {
            Ok(())
        } else {
            Err(Status::unavailable("connection closed"))
        }
    }
}

/// The receiving half of a streaming call. Dropping it before the end cancels the call.
pub struct CallStream {
    handle: Handle,
    token: u64,
    inbound: mpsc::UnboundedReceiver<Result<(Bytes, usize), Status>>,
    /// The call's final status (its reply slot).
    outcome: Outcome,
    done: bool,
}

impl CallStream {
    /// The next message from the server; `None` when the call ended OK; `Some(Err)` with
    /// the status when it failed.
    pub async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        std::future::poll_fn(|cx| self.poll_next_message(cx)).await
    }

    /// Polls for the next message (see [`CallStream::next`]); the stream is also a
    /// `futures_core::Stream`.
    pub fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(m) = std::task::ready!(self.inbound.poll_recv(cx)) {
            return Poll::Ready(Some(match m {
                Ok((m, wire)) => {
                    // Taking the message returns its credit to the server.
                    if wire > 0 {
                        self.handle.send(Cmd::ConsumeCall {
                            token: self.token,
                            n: wire,
                        });
                    }
                    Ok(m)
                }
                Err(e) => {
                    self.done = true;
                    Err(e)
                }
            }));
        }
        let outcome = std::task::ready!(self.outcome.poll(cx));
        self.done = true;
        Poll::Ready(outcome.err().map(Err))
    }
}

impl futures_core::Stream for CallStream {
    type Item = Result<Bytes, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

// Dropped before the end, a stream cancels its call through its `Outcome`'s drop.

impl Channel {
    /// A unary call over this connection.
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
        let req = unary_req(body, opts, self.opts.default_timeout);
        UnaryCall::new(&self.handle, method, req).await
    }

    /// A unary call as an owned future (`'static`, `Send`), for code that must store or
    /// hand over the call. Dropping it cancels the call.
    pub fn call_owned(
        &self,
        method: impl Into<String>,
        body: Bytes,
        opts: CallOptions,
    ) -> BoxFuture<Result<Bytes, Status>> {
        let (channel, method) = (self.clone(), method.into());
        Box::pin(async move { channel.call_with(&method, body, &opts).await })
    }

    /// A unary call whose outcome is handed to `done`, once, on a thread of the
    /// connection's runtime (see [`crate::Client::call_then`]).
    pub fn call_then(
        &self,
        method: impl Into<String>,
        body: Bytes,
        opts: CallOptions,
        done: impl FnOnce(Result<Bytes, Status>) + Send + 'static,
    ) {
        let req = unary_req(body, &opts, self.opts.default_timeout);
        unary_then(&self.handle, &method.into(), req, Box::new(done));
    }

    /// A one-way message (see [`crate::Client::notify`] for its size limit and when it
    /// returns).
    pub async fn notify(&self, method: &str, body: Bytes) -> Result<(), Status> {
        self.handle
            .check_one_way(method, body.len(), may_compress(&self.opts, &body))?;
        self.handle.one_way(method, Bodies::One(body)).await
    }

    /// A one-way message queued now or not at all: never waits. Fails with
    /// RESOURCE_EXHAUSTED (safe to retry) while the connection's one-way queue is full (a
    /// peer that reads slowly), UNAVAILABLE once the connection has ended, and as
    /// [`Channel::notify`] does for a message too large for one frame. What a broadcast
    /// to many peers sends each, so that one slow peer holds up nobody.
    pub fn try_notify(&self, method: &str, body: Bytes) -> Result<(), Status> {
        self.handle
            .check_one_way(method, body.len(), may_compress(&self.opts, &body))?;
        match self.handle.commands.one_way(method, Bodies::One(body)) {
            Ok(()) => Ok(()),
            Err(OneWayRefused::Closed) => Err(Status::unavailable("connection closed")),
            Err(OneWayRefused::Full(_)) => Err(Status::resource_exhausted(
                "the connection's one-way queue is full (the peer reads slowly): not sent",
            )
            .with_retry_safe(true)),
        }
    }

    /// Many one-way messages to one method, in order (see [`crate::Client::notify_batch`]).
    pub async fn notify_batch(&self, method: &str, bodies: Vec<Bytes>) -> Result<(), Status> {
        notify_batch_on(&self.handle, &self.opts, method, bodies).await
    }

    /// A one-way message that waits until the connection has queued it for the socket
    /// (or failed to).
    pub async fn notify_confirmed(&self, method: &str, body: Bytes) -> Result<(), Status> {
        notify_confirmed_on(&self.handle, &self.opts, method, body).await
    }

    /// A streaming call: a sink for requests and a stream of replies.
    pub async fn open_stream(
        &self,
        method: &str,
        opts: &CallOptions,
    ) -> Result<(CallSink, CallStream), Status> {
        let req = request(method, None, false, false, opts, self.opts.default_timeout);
        stream_on(&self.handle, req)
    }

    /// The methods the other end serves (its built-in `muxwire.list`).
    pub async fn list(&self) -> Result<Vec<String>, Status> {
        Ok(method_list(&self.call(LIST_METHOD, Bytes::new()).await?))
    }

    /// The round-trip time of a PING.
    pub async fn ping(&self) -> Result<Duration, Status> {
        ping_on(&self.handle).await
    }

    /// The counters of the client or server this connection belongs to.
    pub fn stats(&self) -> StatsSnapshot {
        self.handle.stats.snapshot()
    }

    /// True once the connection has ended (its calls then fail with UNAVAILABLE).
    pub fn is_closed(&self) -> bool {
        self.handle.closed.is_closed()
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        self.handle.closed.wait().await;
    }

    /// The runtime the connection runs on.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.handle.rt
    }
}

/// Sends one-way messages `bodies` to `method` on `handle`, in order, after checking that
/// each fits a frame (none is sent if one does not).
pub(crate) async fn notify_batch_on(
    handle: &Handle,
    opts: &Options,
    method: &str,
    bodies: Vec<Bytes>,
) -> Result<(), Status> {
    if bodies.is_empty() {
        return Ok(());
    }
    // One unit of tokio's cooperative budget per batch.
    tokio::task::consume_budget().await;
    for b in &bodies {
        handle.check_one_way(method, b.len(), may_compress(opts, b))?;
    }
    handle.one_way(method, Bodies::Many(bodies)).await
}

/// A one-way message on `handle` that waits until it is queued for the socket.
pub(crate) async fn notify_confirmed_on(
    handle: &Handle,
    opts: &Options,
    method: &str,
    body: Bytes,
) -> Result<(), Status> {
    let (len, compressible) = (body.len(), may_compress(opts, &body));
    let req = request(
        method,
        Some(body),
        true,
        true,
        &CallOptions::default(),
        None,
    );
    handle.check_one_way(method, len, compressible)?;
    notify_on(handle, req).await
}

/// A PING on `handle`, and its round-trip time.
pub(crate) async fn ping_on(handle: &Handle) -> Result<Duration, Status> {
    let (tx, rx) = oneshot::channel();
    if !handle.send(Cmd::Ping(tx)) {
        return Err(Status::unavailable("connection closed"));
    }
    rx.await
        .ok()
        .flatten()
        .ok_or_else(|| Status::unavailable("no PING answer"))
}

/// The method names of a `muxwire.list` reply (protocol 1.1, section 6.3).
pub(crate) fn method_list(reply: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(reply)
        .lines()
        .map(str::to_string)
        .collect()
}
