//! TLS settings: a server's certificate and key (reloadable) and client-certificate
//! policy, a client's trust and its own certificate, read from PEM and checked as they
//! are read, so that a mistake is reported with the file it is in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::Status;

/// The ALPN protocol name both ends offer.
pub const ALPN: &[u8] = b"muxwire/1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A configuration problem, as a status naming what is wrong.
pub(super) fn bad(what: impl fmt::Display) -> Status {
    Status::invalid_argument(format!("TLS: {what}"))
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, Status> {
    std::fs::read(path).map_err(|e| bad(format!("cannot read the {what} {}: {e}", path.display())))
}

fn certs(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, Status> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{source}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("{source}: no CERTIFICATE block in it")));
    }
    Ok(certs)
}

fn key(pem: &[u8], source: &str) -> Result<PrivateKeyDer<'static>, Status> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad(format!("{source}: no private key: {e}")))
}

fn roots(pem: &[u8], source: &str) -> Result<RootCertStore, Status> {
    let mut store = RootCertStore::empty();
    for c in certs(pem, source)? {
        store
            .add(c)
            .map_err(|e| bad(format!("{source}: not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// A certificate chain and its key, checked against each other.
fn certified(cert_pem: &[u8], key_pem: &[u8], source: &str) -> Result<CertifiedKey, Status> {
    let chain = certs(cert_pem, source)?;
    let key = key(key_pem, source)?;
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| bad(format!("{source}: unsupported private key: {e}")))?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| {
        bad(format!(
            "{source}: the key does not match the certificate: {e}"
        ))
    })?;
    Ok(ck)
}

/// A server's certificate, swapped whole by a reload.
#[derive(Debug)]
struct ServerKeys {
    current: RwLock<Arc<CertifiedKey>>,
    /// The files it came from, if it came from files (a reload reads them again).
    files: Option<(PathBuf, PathBuf)>,
}

impl ResolvesServerCert for ServerKeys {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("lock").clone())
    }
}

/// A server's TLS settings: its certificate and key, and whether clients must present a
/// certificate signed by a given CA (mutual TLS). Clones share the certificate, so
/// [`TlsServerConfig::reload`] on any of them changes what every one serves.
#[derive(Clone)]
pub struct TlsServerConfig {
    keys: Arc<ServerKeys>,
    client_roots: Option<Arc<RootCertStore>>,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("files", &self.keys.files)
            .field("client_certificates_required", &self.client_roots.is_some())
            .finish()
    }
}

impl TlsServerConfig {
    /// The certificate chain (PEM, the server's own first) and private key (PEM: PKCS#8,
    /// PKCS#1 or SEC1) in these files; they are read again by [`TlsServerConfig::reload`].
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsServerConfig, Status> {
        let (cert, key) = (cert.as_ref().to_path_buf(), key.as_ref().to_path_buf());
        let ck = Self::load(&cert, &key)?;
        Ok(TlsServerConfig {
            keys: Arc::new(ServerKeys {
                current: RwLock::new(Arc::new(ck)),
                files: Some((cert, key)),
            }),
            client_roots: None,
        })
    }

    /// The certificate chain and private key given as PEM text (not reloadable).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsServerConfig, Status> {
        let ck = certified(cert_pem, key_pem, "server certificate")?;
        Ok(TlsServerConfig {
            keys: Arc::new(ServerKeys {
                current: RwLock::new(Arc::new(ck)),
                files: None,
            }),
            client_roots: None,
        })
    }

    fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, Status> {
        let source = format!("{} and {}", cert.display(), key.display());
        certified(
            &read_pem(cert, "certificate file")?,
            &read_pem(key, "key file")?,
            &source,
        )
    }

    /// Clients must present a certificate signed by one of these CAs (PEM); handlers see
    /// it as [`crate::Context::peer_identity`]. A client without one fails the handshake.
    pub fn require_client_certificates(self, ca_pem: &[u8]) -> Result<TlsServerConfig, Status> {
        Ok(TlsServerConfig {
            client_roots: Some(Arc::new(roots(ca_pem, "client CA")?)),
            ..self
        })
    }

    /// [`TlsServerConfig::require_client_certificates`] with the CAs in a PEM file.
    pub fn require_client_certificates_file(
        self,
        ca: impl AsRef<Path>,
    ) -> Result<TlsServerConfig, Status> {
        let pem = read_pem(ca.as_ref(), "client CA file")?;
        self.require_client_certificates(&pem)
    }

    /// Reads the certificate and key files again; new handshakes use them, connections
    /// already open keep theirs. On any error the current certificate stays in use.
    pub fn reload(&self) -> Result<(), Status> {
        let Some((cert, key)) = &self.keys.files else {
            return Err(Status::failed_precondition(
                "TLS: this certificate was given as PEM text, not files: nothing to reload",
            ));
        };
        let ck = Self::load(cert, key)?;
        *self.keys.current.write().expect("lock") = Arc::new(ck);
        Ok(())
    }

    pub(super) fn rustls(&self) -> Result<Arc<ServerConfig>, Status> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(bad)?;
        let builder = match &self.client_roots {
            Some(r) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(r.clone(), provider())
                    .build()
                    .map_err(|e| bad(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.keys.clone());
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(Arc::new(config))
    }
}

/// How a client decides to trust a server.
#[derive(Clone)]
enum Trust {
    Roots(Arc<RootCertStore>),
    /// Anything: tests only.
    Anything,
}

/// A client's TLS settings: which servers it trusts, and its own certificate for mutual
/// TLS. [`Options::tls_client`](crate::Options::tls_client) unset means the platform's
/// roots.
#[derive(Clone)]
pub struct TlsClientConfig {
    trust: Trust,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    pub(super) server_name: Option<String>,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trust = match &self.trust {
            Trust::Roots(r) => format!("{} roots", r.len()),
            Trust::Anything => "any certificate (insecure)".to_string(),
        };
        f.debug_struct("TlsClientConfig")
            .field("trust", &trust)
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsClientConfig {
    /// Trusts the certificates the platform trusts (its CA store, as
    /// `rustls-native-certs` finds it).
    pub fn platform_roots() -> Result<TlsClientConfig, Status> {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(bad(format!(
                "no usable CA certificates on this platform {why}; give a CA file"
            )));
        }
        Ok(Self::trusting(Trust::Roots(Arc::new(store))))
    }

    /// Trusts servers whose certificates these CAs (PEM) signed.
    pub fn from_ca_pem(ca_pem: &[u8]) -> Result<TlsClientConfig, Status> {
        Ok(Self::trusting(Trust::Roots(Arc::new(roots(ca_pem, "CA")?))))
    }

    /// [`TlsClientConfig::from_ca_pem`] with the CAs in a PEM file.
    pub fn from_ca_file(ca: impl AsRef<Path>) -> Result<TlsClientConfig, Status> {
        let path = ca.as_ref();
        let pem = read_pem(path, "CA file")?;
        Ok(Self::trusting(Trust::Roots(Arc::new(roots(
            &pem,
            &path.display().to_string(),
        )?))))
    }

    /// Trusts any server certificate at all, so the connection is encrypted but the
    /// server unauthenticated: for tests, never for production (`--insecure`).
    pub fn danger_accept_any_server_certificate() -> TlsClientConfig {
        Self::trusting(Trust::Anything)
    }

    fn trusting(trust: Trust) -> TlsClientConfig {
        TlsClientConfig {
            trust,
            identity: None,
            server_name: None,
        }
    }

    /// Presents this certificate chain and key (PEM) to servers that ask for one.
    pub fn with_client_certificate(
        self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsClientConfig, Status> {
        certified(cert_pem, key_pem, "client certificate")?;
        let identity = (
            certs(cert_pem, "client certificate")?,
            Arc::new(key(key_pem, "client key")?),
        );
        Ok(TlsClientConfig {
            identity: Some(identity),
            ..self
        })
    }

    /// [`TlsClientConfig::with_client_certificate`] from PEM files.
    pub fn with_client_certificate_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsClientConfig, Status> {
        let cert = read_pem(cert.as_ref(), "client certificate file")?;
        let key = read_pem(key.as_ref(), "client key file")?;
        self.with_client_certificate(&cert, &key)
    }

    /// Sends this name (SNI) and checks the server's certificate against it, instead of
    /// the URL's host.
    pub fn with_server_name(self, name: impl Into<String>) -> TlsClientConfig {
        TlsClientConfig {
            server_name: Some(name.into()),
            ..self
        }
    }

    pub(super) fn rustls(&self) -> Result<Arc<ClientConfig>, Status> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(bad)?;
        let builder = match &self.trust {
            Trust::Roots(r) => builder.with_root_certificates(r.clone()),
            Trust::Anything => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider()))),
        };
        let mut config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| bad(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(Arc::new(config))
    }
}

/// The verifier of [`TlsClientConfig::danger_accept_any_server_certificate`]: signatures
/// are still checked (the handshake stays sound), the certificate is not.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
