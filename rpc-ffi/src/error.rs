//! Failures inside the library, and the message of the last one on each thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use muxwire::Status;

use crate::entries::{muxwire_entry, OwnedEntries};
use crate::result::muxwire_result;

/// A failed entry point: its result and a message saying what exactly went wrong.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: muxwire_result,
    pub(crate) message: String,
    /// A call's status DETAILS, if it carried any.
    pub(crate) details: Option<bytes::Bytes>,
    /// A call's trailers (the entries its STATUS carried).
    pub(crate) trailers: Vec<(String, bytes::Bytes)>,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub(crate) fn new(code: muxwire_result, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            details: None,
            trailers: Vec::new(),
        }
    }

    /// A NULL where a pointer was required; `what` names the argument.
    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(muxwire_result::NullArgument, format!("{what} is NULL"))
    }

    /// An invalid argument.
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(muxwire_result::InvalidArgument, message)
    }
}

impl From<Status> for Failure {
    fn from(s: Status) -> Failure {
        let code = muxwire_result::from_status_code(s.code);
        Failure {
            details: s.details,
            trailers: s.trailers,
            ..Failure::new(code, s.message)
        }
    }
}

/// What entry points return inside the library.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    static LAST_DETAILS: RefCell<Option<bytes::Bytes>> = const { RefCell::new(None) };
    static LAST_TRAILERS: RefCell<OwnedEntries> = RefCell::new(OwnedEntries::default());
}

/// Records `message` as this thread's last error, with no details or trailers.
pub(crate) fn set_last_error(message: &str) {
    set_last_failure(message, None, Vec::new());
}

/// Records `message` and a status's `details` and `trailers` as this thread's last error.
pub(crate) fn set_last_failure(
    message: &str,
    details: Option<bytes::Bytes>,
    trailers: Vec<(String, bytes::Bytes)>,
) {
    // Interior NULs would cut the C string short; show them instead.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    LAST_DETAILS.with(|d| *d.borrow_mut() = details);
    LAST_TRAILERS.with(|t| *t.borrow_mut() = OwnedEntries::new(trailers));
}

/// The trailers of the call status behind this thread's last error (the entries the
/// handler's STATUS carried, in order) and their number in `*count`; NULL with `*count`
/// 0 when it had none. Valid until the next muxwire function fails on this thread (in a
/// completion callback: until it returns). `count` may be NULL.
///
/// # Safety
/// `count` is NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_last_error_trailers(count: *mut usize) -> *const muxwire_entry {
    LAST_TRAILERS.with(|t| {
        let (p, n) = t.borrow().as_c();
        if !count.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { count.write(n) };
        }
        p
    })
}

/// The DETAILS of the call status behind this thread's last error (bytes the server
/// attached, opaque to muxwire), and their length in `*len`; NULL with `*len` 0 when it
/// had none. Valid until the next muxwire function fails on this thread (in a
/// completion callback: until it returns). `len` may be NULL.
///
/// # Safety
/// `len` is NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_last_error_details(len: *mut usize) -> *const u8 {
    LAST_DETAILS.with(|d| {
        let d = d.borrow();
        let (p, n) = d
            .as_ref()
            .filter(|b| !b.is_empty())
            .map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
        if !len.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { len.write(n) };
        }
        p
    })
}

/// A C string for `s`, NULs shown as `\0` so nothing is cut short.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// The message of the most recent failure of a muxwire function on the calling thread
/// ("" if none failed yet): what went wrong and which argument, option or bound was
/// involved. Never NULL. Valid until the next muxwire function fails on this thread.
#[no_mangle]
pub extern "C" fn muxwire_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}
