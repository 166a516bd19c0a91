//! A client's calls: blocking, with a callback, into a completion queue, and one-way.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use bytes::Bytes;
use muxwire::CallOptions;

use crate::args::{bytes, into_handle, obj, text, Out, UserData};
use crate::boundary::guard;
use crate::client::muxwire_client;
use crate::completion::{muxwire_call_fn, Delivery, Sink};
use crate::error::{Failure, Outcome};
use crate::queue::muxwire_queue;
use crate::reply::muxwire_reply;
use crate::result::muxwire_result;

/// The checked arguments every call takes.
pub(crate) struct CallArgs<'a> {
    pub(crate) client: &'a muxwire_client,
    pub(crate) method: String,
    pub(crate) body: Bytes,
    pub(crate) opts: CallOptions,
}

/// Options carrying only a timeout in milliseconds (0: the client's default).
pub(crate) fn timeout_options(timeout_ms: u64) -> CallOptions {
    CallOptions {
        timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
        ..CallOptions::default()
    }
}

/// Checks a call's arguments and copies the method and body.
///
/// # Safety
/// As for the entry points: each pointer NULL or valid.
pub(crate) unsafe fn call_args<'a>(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: CallOptions,
) -> Outcome<CallArgs<'a>> {
    // SAFETY: forwarded contract.
    let (client, method, body) = unsafe {
        (
            obj(client, "client")?,
            text(method, "method")?,
            bytes(body, body_len, "body")?,
        )
    };
    if method.is_empty() {
        return Err(Failure::invalid("method is empty"));
    }
    Ok(CallArgs {
        client,
        method: method.to_string(),
        body: Bytes::copy_from_slice(body),
        opts,
    })
}

/// Calls `method` with the `body_len` bytes at `body` and waits for the reply, at most
/// `timeout_ms` milliseconds (0: the client's default timeout, or none). On success
/// stores the reply in `*reply` (free it with `muxwire_reply_free`); otherwise returns
/// the call's status code, its message in `muxwire_last_error()`. Not from a callback
/// (FAILED_PRECONDITION there).
///
/// # Safety
/// `client` is NULL or live; `method` NULL or a NUL-terminated string; `body` NULL (with
/// `body_len` 0) or `body_len` readable bytes; `reply` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_ms: u64,
    reply: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe { call_args(client, method, body, body_len, timeout_options(timeout_ms)) }?;
        blocking(a, reply)
    })
}

/// A blocking call with checked arguments, its reply stored in `*reply`.
pub(crate) fn blocking(a: CallArgs<'_>, reply: *mut *mut muxwire_reply) -> Outcome {
    let out = Out::new(reply, "reply")?;
    let c = &a.client.client;
    let body = c
        .runtime()
        .block_on(c.call_owned(a.method, a.body, a.opts))??;
    // SAFETY: checked, writable by the caller's contract.
    unsafe { out.write(into_handle(muxwire_reply { body })) };
    Ok(())
}

/// Starts a call of `method` and returns at once; `callback` gets the outcome exactly
/// once, on a library thread (see `muxwire_call_fn`), with `userdata`. If this function
/// fails, the call was not started and the callback is never called. If the runtime is
/// stopped the callback gets UNAVAILABLE, possibly before this function returns.
///
/// # Safety
/// As for `muxwire_client_call`; `callback` NULL or a function safe to call from any
/// thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_async(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_ms: u64,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe { call_args(client, method, body, body_len, timeout_options(timeout_ms)) }?;
        start_async(a, callback, userdata)
    })
}

/// Starts a call with checked arguments whose outcome goes to `callback`.
pub(crate) fn start_async(
    a: CallArgs<'_>,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
) -> Outcome {
    let f = callback.ok_or_else(|| Failure::null("callback"))?;
    let delivery = Delivery::new(Sink::Callback(f, UserData(userdata)));
    a.client
        .client
        .call_then(a.method, a.body, a.opts, move |outcome| {
            delivery.deliver(outcome)
        });
    Ok(())
}

/// Starts a call of `method` whose outcome goes to `queue` with `tag` (take it with
/// `muxwire_queue_next` or `muxwire_queue_wait`). Fails with RESOURCE_EXHAUSTED if the
/// queue is at its capacity; if this function fails, no completion will come.
///
/// # Safety
/// As for `muxwire_client_call`; `queue` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_queued(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_ms: u64,
    queue: *const muxwire_queue,
    tag: u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe { call_args(client, method, body, body_len, timeout_options(timeout_ms)) }?;
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { start_queued(a, queue, tag) }
    })
}

/// Starts a call with checked arguments whose outcome goes to `queue` with `tag`.
///
/// # Safety
/// `queue` is NULL or live.
pub(crate) unsafe fn start_queued(
    a: CallArgs<'_>,
    queue: *const muxwire_queue,
    tag: u64,
) -> Outcome {
    // SAFETY: NULL or live, by the caller's contract.
    let q = unsafe { obj(queue, "queue") }?;
    q.shared.reserve()?;
    let delivery = Delivery::new(Sink::Queue(q.shared.clone(), tag));
    a.client
        .client
        .call_then(a.method, a.body, a.opts, move |outcome| {
            delivery.deliver(outcome)
        });
    Ok(())
}

/// Sends a one-way message to `method`: no reply, no status. Returns once it is queued on
/// a live connection (it then travels in order with the client's other traffic). Fails
/// with UNAVAILABLE without a connection and RESOURCE_EXHAUSTED if the message does not
/// fit one frame (64 KiB less the method name and 1 KiB, by default). Not from a callback.
///
/// # Safety
/// As for `muxwire_client_call` (without `reply`).
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_notify(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe { call_args(client, method, body, body_len, CallOptions::default()) }?;
        let c = a.client.client.clone();
        let (method, body) = (a.method, a.body);
        a.client
            .client
            .runtime()
            .block_on(async move { c.notify(&method, body).await })??;
        Ok(())
    })
}
