//! Encoding a frame into a caller's buffer.

use core::fmt;

use super::crc::crc32;
use super::header::{Header, HEADER_LEN};
use super::meta::{Entry, Tag};
use super::types::{Flags, FrameType, StreamId};
use super::CRC_LEN;

/// Why a frame could not be encoded. Nothing is sent; the caller's buffer content is
/// unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// The buffer size that would have been enough for what was written so far.
        needed: usize,
    },
    /// The metadata block would exceed 65 535 bytes.
    MetadataTooLong,
    /// A TLV value exceeds 65 535 bytes.
    ValueTooLong,
    /// The payload would exceed 2^32 - 1 bytes.
    PayloadTooLong,
    /// An ENTRY key is empty, longer than 255 bytes or has a byte outside `[a-z0-9-_.]`.
    InvalidEntryKey,
}

impl EncodeError {
    /// A stable number for the error kind (documented, never reused): 1 BufferTooSmall,
    /// 2 MetadataTooLong, 3 ValueTooLong, 4 PayloadTooLong, 5 InvalidEntryKey.
    pub const fn code(&self) -> u32 {
        match self {
            EncodeError::BufferTooSmall { .. } => 1,
            EncodeError::MetadataTooLong => 2,
            EncodeError::ValueTooLong => 3,
            EncodeError::PayloadTooLong => 4,
            EncodeError::InvalidEntryKey => 5,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} bytes needed)")
            }
            EncodeError::MetadataTooLong => f.write_str("metadata block over 65535 bytes"),
            EncodeError::ValueTooLong => f.write_str("metadata value over 65535 bytes"),
            EncodeError::PayloadTooLong => f.write_str("payload over 2^32-1 bytes"),
            EncodeError::InvalidEntryKey => f.write_str("invalid metadata entry key"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Writes one frame into a caller's buffer: header first (filled in last), then metadata
/// TLVs, then either the body in place or nothing (for a vectored write of the body).
///
/// The encoder checks sizes only. Which flags and tags a frame may carry is the caller's
/// responsibility; the decoder (and the connection) enforce it on the receiving side.
#[derive(Debug)]
pub struct FrameEncoder<'b> {
    buf: &'b mut [u8],
    ty: FrameType,
    stream_id: StreamId,
    arg: u32,
    pos: usize,
}

impl<'b> FrameEncoder<'b> {
    /// Starts a frame of type `ty` on `stream_id` with Argument `arg`.
    pub fn new(
        buf: &'b mut [u8],
        ty: FrameType,
        stream_id: impl Into<StreamId>,
        arg: u32,
    ) -> Result<FrameEncoder<'b>, EncodeError> {
        if buf.len() < HEADER_LEN {
            return Err(EncodeError::BufferTooSmall { needed: HEADER_LEN });
        }
        Ok(FrameEncoder {
            buf,
            ty,
            stream_id: stream_id.into(),
            arg,
            pos: HEADER_LEN,
        })
    }

    fn reserve(&mut self, n: usize) -> Result<&mut [u8], EncodeError> {
        let end = self.pos.checked_add(n).ok_or(EncodeError::PayloadTooLong)?;
        if end > self.buf.len() {
            return Err(EncodeError::BufferTooSmall { needed: end });
        }
        let start = self.pos;
        self.pos = end;
        Ok(&mut self.buf[start..end])
    }

    fn tlv_parts(&mut self, tag: Tag, parts: &[&[u8]]) -> Result<&mut Self, EncodeError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::ValueTooLong)?;
        if self.meta_len() + 4 + len > usize::from(u16::MAX) {
            return Err(EncodeError::MetadataTooLong);
        }
        let out = self.reserve(4 + len)?;
        out[0..2].copy_from_slice(&tag.0.to_le_bytes());
        out[2..4].copy_from_slice(&len16.to_le_bytes());
        let mut at = 4;
        for p in parts {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        Ok(self)
    }

    /// Appends a TLV with a raw value.
    pub fn tlv(&mut self, tag: Tag, value: &[u8]) -> Result<&mut Self, EncodeError> {
        self.tlv_parts(tag, &[value])
    }

    /// Appends a TLV with a u32 value (settings).
    pub fn tlv_u32(&mut self, tag: Tag, value: u32) -> Result<&mut Self, EncodeError> {
        self.tlv(tag, &value.to_le_bytes())
    }

    /// Appends a TLV with a u64 value (DEADLINE).
    pub fn tlv_u64(&mut self, tag: Tag, value: u64) -> Result<&mut Self, EncodeError> {
        self.tlv(tag, &value.to_le_bytes())
    }

    /// Appends an ENTRY (application key/value metadata).
    pub fn entry(&mut self, key: &str, value: &[u8]) -> Result<&mut Self, EncodeError> {
        if !Entry::is_valid_key(key) {
            return Err(EncodeError::InvalidEntryKey);
        }
        let klen = [key.len() as u8];
        self.tlv_parts(Tag::ENTRY, &[&klen, key.as_bytes(), value])
    }

    /// Appends a pre-encoded block of ENTRY TLVs (as [`EntryBlock`] writes them). The
    /// block is checked: any other tag, a malformed TLV or a bad key is
    /// [`EncodeError::InvalidEntryKey`].
    pub fn entry_block(&mut self, block: &[u8]) -> Result<&mut Self, EncodeError> {
        if !EntryBlock::is_valid(block) {
            return Err(EncodeError::InvalidEntryKey);
        }
        if self.meta_len() + block.len() > usize::from(u16::MAX) {
            return Err(EncodeError::MetadataTooLong);
        }
        self.reserve(block.len())?.copy_from_slice(block);
        Ok(self)
    }

    /// Bytes of metadata written so far.
    pub fn meta_len(&self) -> usize {
        self.pos - HEADER_LEN
    }

    fn write_header(&mut self, flags: Flags, body_len: usize) -> Result<(), EncodeError> {
        let crc = if flags.contains(Flags::CRC) {
            CRC_LEN
        } else {
            0
        };
        let payload = self
            .meta_len()
            .checked_add(body_len)
            .and_then(|n| n.checked_add(crc))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(EncodeError::PayloadTooLong)?;
        let header = Header {
            payload_len: payload,
            ty: self.ty,
            flags,
            meta_len: self.meta_len() as u16,
            stream_id: self.stream_id,
            arg: self.arg,
        };
        self.buf[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        Ok(())
    }

    /// Finishes the header for a body of `body_len` bytes that the caller sends from its
    /// own buffer, and returns the length of header plus metadata. If `flags` has CRC,
    /// the caller appends [`super::crc_trailer`]`(head, body)` after the body.
    pub fn finish_head(mut self, flags: Flags, body_len: usize) -> Result<usize, EncodeError> {
        self.write_header(flags, body_len)?;
        Ok(self.pos)
    }

    /// Copies `body` after the metadata, adds the CRC trailer if `flags` has CRC, and
    /// returns the length of the whole frame.
    pub fn finish_with_body(mut self, flags: Flags, body: &[u8]) -> Result<usize, EncodeError> {
        self.write_header(flags, body.len())?;
        self.reserve(body.len())?.copy_from_slice(body);
        if flags.contains(Flags::CRC) {
            let crc = crc32(&self.buf[..self.pos]);
            self.reserve(CRC_LEN)?.copy_from_slice(&crc.to_le_bytes());
        }
        Ok(self.pos)
    }

    /// Finishes a frame without body.
    pub fn finish(self, flags: Flags) -> Result<usize, EncodeError> {
        self.finish_with_body(flags, &[])
    }
}

/// Writes application metadata (ENTRY TLVs) into a caller buffer ahead of time, so that a
/// binding can hand a CALL or STATUS its metadata as one block of bytes
/// (`conn::Entries::Encoded`) instead of an array of Rust tuples.
#[derive(Debug)]
pub struct EntryBlock<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> EntryBlock<'b> {
    /// An empty block writing into `buf`.
    pub fn new(buf: &'b mut [u8]) -> EntryBlock<'b> {
        EntryBlock { buf, len: 0 }
    }

    /// Appends one entry: TLV header, key length, key, value.
    pub fn push(&mut self, key: &str, value: &[u8]) -> Result<&mut Self, EncodeError> {
        if !Entry::is_valid_key(key) {
            return Err(EncodeError::InvalidEntryKey);
        }
        let vlen = 1 + key.len() + value.len();
        let len16 = u16::try_from(vlen).map_err(|_| EncodeError::ValueTooLong)?;
        let end = self.len + 4 + vlen;
        if end > usize::from(u16::MAX) {
            return Err(EncodeError::MetadataTooLong);
        }
        if end > self.buf.len() {
            return Err(EncodeError::BufferTooSmall { needed: end });
        }
        let out = &mut self.buf[self.len..end];
        out[0..2].copy_from_slice(&Tag::ENTRY.0.to_le_bytes());
        out[2..4].copy_from_slice(&len16.to_le_bytes());
        out[4] = key.len() as u8;
        out[5..5 + key.len()].copy_from_slice(key.as_bytes());
        out[5 + key.len()..].copy_from_slice(value);
        self.len = end;
        Ok(self)
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True if no entry was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded block.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// True if `block` is a well-formed sequence of ENTRY TLVs with valid keys.
    pub fn is_valid(block: &[u8]) -> bool {
        let mut rest = block;
        while !rest.is_empty() {
            if rest.len() < 4 {
                return false;
            }
            let tag = u16::from_le_bytes([rest[0], rest[1]]);
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            let Some(value) = rest.get(4..4 + len) else {
                return false;
            };
            if tag != Tag::ENTRY.0 || Entry::parse(value).is_none() {
                return false;
            }
            rest = &rest[4 + len..];
        }
        true
    }
}
