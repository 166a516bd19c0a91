//! Calls with `muxwire_call_options` (timeout, request metadata, compression): the `_with`
//! forms of the blocking, callback, queued, cancellable and streaming calls. Each behaves
//! as its plain form, the options in place of `timeout_ms`.

use std::ffi::{c_char, c_void};

use crate::boundary::guard;
use crate::call::{blocking, call_args, start_async, start_queued};
use crate::call_handle::{muxwire_call, start};
use crate::call_options::{call_options_or_default, muxwire_call_options};
use crate::client::muxwire_client;
use crate::completion::muxwire_call_fn;
use crate::queue::muxwire_queue;
use crate::reply::muxwire_reply;
use crate::result::muxwire_result;
use crate::stream::{muxwire_stream, open};

/// `muxwire_client_call` with `opts` (NULL: the defaults): a blocking call carrying the
/// options' timeout, metadata and compression.
///
/// # Safety
/// As for `muxwire_client_call`; `opts` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_with(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    reply: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe {
            let opts = call_options_or_default(opts);
            call_args(client, method, body, body_len, opts)
        }?;
        blocking(a, reply)
    })
}

/// `muxwire_client_call_async` with `opts` (NULL: the defaults).
///
/// # Safety
/// As for `muxwire_client_call_async`; `opts` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_async_with(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe {
            let opts = call_options_or_default(opts);
            call_args(client, method, body, body_len, opts)
        }?;
        start_async(a, callback, userdata)
    })
}

/// `muxwire_client_call_queued` with `opts` (NULL: the defaults).
///
/// # Safety
/// As for `muxwire_client_call_queued`; `opts` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_queued_with(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    queue: *const muxwire_queue,
    tag: u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        unsafe {
            let opts = call_options_or_default(opts);
            let a = call_args(client, method, body, body_len, opts)?;
            start_queued(a, queue, tag)
        }
    })
}

/// `muxwire_client_call_start` with `opts` (NULL: the defaults).
///
/// # Safety
/// As for `muxwire_client_call_start`; `opts` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_call_start_with(
    client: *const muxwire_client,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    callback: muxwire_call_fn,
    userdata: *mut c_void,
    call: *mut *mut muxwire_call,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let a = unsafe {
            let opts = call_options_or_default(opts);
            call_args(client, method, body, body_len, opts)
        }?;
        start(a, callback, userdata, call)
    })
}

/// `muxwire_client_open_stream` with `opts` (NULL: the defaults): the streaming call's
/// CALL carries the options' metadata and deadline; its messages use their compression.
///
/// # Safety
/// As for `muxwire_client_open_stream`; `opts` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_open_stream_with(
    client: *const muxwire_client,
    method: *const c_char,
    opts: *const muxwire_call_options,
    out: *mut *mut muxwire_stream,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        unsafe {
            let opts = call_options_or_default(opts);
            open(client, method, &opts, out)
        }
    })
}
