//! Byte-stream transports. A transport only has to move ordered, reliable bytes; TCP and
//! Unix sockets are built in, and anything implementing [`Transport`] (TLS, shared memory)
//! can plug in.

use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::Endpoint;

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

/// TCP and Unix sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sockets;

impl Transport for Sockets {
    fn connect(&self, endpoint: &Endpoint) -> IoFuture<'_, Io> {
        let endpoint = endpoint.clone();
        Box::pin(async move { connect(&endpoint).await })
    }

    fn listen(&self, endpoint: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>> {
        let endpoint = endpoint.clone();
        Box::pin(async move { Ok(Box::new(Listener::bind(&endpoint).await?) as Box<dyn Acceptor>) })
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

pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Io> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s = TcpStream::connect(addr).await?;
            Ok(tcp_io(s))
        }
        Endpoint::Unix(path) => {
            let s = UnixStream::connect(path).await?;
            Ok(unix_io(s, path.display().to_string()))
        }
    }
}

fn tcp_io(s: TcpStream) -> Io {
    let _ = s.set_nodelay(true);
    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let (r, w) = s.into_split();
    Io {
        read: Box::pin(r),
        write: Box::pin(w),
        peer,
    }
}

fn unix_io(s: UnixStream, peer: String) -> Io {
    let (r, w) = s.into_split();
    Io {
        read: Box::pin(r),
        write: Box::pin(w),
        peer,
    }
}

/// A bound listener for either socket kind.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Listener {
    pub(crate) async fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
        match endpoint {
            Endpoint::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr).await?)),
            Endpoint::Unix(path) => {
                // A stale socket file from a previous run would make bind fail.
                if path.exists() {
                    let _ = std::fs::remove_file(path);
                }
                Ok(Listener::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The bound endpoint (with the real port for `tcp://host:0`).
    pub(crate) fn local(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => Ok(Endpoint::Tcp(l.local_addr()?.to_string())),
            Listener::Unix(_, p) => Ok(Endpoint::Unix(p.clone())),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Io> {
        match self {
            Listener::Tcp(l) => Ok(tcp_io(l.accept().await?.0)),
            Listener::Unix(l, p) => Ok(unix_io(l.accept().await?.0, p.display().to_string())),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}
