//! The arguments and results of the sending commands.

use crate::time::Duration;
use crate::wire::{Codec, EncodeError, FrameEncoder, StatusCode, StreamId};

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

/// What to open with [`super::Connection::open_call`].
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

/// Application metadata (ENTRY tags) for a CALL or STATUS, in the form the caller has.
#[derive(Debug, Clone, Copy)]
pub enum Entries<'a> {
    /// Key/value pairs.
    Pairs(&'a [(&'a str, &'a [u8])]),
    /// A block of ENTRY TLVs encoded ahead of time with [`crate::wire::EntryBlock`] (or by
    /// a binding): checked, then copied as is.
    Encoded(&'a [u8]),
}

impl Entries<'_> {
    /// No metadata.
    pub const NONE: Entries<'static> = Entries::Pairs(&[]);

    /// Writes the entries into a frame's metadata.
    #[inline]
    pub(super) fn write(&self, enc: &mut FrameEncoder<'_>) -> Result<(), EncodeError> {
        match *self {
            Entries::Pairs(pairs) => {
                for (k, v) in pairs {
                    enc.entry(k, v)?;
                }
            }
            Entries::Encoded(block) => {
                enc.entry_block(block)?;
            }
        }
        Ok(())
    }
}

/// How [`super::Connection::send_status_spec`] ends a call: the STATUS frame's contents.
#[derive(Debug, Clone, Copy)]
pub struct StatusSpec<'a> {
    /// The outcome.
    pub code: StatusCode,
    /// The REASON text, if any.
    pub reason: Option<&'a str>,
    /// Application metadata (trailing entries).
    pub entries: Entries<'a>,
    /// Machine-readable error details (the DETAILS tag), opaque to the protocol.
    pub details: Option<&'a [u8]>,
    /// The final message, if any (never chunked).
    pub message: Option<Outgoing<'a>>,
}

impl<'a> StatusSpec<'a> {
    /// A STATUS with `code` and nothing else.
    pub const fn code(code: StatusCode) -> StatusSpec<'a> {
        StatusSpec {
            code,
            reason: None,
            entries: Entries::NONE,
            details: None,
            message: None,
        }
    }

    /// An OK STATUS carrying `reply` as the final message.
    pub const fn ok(reply: &'a [u8]) -> StatusSpec<'a> {
        StatusSpec {
            code: StatusCode::OK,
            reason: None,
            entries: Entries::NONE,
            details: None,
            message: Some(Outgoing::bytes(reply)),
        }
    }
}
