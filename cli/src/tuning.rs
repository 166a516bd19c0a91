//! Flags that set the connection's limits and options, shared by `serve`, `call` and the
//! other verbs that connect; each maps onto a field of `muxwire::Options`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use muxwire::{Codec, Options};

/// A compression codec, as a flag value.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Compression {
    /// No compression.
    None,
    /// LZ4 frames.
    Lz4,
    /// Zstandard frames.
    Zstd,
}

/// Limits and options of this end's connections (unset flags keep the library defaults).
#[derive(Args, Debug, Default)]
pub(crate) struct Tuning {
    /// Largest message accepted, bytes (advertised as MAX_MESSAGE_SIZE; default 4 MiB).
    #[arg(long)]
    max_message_size: Option<u32>,
    /// Calls the peer may have open towards this end at once (MAX_CONCURRENT_STREAMS).
    #[arg(long)]
    max_concurrent_streams: Option<u32>,
    /// PING after this much silence, ms (default: never).
    #[arg(long)]
    keepalive_ms: Option<u64>,
    /// Close a connection idle this long, ms (default: never).
    #[arg(long)]
    idle_timeout_ms: Option<u64>,
    /// Compress outgoing messages with this codec when the peer accepts it.
    #[arg(long, value_enum)]
    compression: Option<Compression>,
    /// Protect every frame sent with a CRC-32 trailer, and ask the peer to do the same.
    #[arg(long)]
    crc: bool,
}

impl Tuning {
    /// The options these flags describe, on top of the defaults.
    pub(crate) fn options(&self) -> Options {
        let mut o = Options::default();
        if let Some(n) = self.max_message_size {
            o.max_message_size = n;
        }
        if let Some(n) = self.max_concurrent_streams {
            o.max_concurrent_streams = n;
        }
        o.keepalive = self.keepalive_ms.map(Duration::from_millis);
        o.idle_timeout = self.idle_timeout_ms.map(Duration::from_millis);
        o.compress_with = match self.compression {
            None | Some(Compression::None) => None,
            Some(Compression::Lz4) => Some(Codec::Lz4),
            Some(Compression::Zstd) => Some(Codec::Zstd),
        };
        if self.crc {
            o.crc = true;
            o.request_crc = true;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_onto_options_and_unset_ones_keep_the_defaults() {
        let d = Options::default();
        let o = Tuning::default().options();
        assert_eq!(o.max_message_size, d.max_message_size);
        assert_eq!(o.keepalive, None);
        let t = Tuning {
            max_message_size: Some(1024),
            max_concurrent_streams: Some(7),
            keepalive_ms: Some(250),
            idle_timeout_ms: Some(9_000),
            compression: Some(Compression::Zstd),
            crc: true,
        };
        let o = t.options();
        assert_eq!((o.max_message_size, o.max_concurrent_streams), (1024, 7));
        assert_eq!(o.keepalive, Some(Duration::from_millis(250)));
        assert_eq!(o.idle_timeout, Some(Duration::from_secs(9)));
        assert_eq!(o.compress_with, Some(Codec::Zstd));
        assert!(o.crc && o.request_crc);
    }
}
