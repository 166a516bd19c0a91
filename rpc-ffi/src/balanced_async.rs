//! A balanced client's calls that return at once: the outcome goes to a callback or a
//! completion queue, as for a `muxwire_client`'s.

use std::ffi::{c_char, c_void};

use bytes::Bytes;
use muxwire::CallOptions;

use crate::args::{bytes, obj, UserData};
use crate::balanced::{method_name, muxwire_balanced};
use crate::boundary::guard;
use crate::call_options::{call_options_or_default, muxwire_call_options};
use crate::completion::{muxwire_call_fn, Delivery, Sink};
use crate::error::{Failure, Outcome};
use crate::queue::muxwire_queue;
use crate::result::muxwire_result;

/// Starts `method` with `body` and `opts` on the balanced client, its outcome to `sink`.
fn start(b: &muxwire_balanced, method: &str, body: &[u8], opts: CallOptions, sink: Sink) {
    let delivery = Delivery::new(sink);
    let (c, method, body) = (
        b.client.clone(),
        method.to_string(),
        Bytes::copy_from_slice(body),
    );
    b.rt.spawn(async move {
        let outcome = c.call_with(&method, body, &opts).await;
        delivery.deliver(outcome);
    });
}

/// The checked client, method, body and options of a call.
///
/// # Safety
/// As for `muxwire_balanced_call_async`.
unsafe fn args<'a>(
    client: *const muxwire_balanced,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
) -> Outcome<(&'a muxwire_balanced, &'a str, &'a [u8], CallOptions)> {
    // SAFETY: each NULL or valid, by the caller's contract.
    unsafe {
        Ok((
            obj(client, "client")?,
            method_name(method)?,
            bytes(body, body_len, "body")?,
            call_options_or_default(opts),
        ))
    }
}

/// `muxwire_balanced_call` that returns at once: `callback` gets the outcome exactly
/// once, on a runtime thread, with `userdata` (see `muxwire_call_fn`). If this function
/// fails, the callback is never called; if the runtime is stopped, it gets UNAVAILABLE,
/// possibly before this function returns.
///
/// # Safety
/// As for `muxwire_balanced_call` (without `reply`); `callback` NULL or a function safe to
/// call from any thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_call_async(
    client: *const muxwire_balanced,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let (b, method, body, opts) = unsafe { args(client, method, body, body_len, opts) }?;
        let f = callback.ok_or_else(|| Failure::null("callback"))?;
        start(b, method, body, opts, Sink::Callback(f, UserData(userdata)));
        Ok(())
    })
}

/// `muxwire_balanced_call` that returns at once, its outcome going to `queue` with `tag`
/// (take it with `muxwire_queue_next` or `_wait`). RESOURCE_EXHAUSTED if the queue is at
/// its capacity; if this function fails, no completion will come.
///
/// # Safety
/// As for `muxwire_balanced_call` (without `reply`); `queue` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_call_queued(
    client: *const muxwire_balanced,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    queue: *const muxwire_queue,
    tag: u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let (b, method, body, opts) = unsafe { args(client, method, body, body_len, opts) }?;
        // SAFETY: NULL or live, by the caller's contract.
        let q = unsafe { obj(queue, "queue") }?;
        q.shared.reserve()?;
        start(b, method, body, opts, Sink::Queue(q.shared.clone(), tag));
        Ok(())
    })
}
