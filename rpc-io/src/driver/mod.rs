//! One connection: a driver task that owns the sans-IO `Connection` and the read half, and
//! a writer task that owns the write half. Callers and handlers talk to the driver through
//! a command channel; the driver turns commands and received bytes into frames, queues
//! them for the writer, which sends everything queued with one vectored write.
//!
//! The driver's parts, each with its own state where it has some:
//! - `task`: the event loop, the commands it carries out, and the connection's end;
//! - `incoming`: received bytes to the core, the core's events to the parts, messages put
//!   together from their chunks; `landing`: large chunks read straight into their message;
//! - `caller`: calls this side made ([`Caller`]), from opening to their outcome;
//! - `callee`: calls this side serves ([`Callee`]), from their route to their STATUS;
//! - `reply`: a served call's STATUS, with its message or after DATA chunks;
//! - `send`: messages waiting for flow-control credit ([`SendQueue`]);
//! - `arena`: where every frame is encoded before the writer takes it ([`WriteArena`]);
//! - `trim`: an idle connection lets go of its large buffers and slots.

mod admit;
mod arena;
mod callee;
mod caller;
mod incoming;
mod landing;
mod one_way;
mod reply;
mod send;
mod task;
mod trim;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use muxwire_core::conn::{Connection, StreamSlot};
use muxwire_core::time::Instant as CoreInstant;
use muxwire_core::wire::Side;
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::admission::Admission;
use crate::authorize::{self, PeerInfo};
use crate::commands::{Cmd, Commands};
use crate::handle::{Flag, Handle};
use crate::recycle::Recycler;
use crate::route::Router;
use crate::runtime::RuntimeHandle;
use crate::stats::{Stats, Tally};
use crate::transport::Io;
use crate::writer::{write_loop, Outbox, FINAL_WRITE_GRACE};
use crate::{Options, Status};

use arena::WriteArena;
use callee::Callee;
use caller::Caller;
use incoming::Partials;
use one_way::OneWaySlots;
use send::SendQueue;

/// A connection's driver: the core's state machine and everything the runtime keeps
/// around it. Each part's state is its own field; the parts' methods live in their
/// modules.
pub(crate) struct Driver {
    /// The sans-IO connection.
    conn: Connection<Box<[StreamSlot]>>,
    opts: Arc<Options>,
    stats: Arc<Stats>,
    /// This connection's handle, handed to handlers (their `Channel`) and streams.
    handle: Handle,
    /// Commands taken from the queue and not yet carried out, with their names.
    cmds: VecDeque<Cmd>,
    names: String,
    /// One-way bytes encoded or dropped since the budget was last told.
    one_way_done: usize,
    /// A chunk that was read into its message's buffer, until its event is delivered.
    landed: Option<(u32, usize)>,
    /// Frames received already added to the stats.
    frames_counted: u64,
    /// When the connection started: the core's time counts from here.
    epoch: Instant,
    /// The core's time, read once per turn (see `tick`).
    clock: CoreInstant,
    /// The calls this side made.
    caller: Caller,
    /// The calls this side serves.
    callee: Callee,
    /// Messages waiting for credit, by stream id.
    queues: FxHashMap<u32, SendQueue>,
    /// Streams whose queued messages wait for the writer to catch up, in order.
    room_waiters: VecDeque<u32>,
    /// PINGs sent, in order, with whoever waits for the round-trip time.
    pings: VecDeque<(oneshot::Sender<Option<std::time::Duration>>, Instant)>,
    /// Per-call counts not yet added to `stats`.
    tally: Tally,
    /// Outcomes of unary calls that ended this turn, for their reply slots (see `answer`).
    outcomes: VecDeque<(u32, Result<Bytes, Status>)>,
    /// Scratch room for the wakers of those reply slots.
    wakers: Vec<std::task::Waker>,
    /// Bytes of messages still arriving in chunks, and their bound.
    partials: Partials,
    /// One-way handlers running and waiting, and their bound.
    one_way: OneWaySlots,
    /// Earlier read buffers, reused once their messages are gone.
    read_bufs: Recycler,
    /// Frames encoded and not yet written, and the writer's queue.
    out: WriteArena,
    /// A server's connection limits and server-wide budgets (none for clients).
    admission: Option<Arc<Admission>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Counts of the last turn, also when the driver unwinds from a panic.
        self.tally.publish(&self.stats);
    }
}

/// Starts the driver and writer tasks for `io`; returns the handle and a future that
/// resolves when the connection has ended.
pub(crate) fn spawn(
    io: Io,
    side: Side,
    opts: Arc<Options>,
    stats: Arc<Stats>,
    router: Option<Arc<Router>>,
    admission: Option<Arc<Admission>>,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let rt = RuntimeHandle::current().expect("connections are spawned on a runtime");
    let handle = Handle::new(stats.clone(), rt, io.peer.clone(), io.identity.clone());
    // The router's connection check, once, before anything is served.
    let refused = router
        .as_ref()
        .and_then(|r| r.connection_check.as_ref())
        .and_then(|check| {
            let peer = PeerInfo {
                address: &io.peer,
                identity: io.identity.as_deref(),
            };
            authorize::run(|| check(&peer)).err()
        });
    let slots = vec![StreamSlot::EMPTY; opts.stream_slots.min(FIRST_SLOTS)].into_boxed_slice();
    let epoch = Instant::now();
    let mut config = opts.core_config(side);
    config.storage_max = opts.stream_slots;
    let conn = Connection::new(config, slots, CoreInstant(0));
    let outbox = Arc::new(Outbox::new(admission.as_ref().map(|a| a.outbound.clone())));
    let partial_limit = opts.partial_message_limit;
    let one_way_limit = opts.max_one_way_handlers;
    Stats::add(&stats.connections, 1);
    let mut writer = AbortOnDrop(tokio::spawn(write_loop(
        io.write,
        outbox.clone(),
        opts.flush_delay,
        stats.clone(),
    )));
    let mut driver = Driver {
        conn,
        opts,
        stats,
        handle: handle.clone(),
        cmds: VecDeque::new(),
        names: String::new(),
        one_way_done: 0,
        landed: None,
        frames_counted: 0,
        epoch,
        clock: CoreInstant(0),
        caller: Caller::default(),
        callee: Callee::new(router).refusing(refused),
        queues: FxHashMap::default(),
        room_waiters: VecDeque::new(),
        pings: VecDeque::new(),
        outcomes: VecDeque::new(),
        tally: Tally::default(),
        wakers: Vec::new(),
        partials: Partials::new(partial_limit),
        one_way: OneWaySlots::new(one_way_limit),
        read_bufs: Recycler::default(),
        out: WriteArena::new(outbox),
        admission,
    };
    let ending = Ending {
        outbox: driver.out.outbox.clone(),
        commands: handle.commands.clone(),
        closed: handle.closed.clone(),
        ready: handle.ready.clone(),
    };
    // Whatever the connection and the handlers it runs log names the peer.
    let span = tracing::info_span!("conn", peer = %io.peer, side = side_name(side));
    let task = tokio::spawn(tracing::Instrument::instrument(
        async move {
            let read = io.read;
            driver.run(read).await;
            // Let the writer flush the final GOAWAY, then stop it (a peer that does not read
            // cannot keep it, and the socket, for longer than the grace).
            driver.out.outbox.close();
            let _ = tokio::time::timeout(FINAL_WRITE_GRACE, &mut writer.0).await;
            drop(writer);
            drop(ending);
        },
        span,
    ));
    (handle, task)
}

/// How logs name a connection's side.
fn side_name(side: Side) -> &'static str {
    match side {
        Side::Acceptor => "server",
        Side::Connector => "client",
    }
}

/// Stream slots a connection starts with; it doubles them as its calls need, up to
/// `Options::stream_slots` (an idle connection holds 16 x 72 bytes, not 2,304 x 72).
const FIRST_SLOTS: usize = 16;

/// A task aborted when this is dropped: the writer goes with its connection's task, also
/// when that task is aborted or panics.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ends a connection once its driver is gone, also when the driver panicked (then this
/// runs as the task unwinds, and the driver's own cleanup never ran): the writer stops, so
/// the socket closes and the peer sees the end; commands still queued fail (their callers
/// get UNAVAILABLE, as do the calls in flight, whose reply channels the driver dropped);
/// and the client sees the connection closed, so it reconnects.
struct Ending {
    outbox: Arc<Outbox>,
    commands: Arc<Commands>,
    closed: Arc<Flag>,
    ready: Arc<Flag>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("connection driver panicked: connection closed");
        }
        self.outbox.close();
        drop(self.commands.close());
        // After a panic, calls the driver had not answered end here (normally none are left).
        self.commands.fail_replies(&Status::unavailable(
            "connection closed with the call in flight",
        ));
        self.closed.set();
        self.ready.set();
    }
}

impl Driver {
    /// The time for the core: read once per turn of the event loop (see `tick`).
    fn now(&self) -> CoreInstant {
        self.clock
    }

    /// Reads the clock for this turn.
    fn tick(&mut self) {
        self.clock = CoreInstant(self.epoch.elapsed().as_micros() as u64);
    }

    /// Doubles the stream storage (up to `Options::stream_slots`) while the core asks for
    /// more: before input is handed in and before a frame is written.
    fn grow_storage(&mut self) {
        while self.conn.wants_storage() {
            let n = (self.conn.storage_capacity() * 2).clamp(FIRST_SLOTS, self.opts.stream_slots);
            let slots = vec![StreamSlot::EMPTY; n].into_boxed_slice();
            if self.conn.replace_storage(slots).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use crate::{CallOptions, Client, Context, Options, Router, Running, Server, StatusCode};

    /// Calling this method makes the receiving driver panic (test builds only).
    pub(super) const PANIC_METHOD: &str = "test.panic-in-driver";

    async fn serve(router: Router) -> Running {
        Server::new(router, Options::default())
            .bind("tcp://127.0.0.1:0")
            .await
            .unwrap()
    }

    /// A driver that panics takes only its connection down, and takes it down for real:
    /// the socket closes (the peer's calls in flight fail at once instead of waiting for
    /// their timeouts) and the client reconnects.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_driver_closes_its_connection_and_fails_its_calls() {
        let router = Router::new()
            .unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
            .unary("sleep", |_ctx: Context, _req: Bytes| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Bytes::new())
            });
        let server = serve(router).await;
        let url = server.local_endpoint().to_string();
        let opts = Options {
            reconnect_base: Duration::from_millis(10),
            ..Options::default()
        };
        let client = Client::connect_with(&url, opts, None).await.unwrap();
        let long = CallOptions::timeout(Duration::from_secs(20));
        let c = client.clone();
        let sleeping = tokio::spawn(async move { c.call_with("sleep", Bytes::new(), &long).await });
        tokio::time::sleep(Duration::from_millis(50)).await;

        let bounded = Duration::from_secs(5);
        let e = tokio::time::timeout(bounded, client.call(PANIC_METHOD, Bytes::new()))
            .await
            .expect("the call that killed the driver ends")
            .unwrap_err();
        assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");
        let e = tokio::time::timeout(bounded, sleeping)
            .await
            .expect("the call in flight ends long before its 20 s timeout")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");

        // The server still serves, and the client reconnects to it.
        let mut answered = false;
        for _ in 0..200 {
            if let Ok(r) = client.call("echo", Bytes::from_static(b"again")).await {
                assert_eq!(r, "again");
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(answered, "the client reconnected");
        server.shutdown(Duration::from_secs(1)).await;
    }

    /// The caller's side: a client whose driver panics (here, on a call the server makes
    /// back to it) still ends its own calls in flight, which wait in reply slots that
    /// nothing else would fill.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_whose_driver_panics_ends_its_calls_in_flight() {
        let router = Router::new().unary("call-back", |ctx: Context, _req: Bytes| async move {
            let _ = ctx.peer().call(PANIC_METHOD, Bytes::new()).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Bytes::new())
        });
        let server = serve(router).await;
        let client = Client::connect(&server.local_endpoint().to_string())
            .await
            .unwrap();
        let e = tokio::time::timeout(
            Duration::from_secs(5),
            client.call("call-back", Bytes::new()),
        )
        .await
        .expect("the call ends although its driver is gone")
        .unwrap_err();
        assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");
        server.shutdown(Duration::from_millis(100)).await;
    }
}
