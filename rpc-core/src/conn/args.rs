//! The arguments and results of the sending commands.

use crate::time::Duration;
use crate::wire::{Codec, StreamId};

/// The body of an outgoing message: copied into the frame, or sent by the caller from its
/// own buffer right after the bytes the command wrote (zero copy).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// The bytes, copied into the output buffer.
    Inline(&'a [u8]),
    /// Only the length: the caller sends the body itself after the returned bytes, then
    /// the CRC trailer if [`Sent::crc`] says so.
    External(usize),
}

impl Body<'_> {
    pub(super) const fn len(&self) -> usize {
        match self {
            Body::Inline(b) => b.len(),
            Body::External(n) => *n,
        }
    }
}

/// An outgoing message or chunk.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The bytes (already compressed if `codec` is not identity).
    pub body: Body<'a>,
    /// The codec the body is compressed with; the peer must have offered it.
    pub codec: Codec,
    /// More chunks of this message follow (the body must be at least 1 024 bytes).
    pub more: bool,
}

impl<'a> Outgoing<'a> {
    /// A whole, uncompressed message copied into the frame.
    pub const fn bytes(body: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            body: Body::Inline(body),
            codec: Codec::Identity,
            more: false,
        }
    }
}

/// What to open with [`Connection::open_call`].
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    /// The METHOD.
    pub method: &'a str,
    /// The time the call may take (sent as DEADLINE and enforced locally).
    pub deadline: Option<Duration>,
    /// Application metadata as ENTRY tags.
    pub entries: &'a [(&'a str, &'a [u8])],
    /// One-way call: requires `end_stream` and a message without `more`.
    pub one_way: bool,
    /// The request is complete with this frame (a unary call).
    pub end_stream: bool,
    /// The first message, if any.
    pub message: Option<Outgoing<'a>>,
}

impl<'a> CallSpec<'a> {
    /// A unary call: one request message, half-closed.
    pub const fn unary(method: &'a str, request: &'a [u8]) -> CallSpec<'a> {
        CallSpec {
            method,
            deadline: None,
            entries: &[],
            one_way: false,
            end_stream: true,
            message: Some(Outgoing::bytes(request)),
        }
    }
}

/// The result of a command that wrote a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The stream the frame belongs to.
    pub stream: StreamId,
    /// Bytes written into the output buffer (the preface and HELLO first, if not yet sent).
    pub len: usize,
    /// With [`Body::External`]: after the body, send `wire::crc_trailer(head, body)` where
    /// `head` is the frame's bytes in the output buffer (`out[len - head_len..len]`).
    pub crc: bool,
    /// Bytes of the frame's header and metadata at the end of the written bytes.
    pub head_len: usize,
}
