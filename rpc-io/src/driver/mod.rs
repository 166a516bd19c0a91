//! One connection: a driver task that owns the sans-IO `Connection` and the read half, and
//! a writer task that owns the write half. Callers and handlers talk to the driver through
//! a command channel; the driver turns commands and received bytes into frames, queues
//! them for the writer, which sends everything queued with one vectored write.

mod arena;
mod callee;
mod caller;
mod send;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use muxwire_core::conn::{Connection, Event, FailReason, StreamSlot};
use muxwire_core::time::Instant as CoreInstant;
use muxwire_core::wire::{
    Codec, ErrorCode, Flags, FrameType, Metadata, Side, StatusCode, StreamId,
};
use rustc_hash::FxHashMap;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::commands::{CallReq, Cmd, Commands, StreamKey};
use tokio::time::Instant;

use crate::compress;
use crate::handle::{Flag, Handle};
use crate::pool;
use crate::recycle::Recycler;
use crate::route::Router;
use crate::stats::{Stats, Tally};
use crate::transport::Io;
use crate::writer::{write_loop, Outbox};
use crate::{Options, Status};

use arena::WriteArena;
use callee::Callee;
use caller::Caller;
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

    fn input(&mut self, rbuf: &mut BytesMut) {
        loop {
            let now = self.now();
            match self.conn.handle_input(now, &rbuf[..]) {
                Ok(0) => {
                    // Nothing consumed: either more bytes are needed or events are owed.
                    self.events(&Bytes::new());
                    if self.conn.is_closed() {
                        return;
                    }
                    break;
                }
                Ok(n) => {
                    let chunk = rbuf.split_to(n).freeze();
                    self.events(&chunk);
                    if rbuf.is_empty() {
                        break;
                    }
                }
                Err(_) => {
                    self.events(&Bytes::new());
                    return;
                }
            }
        }
        // A frame has started to arrive: make room for all of it at once, so that a large
        // frame is read into one buffer (its body then reaches the handler without a copy)
        // instead of growing the buffer step by step. The size was already checked against
        // MAX_FRAME_SIZE by the decoder.
        if let Some(h) = muxwire_core::wire::decode_header(rbuf) {
            let len = h.frame_len().min(16 + self.opts.max_frame_size as usize);
            if len > rbuf.len() {
                rbuf.reserve(len - rbuf.len());
            }
        }
    }

    fn events(&mut self, input: &Bytes) {
        while let Some(ev) = self.conn.poll_event() {
            self.event(ev, input);
        }
    }

    fn event(&mut self, ev: Event, input: &Bytes) {
        // Out of range only for a landed chunk's events (never sliced): empty, not a panic.
        let slice = |p: muxwire_core::conn::Payload| {
            let range = p.start as usize..(p.start + p.len) as usize;
            match input.get(range.clone()) {
                Some(_) => input.slice(range),
                None => Bytes::new(),
            }
        };
        match ev {
            Event::Call {
                stream,
                method,
                metadata,
                deadline,
                one_way,
                end_stream,
                message,
            } => {
                // One-way calls are not tracked as in flight.
                self.tally.started(!one_way);
                // Borrowed, not sliced: handlers name their method with the router's copy.
                let method = method.get(input);
                // Only calls that carry ENTRY tags pay for their metadata: a copy, since a
                // view would keep the whole received frame (message and all) alive.
                let block = metadata.get(input);
                let entries: Vec<(String, Bytes)> =
                    if Metadata::new(block).entries().next().is_some() {
                        let meta = Bytes::copy_from_slice(block);
                        Metadata::new(&meta)
                            .entries()
                            .map(|e| (e.key.to_string(), meta.slice_ref(e.value)))
                            .collect()
                    } else {
                        Vec::new()
                    };
                let body = message.map(|m| (slice(m.data), m.codec, m.more));
                self.incoming_call(
                    stream.0, method, entries, deadline, one_way, end_stream, body,
                );
            }
            Event::Message {
                stream,
                message,
                end_stream,
            } => {
                let landed = self.landed.take();
                let data = match landed {
                    Some((s, n)) if s == stream.0 && n == message.data.len as usize => {
                        Piece::Landed(n)
                    }
                    _ => {
                        self.landed = landed;
                        Piece::Bytes(slice(message.data))
                    }
                };
                self.message(stream.0, data, message.codec, message.more, end_stream);
            }
            Event::HalfClosed { stream } => self.half_closed(stream.0),
            Event::Status {
                stream,
                code,
                metadata,
                message,
                ..
            } => {
                let reason = Metadata::new(&slice(metadata))
                    .reason()
                    .unwrap_or("")
                    .to_string();
                let body = message.map(|m| (slice(m.data), m.codec));
                self.status(stream.0, code, reason, body);
            }
            Event::Cancelled { stream, code } => {
                let mut not_started = false;
                if let Some(s) = self.callee.served.get(&stream.0) {
                    s.cancel.cancel();
                    if let Some(tx) = &s.inbound {
                        let _ = tx.send(Err(Status::cancelled("cancelled by the caller")));
                    }
                    // A unary handler still waiting for its request will never answer.
                    not_started = s.unary.is_some();
                }
                if code == StatusCode::UNAVAILABLE {
                    // Connection closed underneath: nothing can be sent any more.
                    self.end_served(stream.0, StatusCode::UNAVAILABLE);
                } else {
                    // The caller discards whatever else we send: drop what still waits for
                    // credit, and answer now if the reply was only waiting behind it.
                    let waiting_reply = self
                        .queues
                        .remove(&stream.0)
                        .is_some_and(|q| q.status.is_some());
                    if not_started || waiting_reply {
                        self.reply(stream.0, Err(Status::cancelled("cancelled by the caller")));
                    }
                }
            }
            Event::DeadlineExceeded { stream } => {
                if let Some(s) = self.callee.served.get(&stream.0) {
                    s.cancel.cancel();
                }
                self.end_served(stream.0, StatusCode::DEADLINE_EXCEEDED);
            }
            Event::CallAborted { stream, code } => {
                if let Some(s) = self.callee.served.get(&stream.0) {
                    s.cancel.cancel();
                }
                Stats::add(&self.stats.limit_rejections, 1);
                self.end_served(stream.0, code);
            }
            Event::CallFailed {
                stream,
                code,
                reason,
            } => {
                let status = match reason {
                    FailReason::Deadline => Status::deadline_exceeded(),
                    FailReason::NotProcessed => {
                        Status::refused("the peer is draining and never processed this call")
                    }
                    FailReason::ConnectionClosed => {
                        Status::unavailable("connection closed with the call in flight")
                    }
                    FailReason::LimitExceeded => Status::new(code, "reply exceeds a local limit"),
                };
                if reason == FailReason::LimitExceeded {
                    Stats::add(&self.stats.limit_rejections, 1);
                }
                self.finish_call(stream.0, Err(status));
            }
            Event::WindowOpened { stream } => {
                if stream.is_connection() {
                    let ids: Vec<u32> = self.queues.keys().copied().collect();
                    for id in ids {
                        self.pump(id);
                    }
                } else {
                    self.pump(stream.0);
                }
            }
            Event::StreamsAvailable => self.retry_waiting(),
            Event::Pong { rtt } => {
                if let Some((tx, _)) = self.pings.pop_front() {
                    let _ = tx.send(Some(std::time::Duration::from_micros(rtt.as_micros())));
                }
            }
            Event::Connected => {
                let max = self.conn.peer_settings().max_frame_size;
                self.handle.peer_max_frame.store(max, Ordering::Release);
                self.handle.ready.set();
            }
            Event::GoAway {
                code,
                accepted_calls,
            } => {
                tracing::debug!(code = code.0, accepted_calls, "peer sent GOAWAY");
            }
            Event::Closed(reason) => {
                if reason.code != ErrorCode::NO_ERROR {
                    tracing::warn!(code = %reason.code, rule = ?reason.rule, by_peer = reason.by_peer, "connection closed");
                } else {
                    tracing::debug!(detail = reason.detail, "connection closed");
                }
            }
            _ => {}
        }
    }

    /// A message or chunk on any stream.
    fn message(&mut self, stream: u32, data: Piece, codec: Codec, more: bool, end: bool) {
        let max = self.opts.max_message_size as usize;
        if let Some(s) = self.callee.served.get_mut(&stream) {
            let streaming = s.inbound.is_some();
            let Some((msg, wire)) =
                s.incoming
                    .piece(&mut self.conn, stream, streaming, data, more, &self.opts)
            else {
                return;
            };
            let msg = compress::decompress(codec, msg, max);
            if let Some((_, _, req)) = &mut s.unary {
                match msg {
                    Ok(m) if req.is_none() => *req = Some(m),
                    Ok(_) => {
                        self.reply(
                            stream,
                            Err(Status::invalid_argument(
                                "a unary method takes exactly one request message",
                            )),
                        );
                        return;
                    }
                    Err(e) => {
                        self.reply(stream, Err(e));
                        return;
                    }
                }
                if end {
                    self.half_closed(stream);
                }
                return;
            }
            if let Some(tx) = &s.inbound {
                // Credit is returned when the handler takes the message (Inbound::next).
                match msg {
                    Ok(m) => {
                        let _ = tx.send(Ok((m, wire)));
                    }
                    Err(e) => {
                        self.conn.consume(StreamId(stream), wire);
                        self.reply(stream, Err(e));
                        return;
                    }
                }
            }
            if end {
                self.half_closed(stream);
            }
            return;
        }
        if let Some(c) = self.caller.calls.get_mut(&stream) {
            let streaming = c.inbound.is_some();
            let Some((msg, wire)) =
                c.incoming
                    .piece(&mut self.conn, stream, streaming, data, more, &self.opts)
            else {
                return;
            };
            match compress::decompress(codec, msg, max) {
                Ok(m) => match &c.inbound {
                    Some(tx) => {
                        let _ = tx.send(Ok((m, wire)));
                    }
                    None => c.last = Some(m),
                },
                Err(e) => {
                    let token = c.token;
                    self.cancel_token(token, e);
                }
            }
            return;
        }
        self.conn.consume(StreamId(stream), data.len());
    }

    /// The incoming side of `stream`, whether this side made or serves the call.
    fn incoming_mut(&mut self, stream: u32) -> Option<&mut Incoming> {
        if let Some(s) = self.callee.served.get_mut(&stream) {
            return Some(&mut s.incoming);
        }
        self.caller.calls.get_mut(&stream).map(|c| &mut c.incoming)
    }

    /// If `rbuf` starts with a large DATA chunk that continues a message being put together,
    /// starts reading the rest of that frame straight into the message's buffer.
    fn try_land(&mut self, rbuf: &mut BytesMut) -> Option<Landing> {
        let h = muxwire_core::wire::decode_header(rbuf)?;
        let head_len = muxwire_core::wire::HEADER_LEN + h.meta_len as usize;
        let crc = if h.flags.contains(Flags::CRC) { 4 } else { 0 };
        let frame_len = h.frame_len();
        let body_len = (h.payload_len as usize).checked_sub(h.meta_len as usize + crc)?;
        if h.ty != FrameType::DATA
            || !h.flags.contains(Flags::MESSAGE)
            || head_len > LAND_HEAD_MAX
            || body_len < LAND_MIN
            || h.payload_len > self.opts.max_frame_size
            || rbuf.len() >= frame_len
        {
            return None;
        }
        let stream = h.stream_id.0;
        let inc = self.incoming_mut(stream)?;
        let (len, cap) = inc.assembling.as_ref().map(|b| (b.len(), b.capacity()))?;
        // The head must land on message bytes, and the frame must fit without growing.
        if len < head_len || cap < len - head_len + frame_len {
            return None;
        }
        let mut buf = inc.assembling.take()?;
        let start = len - head_len;
        let mut saved = [0u8; LAND_HEAD_MAX];
        saved[..head_len].copy_from_slice(&buf[start..]);
        buf.truncate(start);
        // What already arrived of the frame (at most one read) is copied; the rest is not.
        buf.extend_from_slice(rbuf);
        rbuf.clear();
        Some(Landing {
            stream,
            buf,
            start,
            frame_len,
            head_len,
            body_len,
            saved,
        })
    }

    /// Gives up on landing a frame: what arrived of it goes back to the read buffer and the
    /// connection sees it the usual way; the message's buffer is as it was before.
    fn unland(&mut self, landing: Landing, rbuf: &mut BytesMut) {
        rbuf.extend_from_slice(&landing.buf[landing.start..]);
        let stream = landing.stream;
        let buf = landing.finish(false);
        if let Some(inc) = self.incoming_mut(stream) {
            inc.assembling = Some(buf);
        }
        self.input(rbuf);
    }

    /// The landing frame has been read whole: the connection processes it in place, and
    /// its body stays where it is as the next piece of the message.
    fn land(&mut self, landing: Landing, rbuf: &mut BytesMut) {
        let now = self.now();
        let stream = landing.stream;
        let consumed = self.conn.handle_input(now, landing.frame());
        if consumed.ok() != Some(landing.frame_len) {
            // Not taken (no room for its events yet, or the connection failed).
            self.unland(landing, rbuf);
            return;
        }
        let body_len = landing.body_len;
        let before = landing.start + landing.head_len;
        let buf = landing.finish(true);
        match self.incoming_mut(stream) {
            Some(inc) => inc.assembling = Some(buf),
            // The call ended meanwhile (cancelled): the message goes nowhere.
            None => drop(buf),
        }
        self.landed = Some((stream, body_len));
        self.events(&Bytes::new());
        if self.landed.take().is_none() {
            Stats::add(&self.stats.bytes_in_place, body_len as u64);
        } else {
            // The connection did not deliver the chunk (the stream was already over for
            // it): the buffer holds only what it held before.
            if let Some(buf) = self
                .incoming_mut(stream)
                .and_then(|inc| inc.assembling.as_mut())
            {
                buf.truncate(before);
            }
        }
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

/// The incoming side of a stream: chunks of the message being reassembled, and the credit
/// held back for a streaming reader.
#[derive(Default)]
struct Incoming {
    assembling: Option<Vec<u8>>,
    withheld: usize,
}

impl Incoming {
    /// Takes one received piece of a message. Returns the whole message, and the credit
    /// still owed for it, once the last piece is in.
    ///
    /// A streaming reader gets the credit back when it takes the message, so a slow reader
    /// slows the sender down; past half a window the credit of a growing message is
    /// returned at once, so that any message up to MAX_MESSAGE_SIZE can arrive whole.
    /// Everything else returns credit immediately.
    fn piece(
        &mut self,
        conn: &mut Connection<Box<[StreamSlot]>>,
        stream: u32,
        streaming: bool,
        data: Piece,
        more: bool,
        opts: &Options,
    ) -> Option<(Bytes, usize)> {
        let half_window = opts.initial_stream_window as usize / 2;
        let max_message = opts.max_message_size as usize;
        let len = data.len();
        if streaming {
            self.withheld += len;
            if self.withheld > half_window {
                conn.consume(StreamId(stream), self.withheld);
                self.withheld = 0;
            }
        } else {
            conn.consume(StreamId(stream), len);
        }
        if let Piece::Bytes(data) = &data {
            if more || self.assembling.is_some() {
                // Room for a message of 16 such chunks up front: growing the buffer chunk
                // by chunk would copy the message over and over.
                let room = (data.len() * 16).min(max_message);
                self.assembling
                    .get_or_insert_with(|| pool::take(room))
                    .extend_from_slice(data);
            }
        }
        if more {
            return None;
        }
        let message = match (self.assembling.take(), data) {
            (Some(buf), _) => pool::freeze(buf),
            (None, Piece::Bytes(data)) => data,
            // A landed piece always has its buffer.
            (None, Piece::Landed(_)) => Bytes::new(),
        };
        Some((message, std::mem::take(&mut self.withheld)))
    }
}

/// A received piece of a message: bytes to append, or a chunk that was read straight into
/// the end of the message's buffer (see `Landing`).
enum Piece {
    Bytes(Bytes),
    Landed(usize),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.len(),
            Piece::Landed(n) => *n,
        }
    }
}

/// A large DATA chunk being read from the socket straight into the buffer of the message it
/// continues, so that the message is put together without copying it. The frame's head
/// (header and metadata) lands on the last bytes of the message so far, which are kept
/// aside and put back once the connection has processed the frame; the body then follows
/// the message's earlier bytes exactly.
struct Landing {
    stream: u32,
    buf: Vec<u8>,
    /// Where the frame starts in `buf`.
    start: usize,
    frame_len: usize,
    head_len: usize,
    body_len: usize,
    /// The message bytes the frame's head covers.
    saved: [u8; LAND_HEAD_MAX],
}

/// Chunks with a body at least this large are read straight into their message's buffer.
const LAND_MIN: usize = 64 * 1024;

/// Frame heads (header and metadata) at most this large can land.
const LAND_HEAD_MAX: usize = 64;

impl Landing {
    /// Bytes of the frame still to read.
    fn remaining(&self) -> usize {
        self.start + self.frame_len - self.buf.len()
    }

    /// The whole frame, once read.
    fn frame(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.frame_len]
    }

    /// Puts the covered message bytes back and returns the buffer: with the body appended
    /// (`keep`, once the whole frame is in), or as it was before the frame (any part of
    /// which may have arrived).
    fn finish(mut self, keep: bool) -> Vec<u8> {
        let end = self.start + self.head_len;
        if keep {
            self.buf[self.start..end].copy_from_slice(&self.saved[..self.head_len]);
            self.buf.truncate(end + self.body_len);
        } else {
            self.buf.truncate(self.start);
            self.buf.extend_from_slice(&self.saved[..self.head_len]);
        }
        self.buf
    }
}

/// Reads into the landing frame's buffer (no further than its end) if one is landing, else
/// into the read buffer (with `peek`, no more than a frame head).
async fn read_some(
    read: &mut Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    rbuf: &mut BytesMut,
    landing: &mut Option<Landing>,
    peek: bool,
) -> std::io::Result<usize> {
    use bytes::BufMut;
    match landing {
        Some(l) => {
            let n = l.remaining();
            read.read_buf(&mut (&mut l.buf).limit(n)).await
        }
        None if peek => read.read_buf(&mut rbuf.limit(LAND_HEAD_MAX)).await,
        None => read.read_buf(rbuf).await,
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
