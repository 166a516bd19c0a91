//! The one result type every fallible entry point returns, and its fixed text.

use std::ffi::c_char;

use muxwire::StatusCode;

/// What a muxwire function returns. 0 is success; 1 to 16 are the wire's status codes
/// with the same numbers (a call's own outcome is reported with them); 100 and up are
/// the library's own. The numbers never change.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_result {
    /// Success.
    Ok = 0,
    /// The call was cancelled (by its caller, or because its connection ended).
    Cancelled = 1,
    /// An error with no better code.
    Unknown = 2,
    /// An argument is invalid (the last error says which).
    InvalidArgument = 3,
    /// The call's timeout passed first.
    DeadlineExceeded = 4,
    /// Not found.
    NotFound = 5,
    /// Already exists (a handler registered twice for one method).
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// A bound was reached (a message too large, a queue full); the message names it.
    ResourceExhausted = 8,
    /// The object is not in a state that allows this (a server already started, a
    /// blocking call made on a library thread).
    FailedPrecondition = 9,
    /// Aborted.
    Aborted = 10,
    /// Out of range.
    OutOfRange = 11,
    /// Not implemented (the server has no such method).
    Unimplemented = 12,
    /// A bug or a broken invariant (in the peer or here).
    Internal = 13,
    /// No connection, or the runtime or client was shut down.
    Unavailable = 14,
    /// Data lost.
    DataLoss = 15,
    /// Not authenticated.
    Unauthenticated = 16,
    /// A required pointer argument was NULL (the last error names it).
    NullArgument = 100,
    /// The library panicked; the call did nothing more (the last error has the message).
    Panic = 101,
    /// Nothing is ready yet (poll again later).
    Again = 102,
}

impl muxwire_result {
    /// The result for a wire status code; codes beyond the 17 known read as UNKNOWN.
    pub(crate) fn from_status_code(code: StatusCode) -> muxwire_result {
        use muxwire_result as R;
        match code.effective().0 {
            0 => R::Ok,
            1 => R::Cancelled,
            3 => R::InvalidArgument,
            4 => R::DeadlineExceeded,
            5 => R::NotFound,
            6 => R::AlreadyExists,
            7 => R::PermissionDenied,
            8 => R::ResourceExhausted,
            9 => R::FailedPrecondition,
            10 => R::Aborted,
            11 => R::OutOfRange,
            12 => R::Unimplemented,
            13 => R::Internal,
            14 => R::Unavailable,
            15 => R::DataLoss,
            16 => R::Unauthenticated,
            _ => R::Unknown,
        }
    }

    /// The fixed description of this result.
    fn text(self) -> &'static str {
        use muxwire_result as R;
        match self {
            R::Ok => "ok\0",
            R::Cancelled => "cancelled\0",
            R::Unknown => "unknown error\0",
            R::InvalidArgument => "invalid argument\0",
            R::DeadlineExceeded => "deadline exceeded\0",
            R::NotFound => "not found\0",
            R::AlreadyExists => "already exists\0",
            R::PermissionDenied => "permission denied\0",
            R::ResourceExhausted => "resource exhausted\0",
            R::FailedPrecondition => "failed precondition\0",
            R::Aborted => "aborted\0",
            R::OutOfRange => "out of range\0",
            R::Unimplemented => "unimplemented\0",
            R::Internal => "internal error\0",
            R::Unavailable => "unavailable\0",
            R::DataLoss => "data loss\0",
            R::Unauthenticated => "unauthenticated\0",
            R::NullArgument => "a required argument is NULL\0",
            R::Panic => "the library panicked\0",
            R::Again => "nothing ready yet\0",
        }
    }

    /// The result numbered `n`, if there is one.
    fn from_number(n: i32) -> Option<muxwire_result> {
        use muxwire_result as R;
        const ALL: [muxwire_result; 20] = [
            R::Ok,
            R::Cancelled,
            R::Unknown,
            R::InvalidArgument,
            R::DeadlineExceeded,
            R::NotFound,
            R::AlreadyExists,
            R::PermissionDenied,
            R::ResourceExhausted,
            R::FailedPrecondition,
            R::Aborted,
            R::OutOfRange,
            R::Unimplemented,
            R::Internal,
            R::Unavailable,
            R::DataLoss,
            R::Unauthenticated,
            R::NullArgument,
            R::Panic,
            R::Again,
        ];
        ALL.into_iter().find(|r| *r as i32 == n)
    }
}

/// A fixed, NUL-terminated English description of `result` (a `muxwire_result` value or
/// any other number: unknown numbers get "unrecognised result"). Never NULL; the string
/// is static. For the message of the last failure on this thread, see
/// `muxwire_last_error`.
#[no_mangle]
pub extern "C" fn muxwire_strerror(result: i32) -> *const c_char {
    let text = muxwire_result::from_number(result)
        .map(muxwire_result::text)
        .unwrap_or("unrecognised result\0");
    text.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_has_text_and_round_trips_its_number() {
        for n in -1..200 {
            if let Some(r) = muxwire_result::from_number(n) {
                assert_eq!(r as i32, n);
                assert!(r.text().ends_with('\0'));
            }
        }
        for code in 0..=16 {
            let r = muxwire_result::from_status_code(StatusCode(code));
            assert_eq!(r as i32, code as i32, "wire code {code} keeps its number");
        }
        assert_eq!(
            muxwire_result::from_status_code(StatusCode(99)),
            muxwire_result::Unknown
        );
    }
}
