//! A call's outcome in the shape C receives it.

use bytes::Bytes;
use muxwire::Status;

use crate::result::muxwire_result;

/// An outcome taken apart for C.
pub(crate) struct Split {
    /// OK or the status code.
    pub(crate) status: muxwire_result,
    /// The reply (empty unless OK).
    pub(crate) body: Bytes,
    /// The status message ("" when OK).
    pub(crate) message: String,
    /// The status DETAILS, if any.
    pub(crate) details: Option<Bytes>,
    /// The status's trailers.
    pub(crate) trailers: Vec<(String, Bytes)>,
}

/// An outcome as a result code, a body, a message, details and trailers.
pub(crate) fn split(outcome: Result<Bytes, Status>) -> Split {
    match outcome {
        Ok(body) => Split {
            status: muxwire_result::Ok,
            body,
            message: String::new(),
            details: None,
            trailers: Vec::new(),
        },
        Err(s) => Split {
            status: muxwire_result::from_status_code(s.code),
            body: Bytes::new(),
            message: s.message,
            details: s.details,
            trailers: s.trailers,
        },
    }
}
