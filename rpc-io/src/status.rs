//! The outcome of a failed call: a gRPC status code, a message, and what else the STATUS
//! frame carried (DETAILS, trailing metadata entries, whether a retry is safe).

use std::fmt;

use bytes::Bytes;
use muxwire_core::wire::StatusCode;

/// Why a call failed. `code` is never OK.
///
/// Built with the constructors ([`Status::new`], [`Status::unavailable`], ...) and the
/// `with_*` methods; new fields may be added, so it cannot be built as a struct literal
/// outside this crate.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The status code (gRPC numbering).
    pub code: StatusCode,
    /// A human-readable explanation (the peer's REASON, or a local one).
    pub message: String,
    /// True if the call was certainly not processed, so retrying it is safe (the peer
    /// answered with REFUSED, or the call never left this process).
    pub retry_safe: bool,
    /// Machine-readable error details (the DETAILS tag), opaque to muxwire.
    pub details: Option<Bytes>,
    /// Trailing metadata entries the STATUS carried, in order.
    pub trailers: Vec<(String, Bytes)>,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            retry_safe: false,
            details: None,
            trailers: Vec::new(),
        }
    }

    /// The same status with DETAILS attached (sent to the caller when a handler fails).
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.details = Some(details.into());
        self
    }

    /// The same status with one more trailing metadata entry (key: 1 to 255 bytes of
    /// `[a-z0-9-_.]`).
    pub fn with_trailer(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Status {
        self.trailers.push((key.into(), value.into()));
        self
    }

    /// The same status, marked safe (or not) to retry.
    pub fn with_retry_safe(mut self, retry_safe: bool) -> Status {
        self.retry_safe = retry_safe;
        self
    }

    /// The first trailing metadata value for `key`.
    pub fn trailer(&self, key: &str) -> Option<&Bytes> {
        self.trailers.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// UNAVAILABLE: the connection is gone or could not be made.
    pub fn unavailable(message: impl Into<String>) -> Status {
        Status::new(StatusCode::UNAVAILABLE, message)
    }

    /// UNAVAILABLE for a call that never reached the peer's processing (retry is safe).
    pub fn refused(message: impl Into<String>) -> Status {
        Status::unavailable(message).with_retry_safe(true)
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

    /// FAILED_PRECONDITION: the call cannot be made in the state the caller is in.
    pub fn failed_precondition(message: impl Into<String>) -> Status {
        Status::new(StatusCode::FAILED_PRECONDITION, message)
    }

    /// ALREADY_EXISTS.
    pub fn already_exists(message: impl Into<String>) -> Status {
        Status::new(StatusCode::ALREADY_EXISTS, message)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

/// Prints the code by name (`UNAVAILABLE`, not `StatusCode(14)`), and only the parts that
/// are set.
impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &format_args!("{}", self.code.name()))
            .field("message", &self.message);
        if self.retry_safe {
            d.field("retry_safe", &true);
        }
        if let Some(details) = &self.details {
            d.field("details", details);
        }
        if !self.trailers.is_empty() {
            d.field("trailers", &self.trailers);
        }
        d.finish()
    }
}

impl std::error::Error for Status {}

/// An IO error as the status a caller should see: unreachable or broken connections are
/// UNAVAILABLE, a timeout DEADLINE_EXCEEDED, bad input INVALID_ARGUMENT, a refusal by the
/// system PERMISSION_DENIED, anything else UNKNOWN; the message keeps the error's text.
impl From<std::io::Error> for Status {
    fn from(e: std::io::Error) -> Status {
        use std::io::ErrorKind as K;
        let code = match e.kind() {
            K::NotFound
            | K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::AddrNotAvailable
            | K::BrokenPipe
            | K::UnexpectedEof => StatusCode::UNAVAILABLE,
            K::TimedOut | K::WouldBlock => StatusCode::DEADLINE_EXCEEDED,
            K::InvalidInput | K::InvalidData => StatusCode::INVALID_ARGUMENT,
            K::PermissionDenied => StatusCode::PERMISSION_DENIED,
            K::AddrInUse | K::AlreadyExists => StatusCode::ALREADY_EXISTS,
            K::OutOfMemory => StatusCode::RESOURCE_EXHAUSTED,
            K::Unsupported => StatusCode::UNIMPLEMENTED,
            K::Interrupted => StatusCode::CANCELLED,
            _ => StatusCode::UNKNOWN,
        };
        Status::new(code, e.to_string())
    }
}

/// A malformed endpoint URL is INVALID_ARGUMENT.
impl From<crate::EndpointError> for Status {
    fn from(e: crate::EndpointError) -> Status {
        Status::invalid_argument(e.0)
    }
}

/// Bytes that had to be UTF-8 and were not: INVALID_ARGUMENT.
impl From<std::str::Utf8Error> for Status {
    fn from(e: std::str::Utf8Error) -> Status {
        Status::invalid_argument(format!("not UTF-8: {e}"))
    }
}

/// Bytes that had to be UTF-8 and were not: INVALID_ARGUMENT.
impl From<std::string::FromUtf8Error> for Status {
    fn from(e: std::string::FromUtf8Error) -> Status {
        Status::invalid_argument(format!("not UTF-8: {e}"))
    }
}

/// A status as an IO error, for code that speaks `std::io` (the status is kept as the
/// error's source, so it can be taken back with `downcast`).
impl From<Status> for std::io::Error {
    fn from(s: Status) -> std::io::Error {
        use std::io::ErrorKind as K;
        let kind = match s.code {
            StatusCode::UNAVAILABLE => K::ConnectionAborted,
            StatusCode::DEADLINE_EXCEEDED => K::TimedOut,
            StatusCode::INVALID_ARGUMENT => K::InvalidInput,
            StatusCode::PERMISSION_DENIED | StatusCode::UNAUTHENTICATED => K::PermissionDenied,
            StatusCode::NOT_FOUND => K::NotFound,
            StatusCode::ALREADY_EXISTS => K::AlreadyExists,
            StatusCode::UNIMPLEMENTED => K::Unsupported,
            StatusCode::CANCELLED => K::Interrupted,
            _ => K::Other,
        };
        std::io::Error::new(kind, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_code() {
        let s = Status::unavailable("gone");
        let d = format!("{s:?}");
        assert!(d.contains("UNAVAILABLE"), "{d}");
        assert!(!d.contains("StatusCode(14)"), "{d}");
        let refused = format!("{:?}", Status::refused("full"));
        assert!(refused.contains("retry_safe: true"), "{refused}");
    }

    #[test]
    fn io_errors_map_to_the_status_a_caller_expects() {
        use std::io::{Error, ErrorKind};
        let cases = [
            (ErrorKind::ConnectionRefused, StatusCode::UNAVAILABLE),
            (ErrorKind::BrokenPipe, StatusCode::UNAVAILABLE),
            (ErrorKind::TimedOut, StatusCode::DEADLINE_EXCEEDED),
            (ErrorKind::InvalidData, StatusCode::INVALID_ARGUMENT),
            (ErrorKind::PermissionDenied, StatusCode::PERMISSION_DENIED),
            (ErrorKind::AddrInUse, StatusCode::ALREADY_EXISTS),
            (ErrorKind::Other, StatusCode::UNKNOWN),
        ];
        for (kind, code) in cases {
            let s: Status = Error::new(kind, "boom").into();
            assert_eq!(s.code, code, "{kind:?}");
            assert!(s.message.contains("boom"));
        }
    }

    #[test]
    fn a_status_survives_a_trip_through_io_error() {
        let s = Status::new(StatusCode::NOT_FOUND, "no such key").with_details(&b"k"[..]);
        let e: std::io::Error = s.clone().into();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let back = e.into_inner().unwrap().downcast::<Status>().unwrap();
        assert_eq!(*back, s);
    }

    #[test]
    fn builders_set_details_trailers_and_retry() {
        let s = Status::internal("x")
            .with_details(Bytes::from_static(b"\x01"))
            .with_trailer("retry-after-ms", Bytes::from_static(b"50"))
            .with_retry_safe(true);
        assert_eq!(s.details.as_deref(), Some(&b"\x01"[..]));
        assert_eq!(
            s.trailer("retry-after-ms").map(|b| &b[..]),
            Some(&b"50"[..])
        );
        assert!(s.retry_safe);
    }
}
