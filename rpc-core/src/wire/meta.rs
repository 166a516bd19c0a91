//! Metadata: TLVs, well-known tags and their validation (section 6).

use super::codes::ErrorCode;
use super::error::{FrameError, Rule};
use super::types::FrameType;
use super::{MAX_MAX_FRAME_SIZE, MAX_WINDOW, MIN_MAX_FRAME_SIZE};

/// A metadata tag (section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16);

impl Tag {
    /// HELLO: lowest supported version.
    pub const MIN_VERSION: Tag = Tag(0x0001);
    /// HELLO: largest Payload Length the sender accepts.
    pub const MAX_FRAME_SIZE: Tag = Tag(0x0002);
    /// HELLO: largest message the sender accepts.
    pub const MAX_MESSAGE_SIZE: Tag = Tag(0x0003);
    /// HELLO: largest metadata block of CALL, DATA and STATUS the sender accepts.
    pub const MAX_METADATA_SIZE: Tag = Tag(0x0004);
    /// HELLO: streams the peer may have open towards the sender.
    pub const MAX_CONCURRENT_STREAMS: Tag = Tag(0x0005);
    /// HELLO: initial receive window of every stream.
    pub const INITIAL_STREAM_WINDOW: Tag = Tag(0x0006);
    /// HELLO: initial receive window of the connection.
    pub const INITIAL_CONNECTION_WINDOW: Tag = Tag(0x0007);
    /// HELLO: bitmap of codecs the sender can decompress.
    pub const COMPRESSION: Tag = Tag(0x0008);
    /// HELLO: bitmap of optional behaviour the sender asks for.
    pub const FEATURES: Tag = Tag(0x0009);
    /// HELLO: idle timeout in milliseconds.
    pub const IDLE_TIMEOUT: Tag = Tag(0x000A);
    /// CALL: the method name (UTF-8).
    pub const METHOD: Tag = Tag(0x0010);
    /// CALL: microseconds remaining (u64).
    pub const DEADLINE: Tag = Tag(0x0011);
    /// STATUS, CANCEL, GOAWAY: human-readable reason (UTF-8).
    pub const REASON: Tag = Tag(0x0012);
    /// STATUS: opaque error details.
    pub const DETAILS: Tag = Tag(0x0013);
    /// CALL, DATA, STATUS: one application key/value entry.
    pub const ENTRY: Tag = Tag(0x0014);
    /// HELLO (ignorable): implementation name and version.
    pub const AGENT: Tag = Tag(0x4001);
    /// CALL (ignorable): W3C trace context.
    pub const TRACE: Tag = Tag(0x4002);

    /// True for tags a receiver may skip when it does not know them (0x4000 and above).
    pub const fn is_ignorable(self) -> bool {
        self.0 >= 0x4000
    }

    /// The registry name, or `None` for an unassigned tag.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0001 => "MIN_VERSION",
            0x0002 => "MAX_FRAME_SIZE",
            0x0003 => "MAX_MESSAGE_SIZE",
            0x0004 => "MAX_METADATA_SIZE",
            0x0005 => "MAX_CONCURRENT_STREAMS",
            0x0006 => "INITIAL_STREAM_WINDOW",
            0x0007 => "INITIAL_CONNECTION_WINDOW",
            0x0008 => "COMPRESSION",
            0x0009 => "FEATURES",
            0x000A => "IDLE_TIMEOUT",
            0x0010 => "METHOD",
            0x0011 => "DEADLINE",
            0x0012 => "REASON",
            0x0013 => "DETAILS",
            0x0014 => "ENTRY",
            0x4001 => "AGENT",
            0x4002 => "TRACE",
            _ => return None,
        })
    }
}

/// One TLV: a tag and its value, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterates over the TLVs of a metadata block that has not been validated. Yields an
/// error, then stops, at the first TLV that does not fit.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> TlvIter<'a> {
    /// An iterator over `block`.
    pub fn new(block: &'a [u8]) -> TlvIter<'a> {
        TlvIter { rest: block }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let overrun = FrameError::new(ErrorCode::METADATA_ERROR, Rule::TlvOverrun);
        let Some((head, after)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(overrun));
        };
        let tag = Tag(u16::from_le_bytes([head[0], head[1]]));
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        if after.len() < len {
            self.rest = &[];
            return Some(Err(overrun));
        }
        let (value, rest) = after.split_at(len);
        self.rest = rest;
        Some(Ok(Tlv { tag, value }))
    }
}

/// A validated metadata block. Only the frame decoder (`wire::decode`) creates one for
/// received frames, so its iterator never meets a malformed TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata<'a> {
    bytes: &'a [u8],
}

impl<'a> Metadata<'a> {
    pub(crate) const fn new_validated(bytes: &'a [u8]) -> Metadata<'a> {
        Metadata { bytes }
    }

    /// A view of a block that was validated when its frame was decoded (for example a
    /// `conn::Payload` of an event). Unvalidated bytes are safe too: iteration
    /// stops at the first TLV that does not fit.
    pub const fn new(bytes: &'a [u8]) -> Metadata<'a> {
        Metadata { bytes }
    }

    /// An empty block.
    pub const fn empty() -> Metadata<'static> {
        Metadata { bytes: &[] }
    }

    /// The raw block.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True if there is no TLV.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Every TLV in order, ignorable ones included.
    pub fn iter(&self) -> impl Iterator<Item = Tlv<'a>> + 'a {
        TlvIter::new(self.bytes).map_while(Result::ok)
    }

    /// The value of the first TLV with `tag`.
    pub fn get(&self, tag: Tag) -> Option<&'a [u8]> {
        self.iter().find(|t| t.tag == tag).map(|t| t.value)
    }

    /// A u32 value (the settings).
    pub fn get_u32(&self, tag: Tag) -> Option<u32> {
        self.get(tag)
            .and_then(|v| v.try_into().ok())
            .map(u32::from_le_bytes)
    }

    /// METHOD, on a CALL.
    pub fn method(&self) -> Option<&'a str> {
        self.get(Tag::METHOD)
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// DEADLINE in microseconds, on a CALL.
    pub fn deadline_us(&self) -> Option<u64> {
        self.get(Tag::DEADLINE)
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes)
    }

    /// REASON text, on STATUS, CANCEL and GOAWAY.
    pub fn reason(&self) -> Option<&'a str> {
        self.get(Tag::REASON)
            .and_then(|v| core::str::from_utf8(v).ok())
    }

    /// DETAILS bytes, on STATUS.
    pub fn details(&self) -> Option<&'a [u8]> {
        self.get(Tag::DETAILS)
    }

    /// The application entries (ENTRY tags) in order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        self.iter()
            .filter(|t| t.tag == Tag::ENTRY)
            .filter_map(|t| Entry::parse(t.value))
    }
}

/// One application metadata entry (an ENTRY tag's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key: 1 to 255 bytes from `[a-z0-9-_.]`.
    pub key: &'a str,
    /// The value: any bytes.
    pub value: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Splits an ENTRY value into key and value; `None` if malformed.
    pub fn parse(v: &'a [u8]) -> Option<Entry<'a>> {
        let (&klen, rest) = v.split_first()?;
        let klen = usize::from(klen);
        if klen == 0 || rest.len() < klen {
            return None;
        }
        let (key, value) = rest.split_at(klen);
        if !key.iter().all(|&b| is_key_byte(b)) {
            return None;
        }
        let key = core::str::from_utf8(key).ok()?;
        Some(Entry { key, value })
    }

    /// True if `key` may be used as an ENTRY key.
    pub fn is_valid_key(key: &str) -> bool {
        !key.is_empty() && key.len() <= 255 && key.bytes().all(is_key_byte)
    }
}

const fn is_key_byte(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.')
}

/// How a known must-understand tag's value is checked.
#[derive(Clone, Copy)]
enum Shape {
    U32,
    U64,
    Utf8,
    Utf8NonEmpty,
    Bytes,
    Entry,
}

/// A set of core frame types, one bit per type number.
const fn types(list: &[FrameType]) -> u16 {
    let mut mask = 0;
    let mut i = 0;
    while i < list.len() {
        mask |= 1 << list[i].0;
        i += 1;
    }
    mask
}

/// (frame types allowed, value shape, may repeat) for a known must-understand tag.
fn tag_rules(tag: Tag) -> Option<(u16, Shape, bool)> {
    const HELLO: u16 = types(&[FrameType::HELLO]);
    const CALL: u16 = types(&[FrameType::CALL]);
    const TEXT: u16 = types(&[FrameType::STATUS, FrameType::CANCEL, FrameType::GOAWAY]);
    const STATUS: u16 = types(&[FrameType::STATUS]);
    const ENTRY: u16 = types(&[FrameType::CALL, FrameType::DATA, FrameType::STATUS]);
    Some(match tag.0 {
        0x0001..=0x000A => (HELLO, Shape::U32, false),
        0x0010 => (CALL, Shape::Utf8NonEmpty, false),
        0x0011 => (CALL, Shape::U64, false),
        0x0012 => (TEXT, Shape::Utf8, false),
        0x0013 => (STATUS, Shape::Bytes, false),
        0x0014 => (ENTRY, Shape::Entry, true),
        _ => return None,
    })
}

/// UTF-8 validation with a fast path for the common all-ASCII short string.
#[inline]
fn is_utf8(v: &[u8]) -> bool {
    v.is_ascii() || core::str::from_utf8(v).is_ok()
}

/// Checks a setting's range (section 3.4); `version` is HELLO's Argument.
pub(crate) fn setting_in_range(tag: Tag, v: u32, version: u32) -> bool {
    match tag {
        Tag::MIN_VERSION => v >= 1 && v <= version,
        Tag::MAX_FRAME_SIZE => (MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&v),
        Tag::MAX_METADATA_SIZE => (256..=65_535).contains(&v),
        Tag::INITIAL_STREAM_WINDOW => (65_536..=MAX_WINDOW).contains(&v),
        Tag::INITIAL_CONNECTION_WINDOW => (262_144..=MAX_WINDOW).contains(&v),
        _ => true,
    }
}

/// Validates a metadata block for a frame of type `ty` with Argument `arg` (section 17,
/// step 13).
pub(crate) fn validate(ty: FrameType, arg: u32, block: &[u8]) -> Result<(), FrameError> {
    let bad = |rule| Err(FrameError::new(ErrorCode::METADATA_ERROR, rule));
    let mut seen: u32 = 0;
    for tlv in TlvIter::new(block) {
        let Tlv { tag, value } = tlv?;
        if tag.0 == 0 {
            return bad(Rule::TagZero);
        }
        if tag.is_ignorable() {
            continue;
        }
        let Some((types, shape, repeat)) = tag_rules(tag) else {
            return bad(Rule::UnknownTag(tag.0));
        };
        // Core types are 1..=8, so the shift cannot overflow.
        if types & (1 << (ty.0 & 15)) == 0 {
            return bad(Rule::MisplacedTag(tag.0));
        }
        // Every known must-understand tag is below 32: one bit each.
        let bit = 1u32 << tag.0;
        if seen & bit != 0 && !repeat {
            return bad(Rule::RepeatedTag(tag.0));
        }
        seen |= bit;
        match shape {
            Shape::U32 => {
                let Ok(b) = <[u8; 4]>::try_from(value) else {
                    return bad(Rule::BadValueSize(tag.0));
                };
                if !setting_in_range(tag, u32::from_le_bytes(b), arg) {
                    return Err(FrameError::new(
                        ErrorCode::HANDSHAKE_ERROR,
                        Rule::SettingOutOfRange(tag.0),
                    ));
                }
            }
            Shape::U64 if value.len() != 8 => return bad(Rule::BadValueSize(tag.0)),
            Shape::Utf8NonEmpty if value.is_empty() => return bad(Rule::BadValueSize(tag.0)),
            Shape::Utf8 | Shape::Utf8NonEmpty if !is_utf8(value) => {
                return bad(Rule::BadUtf8(tag.0))
            }
            Shape::Entry if Entry::parse(value).is_none() => return bad(Rule::BadEntryKey),
            _ => {}
        }
    }
    if ty == FrameType::CALL && seen & (1 << Tag::METHOD.0) == 0 {
        return bad(Rule::MissingMethod);
    }
    Ok(())
}
