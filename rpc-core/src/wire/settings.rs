//! HELLO settings (section 3.4).

use super::encode::{EncodeError, FrameEncoder};
use super::meta::{setting_in_range, Metadata, Tag};
use super::types::{Codec, Flags, FrameType, StreamId};
use super::VERSION;

/// FEATURES bits (section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features(pub u32);

impl Features {
    /// Asks the peer to add a CRC trailer to every frame.
    pub const CRC_REQUESTED: Features = Features(1);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What an endpoint is willing to receive, as carried in its HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Highest supported version (HELLO's Argument).
    pub max_version: u32,
    /// Lowest supported version.
    pub min_version: u32,
    /// Largest Payload Length accepted.
    pub max_frame_size: u32,
    /// Largest message accepted, on the wire and decompressed.
    pub max_message_size: u32,
    /// Largest metadata block of CALL, DATA and STATUS accepted.
    pub max_metadata_size: u32,
    /// Streams the peer may have open towards this endpoint.
    pub max_concurrent_streams: u32,
    /// Initial receive window of each stream.
    pub initial_stream_window: u32,
    /// Initial receive window of the connection.
    pub initial_connection_window: u32,
    /// Bitmap of codecs this endpoint decompresses (bit n = codec n).
    pub compression: u32,
    /// Optional behaviour asked of the peer.
    pub features: Features,
    /// Idle timeout in milliseconds (0 = none).
    pub idle_timeout_ms: u32,
}

impl Settings {
    /// The initial values: in force before the peer's HELLO arrives, and for every
    /// setting a HELLO omits.
    pub const INITIAL: Settings = Settings {
        max_version: VERSION,
        min_version: VERSION,
        max_frame_size: 16_384,
        max_message_size: 4_194_304,
        max_metadata_size: 8_192,
        max_concurrent_streams: 100,
        initial_stream_window: 65_536,
        initial_connection_window: 262_144,
        compression: 0,
        features: Features(0),
        idle_timeout_ms: 0,
    };

    /// Reads the settings of a validated HELLO (its Argument and metadata).
    pub fn from_hello(version: u32, meta: &Metadata<'_>) -> Settings {
        let i = Settings::INITIAL;
        let get = |tag, default| meta.get_u32(tag).unwrap_or(default);
        Settings {
            max_version: version,
            min_version: get(Tag::MIN_VERSION, version),
            max_frame_size: get(Tag::MAX_FRAME_SIZE, i.max_frame_size),
            max_message_size: get(Tag::MAX_MESSAGE_SIZE, i.max_message_size),
            max_metadata_size: get(Tag::MAX_METADATA_SIZE, i.max_metadata_size),
            max_concurrent_streams: get(Tag::MAX_CONCURRENT_STREAMS, i.max_concurrent_streams),
            initial_stream_window: get(Tag::INITIAL_STREAM_WINDOW, i.initial_stream_window),
            initial_connection_window: get(
                Tag::INITIAL_CONNECTION_WINDOW,
                i.initial_connection_window,
            ),
            compression: get(Tag::COMPRESSION, i.compression),
            features: Features(get(Tag::FEATURES, i.features.0)),
            idle_timeout_ms: get(Tag::IDLE_TIMEOUT, i.idle_timeout_ms),
        }
    }

    /// The first setting outside its allowed range (section 3.4) as (name, value): a HELLO
    /// carrying it would be refused by every conforming peer. `None` if all are valid.
    pub fn first_out_of_range(&self) -> Option<(&'static str, u32)> {
        let checks = [
            ("min_version", Tag::MIN_VERSION, self.min_version),
            ("max_frame_size", Tag::MAX_FRAME_SIZE, self.max_frame_size),
            (
                "max_metadata_size",
                Tag::MAX_METADATA_SIZE,
                self.max_metadata_size,
            ),
            (
                "initial_stream_window",
                Tag::INITIAL_STREAM_WINDOW,
                self.initial_stream_window,
            ),
            (
                "initial_connection_window",
                Tag::INITIAL_CONNECTION_WINDOW,
                self.initial_connection_window,
            ),
        ];
        checks
            .into_iter()
            .find(|&(_, tag, v)| !setting_in_range(tag, v, self.max_version))
            .map(|(name, _, v)| (name, v))
    }

    /// True if the peer that sent these settings decompresses `codec`.
    pub const fn accepts_codec(&self, codec: Codec) -> bool {
        matches!(codec, Codec::Identity) || self.compression & codec.setting_bit() != 0
    }

    /// Encodes a HELLO carrying every setting that differs from its initial value, plus
    /// `agent` (if any) as the ignorable AGENT tag. Returns the frame length.
    pub fn encode_hello(
        &self,
        buf: &mut [u8],
        agent: Option<&str>,
        flags: Flags,
    ) -> Result<usize, EncodeError> {
        let i = Settings::INITIAL;
        let mut enc = FrameEncoder::new(
            buf,
            FrameType::HELLO,
            StreamId::CONNECTION,
            self.max_version,
        )?;
        let pairs = [
            (Tag::MIN_VERSION, self.min_version, self.max_version),
            (Tag::MAX_FRAME_SIZE, self.max_frame_size, i.max_frame_size),
            (
                Tag::MAX_MESSAGE_SIZE,
                self.max_message_size,
                i.max_message_size,
            ),
            (
                Tag::MAX_METADATA_SIZE,
                self.max_metadata_size,
                i.max_metadata_size,
            ),
            (
                Tag::MAX_CONCURRENT_STREAMS,
                self.max_concurrent_streams,
                i.max_concurrent_streams,
            ),
            (
                Tag::INITIAL_STREAM_WINDOW,
                self.initial_stream_window,
                i.initial_stream_window,
            ),
            (
                Tag::INITIAL_CONNECTION_WINDOW,
                self.initial_connection_window,
                i.initial_connection_window,
            ),
            (Tag::COMPRESSION, self.compression, i.compression),
            (Tag::FEATURES, self.features.0, i.features.0),
            (Tag::IDLE_TIMEOUT, self.idle_timeout_ms, i.idle_timeout_ms),
        ];
        for (tag, value, initial) in pairs {
            if value != initial {
                enc.tlv_u32(tag, value)?;
            }
        }
        if let Some(agent) = agent {
            enc.tlv(Tag::AGENT, agent.as_bytes())?;
        }
        enc.finish(flags)
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::INITIAL
    }
}
