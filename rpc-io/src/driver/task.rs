//! The task loop: one `select!` over the writer's progress, the command queue, the socket
//! and the core's timer. Every turn reads the clock once, then delivers the core's events,
//! opens waiting calls, hands the encoded frames to the writer and fills reply slots.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use muxwire_core::wire::{ErrorCode, StatusCode, StreamId};
use tokio::time::Instant;

use super::landing::{read_some, Landing};
use super::send::Item;
use super::Driver;
use crate::commands::{CallReq, Cmd, StreamKey};
use crate::stats::Stats;
use crate::status::Status;

/// While taking many commands at once, frames go to the writer every this many bytes, so
/// that it starts early and the write queue's bound is checked against what is encoded.
const FLUSH_AT: usize = 256 * 1024;

/// Outcomes handed to their callers per turn at most (see `deliver`).
const DELIVER_AT_ONCE: usize = 32;

/// Bytes are read into a buffer with this much room (renewed below a quarter of it) once
/// a read has filled a small one...
const READ_BUFFER_SIZE: usize = 256 * 1024;

/// ...and into one of this size while reads are small (an idle connection's HELLO and
/// PINGs), so that an idle connection holds little (spec section 16, `idle memory`).
const SMALL_READ: usize = 4 * 1024;

/// A connection idle this long lets go of its large buffers and stream slots.
const IDLE_TRIM: std::time::Duration = std::time::Duration::from_secs(1);

impl Driver {
    /// The connection's event loop, until the connection is closed.
    pub(super) async fn run(&mut self, mut read: Pin<Box<dyn tokio::io::AsyncRead + Send>>) {
        let mut read_size = SMALL_READ;
        let mut rbuf = BytesMut::with_capacity(read_size);
        let mut landing: Option<Landing> = None;
        let mut peek = false;
        let mut eof = false;
        // When the connection, idle since, lets go of its large buffers.
        let mut trim_at: Option<muxwire_core::time::Instant> = None;
        // Input held back for reasons of our own: the core times no frame meanwhile.
        let mut held = false;
        self.tick();
        self.flush();
        loop {
            if self.input_paused() != held {
                held = !held;
                self.conn.hold_input(self.now(), held);
            }
            let timeout = [
                self.conn.poll_timeout(),
                self.caller.waiting_deadline,
                trim_at,
            ]
            .into_iter()
            .flatten()
            .min()
            .map(|t| self.epoch + std::time::Duration::from_micros(t.0));
            let room = rbuf.capacity() - rbuf.len();
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
                _ = std::future::ready(()),
                    if !self.out.outbox.is_full() && !self.cmds.is_empty() =>
                {
                    self.tick();
                    self.commands();
                }
                _ = self.one_way.done.notify.notified(), if self.one_way.running > 0 => {
                    self.tick();
                    self.one_way_finished(false);
                }
                // Outcomes not yet handed over: the callers woken last turn run first and
                // queue their next calls, which leave with this turn (see `deliver`).
                _ = std::future::ready(()),
                    if !self.out.outbox.is_full() && !self.outcomes.is_empty() =>
                {
                    tokio::task::yield_now().await;
                    self.tick();
                    self.commands();
                }
                r = read_some(&mut read, &mut rbuf, &mut landing, peek),
                    if !eof && !self.input_paused() =>
                {
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
                            if landing.is_none() && n >= room {
                                // The peer sends more than a small buffer holds.
                                read_size = READ_BUFFER_SIZE;
                            }
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
                    if rbuf.capacity() - rbuf.len() < read_size / 4 {
                        self.read_bufs.renew(&mut rbuf, read_size);
                    }
                }
                _ = sleep_until(timeout) => {
                    self.tick();
                    self.conn.handle_timeout(self.now());
                    self.expire_waiting();
                    if trim_at.is_some_and(|t| self.now() >= t) {
                        trim_at = None;
                        if rbuf.is_empty() && landing.is_none() {
                            read_size = SMALL_READ;
                            rbuf = BytesMut::with_capacity(read_size);
                            self.read_bufs = Default::default();
                        }
                        self.trim();
                    }
                }
            }
            self.after();
            // An idle connection with large buffers lets go of them after `IDLE_TRIM`.
            let large = read_size > SMALL_READ
                || self.out.big
                || self.conn.storage_capacity() > super::FIRST_SLOTS;
            if !(large && rbuf.is_empty() && landing.is_none() && self.is_idle()) {
                trim_at = None;
            } else if trim_at.is_none() {
                trim_at = Some(self.now() + crate::options::micros(IDLE_TRIM));
            }
            if self.conn.is_closed() {
                // A close found while flushing (a drain whose last frame just went out)
                // comes after `after` delivered events: its own events are delivered here.
                self.events(&Bytes::new());
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

    /// True while the peer's input waits: the connection has as much unwritten output as
    /// it may hold and calls it serves have replies waiting for the socket. New calls would
    /// only add replies the peer does not read. A connection that serves no calls never
    /// stops reading, so two peers cannot both stop reading because of calls one of them
    /// makes (which would deadlock them); both stop only if each serves the other's calls
    /// and neither reads.
    ///
    /// Input also waits while as many one-way calls wait for a handler slot as may run.
    fn input_paused(&self) -> bool {
        self.one_way.is_full()
            || self.out.is_full()
                && self
                    .room_waiters
                    .iter()
                    .any(|id| self.callee.served.contains_key(id))
    }

    /// Events, then output: after every input, command or timer.
    fn after(&mut self) {
        self.events(&Bytes::new());
        self.retry_waiting();
        self.pump_room_waiters();
        self.flush();
        self.handle
            .commands
            .release(std::mem::take(&mut self.one_way_done));
        let frames = self.conn.frames_received();
        Stats::add(&self.stats.frames_in, frames - self.frames_counted);
        self.frames_counted = frames;
        self.deliver(false);
    }

    /// Fills the reply slots of calls that ended and wakes their callers (who find them
    /// counted): `all` of them, or, with `DELIVER_AT_ONCE` or more waiting, that many. The
    /// rest wait for the next turn (see `run`), so that the callers woken now can queue
    /// their next calls and those leave before the others are woken: with many calls in
    /// flight, the peer works on one part while this side works on the next, instead of
    /// both sides taking turns with one batch of every call.
    fn deliver(&mut self, all: bool) {
        let n = if all || self.conn.is_closed() {
            self.outcomes.len()
        } else {
            self.outcomes.len().min(DELIVER_AT_ONCE)
        };
        self.tally.publish(&self.stats);
        self.handle
            .commands
            .deliver(self.outcomes.drain(..n), &mut self.wakers);
    }

    /// Carries out queued commands (those left from the last turn first), handing frames
    /// to the writer now and then so that it starts early and `is_full` sees them. Stops
    /// while the writer is full; the rest waits in `cmds`.
    fn commands(&mut self) {
        let mut names = std::mem::take(&mut self.names);
        if self.cmds.is_empty() {
            self.handle.commands.take(&mut self.cmds, &mut names);
        }
        while !self.out.is_full() {
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
                // Only the stream's credit is owed (the connection's came back as the
                // message arrived), and only while the call lasts.
                if self.is_current(call) {
                    self.conn.consume_stream(StreamId(call.stream), n);
                    if let Some(s) = self.callee.served.get_mut(&call.stream).filter(|_| n == 0) {
                        self.partials.took_empty(&mut s.incoming);
                    }
                }
            }
            Cmd::ConsumeCall { token, n } => {
                if let Some(&id) = self.caller.tokens.get(&token) {
                    self.conn.consume_stream(StreamId(id), n);
                    if let Some(c) = self.caller.calls.get_mut(&id).filter(|_| n == 0) {
                        self.partials.took_empty(&mut c.incoming);
                    }
                }
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

    /// Ends every call, queued command and PING: the connection is closed (`why`).
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
            // They count as started, as `open` counts every call it takes: their failure
            // below must not take the in-flight gauge below zero (it wrapped, and a
            // Balanced client, which compares it, never chose the endpoint again).
            match cmd {
                Cmd::Call(req) => {
                    if !req.one_way {
                        self.tally.started(true);
                    }
                    self.wait(*req, names)
                }
                Cmd::Unary(u) => {
                    self.tally.started(true);
                    self.wait(CallReq::unary(u), names)
                }
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
        // One-way calls that waited for a slot still run: none is lost.
        self.one_way_finished(true);
        let served: Vec<u32> = self.callee.served.keys().copied().collect();
        for id in served {
            self.end_served(id, StatusCode::UNAVAILABLE);
        }
        for (tx, _) in self.pings.drain(..) {
            let _ = tx.send(None);
        }
        self.deliver(true);
    }
}

/// Resolves at `t`, or never.
async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
