//! `muxwire_responder`: how a C handler answers its call, from any thread, now or later.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use bytes::Bytes;
use muxwire::{CallOptions, Channel, Responder, Status, StatusCode};

use crate::args::{bytes, into_handle, obj, take_handle, text, Out};
use crate::boundary::{guard, guard_value};
use crate::entries::{muxwire_entry, OwnedEntries};
use crate::entry_args::entries_in;
use crate::error::{Failure, Outcome};
use crate::peer::muxwire_peer;
use crate::reply::muxwire_reply;
use crate::result::muxwire_result;

/// One call a handler was given: its method and request, and the means to answer it.
/// Answer it exactly once with `muxwire_responder_reply` or `muxwire_responder_fail`
/// (each frees it), or free it unanswered with `muxwire_responder_free` (the caller then
/// gets INTERNAL). Any one thread at a time may use it.
#[allow(non_camel_case_types)]
pub struct muxwire_responder {
    pub(crate) method: CString,
    pub(crate) request: Bytes,
    pub(crate) responder: Responder,
    /// The connection the call came in on.
    pub(crate) peer: Channel,
    /// The request's metadata entries.
    pub(crate) metadata: OwnedEntries,
    /// The peer as C reads it, made when first asked for.
    pub(crate) peer_view: OnceLock<muxwire_peer>,
}

/// Who made the call: its address and what the transport verified (see `muxwire_peer_*`);
/// NULL for NULL. Valid until the responder is answered or freed.
///
/// # Safety
/// `responder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_peer(
    responder: *const muxwire_responder,
) -> *const muxwire_peer {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { responder.as_ref() }.map_or(std::ptr::null(), |r| {
            r.peer_view
                .get_or_init(|| muxwire_peer::new(r.peer.peer_address(), r.peer.peer_identity()))
        })
    })
}

/// The method called (NUL-terminated), valid until the responder is answered or freed;
/// NULL for a NULL responder.
///
/// # Safety
/// `responder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_method(
    responder: *const muxwire_responder,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { responder.as_ref() }.map_or(std::ptr::null(), |r| r.method.as_ptr())
    })
}

/// The request's bytes, valid until the responder is answered or freed (NULL for a NULL
/// responder); its length is `muxwire_responder_request_len`.
///
/// # Safety
/// `responder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_request(
    responder: *const muxwire_responder,
) -> *const u8 {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { responder.as_ref() }.map_or(std::ptr::null(), |r| r.request.as_ptr())
    })
}

/// The request's length in bytes (0 for a NULL responder).
///
/// # Safety
/// `responder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_request_len(
    responder: *const muxwire_responder,
) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        let r = unsafe { responder.as_ref() };
        r.map_or(0, |r| r.request.len())
    })
}

/// The request's metadata entries (the caller's `muxwire_call_options_add_metadata`, or
/// any client's metadata), in the order sent, and their number in `*count` (may be NULL);
/// NULL with `*count` 0 when there are none or `responder` is NULL. Valid until the
/// responder is answered or freed.
///
/// # Safety
/// `responder` is NULL or live; `count` NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_metadata(
    responder: *const muxwire_responder,
    count: *mut usize,
) -> *const muxwire_entry {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let r = unsafe { responder.as_ref() };
        let (p, n) = r.map_or((std::ptr::null(), 0), |r| r.metadata.as_c());
        if !count.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { count.write(n) };
        }
        p
    })
}

/// True once the answer would be thrown away (the caller cancelled, its deadline passed or
/// the connection closed): long work may stop early. False for NULL.
///
/// # Safety
/// `responder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_is_cancelled(
    responder: *const muxwire_responder,
) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or live, by the caller's contract.
        let r = unsafe { responder.as_ref() };
        r.is_some_and(|r| r.responder.is_cancelled())
    })
}

/// Takes the responder back from C.
///
/// # Safety
/// `responder` is NULL or a responder not answered or freed before.
unsafe fn take(responder: *mut muxwire_responder) -> Outcome<Box<muxwire_responder>> {
    // SAFETY: forwarded contract.
    unsafe { take_handle(responder) }.ok_or_else(|| Failure::null("responder"))
}

/// Answers the call with the `body_len` bytes at `body` and frees the responder (always,
/// whatever the result). Returns CANCELLED if the call had already ended (nothing was
/// sent), NULL_ARGUMENT for a NULL body with a non-zero length (the call then ends with
/// INTERNAL).
///
/// # Safety
/// `responder` is NULL or a responder not answered or freed before; `body` NULL (with
/// `body_len` 0) or `body_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_reply(
    responder: *mut muxwire_responder,
    body: *const u8,
    body_len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let r = unsafe { take(responder) }?;
        // SAFETY: forwarded contract.
        let outcome = match unsafe { bytes(body, body_len, "body") } {
            Ok(b) => Ok(Bytes::copy_from_slice(b)),
            Err(f) => {
                let _ = r.responder.fail(Status::internal(format!(
                    "the handler's reply was bad: {}",
                    f.message
                )));
                return Err(f);
            }
        };
        r.responder.finish(outcome)?;
        Ok(())
    })
}

/// Ends the call with status `code` (1 to 16, the wire's status codes), `message` (NULL:
/// none) and, if `details_len` is not 0, the `details_len` bytes at `details` as the
/// status DETAILS (opaque bytes the caller reads with `muxwire_last_error_details`), and
/// frees the responder (always). An invalid code, message or details pointer ends the
/// call with INTERNAL and returns INVALID_ARGUMENT or NULL_ARGUMENT; CANCELLED if the
/// call had already ended.
///
/// # Safety
/// `responder` is NULL or a responder not answered or freed before; `message` NULL or a
/// NUL-terminated string; `details` NULL (with `details_len` 0) or `details_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_fail(
    responder: *mut muxwire_responder,
    code: u32,
    message: *const c_char,
    details: *const u8,
    details_len: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract (no trailers).
    unsafe {
        muxwire_responder_fail_with_trailers(
            responder,
            code,
            message,
            details,
            details_len,
            std::ptr::null(),
            0,
        )
    }
}

/// As `muxwire_responder_fail`, with `trailers_count` entries at `trailers` sent as the
/// STATUS's trailers (copied; keys as `muxwire_entry` says): the caller reads them with
/// `muxwire_last_error_trailers`, or a completion's `trailers`. A bad entry ends the call
/// with INTERNAL and returns INVALID_ARGUMENT or NULL_ARGUMENT naming it.
///
/// # Safety
/// As for `muxwire_responder_fail`; `trailers` NULL (with `trailers_count` 0) or
/// `trailers_count` readable entries.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_fail_with_trailers(
    responder: *mut muxwire_responder,
    code: u32,
    message: *const c_char,
    details: *const u8,
    details_len: usize,
    trailers: *const muxwire_entry,
    trailers_count: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let r = unsafe { take(responder) }?;
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
        match checked {
            Ok(status) => {
                r.responder.fail(status)?;
                Ok(())
            }
            Err(f) => {
                let _ = r.responder.fail(Status::internal(format!(
                    "the handler's status was bad: {}",
                    f.message
                )));
                Err(f)
            }
        }
    })
}

/// The status a failing handler described, checked.
///
/// # Safety
/// As for `muxwire_responder_fail_with_trailers`.
pub(crate) unsafe fn failure_status(
    code: u32,
    message: *const c_char,
    details: *const u8,
    details_len: usize,
    trailers: *const muxwire_entry,
    trailers_count: usize,
) -> Outcome<Status> {
    let message = if message.is_null() {
        ""
    } else {
        // SAFETY: not NULL, NUL-terminated by the caller's contract.
        unsafe { text(message, "message") }?
    };
    // SAFETY: NULL with 0 or `details_len` readable bytes, by the caller's contract.
    let details = unsafe { bytes(details, details_len, "details") }?;
    // SAFETY: NULL with 0 or `trailers_count` readable entries, by the caller's contract.
    let trailers = unsafe { entries_in(trailers, trailers_count, "trailers") }?;
    if !(1..=16).contains(&code) {
        return Err(Failure::invalid(format!(
            "status code {code} cannot end a call in failure: use 1 to 16"
        )));
    }
    let mut status = Status::new(StatusCode(code), message);
    if !details.is_empty() {
        status = status.with_details(Bytes::copy_from_slice(details));
    }
    status.trailers = trailers;
    Ok(status)
}

/// Calls `method` back on the caller, over the connection this call came in on (the
/// caller serves it if its client registered handlers, as an interop client does), and
/// waits up to `timeout_ms` (0: none) for the reply, stored in `*reply`. For handlers:
/// blocks the worker thread meanwhile. The responder stays unanswered and the handler's.
///
/// # Safety
/// `responder` NULL or live; `method` NULL or a NUL-terminated string; `body` NULL (with
/// `body_len` 0) or `body_len` readable bytes; `reply` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_call_peer(
    responder: *const muxwire_responder,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_ms: u64,
    reply: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (r, method, body) = unsafe {
            (
                obj(responder, "responder")?,
                text(method, "method")?,
                bytes(body, body_len, "body")?,
            )
        };
        let out = Out::new(reply, "reply")?;
        let opts = CallOptions {
            timeout: (timeout_ms > 0).then(|| std::time::Duration::from_millis(timeout_ms)),
            ..CallOptions::default()
        };
        let call = r
            .peer
            .call_owned(method, Bytes::copy_from_slice(body), opts);
        let body = r.peer.runtime().block_on(call)??;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_reply { body })) };
        Ok(())
    })
}

/// Frees the responder without answering: the call ends with INTERNAL ("the handler ...
/// ended without answering"). NULL is accepted and does nothing.
///
/// # Safety
/// `responder` is NULL or a responder not answered or freed before.
#[no_mangle]
pub unsafe extern "C" fn muxwire_responder_free(responder: *mut muxwire_responder) {
    // SAFETY: forwarded contract.
    guard_value((), || drop(unsafe { take_handle(responder) }));
}
