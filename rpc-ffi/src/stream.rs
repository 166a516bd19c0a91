//! `muxwire_stream`: a client's streaming call, driven by blocking functions on the
//! caller's thread.

use std::ffi::c_char;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{CallOptions, CallSink, CallStream, RuntimeHandle};

use crate::args::{bytes, into_handle, obj, take_handle, text, Out};
use crate::boundary::{guard, guard_value};
use crate::client::muxwire_client;
use crate::error::{Failure, Outcome};
use crate::reply::{muxwire_reply, received};
use crate::result::muxwire_result;
use crate::wait::{wait, wait_at_most};

/// A streaming call a client made: send messages, half-close, receive the server's
/// messages and final status. Functions block the calling thread (never call them from a
/// callback); one thread at a time may use it, any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_stream {
    rt: RuntimeHandle,
    sink: Mutex<Option<CallSink>>,
    replies: Mutex<CallStream>,
}

/// Opens a streaming call of `method` with a deadline of `timeout_ms` (0: the client's
/// default, or none) and stores it in `*out`.
///
/// # Safety
/// `client` NULL or live; `method` NULL or a NUL-terminated string; `out` NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_open_stream(
    client: *const muxwire_client,
    method: *const c_char,
    timeout_ms: u64,
    out: *mut *mut muxwire_stream,
) -> muxwire_result {
    let opts = CallOptions {
        timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
        ..CallOptions::default()
    };
    // SAFETY: forwarded contract.
    guard(|| unsafe { open(client, method, &opts, out) })
}

/// Opens a streaming call with `opts` into `*out`.
///
/// # Safety
/// As for `muxwire_client_open_stream`.
pub(crate) unsafe fn open(
    client: *const muxwire_client,
    method: *const c_char,
    opts: &CallOptions,
    out: *mut *mut muxwire_stream,
) -> Outcome {
    // SAFETY: each NULL or valid, by the caller's contract.
    let (c, method) = unsafe { (obj(client, "client")?, text(method, "method")?) };
    let out = Out::new(out, "out")?;
    if method.is_empty() {
        return Err(Failure::invalid("method is empty"));
    }
    let rt = c.client.runtime().clone();
    let (sink, replies) = wait(&rt, c.client.open_stream(method, opts))??;
    let s = muxwire_stream {
        rt,
        sink: Mutex::new(Some(sink)),
        replies: Mutex::new(replies),
    };
    // SAFETY: checked, writable by the caller's contract.
    unsafe { out.write(into_handle(s)) };
    Ok(())
}

/// Sends one message (the `len` bytes at `body`). Blocks while 4 MiB of this call's
/// messages wait to be written (the server's flow control pushes back). INVALID_ARGUMENT
/// after `muxwire_stream_finish`.
///
/// # Safety
/// `stream` NULL or live; `body` NULL (with `len` 0) or `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stream_send(
    stream: *const muxwire_stream,
    body: *const u8,
    len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (s, body) = unsafe { (obj(stream, "stream")?, bytes(body, len, "body")?) };
        let mut sink = s.sink.lock().unwrap_or_else(|e| e.into_inner());
        let sink = sink
            .as_mut()
            .ok_or_else(|| Failure::invalid("the stream was finished: nothing more may be sent"))?;
        wait(&s.rt, sink.send(Bytes::copy_from_slice(body)))??;
        Ok(())
    })
}

/// Half-closes: no more messages from this side (the server sees the end of its input).
///
/// # Safety
/// `stream` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stream_finish(stream: *const muxwire_stream) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let s = unsafe { obj(stream, "stream") }?;
        let sink = s.sink.lock().unwrap_or_else(|e| e.into_inner()).take();
        let sink = sink.ok_or_else(|| Failure::invalid("the stream was finished before"))?;
        sink.finish()?;
        Ok(())
    })
}

/// Receives the server's next message into `*message` (free it with
/// `muxwire_reply_free`), waiting up to `timeout_ms`. When the call has ended OK, returns
/// OK with `*message` set to NULL; when it failed, its status code (message in
/// `muxwire_last_error()`); MUXWIRE_RESULT_AGAIN if nothing came in time (wait again).
///
/// # Safety
/// `stream` NULL or live; `message` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stream_recv(
    stream: *const muxwire_stream,
    timeout_ms: u32,
    message: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let s = unsafe { obj(stream, "stream") }?;
        let out = Out::new(message, "message")?;
        let mut replies = s.replies.lock().unwrap_or_else(|e| e.into_inner());
        let next = wait_at_most(&s.rt, replies.next(), timeout_ms)?;
        let value = received(next)?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Frees the stream; a call not yet ended is cancelled. NULL is accepted and does nothing.
///
/// # Safety
/// `stream` NULL or a stream not freed before, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_stream_free(stream: *mut muxwire_stream) {
    // SAFETY: NULL or from muxwire_client_open_stream, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(stream) }));
}
