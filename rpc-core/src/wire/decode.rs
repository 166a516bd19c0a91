//! Decoding one frame from the front of a buffer, in the order of section 17.

use super::codes::{ErrorCode, StatusCode};
use super::crc::crc32;
use super::error::{FrameError, Rule};
use super::frame::Frame;
use super::header::{Header, HEADER_LEN};
use super::meta::{self, Metadata};
use super::types::{Flags, FrameType};
use super::{CRC_LEN, GOAWAY_BODY_LEN, MAX_WINDOW, MIN_CHUNK};

/// The outcome of [`decode`] when the bytes are not (yet) invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete frame occupying the first `len` bytes of the buffer.
    Frame {
        /// The frame.
        frame: Frame<'a>,
        /// Bytes it occupies; drop them from the buffer once done with the frame.
        len: usize,
    },
    /// The buffer holds part of a frame: at least `needed` more bytes are required.
    Incomplete {
        /// Minimum number of additional bytes before decoding can make progress.
        needed: usize,
    },
}

/// Reads the header at the front of `buf` without validating it; `None` if fewer than 16
/// bytes are available.
#[inline(always)]
pub fn decode_header(buf: &[u8]) -> Option<Header> {
    buf.first_chunk::<HEADER_LEN>().map(Header::parse)
}

const fn err(code: ErrorCode, rule: Rule) -> Result<(), FrameError> {
    Err(FrameError::new(code, rule))
}

/// Decodes and validates the frame at the front of `buf`.
///
/// `max_frame_size` is the receiver's MAX_FRAME_SIZE (use [`super::MIN_MAX_FRAME_SIZE`]
/// before HELLO). Checks only what the frame's own bytes determine (section 17, steps 1
/// to 13); stream states, credit and budgets are the connection's business.
pub fn decode(buf: &[u8], max_frame_size: u32) -> Result<Decoded<'_>, FrameError> {
    // Step 1.
    let Some(header) = decode_header(buf) else {
        return Ok(Decoded::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    };
    // Step 2: on the header alone, before waiting for the payload.
    if header.payload_len > max_frame_size {
        return Err(FrameError::new(
            ErrorCode::FRAME_SIZE_ERROR,
            Rule::FrameTooLarge {
                payload_len: header.payload_len,
                max_frame_size,
            },
        ));
    }
    // Step 3. `payload_len <= max_frame_size <= u32::MAX`, so this cannot overflow a u64.
    let frame_len = header.frame_len();
    let Some(frame) = buf.get(..frame_len) else {
        return Ok(Decoded::Incomplete {
            needed: frame_len - buf.len(),
        });
    };
    let frame = validate(header, frame)?;
    Ok(Decoded::Frame {
        frame,
        len: frame_len,
    })
}

/// Steps 4 to 13 on a buffer holding exactly one frame.
fn validate(h: Header, frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let payload = &frame[HEADER_LEN..];
    // Step 4.
    let (payload, crc) = if h.has_crc() {
        let room = payload.len() >= CRC_LEN;
        let Some((before, trailer)) = frame.split_last_chunk::<CRC_LEN>().filter(|_| room) else {
            return Err(FrameError::new(
                ErrorCode::FRAME_SIZE_ERROR,
                Rule::CrcWithoutRoom,
            ));
        };
        let received = u32::from_le_bytes(*trailer);
        let computed = crc32(before);
        if received != computed {
            return Err(FrameError::new(
                ErrorCode::CRC_ERROR,
                Rule::CrcMismatch { received, computed },
            ));
        }
        (&payload[..payload.len() - CRC_LEN], Some(received))
    } else {
        (payload, None)
    };
    // Step 5.
    if h.ty.is_extension() {
        return Ok(Frame {
            header: h,
            metadata: Metadata::empty(),
            body: payload,
            crc,
        });
    }
    if !h.ty.is_core() {
        return Err(FrameError::new(
            ErrorCode::PROTOCOL_ERROR,
            Rule::InvalidType(h.ty.0),
        ));
    }
    // Step 6.
    let meta_len = usize::from(h.meta_len);
    let Some((metadata, body)) = payload.split_at_checked(meta_len) else {
        return Err(FrameError::new(
            ErrorCode::FRAME_SIZE_ERROR,
            Rule::MetadataOverrunsPayload,
        ));
    };
    check_header_rules(h, body.len())?;
    // Step 13. Only a CALL has a required tag, so an empty block needs no walk otherwise.
    if !metadata.is_empty() || h.ty == FrameType::CALL {
        meta::validate(h.ty, h.arg, metadata)?;
    }
    Ok(Frame {
        header: h,
        metadata: Metadata::new_validated(metadata),
        body,
        crc,
    })
}

/// Steps 7 to 12 for a core frame type.
fn check_header_rules(h: Header, body_len: usize) -> Result<(), FrameError> {
    use ErrorCode as E;
    let (ty, f) = (h.ty, h.flags);
    // Step 7.
    let undefined = f.0 & !Flags::allowed_for(ty).0;
    if undefined != 0 {
        return err(E::PROTOCOL_ERROR, Rule::UndefinedFlags(undefined));
    }
    // Step 8.
    let on_connection = matches!(ty, FrameType::HELLO | FrameType::PING | FrameType::GOAWAY);
    let on_stream = matches!(
        ty,
        FrameType::CALL | FrameType::DATA | FrameType::STATUS | FrameType::CANCEL
    );
    if on_connection && !h.stream_id.is_connection() {
        return err(E::PROTOCOL_ERROR, Rule::StreamMustBeZero);
    }
    if on_stream && h.stream_id.is_connection() {
        return err(E::PROTOCOL_ERROR, Rule::StreamMustBeNonZero);
    }
    // Step 9.
    let size_ok = match ty {
        FrameType::HELLO | FrameType::CANCEL => body_len == 0,
        FrameType::WINDOW | FrameType::PING => h.meta_len == 0 && body_len == 0,
        FrameType::GOAWAY => body_len == GOAWAY_BODY_LEN,
        _ => true,
    };
    if !size_ok {
        return err(E::FRAME_SIZE_ERROR, Rule::PayloadSize);
    }
    // Step 10: rules 1 to 7 of section 4.2.
    let carries_message = matches!(ty, FrameType::CALL | FrameType::DATA | FrameType::STATUS);
    if carries_message {
        let message = f.contains(Flags::MESSAGE);
        let more = f.contains(Flags::MORE);
        let end = f.contains(Flags::END_STREAM);
        if more && !message {
            return err(E::PROTOCOL_ERROR, Rule::MoreWithoutMessage);
        }
        if more && end {
            return err(E::PROTOCOL_ERROR, Rule::MoreWithEndStream);
        }
        if f.codec_bits() != 0 && !message {
            return err(E::PROTOCOL_ERROR, Rule::CodecWithoutMessage);
        }
        if f.codec().is_none() {
            return err(E::PROTOCOL_ERROR, Rule::ReservedCodec);
        }
        if body_len != 0 && !message {
            return err(E::PROTOCOL_ERROR, Rule::BodyWithoutMessage);
        }
        if ty == FrameType::CALL && f.contains(Flags::NO_REPLY) && !(end && message) {
            return err(E::PROTOCOL_ERROR, Rule::NoReplyNotSingleFrame);
        }
        if ty == FrameType::DATA && !message && !end {
            return err(E::PROTOCOL_ERROR, Rule::EmptyData);
        }
        if ty == FrameType::STATUS
            && f.contains(Flags::REFUSED)
            && (message || h.arg == StatusCode::OK.0)
        {
            return err(E::PROTOCOL_ERROR, Rule::RefusedMisuse);
        }
    }
    // Step 11.
    match ty {
        FrameType::HELLO if h.arg == 0 => return err(E::VERSION_ERROR, Rule::VersionZero),
        FrameType::CALL | FrameType::DATA if h.arg != 0 => {
            return err(E::PROTOCOL_ERROR, Rule::ArgumentNotZero)
        }
        FrameType::CANCEL if h.arg == 0 => return err(E::PROTOCOL_ERROR, Rule::CancelWithOk),
        FrameType::WINDOW if h.arg == 0 || h.arg > MAX_WINDOW => {
            return err(E::PROTOCOL_ERROR, Rule::BadWindowIncrement)
        }
        _ => {}
    }
    // Step 12.
    if carries_message && f.contains(Flags::MORE) && body_len < MIN_CHUNK {
        return err(E::PROTOCOL_ERROR, Rule::ChunkTooSmall(body_len as u32));
    }
    Ok(())
}
