//! Flags that set the connection's limits and options, shared by `serve`, `call` and the
//! other verbs that connect; each maps onto a field of `muxwire::Options`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use muxwire::{Codec, Options, TlsClientConfig, TlsServerConfig};

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
    /// PING after this much silence, ms (0: never; default 30 000).
    #[arg(long)]
    keepalive_ms: Option<u64>,
    /// Close a connection idle this long, ms (0: never; default 300 000).
    #[arg(long)]
    idle_timeout_ms: Option<u64>,
    /// Compress outgoing messages with this codec when the peer accepts it.
    #[arg(long, value_enum)]
    compression: Option<Compression>,
    /// Protect every frame sent with a CRC-32 trailer, and ask the peer to do the same.
    #[arg(long)]
    crc: bool,
    /// TLS (tls:// URLs): this end's certificate chain, PEM: a server's own, or a
    /// client's for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// TLS: the private key of --cert, PEM.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// TLS: a client trusts servers signed by this CA (PEM; default: the platform's
    /// roots); a server given it requires client certificates signed by it.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// TLS, client: accept any server certificate (encrypted but not authenticated:
    /// for tests only).
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
    /// TLS, client: the name sent (SNI) and checked in the server's certificate,
    /// instead of the URL's host.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
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
        if let Some(ms) = self.keepalive_ms {
            o.keepalive = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(ms) = self.idle_timeout_ms {
            o.idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
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

    /// The options of a server: [`Tuning::options`] with its TLS certificate (for
    /// `tls://` URLs), reading the files named; an error says which file and what is wrong.
    pub(crate) fn server_options(&self) -> Result<Options, String> {
        let mut o = self.options();
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let mut tls = TlsServerConfig::from_pem_files(cert, key).map_err(|e| e.message)?;
            if let Some(ca) = &self.cacert {
                tls = tls
                    .require_client_certificates_file(ca)
                    .map_err(|e| e.message)?;
            }
            o.tls_server = Some(tls);
        }
        Ok(o)
    }

    /// The options of a client: [`Tuning::options`] with its TLS trust and certificate.
    pub(crate) fn client_options(&self) -> Result<Options, String> {
        let mut o = self.options();
        let trust = match (&self.cacert, self.insecure) {
            (_, true) => Some(TlsClientConfig::danger_accept_any_server_certificate()),
            (Some(ca), false) => Some(TlsClientConfig::from_ca_file(ca).map_err(|e| e.message)?),
            (None, false) if self.cert.is_some() || self.server_name.is_some() => {
                Some(TlsClientConfig::platform_roots().map_err(|e| e.message)?)
            }
            (None, false) => None,
        };
        let Some(mut tls) = trust else {
            return Ok(o);
        };
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls
                .with_client_certificate_files(cert, key)
                .map_err(|e| e.message)?;
        }
        if let Some(name) = &self.server_name {
            tls = tls.with_server_name(name);
        }
        o.tls_client = Some(tls);
        Ok(o)
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
        assert_eq!(o.keepalive, d.keepalive);
        assert_eq!(o.idle_timeout, d.idle_timeout);
        let off = Tuning {
            keepalive_ms: Some(0),
            idle_timeout_ms: Some(0),
            ..Tuning::default()
        }
        .options();
        assert_eq!((off.keepalive, off.idle_timeout), (None, None));
        let t = Tuning {
            max_message_size: Some(1024),
            max_concurrent_streams: Some(7),
            keepalive_ms: Some(250),
            idle_timeout_ms: Some(9_000),
            compression: Some(Compression::Zstd),
            crc: true,
            ..Tuning::default()
        };
        let o = t.options();
        assert_eq!((o.max_message_size, o.max_concurrent_streams), (1024, 7));
        assert_eq!(o.keepalive, Some(Duration::from_millis(250)));
        assert_eq!(o.idle_timeout, Some(Duration::from_secs(9)));
        assert_eq!(o.compress_with, Some(Codec::Zstd));
        assert!(o.crc && o.request_crc);
    }
}
