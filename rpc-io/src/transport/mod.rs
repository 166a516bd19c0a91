//! Byte-stream transports. A transport only has to move ordered, reliable bytes; TCP and
//! Unix sockets are built in, and anything implementing [`Transport`] (TLS, shared memory)
//! can plug in.

use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::Endpoint;

mod socket;
#[cfg(feature = "tls")]
pub(crate) mod tls;

/// The read half of a connection.
pub type ReadHalf = Pin<Box<dyn AsyncRead + Send>>;
/// The write half of a connection.
pub type WriteHalf = Pin<Box<dyn AsyncWrite + Send>>;

/// An established connection, split for one reader and one writer task.
pub struct Io {
    /// Incoming bytes.
    pub read: ReadHalf,
    /// Outgoing bytes.
    pub write: WriteHalf,
    /// Peer description for logs.
    pub peer: String,
    /// Who the peer proved to be, if the transport authenticated it (a TLS client
    /// certificate); handlers see it as [`crate::Context::peer_identity`].
    pub identity: Option<std::sync::Arc<PeerIdentity>>,
}

impl Io {
    /// A connection over these halves, to `peer`, with no identity.
    pub fn new(read: ReadHalf, write: WriteHalf, peer: String) -> Io {
        Io {
            read,
            write,
            peer,
            identity: None,
        }
    }
}

/// Who a peer proved to be: its certificate chain, verified by the transport (mutual
/// TLS), with the names an authorization check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerIdentity {
    /// The peer's certificates, DER, its own first.
    pub certificates: Vec<bytes::Bytes>,
    /// The subject of its own certificate, e.g. `CN=client-1, O=Example` (empty if the
    /// certificate could not be read as X.509).
    pub subject: String,
    /// The DNS names (subjectAltName) of its own certificate.
    pub dns_names: Vec<String>,
    /// Over a Unix socket: the peer process's credentials, as the kernel gave them
    /// (SO_PEERCRED) when the connection was made.
    pub unix: Option<UnixCredentials>,
}

/// A Unix socket peer's process credentials (SO_PEERCRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnixCredentials {
    /// The peer's user id.
    pub uid: u32,
    /// The peer's group id.
    pub gid: u32,
    /// The peer's process id, if the kernel reports it.
    pub pid: Option<i32>,
}

impl PeerIdentity {
    /// An identity with nothing in it yet (transports fill in what they verified).
    pub fn new() -> PeerIdentity {
        PeerIdentity {
            certificates: Vec::new(),
            subject: String::new(),
            dns_names: Vec::new(),
            unix: None,
        }
    }
}

impl Default for PeerIdentity {
    fn default() -> PeerIdentity {
        PeerIdentity::new()
    }
}

/// A boxed future, as transports return them.
pub type IoFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = io::Result<T>> + Send + 'a>>;

/// Something that can connect to an endpoint and listen on one.
pub trait Transport: Send + Sync + 'static {
    /// Opens a connection.
    fn connect(&self, endpoint: &Endpoint) -> IoFuture<'_, Io>;

    /// Starts listening on `endpoint`.
    fn listen(&self, endpoint: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>>;
}

/// A listening endpoint of a [`Transport`].
pub trait Acceptor: Send + Sync + 'static {
    /// The next incoming connection.
    fn accept(&self) -> IoFuture<'_, Io>;

    /// Where it listens (with the real port for `tcp://host:0`).
    fn local_endpoint(&self) -> io::Result<Endpoint>;
}

/// TCP and Unix sockets. `Sockets::default()` sets them up as `Options::default()` says.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Sockets {
    /// SO_SNDBUF for Unix sockets (see [`crate::Options::unix_send_buffer`]); `None`
    /// keeps the kernel's default.
    pub unix_send_buffer: Option<usize>,
    /// TCP keepalive probes after this much silence (see [`crate::Options::tcp_keepalive`]).
    pub tcp_keepalive: Option<std::time::Duration>,
    /// TCP_USER_TIMEOUT (see [`crate::Options::tcp_user_timeout`]).
    pub tcp_user_timeout: Option<std::time::Duration>,
    /// The listen backlog (see [`crate::Options::listen_backlog`]).
    pub listen_backlog: u32,
}

impl Sockets {
    /// Sockets set up as `opts` asks.
    pub fn new(opts: &crate::Options) -> Sockets {
        Sockets {
            unix_send_buffer: opts.unix_send_buffer,
            tcp_keepalive: opts.tcp_keepalive,
            tcp_user_timeout: opts.tcp_user_timeout,
            listen_backlog: opts.listen_backlog,
        }
    }
}

impl Default for Sockets {
    fn default() -> Sockets {
        Sockets::new(&crate::Options::default())
    }
}

impl Transport for Sockets {
    fn connect(&self, endpoint: &Endpoint) -> IoFuture<'_, Io> {
        let endpoint = endpoint.clone();
        Box::pin(async move { connect(&endpoint, *self).await })
    }

    fn listen(&self, endpoint: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>> {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            Ok(Box::new(Listener::bind(&endpoint, *self).await?) as Box<dyn Acceptor>)
        })
    }
}

impl Acceptor for Listener {
    fn accept(&self) -> IoFuture<'_, Io> {
        Box::pin(Listener::accept(self))
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        self.local()
    }
}

pub(crate) async fn connect(endpoint: &Endpoint, setup: Sockets) -> io::Result<Io> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s = TcpStream::connect(addr).await?;
            tcp_io(s, setup)
        }
        Endpoint::Unix(path) => {
            let s = UnixStream::connect(path).await?;
            unix_io(s, path.display().to_string(), setup)
        }
        Endpoint::Tls(_) => Err(no_tls(endpoint)),
    }
}

/// The transport `Client::connect` and `Server::bind` use: sockets set up as `opts`
/// says, speaking TLS on `tls://` endpoints when the `tls` feature is on.
pub(crate) fn for_options(opts: &crate::Options) -> std::sync::Arc<dyn Transport> {
    #[cfg(feature = "tls")]
    return std::sync::Arc::new(tls::Tls::new(opts));
    #[cfg(not(feature = "tls"))]
    return std::sync::Arc::new(Sockets::new(opts));
}

/// Plain sockets do not speak TLS: the transport to use says so.
fn no_tls(endpoint: &Endpoint) -> io::Error {
    let how = if cfg!(feature = "tls") {
        "use the Tls transport (what Client::connect and Server::bind use)"
    } else {
        "this build has no TLS (the `tls` feature is off)"
    };
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{endpoint}: plain sockets do not speak TLS: {how}"),
    )
}

fn tcp_io(s: TcpStream, setup: Sockets) -> io::Result<Io> {
    let _ = s.set_nodelay(true);
    set_up_tcp(&s, setup);
    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    halves(s.into_std()?.into(), peer)
}

fn halves(fd: std::os::fd::OwnedFd, peer: String) -> io::Result<Io> {
    let (r, w) = socket::split(fd)?;
    Ok(Io::new(Box::pin(r), Box::pin(w), peer))
}

/// TCP keepalive and TCP_USER_TIMEOUT, best effort: a socket that refuses them works on.
pub(super) fn set_up_tcp(s: &TcpStream, setup: Sockets) {
    let sock = socket2::SockRef::from(s);
    if let Some(t) = setup.tcp_keepalive {
        let ka = socket2::TcpKeepalive::new()
            .with_time(t)
            .with_interval(TCP_KEEPALIVE_INTERVAL)
            .with_retries(TCP_KEEPALIVE_PROBES);
        let _ = sock.set_tcp_keepalive(&ka);
    }
    #[cfg(target_os = "linux")]
    if let Some(t) = setup.tcp_user_timeout {
        let _ = sock.set_tcp_user_timeout(Some(t));
    }
}

/// Seconds between TCP keepalive probes, once they have started.
const TCP_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Unanswered TCP keepalive probes before the kernel closes the connection.
const TCP_KEEPALIVE_PROBES: u32 = 3;

/// A socket of `domain` bound to `addr` and listening with `backlog`.
fn listening(
    domain: socket2::Domain,
    addr: &socket2::SockAddr,
    backlog: u32,
) -> io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    if domain != socket2::Domain::UNIX {
        sock.set_reuse_address(true)?;
    }
    sock.bind(addr)?;
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// A TCP listener on the first address `addr` resolves to that can be bound.
pub(super) async fn bind_tcp(addr: &str, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        match listening(socket2::Domain::for_address(a), &a.into(), backlog) {
            Ok(sock) => return TcpListener::from_std(sock.into()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        )
    }))
}

fn set_up_unix(s: &UnixStream, setup: Sockets) {
    if let Some(n) = setup.unix_send_buffer {
        // Best effort: the kernel caps it at net.core.wmem_max.
        let _ = socket2::SockRef::from(s).set_send_buffer_size(n);
    }
}

fn unix_io(s: UnixStream, peer: String, setup: Sockets) -> io::Result<Io> {
    set_up_unix(&s, setup);
    // The kernel vouches for the peer process: its credentials are its identity.
    let creds = s.peer_cred().ok().map(|c| UnixCredentials {
        uid: c.uid(),
        gid: c.gid(),
        pid: c.pid(),
    });
    let mut io = halves(s.into_std()?.into(), peer)?;
    io.identity = creds.map(|c| {
        std::sync::Arc::new(PeerIdentity {
            unix: Some(c),
            ..PeerIdentity::new()
        })
    });
    Ok(io)
}

/// A bound listener for either socket kind.
pub(crate) enum Listener {
    /// The listener and the setup of the sockets it accepts.
    Tcp(TcpListener, Sockets),
    /// The listener, its path, socket setup, and the identity of the socket file it
    /// created (so that dropping it never removes a file someone else put there since).
    Unix(
        UnixListener,
        std::path::PathBuf,
        Sockets,
        Option<(u64, u64)>,
    ),
}

/// The device and inode of the file at `path`, if there is one.
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Makes way for a Unix socket at `path`: a socket file left by a process that is gone
/// (connecting is refused) is removed; anything else there, a live server's socket or a
/// file that is not a socket, is an error that says which, and is left alone.
fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            ),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is the socket of a running server", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{} exists and cannot be checked: {e}", path.display()),
        )),
    }
}

impl Listener {
    pub(crate) async fn bind(endpoint: &Endpoint, setup: Sockets) -> io::Result<Listener> {
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Listener::Tcp(
                bind_tcp(addr, setup.listen_backlog).await?,
                setup,
            )),
            Endpoint::Unix(path) => {
                remove_stale_socket(path)?;
                let addr = socket2::SockAddr::unix(path)?;
                let sock = listening(socket2::Domain::UNIX, &addr, setup.listen_backlog)?;
                let l = UnixListener::from_std(sock.into())?;
                let id = file_id(path);
                Ok(Listener::Unix(l, path.clone(), setup, id))
            }
            Endpoint::Tls(_) => Err(no_tls(endpoint)),
        }
    }

    /// The bound endpoint (with the real port for `tcp://host:0`).
    pub(crate) fn local(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l, _) => Ok(Endpoint::Tcp(l.local_addr()?.to_string())),
            Listener::Unix(_, p, _, _) => Ok(Endpoint::Unix(p.clone())),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Io> {
        match self {
            Listener::Tcp(l, setup) => tcp_io(l.accept().await?.0, *setup),
            Listener::Unix(l, p, setup, _) => {
                unix_io(l.accept().await?.0, p.display().to_string(), *setup)
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p, _, id) = self {
            if id.is_some() && file_id(p) == *id {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel reports twice the size set (its bookkeeping share), capped at
    /// net.core.wmem_max.
    fn wmem_max() -> usize {
        std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// A burst of connects that nobody accepts yet completes: the backlog (1 024 by
    /// default, was the std default of 128) holds them, instead of the kernel dropping the
    /// SYNs past 128 (then the connects stall in SYN retries of 1, 3, 7 s...).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_connects_waits_in_the_backlog() {
        let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap(), Sockets::default())
            .await
            .unwrap();
        let Endpoint::Tcp(addr) = listener.local().unwrap() else {
            unreachable!()
        };
        let connects = (0..400).map(|_| tokio::spawn(TcpStream::connect(addr.clone())));
        let all = async {
            let mut held = Vec::new();
            for c in connects.collect::<Vec<_>>() {
                held.push(c.await.unwrap().unwrap());
            }
            held
        };
        // A hang detector: on an idle machine the burst takes milliseconds.
        let held = tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("every connect completes without an accept");
        assert_eq!(held.len(), 400);
    }

    /// Accepted and connected TCP sockets get TCP keepalive and TCP_USER_TIMEOUT as the
    /// defaults say (30 s each).
    #[tokio::test]
    async fn tcp_sockets_get_keepalive_and_a_user_timeout() {
        let setup = Sockets::default();
        let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap(), setup)
            .await
            .unwrap();
        let Endpoint::Tcp(addr) = listener.local().unwrap() else {
            unreachable!()
        };
        let s = TcpStream::connect(addr).await.unwrap();
        set_up_tcp(&s, setup);
        let sock = socket2::SockRef::from(&s);
        assert!(sock.keepalive().unwrap());
        assert_eq!(
            sock.tcp_keepalive_time().unwrap(),
            std::time::Duration::from_secs(30)
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(std::time::Duration::from_secs(30))
        );
    }

    #[tokio::test]
    async fn unix_sockets_get_the_send_buffer_asked_for() {
        let (a, b) = UnixStream::pair().unwrap();
        let default = socket2::SockRef::from(&b).send_buffer_size().unwrap();
        let want = 1 << 20;
        set_up_unix(
            &a,
            Sockets {
                unix_send_buffer: Some(want),
                ..Sockets::default()
            },
        );
        set_up_unix(
            &b,
            Sockets {
                unix_send_buffer: None,
                ..Sockets::default()
            },
        );
        let got = socket2::SockRef::from(&a).send_buffer_size().unwrap();
        assert!(got >= want.min(wmem_max()), "asked {want}, got {got}");
        assert_eq!(
            socket2::SockRef::from(&b).send_buffer_size().unwrap(),
            default
        );
    }
}
