//! Frame types, flags, codecs and stream ids.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

/// A frame type byte (section 5). Unknown values are representable so that extension
/// frames (0x80 and above) can be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(pub u8);

impl FrameType {
    /// HELLO: settings, first frame in each direction.
    pub const HELLO: FrameType = FrameType(0x01);
    /// CALL: opens a stream (or sends a one-way call).
    pub const CALL: FrameType = FrameType(0x02);
    /// DATA: a message, a chunk, or the caller's half-close.
    pub const DATA: FrameType = FrameType(0x03);
    /// STATUS: the callee's terminal frame.
    pub const STATUS: FrameType = FrameType(0x04);
    /// CANCEL: the caller's abort.
    pub const CANCEL: FrameType = FrameType(0x05);
    /// WINDOW: flow-control credit.
    pub const WINDOW: FrameType = FrameType(0x06);
    /// PING: keepalive and round-trip measurement.
    pub const PING: FrameType = FrameType(0x07);
    /// GOAWAY: drain or connection error.
    pub const GOAWAY: FrameType = FrameType(0x08);

    /// True for extension types (0x80 to 0xFF), which receivers skip when unknown.
    pub const fn is_extension(self) -> bool {
        self.0 >= 0x80
    }

    /// True for the eight frame types version 1 defines.
    pub const fn is_core(self) -> bool {
        self.0 >= 0x01 && self.0 <= 0x08
    }

    /// The registry name, or `"EXTENSION"` / `"RESERVED"`.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0x01 => "HELLO",
            0x02 => "CALL",
            0x03 => "DATA",
            0x04 => "STATUS",
            0x05 => "CANCEL",
            0x06 => "WINDOW",
            0x07 => "PING",
            0x08 => "GOAWAY",
            0x80..=0xFF => "EXTENSION",
            _ => "RESERVED",
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(0x{:02x})", self.name(), self.0)
    }
}

/// The flags byte (section 4.2). Bit meanings depend on the frame type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No flag set.
    pub const NONE: Flags = Flags(0);
    /// CALL, DATA: the caller's last frame on the stream.
    pub const END_STREAM: Flags = Flags(0x01);
    /// CALL, DATA, STATUS: the body carries message bytes.
    pub const MESSAGE: Flags = Flags(0x02);
    /// CALL, DATA: the message continues in the next DATA frame.
    pub const MORE: Flags = Flags(0x04);
    /// CALL, DATA, STATUS: mask of the two-bit compression codec.
    pub const CODEC_MASK: Flags = Flags(0x18);
    /// CALL: one-way call, no reply.
    pub const NO_REPLY: Flags = Flags(0x20);
    /// STATUS: the call was not processed; retrying is safe.
    pub const REFUSED: Flags = Flags(0x20);
    /// PING: this PING answers one received.
    pub const ACK: Flags = Flags(0x20);
    /// Reserved in every core type.
    pub const RESERVED: Flags = Flags(0x40);
    /// Any type: a CRC-32 trailer ends the payload.
    pub const CRC: Flags = Flags(0x80);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The codec bits (section 10), as a raw value 0..=3.
    pub const fn codec_bits(self) -> u8 {
        (self.0 >> 3) & 3
    }

    /// The flags with the codec bits set to `codec`.
    pub const fn with_codec(self, codec: Codec) -> Flags {
        Flags((self.0 & !Self::CODEC_MASK.0) | ((codec as u8) << 3))
    }

    /// The codec, or `None` for the reserved value 3.
    pub const fn codec(self) -> Option<Codec> {
        Codec::from_bits(self.codec_bits())
    }

    /// The flags that version 1 allows for a core frame type (section 4.2); all flags
    /// for extension types.
    pub const fn allowed_for(ty: FrameType) -> Flags {
        match ty.0 {
            0x01 | 0x05 | 0x06 | 0x08 => Flags::CRC,
            0x02 => Flags(0x01 | 0x02 | 0x04 | 0x18 | 0x20 | 0x80),
            0x03 => Flags(0x01 | 0x02 | 0x04 | 0x18 | 0x80),
            0x04 => Flags(0x02 | 0x18 | 0x20 | 0x80),
            0x07 => Flags(0x20 | 0x80),
            0x80..=0xFF => Flags(0xFF),
            _ => Flags(0),
        }
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

/// A per-message compression codec (section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Codec {
    /// Uncompressed.
    Identity = 0,
    /// One LZ4 frame.
    Lz4 = 1,
    /// One Zstandard frame.
    Zstd = 2,
}

impl Codec {
    /// The codec for a two-bit value, `None` for the reserved value 3.
    pub const fn from_bits(bits: u8) -> Option<Codec> {
        match bits {
            0 => Some(Codec::Identity),
            1 => Some(Codec::Lz4),
            2 => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The bit this codec has in the COMPRESSION setting.
    pub const fn setting_bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Which endpoint of a connection: the one that opened the transport or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Opened the transport connection; opens odd stream ids.
    Connector,
    /// Accepted the transport connection; opens even stream ids.
    Acceptor,
}

impl Side {
    /// The other side.
    pub const fn peer(self) -> Side {
        match self {
            Side::Connector => Side::Acceptor,
            Side::Acceptor => Side::Connector,
        }
    }
}

/// A stream identifier (section 7). 0 is the connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The connection (stream 0).
    pub const CONNECTION: StreamId = StreamId(0);

    /// True for stream 0.
    pub const fn is_connection(self) -> bool {
        self.0 == 0
    }

    /// The side allowed to open this id, `None` for stream 0.
    pub const fn opener(self) -> Option<Side> {
        if self.0 == 0 {
            None
        } else if self.0 & 1 == 1 {
            Some(Side::Connector)
        } else {
            Some(Side::Acceptor)
        }
    }
}

impl From<u32> for StreamId {
    fn from(v: u32) -> StreamId {
        StreamId(v)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}
