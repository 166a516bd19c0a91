//! `muxwire_reply`: the body of a successful blocking call, owned by the caller.

use bytes::Bytes;

use crate::args::{into_handle, take_handle};
use crate::boundary::guard_value;
use crate::error::Outcome;

/// A reply body. Read it with `muxwire_reply_data` / `muxwire_reply_len`; free it with
/// `muxwire_reply_free`. Immutable, so any thread may read it.
#[allow(non_camel_case_types)]
pub struct muxwire_reply {
    pub(crate) body: Bytes,
}

/// The reply's bytes, valid until the reply is freed (NULL for a NULL reply; any non-NULL
/// pointer for an empty body).
///
/// # Safety
/// `reply` is NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn muxwire_reply_data(reply: *const muxwire_reply) -> *const u8 {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { reply.as_ref() }.map_or(std::ptr::null(), |r| r.body.as_ptr())
    })
}

/// The reply's length in bytes (0 for a NULL reply).
///
/// # Safety
/// `reply` is NULL or a live reply.
#[no_mangle]
pub unsafe extern "C" fn muxwire_reply_len(reply: *const muxwire_reply) -> usize {
    // SAFETY: NULL or live, by the caller's contract.
    guard_value(0, || unsafe { reply.as_ref() }.map_or(0, |r| r.body.len()))
}

/// Frees a reply. NULL is accepted and does nothing.
///
/// # Safety
/// `reply` is NULL or a reply not freed before.
#[no_mangle]
pub unsafe extern "C" fn muxwire_reply_free(reply: *mut muxwire_reply) {
    // SAFETY: NULL or from the library, not freed before, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(reply) }));
}

/// A received item as the reply handle C gets: a message, NULL at the end, or the status.
pub(crate) fn received(
    next: Option<Result<Bytes, muxwire::Status>>,
) -> Outcome<*mut muxwire_reply> {
    match next {
        Some(Ok(body)) => Ok(into_handle(muxwire_reply { body })),
        Some(Err(status)) => Err(status.into()),
        None => Ok(std::ptr::null_mut()),
    }
}
