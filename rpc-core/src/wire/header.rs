//! The fixed 16-byte frame header (section 4.1).

use super::types::{Flags, FrameType, StreamId};

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 16;

/// A decoded frame header. Parsing a header checks nothing; the frame decoder
/// (`wire::decode`) validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes after the header: metadata, body and CRC trailer.
    pub payload_len: u32,
    /// The frame type.
    pub ty: FrameType,
    /// The flags byte.
    pub flags: Flags,
    /// Bytes of metadata at the start of the payload.
    pub meta_len: u16,
    /// The stream the frame belongs to.
    pub stream_id: StreamId,
    /// The type-specific argument.
    pub arg: u32,
}

impl Header {
    /// Reads a header from its 16 bytes.
    #[inline(always)]
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            payload_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            ty: FrameType(b[4]),
            flags: Flags(b[5]),
            meta_len: u16::from_le_bytes([b[6], b[7]]),
            stream_id: StreamId(u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
            arg: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }

    /// Writes the header as its 16 bytes.
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.payload_len.to_le_bytes());
        b[4] = self.ty.0;
        b[5] = self.flags.0;
        b[6..8].copy_from_slice(&self.meta_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.stream_id.0.to_le_bytes());
        b[12..16].copy_from_slice(&self.arg.to_le_bytes());
        b
    }

    /// Total frame size: header plus payload.
    pub const fn frame_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload_len as usize)
    }

    /// True if the CRC flag is set.
    pub const fn has_crc(&self) -> bool {
        self.flags.0 & Flags::CRC.0 != 0
    }
}
