//! The TLS settings a `muxwire_options` collects one setter at a time, and how they become
//! the runtime's `TlsServerConfig` and `TlsClientConfig`. Each setter reads and checks its
//! own files (so an error names the file and the problem); every setter then builds the
//! whole configuration again, so setters may be called in any order.

use muxwire::{Status, TlsClientConfig, TlsServerConfig};

use crate::error::{Failure, Outcome};

/// Which servers a client trusts.
#[derive(Clone)]
pub(crate) enum Trust {
    /// Servers whose certificates these CAs signed (a checked configuration).
    Roots(TlsClientConfig),
    /// The platform's CA store.
    Platform,
    /// Any certificate at all: tests only.
    Anything,
}

/// The TLS pieces set so far on one options object.
#[derive(Clone, Default)]
pub(crate) struct TlsPieces {
    /// The server's certificate and key.
    pub(crate) server_cert: Option<TlsServerConfig>,
    /// PEM of the CAs client certificates must be signed by (mutual TLS), checked.
    pub(crate) client_ca: Option<Vec<u8>>,
    /// Which servers a client trusts (unset: the platform's CA store, if any other
    /// client piece is set).
    pub(crate) trust: Option<Trust>,
    /// The client's own certificate chain and key (PEM, checked), and where they came from.
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>, String)>,
    /// The name a client sends (SNI) and checks instead of the URL's host.
    pub(crate) server_name: Option<String>,
}

impl TlsPieces {
    /// The server's configuration: `None` until a certificate is set.
    pub(crate) fn server(&self) -> Outcome<Option<TlsServerConfig>> {
        let Some(cert) = &self.server_cert else {
            return Ok(None);
        };
        match &self.client_ca {
            None => Ok(Some(cert.clone())),
            Some(ca) => Ok(Some(
                cert.clone()
                    .require_client_certificates(ca)
                    .map_err(|s| named("client CA", s))?,
            )),
        }
    }

    /// The client's configuration: `None` while no client piece is set (the runtime then
    /// trusts the platform's CA store).
    pub(crate) fn client(&self) -> Outcome<Option<TlsClientConfig>> {
        if self.trust.is_none() && self.identity.is_none() && self.server_name.is_none() {
            return Ok(None);
        }
        let mut config = match self.trust.clone().unwrap_or(Trust::Platform) {
            Trust::Roots(c) => c,
            Trust::Platform => TlsClientConfig::platform_roots()?,
            Trust::Anything => TlsClientConfig::danger_accept_any_server_certificate(),
        };
        if let Some((cert, key, source)) = &self.identity {
            config = config
                .with_client_certificate(cert, key)
                .map_err(|s| named(source, s))?;
        }
        if let Some(name) = &self.server_name {
            config = config.with_server_name(name.clone());
        }
        Ok(Some(config))
    }
}

/// The bytes of the file at `path`, or INVALID_ARGUMENT naming it (`what`: which file it
/// was meant to be) and why it could not be read.
pub(crate) fn read_file(path: &str, what: &str) -> Outcome<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Failure::invalid(format!("TLS: cannot read the {what} {path:?}: {e}")))
}

/// `s` (a TLS configuration problem) with `source` (a file, or what the PEM was) named.
pub(crate) fn named(source: &str, s: Status) -> Failure {
    let problem = s
        .message
        .strip_prefix("TLS: ")
        .unwrap_or(&s.message)
        .to_string();
    Failure {
        message: format!("TLS: {source}: {problem}"),
        ..Failure::from(s)
    }
}
