//! Servers: a router served on a listening endpoint, a connection per peer, graceful
//! shutdown. Handlers and their context are in `handler`, the router in `route`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use muxwire_core::wire::{Side, StatusCode};
use tokio::sync::Notify;

use crate::admission::Admission;
use crate::commands::Cmd;
use crate::driver;
use crate::handle::{Channel, Handle};
use crate::peers::Peers;
use crate::route::Router;
use crate::runtime::RuntimeHandle;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::writer::FINAL_WRITE_GRACE;
use crate::{Endpoint, Options, Status};

/// A server: a router and options, ready to listen.
pub struct Server {
    router: Arc<Router>,
    opts: Arc<Options>,
    peers: Option<Peers>,
}

/// A listening server. Dropping it stops listening and drains its connections (calls in
/// flight finish; new ones are refused as safe to retry), as [`Running::shutdown`] does
/// without waiting.
pub struct Running {
    local: Endpoint,
    stats: Arc<Stats>,
    conns: Arc<Mutex<Vec<Conn>>>,
    stop_accept: Arc<Notify>,
    /// Set (before the connection list is drained) once the server stops: a connection
    /// the accept loop takes after that is drained at once instead of served.
    stopping: Arc<AtomicBool>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// A server for `router` with `opts`.
    pub fn new(router: Router, opts: Options) -> Server {
        Server {
            router: Arc::new(router.sealed(&opts)),
            opts: Arc::new(opts),
            peers: None,
        }
    }

    /// Keeps `peers` up to date with this server's connections: each joins when it is
    /// accepted and leaves when it ends, with an event each (see [`Peers`]). Without
    /// this, the server keeps no registry and spends nothing on one.
    pub fn with_peers(mut self, peers: Peers) -> Server {
        self.peers = Some(peers);
        self
    }

    /// Binds `endpoint` (`tcp://host:port`, port 0 for any; `unix:///path`) and serves in
    /// the background.
    pub async fn bind(self, endpoint: &str) -> Result<Running, Status> {
        let transport = crate::transport::for_options(&self.opts);
        self.bind_via(&*transport, endpoint).await
    }

    /// Binds on the runtime `rt` (the server and its connections live there) from any
    /// async caller, on another runtime or none.
    pub async fn bind_on(self, rt: &RuntimeHandle, endpoint: &str) -> Result<Running, Status> {
        let endpoint = endpoint.to_string();
        rt.run(async move { self.bind(&endpoint).await }).await?
    }

    /// Like [`Server::bind`], over any [`Transport`].
    pub async fn bind_via(
        self,
        transport: &dyn Transport,
        endpoint: &str,
    ) -> Result<Running, Status> {
        let endpoint: Endpoint = endpoint
            .parse()
            .map_err(|e: crate::EndpointError| Status::invalid_argument(e.0))?;
        if RuntimeHandle::current().is_none() {
            return Err(Status::failed_precondition(
                "a muxwire server runs on a tokio runtime and this task is not on one: use \
                 Server::bind_on, or Runtime::block_on from synchronous code",
            ));
        }
        self.opts.validate()?;
        self.router.check()?;
        let listener = transport
            .listen(&endpoint)
            .await
            .map_err(|e| listen_failed(&endpoint, &e))?;
        let local = listener
            .local_endpoint()
            .map_err(|e| Status::internal(e.to_string()))?;
        let stats = Arc::new(Stats::default());
        if self.opts.method_metrics {
            stats.track_methods(self.router.metrics());
        }
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let stop_accept = Arc::new(Notify::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let accept_task = {
            let (stats, conns, stop) = (stats.clone(), conns.clone(), stop_accept.clone());
            let stopping = stopping.clone();
            let (router, opts, peers) = (self.router, self.opts, self.peers);
            let admission = Admission::new(&opts, stats.clone());
            tokio::spawn(async move {
                loop {
                    let io = tokio::select! {
                        biased;
                        _ = stop.notified() => break,
                        r = listener.accept() => match r {
                            Ok(io) => io,
                            Err(e) => {
                                tracing::warn!(%e, "accept failed");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        },
                    };
                    let open = {
                        let mut list = conns.lock().expect("lock");
                        list.retain(|c| !c.handle.closed.is_closed());
                        list.len()
                    };
                    if let Err(why) = admission.admit(open) {
                        admission.refuse(io, why, &opts);
                        continue;
                    }
                    tracing::info!(peer = %io.peer, "connection accepted");
                    let (handle, task) = driver::spawn(
                        io,
                        Side::Acceptor,
                        opts.clone(),
                        stats.clone(),
                        Some(router.clone()),
                        Some(admission.clone()),
                    );
                    if let Some(peers) = &peers {
                        track(peers, &handle, &opts);
                    }
                    let mut list = conns.lock().expect("lock");
                    if stopping.load(Ordering::SeqCst) {
                        // Accepted as the server stopped, after its connections were
                        // drained: this one drains too.
                        handle.send(Cmd::Drain);
                    }
                    list.push(Conn {
                        handle,
                        task: task.abort_handle(),
                    });
                }
            })
        };
        tracing::info!(%local, "listening");
        Ok(Running {
            local,
            stats,
            conns,
            stop_accept,
            stopping,
            accept_task,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // After `shutdown` this finds nothing left to do.
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_accept.notify_one();
        for c in self.conns.lock().expect("lock").drain(..) {
            c.handle.send(Cmd::Drain);
        }
    }
}

impl Running {
    /// Where the server listens (with the real port if 0 was asked for).
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// The server's counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The server's live counters, shared: they stay readable after [`Running::shutdown`]
    /// (a binding keeps them to report the calls that finished during the shutdown).
    pub fn stats_handle(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.conns
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| !c.handle.closed.is_closed())
            .count()
    }

    /// Stops accepting, drains every connection (calls in flight finish, new ones are
    /// refused as safe to retry), and after `grace` closes whatever is left. A connection
    /// that cannot even close (its peer reads nothing, so neither the close nor its GOAWAY
    /// goes out) is cut off after a further 5 s.
    pub async fn shutdown(mut self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_accept.notify_one();
        let _ = (&mut self.accept_task).await;
        let conns: Vec<Conn> = self.conns.lock().expect("lock").drain(..).collect();
        for c in &conns {
            c.handle.send(Cmd::Drain);
        }
        if tokio::time::timeout(grace, all_closed(&conns))
            .await
            .is_ok()
        {
            return;
        }
        for c in &conns {
            c.handle.send(Cmd::Close);
        }
        if tokio::time::timeout(FINAL_WRITE_GRACE, all_closed(&conns))
            .await
            .is_err()
        {
            for c in &conns {
                c.task.abort();
            }
            all_closed(&conns).await;
        }
    }
}

/// Why listening on `endpoint` failed, as a status whose code says what to do about it:
/// ALREADY_EXISTS for an address in use or a file in the way, PERMISSION_DENIED, or
/// UNAVAILABLE for anything else.
fn listen_failed(endpoint: &Endpoint, e: &std::io::Error) -> Status {
    let message = format!("cannot listen on {endpoint}: {e}");
    match e.kind() {
        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AlreadyExists => {
            Status::new(StatusCode::ALREADY_EXISTS, message)
        }
        std::io::ErrorKind::PermissionDenied => Status::new(StatusCode::PERMISSION_DENIED, message),
        _ => Status::unavailable(message),
    }
}

/// A connection the server accepted: its handle, and its task to abort when it cannot
/// close.
struct Conn {
    handle: Handle,
    task: tokio::task::AbortHandle,
}

/// Registers the connection of `handle` with `peers` until it ends.
fn track(peers: &Peers, handle: &Handle, opts: &Arc<Options>) {
    let id = handle.id;
    peers.joined(Channel::new(handle.clone(), opts.clone()));
    let (peers, closed) = (peers.clone(), handle.closed.clone());
    tokio::spawn(async move {
        closed.wait().await;
        peers.left(id);
    });
}

/// Resolves once every connection in `conns` has closed.
async fn all_closed(conns: &[Conn]) {
    for c in conns {
        c.handle.closed.wait().await;
    }
}
