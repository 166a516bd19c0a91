//! The caller side: calls this end made. A call opens at once when the peer's stream
//! limit, storage and credit allow (its first message inline when it fits), or waits in
//! order; its reply arrives as the core's events and goes to the caller's reply slot or
//! channel. One-way calls are encoded straight into the write arena while nothing waits.

use std::collections::VecDeque;

use bytes::Bytes;
use muxwire_core::conn::{CallSpec, Error as CoreError, Outgoing};
use muxwire_core::time::{Duration as CoreDuration, Instant as CoreInstant};
use muxwire_core::wire::{Codec, StatusCode, StreamId};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc;

use super::arena::{core_error_status, outgoing};
use super::incoming::{too_many_replies, Incoming};
use super::send::Item;
use super::Driver;
use crate::commands::{one_way_cost, Bodies, CallMethod, CallReq, Room};
use crate::compress;
use crate::handle::{inline_room, one_way_fits};
use crate::stats::Stats;
use crate::status::Status;

/// The calls this side made: those under way, and those still waiting to open.
#[derive(Default)]
pub(super) struct Caller {
    /// Calls under way, by stream id.
    pub(super) calls: FxHashMap<u32, OwnCall>,
    /// The stream id of each call under way, by token.
    pub(super) tokens: FxHashMap<u64, u32>,
    /// Calls (one-way calls among them) waiting for a stream id, storage or credit.
    pub(super) waiting: VecDeque<Box<CallReq>>,
    /// Messages sent on calls that still wait to open, by token.
    pub(super) early: FxHashMap<u64, Vec<Item>>,
    /// No waiting call's deadline is earlier than this (it may be stale: a call that
    /// opened since; `expire_waiting` then recomputes it).
    pub(super) waiting_deadline: Option<CoreInstant>,
}

/// A call this side made.
pub(super) struct OwnCall {
    /// How the caller names the call (in `Cmd::Send`, `Cmd::Cancel`...).
    pub(super) token: u64,
    /// Where the outcome goes.
    reply: Option<u32>,
    /// The replies of a streaming call, with their wire size (credit returned on take).
    pub(super) inbound: Option<mpsc::UnboundedSender<Result<(Bytes, usize), Status>>>,
    /// The reply message being put together.
    pub(super) incoming: Incoming,
    /// A unary call's reply, kept until its STATUS.
    pub(super) last: Option<Bytes>,
}

impl Driver {
    /// A call this side made got its STATUS: it ends with the status, or with its last message.
    pub(super) fn status(
        &mut self,
        stream: u32,
        failure: Option<Status>,
        body: Option<(Bytes, Codec)>,
    ) {
        // The final message's bytes count against the connection window: give them back.
        if let Some((data, _)) = &body {
            self.conn.consume(StreamId(stream), data.len());
        }
        let Some(mut c) = self.caller.calls.remove(&stream) else {
            return;
        };
        self.partials.release(&c.incoming);
        self.caller.tokens.remove(&c.token);
        self.queues.remove(&stream);
        if let Some(status) = failure {
            self.complete(c, Err(status));
            return;
        }
        let last = match body {
            Some((data, codec)) => {
                match compress::decompress(codec, data, self.opts.max_message_size as usize) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        self.complete(c, Err(e));
                        return;
                    }
                }
            }
            None => None,
        };
        let result = match (&c.inbound, last) {
            (Some(tx), Some(m)) => {
                let _ = tx.send(Ok((m, 0)));
                Ok(Bytes::new())
            }
            (None, Some(_)) if c.last.is_some() => Err(too_many_replies()),
            (_, Some(m)) => Ok(m),
            (_, None) => Ok(c.last.take().unwrap_or_default()),
        };
        self.complete(c, result);
    }

    /// Ends call `c` with `result`: counted, and handed to its caller.
    fn complete(&mut self, c: OwnCall, result: Result<Bytes, Status>) {
        self.tally.ended(match &result {
            Ok(_) => StatusCode::OK,
            Err(s) => s.code,
        });
        if let Some(tx) = c.inbound {
            if let Err(e) = &result {
                let _ = tx.send(Err(e.clone()));
            }
        }
        if let Some(to) = c.reply {
            self.answer(to, result);
        }
    }

    /// Hands a call's outcome to its caller: into its reply slot at the end of this turn
    /// (`after`), with the others, under one lock.
    pub(super) fn answer(&mut self, slot: u32, result: Result<Bytes, Status>) {
        self.outcomes.push_back((slot, result));
    }

    /// Ends the call on `stream`, if it is still under way, with `result`.
    pub(super) fn finish_call(&mut self, stream: u32, result: Result<Bytes, Status>) {
        if let Some(c) = self.caller.calls.remove(&stream) {
            self.partials.release(&c.incoming);
            self.caller.tokens.remove(&c.token);
            self.queues.remove(&stream);
            self.complete(c, result);
        }
    }

    /// Ends the call `token` names with `status`: dropped if it still waits to open, else
    /// cancelled on the wire.
    pub(super) fn cancel_token(&mut self, token: u64, status: Status) {
        if let Some(pos) = self.caller.waiting.iter().position(|r| r.token == token) {
            let req = self.caller.waiting.remove(pos).expect("position is valid");
            self.fail_req(*req, status);
            return;
        }
        let Some(&id) = self.caller.tokens.get(&token) else {
            return;
        };
        // The call ends for the application now, whatever the core's state (it may
        // already be settled); CANCEL goes out if the stream is still open.
        let _ = self.conn.cancel(self.now(), StreamId(id), status.code);
        self.finish_call(id, Err(status));
    }

    /// Fails call `req`, which never opened, with `status`.
    pub(super) fn fail_req(&mut self, req: CallReq, status: Status) {
        // Messages the caller sent while the call waited to open go with it.
        self.caller.early.remove(&req.token);
        self.tally.ended(status.code);
        if let Some(tx) = req.inbound {
            let _ = tx.send(Err(status.clone()));
        }
        if let Some(to) = req.reply {
            self.answer(to, Err(status));
        }
    }

    /// Opens a call; `names` holds the method names of the commands it came with.
    pub(super) fn open(&mut self, mut req: CallReq, names: &str) {
        if !req.one_way {
            self.tally.started(true);
        }
        if let Some(t) = req.timeout {
            req.deadline = Some(self.now() + core_duration(t));
        }
        // Calls keep their order: a new one goes straight out only if none waits.
        if !self.caller.waiting.is_empty() {
            self.wait(req, names);
            self.retry_waiting();
        } else if let Err(req) = self.try_open(req, names) {
            self.wait(req, names);
        }
    }

    /// Queues a call that cannot open yet; it keeps its own copy of its method name.
    pub(super) fn wait(&mut self, mut req: CallReq, names: &str) {
        if let CallMethod::Queued(name) = req.method {
            req.method = CallMethod::Owned(name.of(names).to_string());
        }
        if let Some(d) = req.deadline {
            let earliest = self.caller.waiting_deadline.map_or(d, |e| e.min(d));
            self.caller.waiting_deadline = Some(earliest);
        }
        self.caller.waiting.push_back(Box::new(req));
    }

    /// Fails the waiting calls whose deadline has passed with DEADLINE_EXCEEDED (they
    /// never opened: nothing goes on the wire), and notes the next deadline.
    pub(super) fn expire_waiting(&mut self) {
        let now = self.now();
        if self.caller.waiting_deadline.is_none_or(|d| d > now) {
            return;
        }
        let mut next: Option<CoreInstant> = None;
        let mut i = 0;
        while i < self.caller.waiting.len() {
            match self.caller.waiting[i].deadline {
                Some(d) if d <= now => {
                    let req = self.caller.waiting.remove(i).expect("in range");
                    self.fail_req(*req, Status::deadline_exceeded());
                }
                d => {
                    next = match (next, d) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    i += 1;
                }
            }
        }
        self.caller.waiting_deadline = next;
    }

    /// Encodes one-way calls to `method` straight into the write buffer while nothing
    /// waits ahead of them and credit lasts; the rest wait in order, like single calls.
    /// Their bytes leave the queue's budget as they are encoded or dropped.
    pub(super) fn send_one_way(&mut self, method: &str, bodies: Bodies) {
        let now = self.now();
        let max_frame = self.conn.peer_settings().max_frame_size;
        let mut rest = bodies.into_iter();
        // While the writer is far behind, or before the peer's HELLO says how large a
        // frame may be, the rest wait (in order).
        while self.caller.waiting.is_empty() && !self.out.is_full() && self.handle.ready.is_closed()
        {
            let Some(body) = rest.next() else {
                return;
            };
            let counted = one_way_cost(&body);
            let (body, codec) = self.prepare(Some(body), None);
            let body = body.unwrap_or_default();
            let result = match one_way_fits(max_frame, method, body.len()) {
                Err(status) => Err(status),
                Ok(()) => {
                    let spec = CallSpec {
                        method,
                        deadline: None,
                        entries: &[],
                        one_way: true,
                        end_stream: true,
                        message: Some(outgoing(&body, codec)),
                    };
                    match self.write_with(
                        |conn, now, out| conn.open_call(now, &spec, out),
                        now,
                        Some(&body),
                    ) {
                        Ok(_) => Ok(()),
                        Err(
                            CoreError::StreamLimit
                            | CoreError::StorageFull
                            | CoreError::Blocked { .. },
                        ) => {
                            // Out of credit or ids: this one and the rest wait their turn.
                            self.wait_one_way(method, body, Some(codec), counted);
                            break;
                        }
                        Err(e) => Err(core_error_status(e)),
                    }
                }
            };
            self.one_way_done += counted;
            if let Err(status) = result {
                self.drop_one_way(method, status, None);
            }
        }
        for body in rest {
            let counted = one_way_cost(&body);
            self.wait_one_way(method, body, None, counted);
        }
    }

    /// Queues a one-way call behind calls that wait for credit or ids; it keeps its
    /// `counted` bytes of the queue's budget until it is sent or dropped.
    fn wait_one_way(&mut self, method: &str, body: Bytes, codec: Option<Codec>, counted: usize) {
        let mut req = one_way_req(method, Some(body), codec);
        req.room = Some(Room::new(self.handle.commands.clone(), counted));
        self.caller.waiting.push_back(Box::new(req));
    }

    /// A one-way message that cannot be sent: counted as a limit rejection and reported
    /// to whoever waits for it (`notify_confirmed`), or logged.
    fn drop_one_way(&mut self, method: &str, status: Status, reply: Option<u32>) {
        Stats::add(&self.stats.limit_rejections, 1);
        match reply {
            Some(to) => self.answer(to, Err(status)),
            None => tracing::warn!(method, "one-way message dropped: {status}"),
        }
    }

    /// Opens queued calls while the peer's limit and our storage allow.
    pub(super) fn retry_waiting(&mut self) {
        // While the writer is far behind, waiting calls wait for it too.
        while !self.out.is_full() {
            let Some(req) = self.caller.waiting.pop_front() else {
                break;
            };
            // A waiting call owns its method name.
            match self.try_open(*req, "") {
                Ok(()) => {}
                Err(req) => {
                    self.caller.waiting.push_front(Box::new(req));
                    break;
                }
            }
        }
    }

    /// Opens `req` now, or gives it back to wait (for a stream id, storage or credit).
    // Given back by value: boxing it would cost an allocation on every call.
    #[allow(clippy::result_large_err)]
    fn try_open(&mut self, mut req: CallReq, names: &str) -> Result<(), CallReq> {
        let now = self.now();
        if req.deadline.is_some_and(|d| d <= now) {
            // Out of time before it could open: fail here, never send DEADLINE 0.
            self.fail_req(req, Status::deadline_exceeded());
            return Ok(());
        }
        // Until the peer's HELLO is in, its limits are not known: a call judged on the
        // initial values could be refused (a one-way message larger than the initial
        // frame size) only to fit a moment later. It waits, in order, for the HELLO.
        if !self.handle.ready.is_closed() {
            return Err(req);
        }
        // A message the peer refuses is not sent (its size before compression is what
        // the peer checks last).
        if let Some(status) = self.over_peer_limit(req.body.as_ref().map_or(0, Bytes::len)) {
            if req.one_way {
                let reply = req.reply.take();
                self.drop_one_way(req.method.of(names), status, reply);
            } else {
                self.fail_req(req, status);
            }
            return Ok(());
        }
        let method = req.method.of(names);
        // Compress first: the frame must fit what goes on the wire.
        let (body, codec) = if req.prepared {
            (req.body.take(), req.compress.unwrap_or(Codec::Identity))
        } else {
            self.prepare(req.body.take(), req.compress)
        };
        let max_frame = self.conn.peer_settings().max_frame_size;
        if req.one_way {
            // One frame, whole: a body too large for it is refused, never cut or dropped
            // (a lack of credit only makes it wait, below).
            let len = body.as_ref().map_or(0, Bytes::len);
            if let Err(status) = one_way_fits(max_frame, method, len) {
                self.drop_one_way(method, status, req.reply.take());
                return Ok(());
            }
        }
        let max_inline = inline_room(max_frame, method);
        let fits = req.one_way
            || body.as_ref().is_none_or(|b| {
                b.len() <= max_inline && (b.len() as u64) <= self.conn.send_credit(StreamId(0))
            });
        let entries: Vec<(&str, &[u8])> = req
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), &v[..]))
            .collect();
        let inline_end = req.end && fits;
        let message = if fits {
            body.as_ref().map(|b| outgoing(b, codec))
        } else {
            None
        };
        let spec = CallSpec {
            method,
            // What is left of the timeout after waiting to open (spec section 12).
            deadline: req.deadline.map(|d| d.saturating_since(now)),
            entries: &entries,
            one_way: req.one_way,
            end_stream: inline_end || (req.one_way),
            message: if req.one_way {
                message.or(Some(Outgoing::bytes(&[])))
            } else {
                message
            },
        };
        let r = self.write_with(
            |conn, now, out| conn.open_call(now, &spec, out),
            now,
            body.as_ref().filter(|_| fits),
        );
        match r {
            Ok(sent) => {
                if req.one_way {
                    if let Some(to) = req.reply.take() {
                        self.answer(to, Ok(Bytes::new()));
                    }
                    return Ok(());
                }
                let id = sent.stream.0;
                self.caller.tokens.insert(req.token, id);
                self.caller.calls.insert(
                    id,
                    OwnCall {
                        token: req.token,
                        reply: req.reply.take(),
                        inbound: req.inbound.take(),
                        incoming: Incoming::default(),
                        last: None,
                    },
                );
                if !fits {
                    if let Some(b) = body {
                        self.queues
                            .entry(id)
                            .or_default()
                            .items
                            .push_back(Item::new(b, req.end, codec));
                    } else if req.end {
                        self.queues
                            .entry(id)
                            .or_default()
                            .items
                            .push_back(Item::new(Bytes::new(), true, Codec::Identity));
                    }
                }
                // Messages sent while the call waited to open follow its first frame.
                if let Some(early) = self.caller.early.remove(&req.token) {
                    self.queues.entry(id).or_default().items.extend(early);
                }
                if self.queues.contains_key(&id) {
                    self.pump(id);
                }
                Ok(())
            }
            Err(CoreError::StreamLimit | CoreError::StorageFull) => {
                // Keep the prepared (possibly compressed) body for the retry.
                req.body = body;
                req.compress = Some(codec);
                req.prepared = true;
                Err(req)
            }
            Err(CoreError::Blocked { .. }) if req.one_way => {
                req.body = body;
                req.compress = Some(codec);
                req.prepared = true;
                Err(req)
            }
            Err(e) => {
                let status = core_error_status(e);
                if matches!(e, CoreError::TooLarge) {
                    Stats::add(&self.stats.limit_rejections, 1);
                }
                if req.one_way {
                    if let Some(to) = req.reply.take() {
                        self.answer(to, Err(status));
                    }
                } else {
                    self.fail_req(req, status);
                }
                Ok(())
            }
        }
    }
}

/// A one-way call to queue. `prepared` says the body is already in wire form.
fn one_way_req(method: &str, body: Option<Bytes>, prepared: Option<Codec>) -> CallReq {
    let mut req = CallReq::new(method, body, true, true, None, Vec::new(), prepared);
    req.prepared = prepared.is_some();
    req
}

/// A duration on the core's clock (microseconds, saturating).
fn core_duration(d: std::time::Duration) -> CoreDuration {
    CoreDuration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)
}
