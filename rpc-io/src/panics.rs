//! Handlers are application code. A handler that panics fails its own call with INTERNAL
//! and leaves the connection, and every other call on it, alone: without this, a panic in a
//! handler run on the connection's task would end the connection, and one in a handler's
//! own task would leave its caller waiting for a reply that never comes.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Status;

/// What the caller of a handler that panicked gets. The panic's message stays in this
/// process's log: it may say more than a remote caller should learn.
#[cold]
#[inline(never)]
fn panicked(method: &[u8], payload: Box<dyn Any + Send>) -> Status {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let method = String::from_utf8_lossy(method);
    tracing::error!(%method, panic = what, "handler panicked");
    Status::internal(format!("the handler for {method:?} panicked"))
}

/// The span a handler runs in (at debug level): `call` with its method, inside its
/// connection's span (`conn`, with the peer's address), so that whatever a handler logs
/// names both. Disabled, it costs one check of the level.
fn call_span(method: &[u8]) -> tracing::Span {
    tracing::debug_span!("call", method = %String::from_utf8_lossy(method))
}

/// Runs `f`, a handler or the first step of one, in its call's span; a panic becomes an
/// INTERNAL status.
#[inline]
pub(crate) fn catch<R>(method: &[u8], f: impl FnOnce() -> R) -> Result<R, Status> {
    let span = call_span(method);
    let _in_span = span.enter();
    unwind(method, f)
}

/// Runs `f`; a panic becomes an INTERNAL status.
#[inline]
fn unwind<R>(method: &[u8], f: impl FnOnce() -> R) -> Result<R, Status> {
    // The handler shares no state with the connection's task but what it was handed (its
    // context, the request, handles that send commands), so nothing is left half-changed.
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panicked(method, p))
}

/// A handler's future, polled in its call's span, whose panic becomes an INTERNAL status
/// as its outcome.
pub(crate) struct CatchPanic<F> {
    fut: F,
    method: bytes::Bytes,
    span: tracing::Span,
}

impl<F> CatchPanic<F> {
    /// Watches `fut`, the handler for `method`.
    pub(crate) fn new(fut: F, method: bytes::Bytes) -> CatchPanic<F> {
        let span = call_span(&method);
        CatchPanic { fut, method, span }
    }
}

impl<T, F: Future<Output = Result<T, Status>> + Unpin> Future for CatchPanic<F> {
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let fut = &mut this.fut;
        let _in_span = this.span.enter();
        match unwind(&this.method, || Pin::new(fut).poll(cx)) {
            Ok(poll) => poll,
            Err(status) => Poll::Ready(Err(status)),
        }
    }
}
