//! A decoded, validated frame borrowing from the receive buffer.

use super::codes::{ErrorCode, StatusCode};
use super::header::Header;
use super::meta::Metadata;
use super::types::{Flags, FrameType, StreamId};

/// One complete frame that passed every stateless check of section 17.
///
/// For an extension frame (type 0x80 and above) nothing beyond the header is
/// interpreted: [`Frame::metadata`] is empty and [`Frame::body`] is the whole payload
/// without the CRC trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub(crate) header: Header,
    pub(crate) metadata: Metadata<'a>,
    pub(crate) body: &'a [u8],
    pub(crate) crc: Option<u32>,
}

impl<'a> Frame<'a> {
    /// The header fields.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The frame type.
    pub const fn ty(&self) -> FrameType {
        self.header.ty
    }

    /// The flags.
    pub const fn flags(&self) -> Flags {
        self.header.flags
    }

    /// The stream id.
    pub const fn stream_id(&self) -> StreamId {
        self.header.stream_id
    }

    /// The raw Argument field.
    pub const fn arg(&self) -> u32 {
        self.header.arg
    }

    /// The metadata block (validated).
    pub const fn metadata(&self) -> Metadata<'a> {
        self.metadata
    }

    /// The body; for an extension frame, the whole payload without the CRC trailer.
    pub const fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The CRC trailer's value, if the frame carried one (already verified).
    pub const fn crc(&self) -> Option<u32> {
        self.crc
    }

    /// True for extension frames, which a receiver that does not know them skips.
    pub const fn is_extension(&self) -> bool {
        self.header.ty.is_extension()
    }

    /// True if the body carries message bytes.
    pub const fn has_message(&self) -> bool {
        self.header.flags.contains(Flags::MESSAGE)
    }

    /// The status code of a STATUS or CANCEL.
    pub const fn status(&self) -> StatusCode {
        StatusCode(self.header.arg)
    }

    /// The error code of a GOAWAY.
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode(self.header.arg)
    }

    /// The Accepted Calls counter of a GOAWAY (0 for other types).
    pub fn accepted_calls(&self) -> u64 {
        <[u8; 8]>::try_from(self.body)
            .map(u64::from_le_bytes)
            .unwrap_or(0)
    }

    /// The number of flow-controlled bytes this frame consumes (section 14.1).
    pub const fn flow_len(&self) -> usize {
        match self.header.ty {
            FrameType::CALL | FrameType::DATA | FrameType::STATUS if self.has_message() => {
                self.body.len()
            }
            _ => 0,
        }
    }
}
