//! Reading: received bytes go to the core, and its events to the parts they concern (a
//! call this side made, one it serves, or the connection). Messages that arrive in chunks
//! are put together in their stream's [`Incoming`], with flow-control credit returned as
//! the reader takes them.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use muxwire_core::conn::{Connection, Event, FailReason, StreamSlot};
use muxwire_core::wire::{Codec, ErrorCode, Metadata, Rule, StatusCode, StreamId, MIN_CHUNK};

use super::Driver;
use crate::compress;
use crate::options::Options;
use crate::pool;
use crate::stats::Stats;
use crate::status::Status;

impl Driver {
    /// Hands the bytes in `rbuf` to the core and delivers the events of what it took.
    pub(super) fn input(&mut self, rbuf: &mut BytesMut) {
        // Set by a turn that freed the core's queues and took nothing: one more such turn
        // in a row means the core cannot go on, and waiting for input is all that is left.
        let mut drained = false;
        loop {
            let now = self.now();
            self.grow_storage();
            match self.conn.handle_input(now, &rbuf[..]) {
                Ok(0) => {
                    // Nothing consumed: more bytes are needed, events are owed, or the
                    // core's queues are full of frames to send (a burst of refusals).
                    self.events(&Bytes::new());
                    if self.conn.is_closed() {
                        return;
                    }
                    if self.conn.awaits_room() && !drained {
                        // Whole frames wait behind output: write it, then take them now,
                        // since the peer may send nothing more.
                        self.flush();
                        drained = true;
                        continue;
                    }
                    break;
                }
                Ok(n) => {
                    drained = false;
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

    /// Delivers every event the core has; `input` holds the bytes their payloads are in.
    pub(super) fn events(&mut self, input: &Bytes) {
        while let Some(ev) = self.conn.poll_event() {
            self.event(ev, input);
        }
    }

    /// Delivers one event to the part it concerns.
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
                refused,
                metadata,
                message,
            } => {
                let body = message.map(|m| (slice(m.data), m.codec));
                let failure =
                    (code != StatusCode::OK).then(|| status_of(code, refused, metadata.get(input)));
                self.status(stream.0, failure, body);
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
                    // The peer's CANCEL also counts against the server-wide budget.
                    if let Some(Err(why)) = self.admission.as_ref().map(|a| a.cancelled()) {
                        let now = self.now();
                        self.conn.close_over_limit(
                            now,
                            ErrorCode::ENHANCE_YOUR_CALM,
                            why.limit,
                            why.value,
                        );
                    }
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
                self.handle.peer_goaway.store(code.0, Ordering::Release);
            }
            Event::Closed(reason) => {
                self.stats.connection_closed(reason.code, reason.by_peer);
                if reason.rule == Some(Rule::TimedOut("ping_timeout")) {
                    Stats::add(&self.stats.keepalive_timeouts, 1);
                }
                if reason.code != ErrorCode::NO_ERROR {
                    tracing::warn!(code = %reason.code, rule = ?reason.rule, by_peer = reason.by_peer, "connection closed");
                } else {
                    tracing::debug!(detail = reason.detail, "connection closed");
                }
                // The core's own idle timeout (spec section 15.2): nothing was in flight.
                let idle = reason.code == ErrorCode::NO_ERROR
                    && !reason.by_peer
                    && reason.detail == "idle timeout";
                self.handle.idled_out.store(idle, Ordering::Release);
            }
            _ => {}
        }
    }

    /// A message or chunk on any stream.
    pub(super) fn message(
        &mut self,
        stream: u32,
        data: Piece,
        codec: Codec,
        more: bool,
        end: bool,
    ) {
        let max = self.opts.max_message_size as usize;
        if let Some(s) = self.callee.served.get_mut(&stream) {
            let streaming = s.inbound.is_some();
            let piece = s.incoming.piece(
                &mut self.conn,
                &mut self.partials,
                stream,
                streaming,
                data,
                more,
                &self.opts,
            );
            let (msg, wire) = match piece {
                Ok(Some(whole)) => whole,
                Ok(None) => return,
                Err(e) => {
                    Stats::add(&self.stats.limit_rejections, 1);
                    self.reply(stream, Err(e));
                    return;
                }
            };
            let msg = compress::decompress(codec, msg, max);
            if codec != Codec::Identity {
                s.request_codec = Some(codec);
            }
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
                        if wire == 0 && !self.partials.hold_empty(&mut s.incoming) {
                            Stats::add(&self.stats.limit_rejections, 1);
                            self.reply(stream, Err(unread_empty_exceeded()));
                            return;
                        }
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
            let piece = c.incoming.piece(
                &mut self.conn,
                &mut self.partials,
                stream,
                streaming,
                data,
                more,
                &self.opts,
            );
            let (msg, wire) = match piece {
                Ok(Some(whole)) => whole,
                Ok(None) => return,
                Err(e) => {
                    Stats::add(&self.stats.limit_rejections, 1);
                    let token = c.token;
                    self.cancel_token(token, e);
                    return;
                }
            };
            match compress::decompress(codec, msg, max) {
                Ok(m) => match &c.inbound {
                    Some(_) if wire == 0 && !self.partials.hold_empty(&mut c.incoming) => {
                        Stats::add(&self.stats.limit_rejections, 1);
                        let token = c.token;
                        self.cancel_token(token, unread_empty_exceeded());
                    }
                    Some(tx) => {
                        let _ = tx.send(Ok((m, wire)));
                    }
                    None if c.last.is_some() => {
                        // A unary call to a method that streams: never keep only the last.
                        let token = c.token;
                        self.cancel_token(token, too_many_replies());
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
    pub(super) fn incoming_mut(&mut self, stream: u32) -> Option<&mut Incoming> {
        if let Some(s) = self.callee.served.get_mut(&stream) {
            return Some(&mut s.incoming);
        }
        self.caller.calls.get_mut(&stream).map(|c| &mut c.incoming)
    }
}

/// Bytes of messages still arriving in chunks on one connection, against
/// `Options::partial_message_limit`.
#[derive(Debug)]
pub(super) struct Partials {
    /// Bytes held now, over every call's [`Incoming`].
    held: usize,
    /// The most it may hold.
    limit: usize,
    /// Empty messages handed to streaming readers and not yet taken, over every call:
    /// they cost no credit, so flow control does not bound them (`UNREAD_EMPTY_MAX` does).
    empty_unread: usize,
}

/// Empty messages a connection hands its streaming readers at most before they take
/// them (spec section 16, `unread_empty_messages`); one more fails its call with
/// RESOURCE_EXHAUSTED naming the limit.
pub(super) const UNREAD_EMPTY_MAX: usize = 16_384;

/// The status of a call whose empty message would pass `UNREAD_EMPTY_MAX`.
fn unread_empty_exceeded() -> Status {
    Status::resource_exhausted(format!(
        "unread_empty_messages {UNREAD_EMPTY_MAX} exceeded: empty messages cost no credit, \
         and the readers of this connection have not taken that many"
    ))
}

impl Partials {
    /// Nothing held yet, at most `limit` bytes.
    pub(super) fn new(limit: usize) -> Partials {
        Partials {
            held: 0,
            limit,
            empty_unread: 0,
        }
    }

    /// A call whose incoming side still counted bytes or unread messages has ended.
    pub(super) fn release(&mut self, incoming: &Incoming) {
        self.held -= incoming.counted;
        self.empty_unread -= incoming.empty_unread;
    }

    /// Counts an empty message handed to `incoming`'s reader; false (not counted) if it
    /// would pass `UNREAD_EMPTY_MAX`.
    pub(super) fn hold_empty(&mut self, incoming: &mut Incoming) -> bool {
        if self.empty_unread >= UNREAD_EMPTY_MAX {
            return false;
        }
        self.empty_unread += 1;
        incoming.empty_unread += 1;
        true
    }

    /// The reader of `incoming` took a message that cost no credit.
    pub(super) fn took_empty(&mut self, incoming: &mut Incoming) {
        if incoming.empty_unread > 0 {
            incoming.empty_unread -= 1;
            self.empty_unread -= 1;
        }
    }
}

/// The incoming side of a stream: chunks of the message being reassembled, and the credit
/// held back for a streaming reader.
#[derive(Default)]
pub(super) struct Incoming {
    /// The message so far, while it arrives in chunks.
    pub(super) assembling: Option<Vec<u8>>,
    /// Bytes of the message so far counted in the connection's [`Partials`].
    counted: usize,
    /// Credit not yet returned for a streaming reader's message.
    withheld: usize,
    /// Empty messages handed to the reader and not yet taken (see [`Partials`]).
    empty_unread: usize,
}

impl Incoming {
    /// Takes one received piece of a message. Returns the whole message, and the credit
    /// still owed for it, once the last piece is in.
    ///
    /// A streaming reader gets the stream's credit back when it takes the message, so a
    /// slow reader slows the sender down; past `withhold_at` the credit of a growing
    /// message is returned at once, so that any message up to MAX_MESSAGE_SIZE can arrive
    /// whole. The connection's credit, and all credit of other calls, is returned
    /// immediately. Since credit comes back while a message grows, the windows do not bound
    /// what partial messages hold: `partials` does, and a piece past its limit fails the
    /// call (the message so far is dropped).
    #[allow(clippy::too_many_arguments)]
    fn piece(
        &mut self,
        conn: &mut Connection<Box<[StreamSlot]>>,
        partials: &mut Partials,
        stream: u32,
        streaming: bool,
        data: Piece,
        more: bool,
        opts: &Options,
    ) -> Result<Option<(Bytes, usize)>, Status> {
        let max_message = opts.max_message_size as usize;
        let len = data.len();
        if streaming {
            // The connection's credit comes back at once, the stream's is held back; see
            // `withhold_at` for why the sender can always go on.
            conn.consume_connection(len);
            self.withheld += len;
            if self.withheld > withhold_at(opts) {
                conn.consume_stream(StreamId(stream), self.withheld);
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
        // What the buffer holds is what counts, its room reserved up front included.
        let held = self.assembling.as_ref().map_or(0, Vec::capacity);
        partials.held = partials.held - self.counted + held;
        self.counted = held;
        if more && partials.held > partials.limit {
            partials.held -= self.counted;
            self.counted = 0;
            self.assembling = None;
            return Err(Status::resource_exhausted(format!(
                "messages arriving in chunks on this connection exceed \
                 partial_message_limit ({} bytes)",
                partials.limit
            )));
        }
        if more {
            return Ok(None);
        }
        partials.held -= self.counted;
        self.counted = 0;
        let message = match (self.assembling.take(), data) {
            (Some(buf), _) => pool::freeze(buf),
            (None, Piece::Bytes(data)) => data,
            // A landed piece always has its buffer.
            (None, Piece::Landed(_)) => Bytes::new(),
        };
        Ok(Some((message, std::mem::take(&mut self.withheld))))
    }
}

/// The most stream credit held back for a message a streaming reader has not taken.
///
/// The core announces consumed credit once half a window has been consumed, so it may sit
/// on up to half a window less one byte. Holding back at most half a window less
/// `MIN_CHUNK` here leaves the sender at least `MIN_CHUNK` + 1 bytes of credit, enough for
/// a chunk of any message (a sender never sends a smaller chunk unless it ends the
/// message). Holding back half a window, as before, could leave it less than that: both
/// sides then waited for ever.
fn withhold_at(opts: &Options) -> usize {
    (opts.initial_stream_window as usize / 2).saturating_sub(MIN_CHUNK)
}

/// A received piece of a message: bytes to append, or a chunk that was read straight into
/// the end of the message's buffer (see `Landing`).
pub(super) enum Piece {
    /// Bytes to append.
    Bytes(Bytes),
    /// This many bytes, already at the end of the message's buffer.
    Landed(usize),
}

impl Piece {
    /// Bytes in this piece.
    fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.len(),
            Piece::Landed(n) => *n,
        }
    }
}

/// The status a failed call's STATUS frame describes: its code, REASON, DETAILS and
/// trailing entries, and REFUSED as safe to retry. The metadata is copied (it is small):
/// a view would keep the received frame alive as long as the caller keeps the status.
fn status_of(code: StatusCode, refused: bool, block: &[u8]) -> Status {
    let meta = Metadata::new(block);
    let mut status = Status::new(code, meta.reason().unwrap_or("")).with_retry_safe(refused);
    if let Some(d) = meta.details() {
        status.details = Some(Bytes::copy_from_slice(d));
    }
    status.trailers = meta
        .entries()
        .map(|e| (e.key.to_string(), Bytes::copy_from_slice(e.value)))
        .collect();
    status
}

/// A unary call answered with more than one message: the method streams its replies.
pub(super) fn too_many_replies() -> Status {
    Status::internal(
        "the reply has more than one message: the method streams its replies, so call it \
         with open_stream",
    )
}
