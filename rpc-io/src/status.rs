//! The outcome of a failed call: a gRPC status code and a message.

use std::fmt;

use muxwire_core::wire::StatusCode;

/// Why a call failed. `code` is never OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The status code (gRPC numbering).
    pub code: StatusCode,
    /// A human-readable explanation (the peer's REASON, or a local one).
    pub message: String,
    /// True if the call was certainly not processed, so retrying it is safe.
    pub retry_safe: bool,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            retry_safe: false,
        }
    }

    /// UNAVAILABLE: the connection is gone or could not be made.
    pub fn unavailable(message: impl Into<String>) -> Status {
        Status::new(StatusCode::UNAVAILABLE, message)
    }

    /// UNAVAILABLE for a call that never reached the peer's processing.
    pub fn refused(message: impl Into<String>) -> Status {
        Status {
            retry_safe: true,
            ..Status::unavailable(message)
        }
    }

    /// CANCELLED.
    pub fn cancelled(message: impl Into<String>) -> Status {
        Status::new(StatusCode::CANCELLED, message)
    }

    /// DEADLINE_EXCEEDED.
    pub fn deadline_exceeded() -> Status {
        Status::new(StatusCode::DEADLINE_EXCEEDED, "deadline exceeded")
    }

    /// INTERNAL.
    pub fn internal(message: impl Into<String>) -> Status {
        Status::new(StatusCode::INTERNAL, message)
    }

    /// RESOURCE_EXHAUSTED.
    pub fn resource_exhausted(message: impl Into<String>) -> Status {
        Status::new(StatusCode::RESOURCE_EXHAUSTED, message)
    }

    /// INVALID_ARGUMENT.
    pub fn invalid_argument(message: impl Into<String>) -> Status {
        Status::new(StatusCode::INVALID_ARGUMENT, message)
    }

    /// UNIMPLEMENTED.
    pub fn unimplemented(message: impl Into<String>) -> Status {
        Status::new(StatusCode::UNIMPLEMENTED, message)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Status {}
