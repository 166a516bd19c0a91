//! Errors from the connection's commands: misuse and full storage. Errors in the peer's
//! bytes close the connection and are reported as [`super::Event::Closed`].

use core::fmt;

use crate::wire::EncodeError;

/// Why a command was rejected. Nothing was sent and no state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The output buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// Enough bytes for everything this call would write.
        needed: usize,
    },
    /// The stream does not exist (or is no longer open) at this endpoint.
    UnknownStream,
    /// The command is not allowed in the stream's state (see `spec/states.csv`).
    InvalidState,
    /// The command is not allowed for this endpoint's role in the call.
    WrongRole,
    /// Not enough flow-control credit; wait for [`super::Event::WindowOpened`].
    Blocked {
        /// Bytes that may be sent now.
        available: u64,
    },
    /// The peer's MAX_CONCURRENT_STREAMS is reached; wait for
    /// [`super::Event::StreamsAvailable`].
    StreamLimit,
    /// The caller's stream storage is full.
    StorageFull,
    /// The connection is draining or closed: no new calls.
    NotAccepting,
    /// The connection is closed.
    Closed,
    /// Events with payloads from the previous input are still unpolled.
    EventsPending,
    /// An argument breaks a protocol rule (empty method, bad key, chunk too small...).
    InvalidArgument(&'static str),
    /// The message exceeds the peer's MAX_MESSAGE_SIZE or MAX_METADATA_SIZE.
    TooLarge,
    /// The connection's control queue is full; poll_transmit first.
    QueueFull,
}

impl Error {
    /// A stable number for the error kind, for bindings (C return codes, Python
    /// exception classes). Documented and never reused; new kinds get new numbers:
    ///
    /// | code | kind | code | kind |
    /// |---|---|---|---|
    /// | 1 | `BufferTooSmall` | 8 | `NotAccepting` |
    /// | 2 | `UnknownStream` | 9 | `Closed` |
    /// | 3 | `InvalidState` | 10 | `EventsPending` |
    /// | 4 | `WrongRole` | 11 | `InvalidArgument` |
    /// | 5 | `Blocked` | 12 | `TooLarge` |
    /// | 6 | `StreamLimit` | 13 | `QueueFull` |
    /// | 7 | `StorageFull` | | |
    pub const fn code(&self) -> u32 {
        match self {
            Error::BufferTooSmall { .. } => 1,
            Error::UnknownStream => 2,
            Error::InvalidState => 3,
            Error::WrongRole => 4,
            Error::Blocked { .. } => 5,
            Error::StreamLimit => 6,
            Error::StorageFull => 7,
            Error::NotAccepting => 8,
            Error::Closed => 9,
            Error::EventsPending => 10,
            Error::InvalidArgument(_) => 11,
            Error::TooLarge => 12,
            Error::QueueFull => 13,
        }
    }

    /// The number that goes with the kind: `needed` for `BufferTooSmall`, `available`
    /// for `Blocked`, 0 otherwise.
    pub const fn value(&self) -> u64 {
        match self {
            Error::BufferTooSmall { needed } => *needed as u64,
            Error::Blocked { available } => *available,
            _ => 0,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} bytes needed)")
            }
            Error::UnknownStream => f.write_str("no such open stream"),
            Error::InvalidState => f.write_str("not allowed in the stream's state"),
            Error::WrongRole => f.write_str("not allowed for this end of the call"),
            Error::Blocked { available } => write!(
                f,
                "flow-control credit exhausted ({available} bytes available)"
            ),
            Error::StreamLimit => f.write_str("peer's max_concurrent_streams reached"),
            Error::StorageFull => f.write_str("stream storage full"),
            Error::NotAccepting => f.write_str("connection is draining: no new calls"),
            Error::Closed => f.write_str("connection closed"),
            Error::EventsPending => f.write_str("poll every event before handing in more input"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::TooLarge => f.write_str("message or metadata exceeds the peer's limit"),
            Error::QueueFull => f.write_str("control queue full"),
        }
    }
}

impl core::error::Error for Error {}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Error {
        match e {
            EncodeError::BufferTooSmall { needed } => Error::BufferTooSmall { needed },
            EncodeError::InvalidEntryKey => Error::InvalidArgument("metadata key"),
            _ => Error::TooLarge,
        }
    }
}
