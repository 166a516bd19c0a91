//! What a handler sees and implements: the handler traits, the [`Context`] of a call
//! (with its cancellation state), and the [`Inbound`]/[`Outbound`] message streams of a
//! streaming call. The driver starts handlers with these; the server registers them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::budget::Budget;
use crate::commands::{CallRef, Cmd, StreamKey};
use crate::handle::{Channel, Handle};
use crate::status::Status;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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

    /// Marks the call cancelled and wakes whoever waits for that.
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
    pub(crate) peer: Channel,
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

    /// The connection the call came in on, as a [`Channel`]: call, notify or stream to
    /// the caller over it.
    pub fn peer(&self) -> &Channel {
        &self.peer
    }

    /// Who the caller proved to be (see [`Channel::peer_identity`]): over TLS with client
    /// certificates, its verified certificate's subject, names and chain; over a Unix
    /// socket, its process credentials.
    pub fn peer_identity(&self) -> Option<&crate::PeerIdentity> {
        self.peer.peer_identity()
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
    /// The messages `rx` brings for served call `call` on `handle`.
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
    budget: Arc<Budget>,
}

impl Outbound {
    /// Sends messages on served call `call` on `handle`.
    pub(crate) fn new(handle: Handle, call: CallRef) -> Outbound {
        let budget = Budget::new();
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
