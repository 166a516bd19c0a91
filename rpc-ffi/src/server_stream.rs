//! `muxwire_server_stream`: a streaming call a C handler serves. Each call's handler runs
//! on a thread of its own (at most `worker_threads` at once per server), so it may block
//! in `muxwire_server_stream_recv` and `_send` while the connection goes on.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use muxwire::{Channel, Context, Inbound, Outbound, RuntimeHandle, Status, StatusCode};
use tokio::sync::oneshot;

use crate::args::{bytes, into_handle, obj, take_handle, text, Out, UserData};
use crate::boundary::{guard, guard_value};
use crate::entries::{muxwire_entry, OwnedEntries};
use crate::error::{c_string, Failure};
use crate::peer::muxwire_peer;
use crate::reply::{muxwire_reply, received};
use crate::responder::failure_status;
use crate::result::muxwire_result;
use crate::wait::{wait, wait_at_most};

/// Serves one streaming call, on a thread of its own: receive with
/// `muxwire_server_stream_recv`, send with `_send`, end it with `_finish` (now or later,
/// from any thread). `call` belongs to the handler from here on.
#[allow(non_camel_case_types)]
pub type muxwire_stream_handler_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, call: *mut muxwire_server_stream)>;

/// The handler, without the Option.
pub(crate) type StreamHandlerFn = unsafe extern "C" fn(*mut c_void, *mut muxwire_server_stream);

/// A streaming call being served. One thread at a time may use it, any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_server_stream {
    rt: RuntimeHandle,
    method: CString,
    /// The request's metadata entries.
    metadata: OwnedEntries,
    /// The connection the call came in on.
    peer: Channel,
    /// The peer as C reads it, made when first asked for.
    peer_view: OnceLock<muxwire_peer>,
    inbound: Mutex<Inbound>,
    outbound: Outbound,
    /// Where the call's final status goes; taken by `_finish` (or by free: INTERNAL).
    done: Mutex<Option<oneshot::Sender<Result<(), Status>>>>,
    /// Counts this call's thread against the server's bound until it is dropped.
    _slot: ThreadSlot,
}

/// One of a server's streaming-handler threads in use.
pub(crate) struct ThreadSlot(Arc<AtomicUsize>);

impl ThreadSlot {
    /// Takes a slot if fewer than `max` are in use.
    pub(crate) fn take(used: &Arc<AtomicUsize>, max: usize) -> Option<ThreadSlot> {
        used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| ThreadSlot(used.clone()))
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The Rust handler a C streaming handler is registered as.
pub(crate) fn serve(
    f: StreamHandlerFn,
    userdata: UserData,
    used: Arc<AtomicUsize>,
    max_threads: usize,
) -> impl Fn(Context, Inbound, Outbound) -> muxwire::BoxFuture<Result<(), Status>> {
    move |ctx: Context, inbound: Inbound, outbound: Outbound| {
        let refused = |s: Status| -> muxwire::BoxFuture<Result<(), Status>> {
            Box::pin(std::future::ready(Err(s)))
        };
        let Some(slot) = ThreadSlot::take(&used, max_threads) else {
            return refused(
                Status::resource_exhausted(format!(
                    "streaming handler threads: all {max_threads} in use \
                     (muxwire_options_set_worker_threads)"
                ))
                .with_retry_safe(true),
            );
        };
        let Some(rt) = RuntimeHandle::current() else {
            return refused(Status::internal(
                "a streaming handler ran outside its runtime",
            ));
        };
        let (tx, rx) = oneshot::channel();
        let call = muxwire_server_stream {
            rt,
            method: c_string(ctx.method()),
            metadata: OwnedEntries::new(ctx.metadata().to_vec()),
            peer: ctx.peer().clone(),
            peer_view: OnceLock::new(),
            inbound: Mutex::new(inbound),
            outbound,
            done: Mutex::new(Some(tx)),
            _slot: slot,
        };
        let call = into_handle(call) as usize;
        let started = std::thread::Builder::new()
            .name("muxwire-stream".into())
            .spawn(move || {
                // SAFETY: the host registered `f` for this method; it now owns the call.
                unsafe { f(userdata.get(), call as *mut muxwire_server_stream) }
            });
        if let Err(e) = started {
            // SAFETY: the thread never started, so the call is still ours alone.
            drop(unsafe { take_handle(call as *mut muxwire_server_stream) });
            return refused(Status::resource_exhausted(format!(
                "cannot start a streaming handler thread: {e}"
            )));
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(Status::internal(
                    "the streaming handler freed its call without finishing it",
                ))
            })
        })
    }
}

/// The method called (NUL-terminated), valid until the call is finished or freed; NULL
/// for NULL.
///
/// # Safety
/// `call` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_method(
    call: *const muxwire_server_stream,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { call.as_ref() };
        c.map_or(std::ptr::null(), |c| c.method.as_ptr())
    })
}

/// Who made the call: its address and what the transport verified (see
/// `muxwire_peer_*`); NULL for NULL. Valid until the call is finished or freed.
///
/// # Safety
/// `call` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_peer(
    call: *const muxwire_server_stream,
) -> *const muxwire_peer {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { call.as_ref() }.map_or(std::ptr::null(), |c| {
            c.peer_view
                .get_or_init(|| muxwire_peer::new(c.peer.peer_address(), c.peer.peer_identity()))
        })
    })
}

/// The request's metadata entries, in the order sent, and their number in `*count` (may
/// be NULL); NULL with `*count` 0 when there are none or `call` is NULL. Valid until the
/// call is finished or freed.
///
/// # Safety
/// `call` NULL or live; `count` NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_metadata(
    call: *const muxwire_server_stream,
    count: *mut usize,
) -> *const muxwire_entry {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { call.as_ref() };
        let (p, n) = c.map_or((std::ptr::null(), 0), |c| c.metadata.as_c());
        if !count.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { count.write(n) };
        }
        p
    })
}

/// Receives the caller's next message into `*message` (free it with
/// `muxwire_reply_free`), waiting up to `timeout_ms`: OK with `*message` NULL once the
/// caller half-closed; MUXWIRE_RESULT_AGAIN if nothing came in time; CANCELLED if the call
/// is gone.
///
/// # Safety
/// `call` NULL or live; `message` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_recv(
    call: *const muxwire_server_stream,
    timeout_ms: u32,
    message: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(call, "call") }?;
        let out = Out::new(message, "message")?;
        let mut inbound = c.inbound.lock().unwrap_or_else(|e| e.into_inner());
        let next = wait_at_most(&c.rt, inbound.next(), timeout_ms)?;
        let value = received(next)?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Sends one message to the caller. Blocks while 4 MiB of the call's messages wait to be
/// written; CANCELLED (or UNAVAILABLE) if the call is gone.
///
/// # Safety
/// `call` NULL or live; `body` NULL (with `len` 0) or `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_send(
    call: *const muxwire_server_stream,
    body: *const u8,
    len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (c, body) = unsafe { (obj(call, "call")?, bytes(body, len, "body")?) };
        wait(&c.rt, c.outbound.send(Bytes::copy_from_slice(body)))??;
        Ok(())
    })
}

/// Ends the call with status `code` (0 OK, or 1 to 16) and `message` (NULL: none), and
/// frees `call` (always). INVALID_ARGUMENT for a code above 16 (the call then ends with
/// INTERNAL).
///
/// # Safety
/// `call` NULL or a call not finished or freed before; `message` NULL or a NUL-terminated
/// string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_finish(
    call: *mut muxwire_server_stream,
    code: u32,
    message: *const c_char,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or from the library, not finished before, by the caller's contract.
        let c = unsafe { take_handle(call) }.ok_or_else(|| Failure::null("call"))?;
        let text_in = if message.is_null() {
            Ok("")
        } else {
            // SAFETY: not NULL, NUL-terminated by the caller's contract.
            unsafe { text(message, "message") }
        };
        let tx = c.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (outcome, result) = match (code, text_in) {
            (0, Ok(_)) => (Ok(()), Ok(())),
            (1..=16, Ok(m)) => (Err(Status::new(StatusCode(code), m)), Ok(())),
            (_, Err(f)) => (
                Err(Status::internal(format!("bad status: {}", f.message))),
                Err(f),
            ),
            (_, Ok(_)) => {
                let f = Failure::invalid(format!("status code {code}: use 0 to 16"));
                (Err(Status::internal(f.message.clone())), Err(f))
            }
        };
        if let Some(tx) = tx {
            if tx.send(outcome).is_err() && result.is_ok() {
                return Err(Failure::new(
                    muxwire_result::Cancelled,
                    "the call had already ended",
                ));
            }
        }
        result
    })
}

/// Ends the call in failure like `muxwire_responder_fail_with_trailers`: status `code` (1
/// to 16), `message` (NULL: none), the `details_len` bytes at `details` as DETAILS (none
/// if 0) and `trailers_count` entries at `trailers`; frees `call` (always). A bad
/// argument ends the call with INTERNAL and returns INVALID_ARGUMENT or NULL_ARGUMENT;
/// CANCELLED if the call had already ended.
///
/// # Safety
/// `call` NULL or a call not finished or freed before; `message` NULL or a NUL-terminated
/// string; `details` NULL (with `details_len` 0) or readable; `trailers` NULL (with
/// `trailers_count` 0) or that many readable entries.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_fail_with(
    call: *mut muxwire_server_stream,
    code: u32,
    message: *const c_char,
    details: *const u8,
    details_len: usize,
    trailers: *const muxwire_entry,
    trailers_count: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or from the library, not finished before, by the caller's contract.
        let c = unsafe { take_handle(call) }.ok_or_else(|| Failure::null("call"))?;
        // SAFETY: each pointer NULL or valid as documented, by the caller's contract.
        let checked = unsafe {
            failure_status(
                code,
                message,
                details,
                details_len,
                trailers,
                trailers_count,
            )
        };
        let (outcome, result) = match checked {
            Ok(status) => (Err(status), Ok(())),
            Err(f) => (
                Err(Status::internal(format!("bad status: {}", f.message))),
                Err(f),
            ),
        };
        let tx = c.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            if tx.send(outcome).is_err() && result.is_ok() {
                return Err(Failure::new(
                    muxwire_result::Cancelled,
                    "the call had already ended",
                ));
            }
        }
        result
    })
}

/// Frees the call without finishing it: it ends with INTERNAL. NULL is accepted.
///
/// # Safety
/// `call` NULL or a call not finished or freed before.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stream_free(call: *mut muxwire_server_stream) {
    // SAFETY: NULL or from the library, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(call) }));
}
