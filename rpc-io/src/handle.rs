//! A live connection as the rest of the runtime sees it: a [`Handle`] to queue commands
//! for its driver and to watch it open and close, and the frame-size checks callers make
//! before queueing a one-way message. [`Channel`] is the application's handle on it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::budget::Budget;
use crate::commands::{Bodies, Cmd, Commands, OneWayRefused, StreamKey};
use crate::options::Options;
use crate::runtime::RuntimeHandle;
use crate::stats::Stats;
use crate::status::Status;
use crate::transport::PeerIdentity;
use crate::writer::FRAME_CAP;

/// Room kept in a CALL frame for its header, method TLV, deadline and metadata.
const FRAME_FIELDS_ROOM: usize = 1024;

/// `HandleInner::peer_goaway` before any GOAWAY arrived.
pub(crate) const NO_GOAWAY: u32 = u32::MAX;

/// A live connection, as seen by clients and servers. One `Arc`, so that handing it to
/// every call (a handler's `Peer`, a client's pick) costs one reference count.
#[derive(Clone)]
pub(crate) struct Handle(Arc<HandleInner>);

/// What every clone of a [`Handle`] shares.
pub(crate) struct HandleInner {
    pub(crate) commands: Arc<Commands>,
    /// Set when the connection has ended.
    pub(crate) closed: Arc<Flag>,
    /// Set when the peer's HELLO has arrived (its limits are known).
    pub(crate) ready: Arc<Flag>,
    /// The peer's max_frame_size, once its HELLO has arrived (0 before).
    pub(crate) peer_max_frame: AtomicU32,
    /// The code of the peer's GOAWAY, once one has arrived (`NO_GOAWAY` before).
    pub(crate) peer_goaway: AtomicU32,
    /// Set when the connection closed for its own idle timeout (nothing was lost).
    pub(crate) idled_out: AtomicBool,
    /// The counters of the client or server the connection belongs to.
    pub(crate) stats: Arc<Stats>,
    /// The runtime the connection's tasks run on.
    pub(crate) rt: RuntimeHandle,
    /// The peer's address, as the transport names it.
    pub(crate) peer_addr: String,
    /// Who the peer proved to be (a TLS client certificate), if the transport checked.
    pub(crate) identity: Option<Arc<PeerIdentity>>,
    /// This connection's number, unique in the process.
    pub(crate) id: u64,
}

/// The number the next connection gets.
static NEXT_CONNECTION_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl HandleInner {
    /// Fails a one-way message that cannot be a single frame on this connection. A body
    /// that compression will shrink is left to the connection, which checks the result.
    pub(crate) fn check_one_way(
        &self,
        method: &str,
        len: usize,
        may_compress: bool,
    ) -> Result<(), Status> {
        let max = self.peer_max_frame.load(Ordering::Acquire);
        if max == 0 || may_compress {
            return Ok(());
        }
        one_way_fits(max, method, len)
    }
}

/// The status of a one-way call whose connection ended before it was queued.
pub(crate) fn closed_before_sent() -> Status {
    Status::refused("connection closed before the message was sent")
}

/// Room for a message in a frame that also carries `method` and the call's other fields
/// (frames carry at most `FRAME_CAP` message bytes, whatever the peer allows).
pub(crate) fn inline_room(max_frame: u32, method: &str) -> usize {
    (max_frame as usize)
        .min(FRAME_CAP)
        .saturating_sub(FRAME_FIELDS_ROOM + method.len())
}

/// A one-way call is one frame: its message must fit beside the method name.
pub(crate) fn one_way_fits(max_frame: u32, method: &str, len: usize) -> Result<(), Status> {
    let room = inline_room(max_frame, method);
    if len <= room {
        return Ok(());
    }
    Err(Status::resource_exhausted(format!(
        "one-way message of {len} bytes does not fit a single frame: the limit is {room} \
         bytes (the peer's max_frame_size {max_frame}, at most {FRAME_CAP}, less \
         {FRAME_FIELDS_ROOM} bytes of header room and the method name); send it as a call \
         or a stream"
    )))
}

impl std::ops::Deref for Handle {
    type Target = HandleInner;

    fn deref(&self) -> &HandleInner {
        &self.0
    }
}

/// A one-way flag that wakes waiters when set.
#[derive(Default)]
pub(crate) struct Flag {
    flag: AtomicBool,
    notify: Notify,
}

impl Flag {
    /// True once set.
    pub(crate) fn is_closed(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Resolves once set.
    pub(crate) async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            if self.is_closed() {
                return;
            }
            n.await;
        }
    }

    /// Sets the flag and wakes every waiter.
    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

impl Handle {
    /// True once the handshake is complete and until the peer's GOAWAY or the end of the
    /// connection: new calls can go.
    pub(crate) fn is_live(&self) -> bool {
        self.ready.is_closed()
            && !self.closed.is_closed()
            && self.peer_goaway.load(Ordering::Acquire) == NO_GOAWAY
    }

    /// A handle for a new connection: nothing queued, not ready, not closed.
    pub(crate) fn new(
        stats: Arc<Stats>,
        rt: RuntimeHandle,
        peer_addr: String,
        identity: Option<Arc<PeerIdentity>>,
    ) -> Handle {
        Handle(Arc::new(HandleInner {
            commands: Arc::default(),
            closed: Arc::new(Flag::default()),
            ready: Arc::new(Flag::default()),
            peer_max_frame: AtomicU32::new(0),
            peer_goaway: AtomicU32::new(NO_GOAWAY),
            idled_out: AtomicBool::new(false),
            stats,
            rt,
            peer_addr,
            identity,
            id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// Queues `cmd` for the driver; false if the connection has ended.
    pub(crate) fn send(&self, cmd: Cmd) -> bool {
        self.commands.send(cmd)
    }

    /// Queues one-way calls to `method`, waiting while the connection's one-way budget is
    /// spent. The caller has checked that each body fits a frame.
    pub(crate) async fn one_way(&self, method: &str, mut bodies: Bodies) -> Result<(), Status> {
        loop {
            let room = self.commands.room();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.commands.one_way(method, bodies) {
                Ok(()) => return Ok(()),
                Err(OneWayRefused::Closed) => return Err(closed_before_sent()),
                Err(OneWayRefused::Full(b)) => {
                    bodies = b;
                    room.await;
                }
            }
        }
    }

    /// Queues one message on a stream once `budget` has room for it; the room comes back
    /// when the connection has written the bytes.
    pub(crate) async fn send_budgeted(
        &self,
        stream: StreamKey,
        budget: &Arc<Budget>,
        message: Bytes,
    ) -> Result<(), Status> {
        let permit = budget.reserve(message.len()).await?;
        let cmd = Cmd::Send {
            stream,
            body: Some(message),
            end: false,
            permit: Some(permit),
        };
        if self.send(cmd) {
            Ok(())
        } else {
            Err(Status::unavailable("connection closed"))
        }
    }
}

/// One connection, offering every kind of call over it: unary, one-way, streaming, PING.
/// A client hands them out ([`crate::Client::channel`]) and so does a handler's context
/// ([`crate::Context::peer`]: the connection the call came in on, to call the caller
/// back). Cheap to clone; the calls themselves are made in `channel`.
#[derive(Clone)]
pub struct Channel {
    pub(crate) handle: Handle,
    pub(crate) opts: Arc<Options>,
}

/// The channel a handler's context hands out (the former name of [`Channel`]).
pub type Peer = Channel;

impl Channel {
    /// The application's handle on the connection `handle` (with its `opts`).
    pub(crate) fn new(handle: Handle, opts: Arc<Options>) -> Channel {
        Channel { handle, opts }
    }

    /// The connection's number, unique in this process (a key for maps of peers).
    pub fn connection_id(&self) -> u64 {
        self.handle.id
    }

    /// The peer's address, as the transport names it (`host:port`, or a socket path).
    pub fn peer_address(&self) -> &str {
        &self.handle.peer_addr
    }

    /// Who the peer proved to be: over TLS with client certificates, its verified
    /// certificate; over a Unix socket, its process credentials (SO_PEERCRED); `None`
    /// otherwise.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.handle.identity.as_deref()
    }
}
