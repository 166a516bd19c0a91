//! TLS over TCP for `tls://host:port` endpoints, with rustls on the ring provider (no
//! OpenSSL): a server's certificate and key from PEM (reloadable without a restart), a
//! client's trust from a CA file or the platform's roots, mutual TLS with the verified
//! client certificate handed to handlers ([`PeerIdentity`]), ALPN `muxwire/1`, SNI from the
//! URL's host. Handshakes run off the accept loop, each bounded by the handshake timeout,
//! so a peer that never finishes one holds up nobody.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex, Semaphore};

use super::socket::{self, SocketRead, SocketWrite};
use super::{Acceptor, Io, IoFuture, PeerIdentity, Sockets, Transport};
use crate::{Endpoint, Status};
use config::bad;

mod config;

pub use config::{TlsClientConfig, TlsServerConfig, ALPN};

/// TLS handshakes a server runs at once at most; more connections wait in the kernel's
/// backlog until one ends.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Sockets that also speak TLS: `tls://` endpoints get a TLS session over TCP, `tcp://`
/// and `unix://` stay plain.
#[derive(Clone)]
pub struct Tls {
    sockets: Sockets,
    server: Option<TlsServerConfig>,
    client: Option<TlsClientConfig>,
    handshake_timeout: Duration,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server", &self.server)
            .field("client", &self.client)
            .finish()
    }
}

impl Tls {
    /// The transport `opts` asks for: its TLS settings, its socket setup and its
    /// handshake timeout (which bounds the TLS handshake too).
    pub fn new(opts: &crate::Options) -> Tls {
        Tls {
            sockets: Sockets::new(opts),
            server: opts.tls_server.clone(),
            client: opts.tls_client.clone(),
            handshake_timeout: opts.handshake_timeout,
        }
    }

    async fn connect_tls(&self, addr: &str) -> io::Result<Io> {
        let client = match &self.client {
            Some(c) => c.clone(),
            None => platform_roots().map_err(invalid)?,
        };
        let config = client.rustls().map_err(invalid)?;
        let host = client
            .server_name
            .clone()
            .unwrap_or_else(|| host_of(addr).to_string());
        let name = ServerName::try_from(host.clone())
            .map_err(|_| invalid(bad(format!("{host:?} is not a valid server name"))))?;
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        super::set_up_tcp(&tcp, self.sockets);
        let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let stream = Joined::new(tcp.into_std()?.into())?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout(self.handshake_timeout, connector.connect(name, stream))
            .await
            .map_err(|_| timed_out(self.handshake_timeout))??;
        Ok(io_of(tokio_rustls::TlsStream::Client(tls), peer, None))
    }
}

/// The platform's roots, read once per process (reading the CA store on every connect,
/// or reconnect, would cost milliseconds each time).
pub(crate) fn platform_roots() -> Result<TlsClientConfig, Status> {
    static ROOTS: std::sync::OnceLock<Result<TlsClientConfig, Status>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(TlsClientConfig::platform_roots).clone()
}

/// `host` of `host:port` (brackets of an IPv6 address removed).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn invalid(s: Status) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, s.message)
}

fn timed_out(after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("TLS handshake not finished within handshake_timeout ({after:?})"),
    )
}

/// An established TLS session, split for the reader and writer tasks.
fn io_of<S>(stream: S, peer: String, identity: Option<Arc<PeerIdentity>>) -> Io
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut io = Io::new(Box::pin(r), Box::pin(w), peer);
    io.identity = identity;
    io
}

/// Who a client proved to be with its certificate (verified against the server's client
/// CAs before this is built).
fn identity_of(certs: &[CertificateDer<'_>]) -> Option<Arc<PeerIdentity>> {
    let leaf = certs.first()?;
    let (subject, dns_names) = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => {
            let names = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .filter_map(|n| match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            (cert.subject().to_string(), names)
        }
        Err(_) => (String::new(), Vec::new()),
    };
    Some(Arc::new(PeerIdentity {
        certificates: certs
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_ref()))
            .collect(),
        subject,
        dns_names,
        unix: None,
    }))
}

impl Transport for Tls {
    fn connect(&self, endpoint: &Endpoint) -> IoFuture<'_, Io> {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            match &endpoint {
                Endpoint::Tls(addr) => self.connect_tls(addr).await,
                _ => self.sockets.connect(&endpoint).await,
            }
        })
    }

    fn listen(&self, endpoint: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>> {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let Endpoint::Tls(addr) = &endpoint else {
                return self.sockets.listen(&endpoint).await;
            };
            let Some(server) = &self.server else {
                return Err(invalid(bad(
                    "a tls:// endpoint needs a certificate and key (Options::tls_server)",
                )));
            };
            let config = server.rustls().map_err(invalid)?;
            let listener = super::bind_tcp(addr, self.sockets.listen_backlog).await?;
            Ok(Box::new(TlsListener::start(
                listener,
                config,
                self.handshake_timeout,
                self.sockets,
            )?) as Box<dyn Acceptor>)
        })
    }
}

/// A TLS listener: a task accepts TCP connections and runs each handshake in a task of
/// its own (at most [`MAX_PENDING_HANDSHAKES`] at once, each within the handshake
/// timeout); finished sessions wait in a channel for `accept`.
struct TlsListener {
    local: Endpoint,
    ready: Mutex<mpsc::Receiver<io::Result<Io>>>,
    task: tokio::task::AbortHandle,
}

impl TlsListener {
    fn start(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        timeout: Duration,
        setup: Sockets,
    ) -> io::Result<TlsListener> {
        let local = Endpoint::Tls(listener.local_addr()?.to_string());
        let (tx, rx) = mpsc::channel(MAX_PENDING_HANDSHAKES);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
        let task = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let _ = tcp.set_nodelay(true);
                    super::set_up_tcp(&tcp, setup);
                    let peer = addr.to_string();
                    let handshake = async {
                        let stream = Joined::new(tcp.into_std()?.into())?;
                        acceptor.accept(stream).await
                    };
                    match tokio::time::timeout(timeout, handshake).await {
                        Ok(Ok(tls)) => {
                            let identity =
                                tls.get_ref().1.peer_certificates().and_then(identity_of);
                            let io = io_of(tokio_rustls::TlsStream::Server(tls), peer, identity);
                            let _ = tx.send(Ok(io)).await;
                        }
                        // A failed handshake is the peer's problem, not the listener's:
                        // logged, and the connection dropped.
                        Ok(Err(e)) => tracing::info!(%peer, %e, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready: Mutex::new(rx),
            task: task.abort_handle(),
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Acceptor for TlsListener {
    fn accept(&self) -> IoFuture<'_, Io> {
        Box::pin(async move {
            match self.ready.lock().await.recv().await {
                Some(r) => r,
                None => Err(io::Error::other("TLS listener stopped")),
            }
        })
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(self.local.clone())
    }
}

/// Both halves of a socket as one stream (what a TLS session runs over), writing without
/// SIGPIPE like the plain transport (see `socket`).
struct Joined {
    read: SocketRead,
    write: SocketWrite,
}

impl Joined {
    fn new(fd: std::os::fd::OwnedFd) -> io::Result<Joined> {
        let (read, write) = socket::split(fd)?;
        Ok(Joined { read, write })
    }
}

impl AsyncRead for Joined {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Joined {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.write.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}
