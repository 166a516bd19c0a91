//! What the connection reports to the application.

use crate::time::Duration;
use crate::wire::{Codec, ErrorCode, Metadata, Rule, StatusCode, StreamId};

/// A byte range in the input of the [`super::Connection::handle_input`] call that produced
/// the event. Received payloads are never copied: [`Payload::get`] borrows them from that
/// input, which the caller must keep until it has polled every event (the connection
/// refuses new input while such events are pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payload {
    /// Offset of the first byte in the input slice.
    pub start: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Payload {
    /// The bytes in `input`, which must be the slice given to `handle_input`; an empty
    /// slice if `input` is too short (never a panic).
    pub fn get<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        let start = self.start as usize;
        input.get(start..start + self.len as usize).unwrap_or(&[])
    }

    /// The range as a metadata block (validated when it was received).
    pub fn metadata<'a>(&self, input: &'a [u8]) -> Metadata<'a> {
        Metadata::new(self.get(input))
    }

    /// True if empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A received message, or one chunk of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The bytes as they were on the wire (compressed if `codec` is not identity).
    pub data: Payload,
    /// The message's codec; decompression is the application's job.
    pub codec: Codec,
    /// More chunks of this message follow; concatenate until a chunk without `more`.
    pub more: bool,
}

/// Why a call ended without a STATUS from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// The call's deadline passed; CANCEL(DEADLINE_EXCEEDED) was sent.
    Deadline,
    /// The peer's GOAWAY says it never processed this call: retrying is safe.
    NotProcessed,
    /// The connection closed with the call in flight; it may or may not have run.
    ConnectionClosed,
    /// The reply broke a limit (MAX_MESSAGE_SIZE or MAX_METADATA_SIZE); CANCEL was sent.
    LimitExceeded,
}

/// Why the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    /// The connection error code (NO_ERROR for a clean close).
    pub code: ErrorCode,
    /// True if the peer sent the GOAWAY (or closed the transport).
    pub by_peer: bool,
    /// For errors this endpoint detected in the peer's bytes: the rule broken.
    pub rule: Option<Rule>,
    /// For other local reasons: what happened.
    pub detail: &'static str,
}

/// One thing that happened, returned by [`super::Connection::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer's HELLO arrived; its settings are now in force.
    Connected,
    /// The peer opened a call (or sent a one-way call).
    Call {
        /// The new stream (for one-way calls, an id that is already free again).
        stream: StreamId,
        /// The METHOD value (UTF-8, validated).
        method: Payload,
        /// The whole metadata block (ENTRY tags etc.).
        metadata: Payload,
        /// The time the caller allows, if it set a deadline.
        deadline: Option<Duration>,
        /// One-way: never answer.
        one_way: bool,
        /// The caller already half-closed (a unary call).
        end_stream: bool,
        /// The first message, if the CALL carried one.
        message: Option<Message>,
    },
    /// A message (or chunk) on an open stream.
    Message {
        /// The stream.
        stream: StreamId,
        /// The message or chunk.
        message: Message,
        /// The caller half-closed with this frame.
        end_stream: bool,
    },
    /// The caller half-closed without a message.
    HalfClosed {
        /// The stream.
        stream: StreamId,
    },
    /// The callee's STATUS: the call is over.
    Status {
        /// The stream (now free).
        stream: StreamId,
        /// The outcome.
        code: StatusCode,
        /// The callee did not process the call; retrying is safe.
        refused: bool,
        /// The metadata block (REASON, DETAILS, ENTRY).
        metadata: Payload,
        /// The final message, if any.
        message: Option<Message>,
    },
    /// The caller cancelled a call this endpoint serves; answer with STATUS soon.
    Cancelled {
        /// The stream.
        stream: StreamId,
        /// The caller's code, normally CANCELLED or DEADLINE_EXCEEDED.
        code: StatusCode,
    },
    /// A call this endpoint serves passed its deadline; STATUS(DEADLINE_EXCEEDED) was
    /// queued and the handler should stop.
    DeadlineExceeded {
        /// The stream.
        stream: StreamId,
    },
    /// A call this endpoint made ended without a STATUS to deliver.
    CallFailed {
        /// The stream.
        stream: StreamId,
        /// The status to report to the application.
        code: StatusCode,
        /// Why.
        reason: FailReason,
    },
    /// A stream error detected here ended a call this endpoint serves (the STATUS naming
    /// the limit was queued); the handler should stop.
    CallAborted {
        /// The stream.
        stream: StreamId,
        /// The status that was sent.
        code: StatusCode,
    },
    /// Send credit arrived after a send was blocked. Stream 0 means the connection window
    /// (or the peer's HELLO raised the windows): retry every blocked send.
    WindowOpened {
        /// The stream, or 0 for the connection window.
        stream: StreamId,
    },
    /// A stream slot or the peer's concurrency limit freed up after `open_call` was
    /// blocked.
    StreamsAvailable,
    /// The peer sent GOAWAY: open no new calls here.
    GoAway {
        /// The peer's code (NO_ERROR for a drain).
        code: ErrorCode,
        /// How many of this endpoint's calls the peer received.
        accepted_calls: u64,
    },
    /// An answer to this endpoint's PING.
    Pong {
        /// The round-trip time.
        rtt: Duration,
    },
    /// The connection is closed; nothing more will happen. Write out what
    /// `poll_transmit` still returns (the GOAWAY), then close the transport.
    Closed(CloseReason),
}
