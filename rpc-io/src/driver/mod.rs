//! One connection: a driver task that owns the sans-IO `Connection` and the read half, and
//! a writer task that owns the write half. Callers and handlers talk to the driver through
//! a command channel; the driver turns commands and received bytes into frames, queues
//! them for the writer, which sends everything queued with one vectored write.

mod arena;
mod callee;
mod caller;
mod incoming;
mod landing;
mod send;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use muxwire_core::conn::{Connection, StreamSlot};
use muxwire_core::time::Instant as CoreInstant;
use muxwire_core::wire::{ErrorCode, Side, StatusCode, StreamId};
use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use crate::commands::{CallReq, Cmd, Commands, StreamKey};
use tokio::time::Instant;

use crate::handle::{Flag, Handle};
use crate::recycle::Recycler;
use crate::route::Router;
use crate::stats::{Stats, Tally};
use crate::transport::Io;
use crate::writer::{write_loop, Outbox};
use crate::{Options, Status};

use arena::WriteArena;
use callee::Callee;
use caller::Caller;
use landing::{read_some, Landing};
use send::{Item, SendQueue};

/// While taking many commands at once, frames go to the writer every this many bytes, so
/// that it starts early and the write queue's bound is checked against what is encoded.
const FLUSH_AT: usize = 256 * 1024;

/// Bytes are read into a buffer with this much room (renewed below 64 KiB).
const READ_BUFFER_SIZE: usize = 256 * 1024;

pub(crate) struct Driver {
    conn: Connection<Box<[StreamSlot]>>,
    opts: Arc<Options>,
    stats: Arc<Stats>,
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
    epoch: Instant,
    clock: CoreInstant,
    /// The calls this side made.
    caller: Caller,
    /// The calls this side serves.
    callee: Callee,
    queues: FxHashMap<u32, SendQueue>,
    pings: VecDeque<(oneshot::Sender<Option<std::time::Duration>>, Instant)>,
    /// Per-call counts not yet added to `stats`.
    tally: Tally,
    /// Outcomes of unary calls that ended this turn, for their reply slots (see `answer`).
    outcomes: Vec<(u32, Result<Bytes, Status>)>,
    wakers: Vec<std::task::Waker>,
    /// Earlier read buffers, reused once their messages are gone.
    read_bufs: Recycler,
    /// Frames encoded and not yet written, and the writer's queue.
    out: WriteArena,
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
) -> (Handle, tokio::task::JoinHandle<()>) {
    let handle = Handle::new();
    let slots = vec![StreamSlot::EMPTY; opts.stream_slots].into_boxed_slice();
    let epoch = Instant::now();
    let conn = Connection::new(opts.core_config(side), slots, CoreInstant(0));
    let outbox = Arc::new(Outbox::default());
    Stats::add(&stats.connections, 1);
    let writer = tokio::spawn(write_loop(
        io.write,
        outbox.clone(),
        opts.flush_delay,
        stats.clone(),
    ));
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
        callee: Callee::new(router),
        queues: FxHashMap::default(),
        pings: VecDeque::new(),
        outcomes: Vec::new(),
        tally: Tally::default(),
        wakers: Vec::new(),
        read_bufs: Recycler::default(),
        out: WriteArena::new(outbox),
    };
    let ending = Ending {
        outbox: driver.out.outbox.clone(),
        commands: handle.commands.clone(),
        closed: handle.closed.clone(),
        ready: handle.ready.clone(),
    };
    let task = tokio::spawn(async move {
        let read = io.read;
        driver.run(read).await;
        // Let the writer flush the final GOAWAY, then stop it.
        driver.out.outbox.close();
        let _ = writer.await;
        drop(ending);
    });
    (handle, task)
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

    fn tick(&mut self) {
        self.clock = CoreInstant(self.epoch.elapsed().as_micros() as u64);
    }

    async fn run(&mut self, mut read: Pin<Box<dyn tokio::io::AsyncRead + Send>>) {
        let mut rbuf = BytesMut::with_capacity(READ_BUFFER_SIZE);
        let mut landing: Option<Landing> = None;
        let mut peek = false;
        let mut eof = false;
        self.tick();
        self.flush();
        loop {
            let timeout = self
                .conn
                .poll_timeout()
                .map(|t| self.epoch + std::time::Duration::from_micros(t.0));
            tokio::select! {
                biased;
                // While the writer is far behind, new work waits in the channel (which
                // budgets and flow control bound), so unwritten frames stay bounded.
                _ = self.out.outbox.drained.notified(), if self.out.outbox.is_full() => {
                    self.tick();
                }
                _ = self.handle.commands.ready(),
                    if !self.out.outbox.is_full() && self.cmds.is_empty() =>
                {
                    self.gather_callers().await;
                    self.tick();
                    self.commands();
                }
                // Commands left over when the writer filled up go first, once it drained.
                _ = std::future::ready(()), if !self.out.outbox.is_full() && !self.cmds.is_empty() => {
                    self.tick();
                    self.commands();
                }
                r = read_some(&mut read, &mut rbuf, &mut landing, peek), if !eof => {
                    peek = false;
                    self.tick();
                    Stats::add(&self.stats.read_syscalls, 1);
                    match r {
                        Ok(0) | Err(_) => {
                            eof = true;
                            if let Some(l) = landing.take() {
                                // The frame will never be whole.
                                self.unland(l, &mut rbuf);
                            }
                            self.conn.handle_eof(self.now());
                        }
                        Ok(n) => {
                            Stats::add(&self.stats.bytes_in, n as u64);
                            match landing.take() {
                                Some(l) if l.remaining() == 0 => {
                                    // The next frame is likely the message's next chunk:
                                    // read just its head, so that it can land too.
                                    peek = rbuf.is_empty();
                                    self.land(l, &mut rbuf);
                                }
                                Some(l) => landing = Some(l),
                                None => self.input(&mut rbuf),
                            }
                            if landing.is_none() && !self.conn.is_closed() {
                                landing = self.try_land(&mut rbuf);
                            }
                        }
                    }
                    if rbuf.capacity() - rbuf.len() < 64 * 1024 {
                        self.read_bufs.renew(&mut rbuf, READ_BUFFER_SIZE);
                    }
                }
                _ = sleep_until(timeout) => {
                    self.tick();
                    self.conn.handle_timeout(self.now());
                }
            }
            self.after();
            // `after` has delivered every event (the close included) and queued the GOAWAY.
            if self.conn.is_closed() {
                break;
            }
        }
        self.fail_everything("connection closed");
    }

    /// Lets every task that is ready run before the queued commands are taken, when other
    /// calls are in flight: their callers, woken by the replies of the last turn, are
    /// likely to queue more, and then one turn and one write carry them all.
    ///
    /// Batching must not depend on the scheduler. On a current-thread runtime the woken
    /// callers run before the driver anyway; on a multi-thread one, tokio puts the task a
    /// worker wakes in its LIFO slot, so without this the driver would run after each
    /// caller and write one frame at a time (one writev per call). `yield_now` defers the
    /// driver until its worker has run out of ready tasks (and polled the IO driver).
    /// With nothing else in flight (one call at a time) the command goes out at once, so
    /// latency pays nothing.
    async fn gather_callers(&self) {
        if self.conn.open_streams() > 0 {
            tokio::task::yield_now().await;
        }
    }

    /// Events, then output: after every input, command or timer.
    fn after(&mut self) {
        self.events(&Bytes::new());
        self.retry_waiting();
        self.flush();
        self.handle
            .commands
            .release(std::mem::take(&mut self.one_way_done));
        let frames = self.conn.frames_received();
        Stats::add(&self.stats.frames_in, frames - self.frames_counted);
        self.frames_counted = frames;
        self.deliver();
    }

    /// Fills the reply slots of the calls that ended this turn and wakes their callers
    /// (who find them counted).
    fn deliver(&mut self) {
        self.tally.publish(&self.stats);
        self.handle
            .commands
            .deliver(&mut self.outcomes, &mut self.wakers);
    }

    /// Carries out queued commands (those left from the last turn first), handing frames
    /// to the writer now and then so that it starts early and `is_full` sees them. Stops
    /// while the writer is full; the rest waits in `cmds`.
    fn commands(&mut self) {
        let mut names = std::mem::take(&mut self.names);
        if self.cmds.is_empty() {
            self.handle.commands.take(&mut self.cmds, &mut names);
        }
        while !self.out.outbox.is_full() {
            let Some(cmd) = self.cmds.pop_front() else {
                break;
            };
            self.command(cmd, &names);
            if self.out.unflushed >= FLUSH_AT {
                self.flush();
            }
        }
        self.names = names;
    }

    /// Carries out one command; `names` holds the method names of one-way calls.
    fn command(&mut self, cmd: Cmd, names: &str) {
        match cmd {
            Cmd::Call(req) => self.open(*req, names),
            Cmd::Unary(u) => self.open(CallReq::unary(u), names),
            Cmd::OneWay { method, bodies } => self.send_one_way(method.of(names), bodies),
            Cmd::Send {
                stream,
                body,
                end,
                permit,
            } => {
                let id = match stream {
                    StreamKey::Served(call) => {
                        if !self.is_current(call) {
                            // The handler's call is over: its message goes nowhere.
                            return;
                        }
                        call.stream
                    }
                    StreamKey::Token(t) => match self.caller.tokens.get(&t) {
                        Some(&id) => id,
                        None => {
                            // The call may still wait for the peer's stream limit: keep its
                            // messages until it opens (a call that already ended drops them).
                            if self.caller.waiting.iter().any(|r| r.token == t) {
                                self.caller
                                    .early
                                    .entry(t)
                                    .or_default()
                                    .push(Item::send(body, end, permit));
                            }
                            return;
                        }
                    },
                };
                let q = self.queues.entry(id).or_default();
                q.items.push_back(Item::send(body, end, permit));
                self.pump(id);
            }
            Cmd::Consume { call, n } => {
                // A call that ended meanwhile still owes the connection its credit.
                let stream = if self.is_current(call) {
                    call.stream
                } else {
                    0
                };
                self.conn.consume(StreamId(stream), n)
            }
            Cmd::ConsumeCall { token, n } => {
                // After the call ended only the connection's credit is still owed.
                let id = self.caller.tokens.get(&token).copied().unwrap_or(0);
                self.conn.consume(StreamId(id), n);
            }
            Cmd::Cancel { token } => {
                self.cancel_token(token, Status::cancelled("cancelled by the caller"))
            }
            Cmd::Reply { call, result } => {
                if self.is_current(call) {
                    self.reply(call.stream, result);
                }
            }
            Cmd::Ping(tx) => match self.conn.ping(self.now()) {
                Ok(()) => self.pings.push_back((tx, Instant::now())),
                Err(_) => {
                    let _ = tx.send(None);
                }
            },
            Cmd::Drain => {
                let _ = self.conn.drain(self.now());
            }
            Cmd::Close => {
                self.conn
                    .close(self.now(), ErrorCode::NO_ERROR, "closed by the application")
            }
        }
    }

    fn fail_everything(&mut self, why: &str) {
        // Commands that raced the close were never sent: they fail as safe to retry.
        let (rest, rest_names) = self.handle.commands.close();
        let names = std::mem::take(&mut self.names);
        let taken = std::mem::take(&mut self.cmds);
        for (cmd, names) in taken
            .into_iter()
            .map(|c| (c, &names))
            .chain(rest.into_iter().map(|c| (c, &rest_names)))
        {
            match cmd {
                Cmd::Call(req) => self.wait(*req, names),
                Cmd::Unary(u) => self.wait(CallReq::unary(u), names),
                Cmd::Ping(tx) => {
                    let _ = tx.send(None);
                }
                _ => {}
            }
        }
        let calls: Vec<u32> = self.caller.calls.keys().copied().collect();
        for id in calls {
            self.finish_call(id, Err(Status::unavailable(why)));
        }
        for req in std::mem::take(&mut self.caller.waiting) {
            let status = Status::refused(format!("{why} before the call was sent"));
            if req.one_way {
                if let Some(to) = req.reply {
                    self.answer(to, Err(status));
                }
            } else {
                self.fail_req(*req, status);
            }
        }
        let served: Vec<u32> = self.callee.served.keys().copied().collect();
        for id in served {
            self.end_served(id, StatusCode::UNAVAILABLE);
        }
        for (tx, _) in self.pings.drain(..) {
            let _ = tx.send(None);
        }
        self.deliver();
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
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
