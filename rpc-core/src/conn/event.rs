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

impl FailReason {
    /// A stable number (documented, never reused): 1 Deadline, 2 NotProcessed,
    /// 3 ConnectionClosed, 4 LimitExceeded.
    pub const fn code(self) -> u32 {
        match self {
            FailReason::Deadline => 1,
            FailReason::NotProcessed => 2,
            FailReason::ConnectionClosed => 3,
            FailReason::LimitExceeded => 4,
        }
    }
}

/// Which [`Event`] it is, as a plain enum with stable numbers (the `repr(u32)` values are
/// documented and never reused; new kinds get new numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum EventKind {
    /// [`Event::Connected`].
    Connected = 1,
    /// [`Event::Call`].
    Call = 2,
    /// [`Event::Message`].
    Message = 3,
    /// [`Event::HalfClosed`].
    HalfClosed = 4,
    /// [`Event::Status`].
    Status = 5,
    /// [`Event::Cancelled`].
    Cancelled = 6,
    /// [`Event::DeadlineExceeded`].
    DeadlineExceeded = 7,
    /// [`Event::CallFailed`].
    CallFailed = 8,
    /// [`Event::CallAborted`].
    CallAborted = 9,
    /// [`Event::WindowOpened`].
    WindowOpened = 10,
    /// [`Event::StreamsAvailable`].
    StreamsAvailable = 11,
    /// [`Event::GoAway`].
    GoAway = 12,
    /// [`Event::Pong`].
    Pong = 13,
    /// [`Event::Closed`].
    Closed = 14,
}

impl EventKind {
    /// The stable number.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The snake_case name (as the session vectors spell events: `call_failed`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Connected => "connected",
            EventKind::Call => "call",
            EventKind::Message => "message",
            EventKind::HalfClosed => "half_closed",
            EventKind::Status => "status",
            EventKind::Cancelled => "cancelled",
            EventKind::DeadlineExceeded => "deadline_exceeded",
            EventKind::CallFailed => "call_failed",
            EventKind::CallAborted => "call_aborted",
            EventKind::WindowOpened => "window_opened",
            EventKind::StreamsAvailable => "streams_available",
            EventKind::GoAway => "goaway",
            EventKind::Pong => "pong",
            EventKind::Closed => "closed",
        }
    }
}

/// A received message or chunk with its bytes borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView<'a> {
    /// The bytes as they were on the wire (compressed if `codec` is not identity).
    pub data: &'a [u8],
    /// The message's codec.
    pub codec: Codec,
    /// More chunks of this message follow.
    pub more: bool,
}

/// Every field any [`Event`] carries, flattened, with payloads borrowed from the input of
/// the `handle_input` call that produced the event: what a binding (C ABI, Python) maps
/// to its own event type, so that none writes its own conversion. Fields an event kind
/// does not have are empty, zero or `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    /// Which event.
    pub kind: EventKind,
    /// The stream (0 for connection events and for `WindowOpened` on the connection).
    pub stream: StreamId,
    /// `Call`: the METHOD.
    pub method: &'a str,
    /// `Call`, `Status`: the whole metadata block.
    pub metadata: Metadata<'a>,
    /// `Call`, `Message`, `Status`: the message or chunk, if any.
    pub message: Option<MessageView<'a>>,
    /// `Call`: the deadline the caller allows.
    pub deadline: Option<Duration>,
    /// `Call`: a one-way call.
    pub one_way: bool,
    /// `Call`, `Message`: the caller half-closed with this frame.
    pub end_stream: bool,
    /// `Status`: the callee did not process the call.
    pub refused: bool,
    /// `Status`, `Cancelled`, `CallFailed`, `CallAborted`: the status code (OK otherwise).
    pub status: StatusCode,
    /// `CallFailed`: why.
    pub fail_reason: Option<FailReason>,
    /// `GoAway`: the peer's code; `Closed`: the close code (NO_ERROR otherwise).
    pub error_code: ErrorCode,
    /// `GoAway`: how many of this endpoint's calls the peer received.
    pub accepted_calls: u64,
    /// `Pong`: the round-trip time.
    pub rtt: Duration,
    /// `Closed`: why the connection closed.
    pub close: Option<CloseReason>,
}

impl Event {
    /// Which event this is.
    #[inline]
    pub const fn kind(&self) -> EventKind {
        match self {
            Event::Connected => EventKind::Connected,
            Event::Call { .. } => EventKind::Call,
            Event::Message { .. } => EventKind::Message,
            Event::HalfClosed { .. } => EventKind::HalfClosed,
            Event::Status { .. } => EventKind::Status,
            Event::Cancelled { .. } => EventKind::Cancelled,
            Event::DeadlineExceeded { .. } => EventKind::DeadlineExceeded,
            Event::CallFailed { .. } => EventKind::CallFailed,
            Event::CallAborted { .. } => EventKind::CallAborted,
            Event::WindowOpened { .. } => EventKind::WindowOpened,
            Event::StreamsAvailable => EventKind::StreamsAvailable,
            Event::GoAway { .. } => EventKind::GoAway,
            Event::Pong { .. } => EventKind::Pong,
            Event::Closed(_) => EventKind::Closed,
        }
    }

    /// The stream the event is about (0 for connection events).
    #[inline]
    pub const fn stream(&self) -> StreamId {
        match *self {
            Event::Call { stream, .. }
            | Event::Message { stream, .. }
            | Event::HalfClosed { stream }
            | Event::Status { stream, .. }
            | Event::Cancelled { stream, .. }
            | Event::DeadlineExceeded { stream }
            | Event::CallFailed { stream, .. }
            | Event::CallAborted { stream, .. }
            | Event::WindowOpened { stream } => stream,
            _ => StreamId::CONNECTION,
        }
    }

    /// True if the event borrows bytes from the input (`Call`, `Message`, `Status`): the
    /// input must be kept until it is polled.
    #[inline]
    pub const fn has_payload(&self) -> bool {
        matches!(
            self,
            Event::Call { .. } | Event::Message { .. } | Event::Status { .. }
        )
    }

    /// The event with its payloads resolved against `input`, the slice given to the
    /// `handle_input` call that produced it (see [`Payload::get`]).
    pub fn view<'a>(&self, input: &'a [u8]) -> EventView<'a> {
        let msg = |m: Option<Message>| {
            m.map(|m| MessageView {
                data: m.data.get(input),
                codec: m.codec,
                more: m.more,
            })
        };
        let mut v = EventView {
            kind: self.kind(),
            stream: self.stream(),
            method: "",
            metadata: Metadata::new(&[]),
            message: None,
            deadline: None,
            one_way: false,
            end_stream: false,
            refused: false,
            status: StatusCode::OK,
            fail_reason: None,
            error_code: ErrorCode::NO_ERROR,
            accepted_calls: 0,
            rtt: Duration(0),
            close: None,
        };
        match *self {
            Event::Call {
                method,
                metadata,
                deadline,
                one_way,
                end_stream,
                message,
                ..
            } => {
                v.method = core::str::from_utf8(method.get(input)).unwrap_or("");
                v.metadata = metadata.metadata(input);
                v.deadline = deadline;
                v.one_way = one_way;
                v.end_stream = end_stream;
                v.message = msg(message);
            }
            Event::Message {
                message,
                end_stream,
                ..
            } => {
                v.message = msg(Some(message));
                v.end_stream = end_stream;
            }
            Event::Status {
                code,
                refused,
                metadata,
                message,
                ..
            } => {
                v.status = code;
                v.refused = refused;
                v.metadata = metadata.metadata(input);
                v.message = msg(message);
            }
            Event::Cancelled { code, .. } | Event::CallAborted { code, .. } => v.status = code,
            Event::CallFailed { code, reason, .. } => {
                v.status = code;
                v.fail_reason = Some(reason);
            }
            Event::GoAway {
                code,
                accepted_calls,
            } => {
                v.error_code = code;
                v.accepted_calls = accepted_calls;
            }
            Event::Pong { rtt } => v.rtt = rtt,
            Event::Closed(reason) => {
                v.error_code = reason.code;
                v.close = Some(reason);
            }
            Event::Connected
            | Event::HalfClosed { .. }
            | Event::DeadlineExceeded { .. }
            | Event::WindowOpened { .. }
            | Event::StreamsAvailable => {}
        }
        v
    }
}
