//! Status codes (section 9.1) and connection error codes (section 9.2).

use core::fmt;

/// A call outcome, carried in STATUS and CANCEL. The numbers are gRPC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u32);

impl StatusCode {
    /// Success.
    pub const OK: StatusCode = StatusCode(0);
    /// The caller cancelled.
    pub const CANCELLED: StatusCode = StatusCode(1);
    /// Unknown error, also every reserved code.
    pub const UNKNOWN: StatusCode = StatusCode(2);
    /// The caller sent an invalid argument.
    pub const INVALID_ARGUMENT: StatusCode = StatusCode(3);
    /// The deadline passed.
    pub const DEADLINE_EXCEEDED: StatusCode = StatusCode(4);
    /// Some entity was not found.
    pub const NOT_FOUND: StatusCode = StatusCode(5);
    /// Some entity already exists.
    pub const ALREADY_EXISTS: StatusCode = StatusCode(6);
    /// The caller may not do this.
    pub const PERMISSION_DENIED: StatusCode = StatusCode(7);
    /// A limit was exceeded.
    pub const RESOURCE_EXHAUSTED: StatusCode = StatusCode(8);
    /// The system is not in a state for this call.
    pub const FAILED_PRECONDITION: StatusCode = StatusCode(9);
    /// Aborted, typically by a concurrency conflict.
    pub const ABORTED: StatusCode = StatusCode(10);
    /// Out of the valid range.
    pub const OUT_OF_RANGE: StatusCode = StatusCode(11);
    /// The method is not implemented.
    pub const UNIMPLEMENTED: StatusCode = StatusCode(12);
    /// Internal error.
    pub const INTERNAL: StatusCode = StatusCode(13);
    /// The service is unavailable; refused calls and broken connections.
    pub const UNAVAILABLE: StatusCode = StatusCode(14);
    /// Unrecoverable data loss.
    pub const DATA_LOSS: StatusCode = StatusCode(15);
    /// Missing or bad credentials.
    pub const UNAUTHENTICATED: StatusCode = StatusCode(16);

    /// The code to act upon: reserved codes (17 and above) count as UNKNOWN.
    pub const fn effective(self) -> StatusCode {
        if self.0 <= 16 {
            self
        } else {
            StatusCode::UNKNOWN
        }
    }

    /// The registry name (`"RESERVED"` for 17 and above).
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "OK",
            1 => "CANCELLED",
            2 => "UNKNOWN",
            3 => "INVALID_ARGUMENT",
            4 => "DEADLINE_EXCEEDED",
            5 => "NOT_FOUND",
            6 => "ALREADY_EXISTS",
            7 => "PERMISSION_DENIED",
            8 => "RESOURCE_EXHAUSTED",
            9 => "FAILED_PRECONDITION",
            10 => "ABORTED",
            11 => "OUT_OF_RANGE",
            12 => "UNIMPLEMENTED",
            13 => "INTERNAL",
            14 => "UNAVAILABLE",
            15 => "DATA_LOSS",
            16 => "UNAUTHENTICATED",
            _ => "RESERVED",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A connection error code, carried in GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful drain or close.
    pub const NO_ERROR: ErrorCode = ErrorCode(0);
    /// A rule of the protocol was broken.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(1);
    /// The sender failed internally.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(2);
    /// Credit exceeded or window overflow.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(3);
    /// A frame or one of its parts has a forbidden size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(4);
    /// A frame not allowed in the stream's state.
    pub const STREAM_STATE_ERROR: ErrorCode = ErrorCode(5);
    /// A CRC trailer did not match.
    pub const CRC_ERROR: ErrorCode = ErrorCode(6);
    /// A codec the receiver did not offer.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(7);
    /// No common protocol version.
    pub const VERSION_ERROR: ErrorCode = ErrorCode(8);
    /// Bad preface, missing or repeated HELLO, setting out of range.
    pub const HANDSHAKE_ERROR: ErrorCode = ErrorCode(9);
    /// Malformed metadata.
    pub const METADATA_ERROR: ErrorCode = ErrorCode(10);
    /// A budget was exceeded.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(11);
    /// Handshake, keepalive or frame-completion timeout.
    pub const TIMEOUT: ErrorCode = ErrorCode(12);

    /// The registry name (`"RESERVED"` for 13 and above).
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "NO_ERROR",
            1 => "PROTOCOL_ERROR",
            2 => "INTERNAL_ERROR",
            3 => "FLOW_CONTROL_ERROR",
            4 => "FRAME_SIZE_ERROR",
            5 => "STREAM_STATE_ERROR",
            6 => "CRC_ERROR",
            7 => "COMPRESSION_ERROR",
            8 => "VERSION_ERROR",
            9 => "HANDSHAKE_ERROR",
            10 => "METADATA_ERROR",
            11 => "ENHANCE_YOUR_CALM",
            12 => "TIMEOUT",
            _ => "RESERVED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
