//! The frame codec: `spec/PROTOCOL.md` sections 3 to 6, 11 and 17.
//!
//! Invariant: a [`Frame`] only exists after every stateless rule of the specification
//! (section 17, steps 1 to 13) has been checked, so its accessors never fail and never
//! panic, and its metadata iterator yields only well-formed TLVs.

mod codes;
mod crc;
mod decode;
mod encode;
mod error;
mod frame;
mod header;
mod meta;
mod settings;
mod types;

pub use codes::{ErrorCode, StatusCode};
pub use crc::{crc32, crc_trailer};
pub use decode::{decode, decode_header, Decoded};
pub use encode::{EncodeError, EntryBlock, FrameEncoder};
pub use error::{FrameError, Rule};
pub use frame::Frame;
pub use header::{Header, HEADER_LEN};
pub use meta::{Entry, Metadata, Tag, Tlv, TlvIter};
pub use settings::{Features, Settings};
pub use types::{Codec, Flags, FrameType, Side, StreamId};

/// The 8-byte preface each endpoint sends before its HELLO (section 3.1).
pub const PREFACE: [u8; 8] = [0x8B, b'M', b'X', b'W', 0x0D, 0x0A, 0x1A, 0x0A];

/// The protocol version this crate implements.
pub const VERSION: u32 = 1;

/// The smallest MAX_FRAME_SIZE an endpoint may advertise, and its initial value.
pub const MIN_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest MAX_FRAME_SIZE an endpoint may advertise.
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// A frame with MORE set must carry at least this many body bytes (section 4.2, rule 8).
pub const MIN_CHUNK: usize = 1024;

/// The largest flow-control window and WINDOW increment (2^31 - 1).
pub const MAX_WINDOW: u32 = 0x7FFF_FFFF;

/// Size of a CRC-32 trailer.
pub const CRC_LEN: usize = 4;

/// Size of a GOAWAY body (the Accepted Calls counter).
pub const GOAWAY_BODY_LEN: usize = 8;
