//! Decode errors: the wire code to send and the rule that was broken.

use core::fmt;

use super::codes::ErrorCode;
use super::types::FrameType;

/// A frame broke the protocol. Always a connection error: send GOAWAY with
/// [`FrameError::code`] (and [`FrameError::rule`] as its MESSAGE), then close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    /// The connection error code (section 9.2).
    pub code: ErrorCode,
    /// Which rule of the specification the frame broke.
    pub rule: Rule,
}

impl FrameError {
    pub(crate) const fn new(code: ErrorCode, rule: Rule) -> FrameError {
        FrameError { code, rule }
    }

    /// HANDSHAKE_ERROR: the preface or HELLO exchange went wrong.
    pub const fn handshake(rule: Rule) -> FrameError {
        FrameError::new(ErrorCode::HANDSHAKE_ERROR, rule)
    }

    /// PROTOCOL_ERROR for `rule`.
    pub const fn protocol(rule: Rule) -> FrameError {
        FrameError::new(ErrorCode::PROTOCOL_ERROR, rule)
    }

    /// STREAM_STATE_ERROR: a frame of type `ty` is not allowed in the stream's state.
    pub const fn not_allowed(ty: FrameType) -> FrameError {
        FrameError::new(ErrorCode::STREAM_STATE_ERROR, Rule::NotAllowedInState(ty.0))
    }

    /// STREAM_STATE_ERROR for `rule` (for example a reused stream id).
    pub const fn stream_state(rule: Rule) -> FrameError {
        FrameError::new(ErrorCode::STREAM_STATE_ERROR, rule)
    }

    /// FLOW_CONTROL_ERROR: the peer sent more than its credit.
    pub const fn credit_exceeded() -> FrameError {
        FrameError::new(ErrorCode::FLOW_CONTROL_ERROR, Rule::CreditExceeded)
    }

    /// FLOW_CONTROL_ERROR: a WINDOW took a window above 2^31 - 1.
    pub const fn window_overflow() -> FrameError {
        FrameError::new(ErrorCode::FLOW_CONTROL_ERROR, Rule::WindowOverflow)
    }

    /// ENHANCE_YOUR_CALM: the named budget or queue is exhausted.
    pub const fn budget(name: &'static str) -> FrameError {
        FrameError::new(ErrorCode::ENHANCE_YOUR_CALM, Rule::BudgetExceeded(name))
    }
}

impl Rule {
    /// A stable number for the rule, for bindings and logs: 1 for the first variant
    /// declared, in declaration order (`FrameTooLarge` 1 ... `TimedOut` 46). Numbers are
    /// never reused or changed; new rules get new numbers at the end.
    pub const fn code(&self) -> u32 {
        match self {
            Rule::FrameTooLarge { .. } => 1,
            Rule::CrcWithoutRoom => 2,
            Rule::CrcMismatch { .. } => 3,
            Rule::InvalidType(_) => 4,
            Rule::MetadataOverrunsPayload => 5,
            Rule::UndefinedFlags(_) => 6,
            Rule::StreamMustBeZero => 7,
            Rule::StreamMustBeNonZero => 8,
            Rule::PayloadSize => 9,
            Rule::MoreWithoutMessage => 10,
            Rule::MoreWithEndStream => 11,
            Rule::CodecWithoutMessage => 12,
            Rule::ReservedCodec => 13,
            Rule::BodyWithoutMessage => 14,
            Rule::NoReplyNotSingleFrame => 15,
            Rule::EmptyData => 16,
            Rule::RefusedMisuse => 17,
            Rule::VersionZero => 18,
            Rule::ArgumentNotZero => 19,
            Rule::CancelWithOk => 20,
            Rule::BadWindowIncrement => 21,
            Rule::ChunkTooSmall(_) => 22,
            Rule::TlvOverrun => 23,
            Rule::TagZero => 24,
            Rule::UnknownTag(_) => 25,
            Rule::MisplacedTag(_) => 26,
            Rule::RepeatedTag(_) => 27,
            Rule::BadValueSize(_) => 28,
            Rule::BadUtf8(_) => 29,
            Rule::BadEntryKey => 30,
            Rule::SettingOutOfRange(_) => 31,
            Rule::MissingMethod => 32,
            Rule::BadPreface => 33,
            Rule::ExpectedHello => 34,
            Rule::RepeatedHello => 35,
            Rule::NoCommonVersion => 36,
            Rule::CrcMissing => 37,
            Rule::WrongParity => 38,
            Rule::DuplicateStream => 39,
            Rule::NotAllowedInState(_) => 40,
            Rule::CreditExceeded => 41,
            Rule::WindowOverflow => 42,
            Rule::CodecNotOffered => 43,
            Rule::CodecChanged => 44,
            Rule::BudgetExceeded(_) => 45,
            Rule::TimedOut(_) => 46,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.rule)
    }
}

impl core::error::Error for FrameError {}

/// The specific rule a frame broke, with the values involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// Payload Length exceeds the receiver's MAX_FRAME_SIZE.
    FrameTooLarge {
        /// The frame's Payload Length.
        payload_len: u32,
        /// The receiver's limit.
        max_frame_size: u32,
    },
    /// CRC flag set but the payload cannot hold a trailer.
    CrcWithoutRoom,
    /// The CRC trailer does not match the frame.
    CrcMismatch {
        /// The trailer's value.
        received: u32,
        /// The CRC computed over the frame.
        computed: u32,
    },
    /// Type 0x00 or a reserved core type.
    InvalidType(u8),
    /// Metadata Length plus the CRC trailer exceeds Payload Length.
    MetadataOverrunsPayload,
    /// A flag bit that the frame type does not define is set.
    UndefinedFlags(u8),
    /// This frame type must use stream 0.
    StreamMustBeZero,
    /// This frame type must use a non-zero stream.
    StreamMustBeNonZero,
    /// The frame type has an empty or fixed-size payload part and this one differs.
    PayloadSize,
    /// MORE without MESSAGE.
    MoreWithoutMessage,
    /// MORE together with END_STREAM.
    MoreWithEndStream,
    /// CODEC set without MESSAGE.
    CodecWithoutMessage,
    /// CODEC has the reserved value 3.
    ReservedCodec,
    /// A body without MESSAGE.
    BodyWithoutMessage,
    /// NO_REPLY without END_STREAM and MESSAGE.
    NoReplyNotSingleFrame,
    /// DATA with neither MESSAGE nor END_STREAM.
    EmptyData,
    /// STATUS with REFUSED and MESSAGE, or REFUSED with status OK.
    RefusedMisuse,
    /// HELLO with version 0.
    VersionZero,
    /// CALL or DATA with a non-zero Argument.
    ArgumentNotZero,
    /// CANCEL with status OK.
    CancelWithOk,
    /// WINDOW increment 0 or above 2^31-1.
    BadWindowIncrement,
    /// A MORE chunk shorter than MIN_CHUNK bytes.
    ChunkTooSmall(u32),
    /// A TLV header or value does not fit in the metadata block.
    TlvOverrun,
    /// Tag 0.
    TagZero,
    /// An unknown must-understand tag.
    UnknownTag(u16),
    /// A known tag in a frame type that does not allow it.
    MisplacedTag(u16),
    /// A tag that may appear once appears again.
    RepeatedTag(u16),
    /// A tag's value has the wrong size.
    BadValueSize(u16),
    /// A tag's value is not valid UTF-8.
    BadUtf8(u16),
    /// An ENTRY key is empty, too long for the value or has a forbidden byte.
    BadEntryKey,
    /// A setting value outside its allowed range.
    SettingOutOfRange(u16),
    /// A CALL without METHOD.
    MissingMethod,
    /// The peer's first 8 bytes are not the muxwire preface.
    BadPreface,
    /// The peer's first frame is not HELLO.
    ExpectedHello,
    /// A second HELLO.
    RepeatedHello,
    /// No protocol version both endpoints speak.
    NoCommonVersion,
    /// A frame without CRC trailer after the peer switched to trailers (sticky CRC).
    CrcMissing,
    /// A CALL whose id has the receiver's parity.
    WrongParity,
    /// A CALL on a stream that is open.
    DuplicateStream,
    /// A frame of this type is not allowed in the stream's state.
    NotAllowedInState(u8),
    /// Message bytes beyond the stream's or the connection's credit.
    CreditExceeded,
    /// A WINDOW that lifts a window above 2^31-1.
    WindowOverflow,
    /// A codec the receiver did not offer in HELLO.
    CodecNotOffered,
    /// A chunk whose CODEC differs from its message's first chunk.
    CodecChanged,
    /// A budget of section 16 was exceeded (its name).
    BudgetExceeded(&'static str),
    /// A timeout of section 16 expired (its name).
    TimedOut(&'static str),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::FrameTooLarge {
                payload_len,
                max_frame_size,
            } => write!(
                f,
                "max_frame_size {max_frame_size} exceeded (payload {payload_len})"
            ),
            Rule::CrcWithoutRoom => f.write_str("CRC flag set on a payload shorter than 4 bytes"),
            Rule::CrcMismatch { received, computed } => write!(
                f,
                "CRC-32 mismatch (trailer {received:#010x}, computed {computed:#010x})"
            ),
            Rule::InvalidType(t) => write!(f, "invalid or reserved frame type 0x{t:02x}"),
            Rule::MetadataOverrunsPayload => {
                f.write_str("metadata length (plus CRC) exceeds the payload length")
            }
            Rule::UndefinedFlags(b) => write!(f, "undefined flag bits 0x{b:02x} set"),
            Rule::StreamMustBeZero => f.write_str("this frame type requires stream 0"),
            Rule::StreamMustBeNonZero => f.write_str("this frame type requires a non-zero stream"),
            Rule::PayloadSize => f.write_str("payload size not allowed for this frame type"),
            Rule::MoreWithoutMessage => f.write_str("MORE set without MESSAGE"),
            Rule::MoreWithEndStream => f.write_str("MORE and END_STREAM both set"),
            Rule::CodecWithoutMessage => f.write_str("CODEC set without MESSAGE"),
            Rule::ReservedCodec => f.write_str("reserved CODEC value 3"),
            Rule::BodyWithoutMessage => f.write_str("body present without MESSAGE"),
            Rule::NoReplyNotSingleFrame => {
                f.write_str("NO_REPLY requires END_STREAM and MESSAGE (single frame)")
            }
            Rule::EmptyData => f.write_str("DATA with neither MESSAGE nor END_STREAM"),
            Rule::RefusedMisuse => f.write_str("REFUSED with MESSAGE or with status OK"),
            Rule::VersionZero => f.write_str("HELLO with protocol version 0"),
            Rule::ArgumentNotZero => f.write_str("non-zero Argument on CALL or DATA"),
            Rule::CancelWithOk => f.write_str("CANCEL with status OK"),
            Rule::BadWindowIncrement => f.write_str("WINDOW increment not in 1..=2^31-1"),
            Rule::ChunkTooSmall(n) => {
                write!(f, "min_chunk 1024 not met by a MORE chunk of {n} bytes")
            }
            Rule::TlvOverrun => f.write_str("TLV overruns the metadata block"),
            Rule::TagZero => f.write_str("metadata tag 0"),
            Rule::UnknownTag(t) => write!(f, "unknown must-understand tag 0x{t:04x}"),
            Rule::MisplacedTag(t) => write!(f, "tag 0x{t:04x} not allowed in this frame type"),
            Rule::RepeatedTag(t) => write!(f, "tag 0x{t:04x} repeated"),
            Rule::BadValueSize(t) => write!(f, "tag 0x{t:04x} has a value of the wrong size"),
            Rule::BadUtf8(t) => write!(f, "tag 0x{t:04x} is not valid UTF-8"),
            Rule::BadEntryKey => f.write_str("ENTRY key empty, too long or with a forbidden byte"),
            Rule::SettingOutOfRange(t) => write!(f, "setting 0x{t:04x} out of range"),
            Rule::MissingMethod => f.write_str("CALL without METHOD"),
            Rule::BadPreface => f.write_str("not the muxwire preface"),
            Rule::ExpectedHello => f.write_str("first frame is not HELLO"),
            Rule::RepeatedHello => f.write_str("second HELLO"),
            Rule::NoCommonVersion => f.write_str("no common protocol version"),
            Rule::CrcMissing => {
                f.write_str("frame without CRC trailer after the peer started sending them")
            }
            Rule::WrongParity => f.write_str("CALL with the receiver's stream id parity"),
            Rule::DuplicateStream => f.write_str("CALL on an open stream"),
            Rule::NotAllowedInState(t) => {
                write!(f, "frame type 0x{t:02x} not allowed in the stream's state")
            }
            Rule::CreditExceeded => f.write_str("message bytes beyond the flow-control window"),
            Rule::WindowOverflow => f.write_str("flow-control window above 2^31-1"),
            Rule::CodecNotOffered => f.write_str("compression codec not offered in HELLO"),
            Rule::CodecChanged => f.write_str("chunk codec differs from the message's first chunk"),
            Rule::BudgetExceeded(name) => write!(f, "{name} exceeded"),
            Rule::TimedOut(name) => write!(f, "{name} expired"),
        }
    }
}
