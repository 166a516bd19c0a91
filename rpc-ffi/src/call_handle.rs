//! `muxwire_call`: an asynchronous call the caller may cancel.

use std::ffi::{c_char, c_void};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use muxwire::Status;
use tokio::sync::oneshot;

use crate::args::{into_handle, obj, take_handle, Out, UserData};
use crate::boundary::{guard, guard_value};
use crate::call::{call_args, timeout_options, CallArgs};
use crate::client::muxwire_client;
use crate::completion::{muxwire_call_fn, Delivery, Sink};
use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;

/// A started call that can be cancelled with `muxwire_call_cancel`. Free it with
/// `muxwire_call_free` (freeing does not cancel). Any thread may use it.
#[allow(non_camel_case_types)]
pub struct muxwire_call {
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

/// A call that ends CANCELLED as soon as its handle asks, dropping (and so cancelling on
/// the wire) the call underneath.
struct Cancellable<F> {
    call: F,
    /// `None` once the handle was freed without cancelling: the call then runs on.
    cancel: Option<oneshot::Receiver<()>>,
}

impl<F> Future for Cancellable<F>
where
    F: Future<Output = Result<Bytes, Status>> + Unpin,
{
    type Output = Result<Bytes, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(rx) = self.cancel.as_mut() {
            match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(())) => {
                    return Poll::Ready(Err(Status::cancelled(
                        "cancelled by the caller (muxwire_call_cancel)",
                    )))
                }
                Poll::Ready(Err(_)) => self.cancel = None,
                Poll::Pending => {}
            }
        }
        Pin::new(&mut self.call).poll(cx)
    }
}

/// Starts a call of `method` like `muxwire_client_call_async` (same callback rules; the
/// callback gets CANCELLED if the call is cancelled first) and stores in `*call` a handle
/// to cancel it. If this function fails, nothing was started and `*call` is untouched.
///
/// # Safety
/// As for `muxwire_client_call_async`; `call` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_start(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_ms: u64,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
    call: *mut *mut muxwire_call,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe { call_args(client, method, body, body_len, timeout_options(timeout_ms)) }?;
        start(a, callback, userdata, call)
    })
}

/// Starts a cancellable call with checked arguments; its handle goes to `*call`.
pub(crate) fn start(
    a: CallArgs<'_>,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
    call: *mut *mut muxwire_call,
) -> Outcome {
    let f = callback.ok_or_else(|| Failure::null("callback"))?;
    let out = Out::new(call, "call")?;
    let delivery = Delivery::new(Sink::Callback(f, UserData(userdata)));
    let (tx, rx) = oneshot::channel();
    let c = &a.client.client;
    let running = Cancellable {
        call: c.call_owned(a.method, a.body, a.opts),
        cancel: Some(rx),
    };
    c.runtime()
        .spawn(async move { delivery.deliver(running.await) });
    let handle = muxwire_call {
        cancel: Mutex::new(Some(tx)),
    };
    // SAFETY: checked, writable by the caller's contract.
    unsafe { out.write(into_handle(handle)) };
    Ok(())
}

/// Cancels the call: its callback gets MUXWIRE_RESULT_CANCELLED (unless the outcome was
/// already on its way) and the server is told. FAILED_PRECONDITION if the call had
/// already ended or was cancelled before.
///
/// # Safety
/// `call` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_cancel(call: *const muxwire_call) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(call, "call") }?;
        let tx = c.cancel.lock().unwrap_or_else(|e| e.into_inner()).take();
        match tx.map(|tx| tx.send(())) {
            Some(Ok(())) => Ok(()),
            Some(Err(())) => Err(Failure::new(
                muxwire_result::FailedPrecondition,
                "the call had already ended",
            )),
            None => Err(Failure::new(
                muxwire_result::FailedPrecondition,
                "the call was cancelled before",
            )),
        }
    })
}

/// Frees the handle (the call itself runs on). NULL is accepted and does nothing.
///
/// # Safety
/// `call` NULL or a handle not freed before, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_free(call: *mut muxwire_call) {
    // SAFETY: NULL or from muxwire_client_call_start, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(call) }));
}
