//! A call's outcome in the shape C receives it.

use bytes::Bytes;
use muxwire::Status;

use crate::result::muxwire_result;

/// An outcome as a result code, a body and a message.
pub(crate) fn split(outcome: Result<Bytes, Status>) -> (muxwire_result, Bytes, String) {
    match outcome {
        Ok(body) => (muxwire_result::Ok, body, String::new()),
        Err(s) => (
            muxwire_result::from_status_code(s.code),
            Bytes::new(),
            s.message,
        ),
    }
}
