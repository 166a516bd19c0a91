//! The sans-IO connection state machine (PROTOCOL.md sections 3, 7, 8 and 12 to 16).
//!
//! A [`Connection`] is driven entirely by its caller. It reads no clock, owns no socket
//! and allocates nothing: stream storage is a slice the caller provides, received payloads
//! are ranges of the caller's input, and outgoing frames are written into the caller's
//! buffers.
//!
//! # Call order
//!
//! Methods fall into four groups, as in quinn-proto:
//!
//! 1. getters (`&self`);
//! 2. input: [`Connection::handle_input`] (bytes from the peer), [`Connection::handle_timeout`]
//!    (the time returned by `poll_timeout` has come; spurious calls do nothing) and
//!    [`Connection::handle_eof`] (the peer closed the transport);
//! 3. commands from the application: [`Connection::open_call`], [`Connection::send_message`],
//!    [`Connection::send_status`], [`Connection::cancel`], [`Connection::consume`],
//!    [`Connection::ping`], [`Connection::drain`], [`Connection::close`]. Commands that carry
//!    a message write their frame straight into the caller's buffer and return how many
//!    bytes to send;
//! 4. output: [`Connection::poll_event`], [`Connection::poll_transmit`],
//!    [`Connection::poll_timeout`].
//!
//! After any input or command, the caller must, in this order: drain `poll_event` until it
//! returns `None` (payload ranges refer to the last input, so all events must be polled
//! before more input is handed in), drain `poll_transmit` until it returns 0 and write the
//! bytes, and re-arm its timer from `poll_timeout`. The first `poll_transmit` (or the first
//! command) writes the preface and HELLO, so call it right after creating the connection.
//!
//! # Memory
//!
//! Storage is any [`Storage`]: a borrowed `&mut [StreamSlot]` (no allocation at all) or an
//! owned `Box<[StreamSlot]>`. A connection is `size_of::<Connection>()` bytes (about 7 KiB on 64-bit targets: its
//! 64-entry event and control queues are inline) plus `size_of::<StreamSlot>()` (72 bytes)
//! per caller-provided slot; `tests/connection.rs` keeps these numbers honest. With `max_concurrent_streams` `n`, give it at least `n` slots plus room for this
//! endpoint's own calls; a full table refuses incoming calls (REFUSED on the wire) and
//! fails `open_call` with [`Error::StorageFull`], never panics.

mod budget;
mod config;
mod control;
mod error;
mod event;
mod ring;
mod streams;

pub use config::Config;
pub use error::Error;
pub use event::{CloseReason, Event, FailReason, Message, Payload};
pub use streams::{Role, Storage, StreamSlot, StreamState};

use budget::Budget;
use control::{Control, Reason};
use ring::Ring;
use streams::{Notice, Stream, Table};

use crate::time::{Duration, Instant};
use crate::wire::{
    self, Codec, Decoded, ErrorCode, Flags, Frame, FrameEncoder, FrameError, FrameType, Rule,
    Settings, Side, StatusCode, StreamId, Tag, CRC_LEN, HEADER_LEN, MIN_CHUNK, PREFACE, VERSION,
};

const EVENT_QUEUE: usize = 64;
const CONTROL_QUEUE: usize = 64;

/// Control queue slots a window update leaves free, for CANCELs and answers to PINGs.
const WINDOW_RESERVE: usize = 4;

/// The body of an outgoing message: copied into the frame, or sent by the caller from its
/// own buffer right after the bytes the command wrote (zero copy).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// The bytes, copied into the output buffer.
    Inline(&'a [u8]),
    /// Only the length: the caller sends the body itself after the returned bytes, then
    /// the CRC trailer if [`Sent::crc`] says so.
    External(usize),
}

impl Body<'_> {
    const fn len(&self) -> usize {
        match self {
            Body::Inline(b) => b.len(),
            Body::External(n) => *n,
        }
    }
}

/// An outgoing message or chunk.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The bytes (already compressed if `codec` is not identity).
    pub body: Body<'a>,
    /// The codec the body is compressed with; the peer must have offered it.
    pub codec: Codec,
    /// More chunks of this message follow (the body must be at least 1 024 bytes).
    pub more: bool,
}

impl<'a> Outgoing<'a> {
    /// A whole, uncompressed message copied into the frame.
    pub const fn bytes(body: &'a [u8]) -> Outgoing<'a> {
        Outgoing {
            body: Body::Inline(body),
            codec: Codec::Identity,
            more: false,
        }
    }
}

/// What to open with [`Connection::open_call`].
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    /// The METHOD.
    pub method: &'a str,
    /// The time the call may take (sent as DEADLINE and enforced locally).
    pub deadline: Option<Duration>,
    /// Application metadata as ENTRY tags.
    pub entries: &'a [(&'a str, &'a [u8])],
    /// One-way call: requires `end_stream` and a message without `more`.
    pub one_way: bool,
    /// The request is complete with this frame (a unary call).
    pub end_stream: bool,
    /// The first message, if any.
    pub message: Option<Outgoing<'a>>,
}

impl<'a> CallSpec<'a> {
    /// A unary call: one request message, half-closed.
    pub const fn unary(method: &'a str, request: &'a [u8]) -> CallSpec<'a> {
        CallSpec {
            method,
            deadline: None,
            entries: &[],
            one_way: false,
            end_stream: true,
            message: Some(Outgoing::bytes(request)),
        }
    }
}

/// The result of a command that wrote a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The stream the frame belongs to.
    pub stream: StreamId,
    /// Bytes written into the output buffer (the preface and HELLO first, if not yet sent).
    pub len: usize,
    /// With [`Body::External`]: after the body, send `wire::crc_trailer(head, body)` where
    /// `head` is the frame's bytes in the output buffer (`out[len - head_len..len]`).
    pub crc: bool,
    /// Bytes of the frame's header and metadata at the end of the written bytes.
    pub head_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Open,
    Closed,
}

/// One muxwire connection, from one endpoint's point of view. See the module docs for the
/// call order.
pub struct Connection<S: Storage> {
    cfg: Config,
    table: Table<S>,
    pending_notices: usize,
    phase: Phase,
    preface_matched: usize,
    hello_sent: bool,
    peer: Settings,
    peer_hello: bool,
    crc_out: bool,
    sticky_crc: bool,
    send_conn_credit: i64,
    conn_blocked: bool,
    recv_conn_window: u64,
    recv_conn_unacked: u64,
    /// A window update was due while the control queue had no room; `poll_transmit`
    /// sends it once there is, or a sender waiting for that credit would wait forever.
    windows_deferred: bool,
    peer_open: u32,
    local_open: u32,
    streams_blocked: bool,
    next_id: u32,
    calls_sent: u64,
    calls_received: u64,
    frames_received: u64,
    goaway_sent: bool,
    goaway_received: bool,
    started: Instant,
    last_recv: Instant,
    partial_since: Option<Instant>,
    ping: Option<(u32, Instant)>,
    ping_counter: u32,
    next_deadline: Option<Instant>,
    cancels: Budget,
    control_budget: Budget,
    control: Ring<Control, CONTROL_QUEUE>,
    events: Ring<Event, EVENT_QUEUE>,
    payload_events: usize,
    close: Option<CloseReason>,
    close_reported: bool,
}

impl<S: Storage> Connection<S> {
    /// A new connection at time `now`, with `slots` as its stream storage.
    pub fn new(cfg: Config, slots: S, now: Instant) -> Connection<S> {
        let initial = Settings::INITIAL;
        Connection {
            cfg,
            table: Table::new(slots),
            pending_notices: 0,
            phase: Phase::Handshake,
            preface_matched: 0,
            hello_sent: false,
            peer: initial,
            peer_hello: false,
            crc_out: cfg.send_crc,
            sticky_crc: false,
            send_conn_credit: i64::from(initial.initial_connection_window),
            conn_blocked: false,
            recv_conn_window: u64::from(cfg.settings.initial_connection_window),
            recv_conn_unacked: 0,
            windows_deferred: false,
            peer_open: 0,
            local_open: 0,
            streams_blocked: false,
            next_id: match cfg.side {
                Side::Connector => 1,
                Side::Acceptor => 2,
            },
            calls_sent: 0,
            frames_received: 0,
            calls_received: 0,
            goaway_sent: false,
            goaway_received: false,
            started: now,
            last_recv: now,
            partial_since: None,
            ping: None,
            ping_counter: 0,
            next_deadline: None,
            cancels: Budget::new(cfg.cancel_budget),
            control_budget: Budget::new(cfg.control_budget),
            control: Ring::new(),
            events: Ring::new(),
            payload_events: 0,
            close: None,
            close_reported: false,
        }
    }

    // ----------------------------------------------------------------------------------
    // Getters

    /// This endpoint's side of the transport.
    pub const fn side(&self) -> Side {
        self.cfg.side
    }

    /// The peer's settings (their initial values until its HELLO arrives).
    pub const fn peer_settings(&self) -> &Settings {
        &self.peer
    }

    /// True once the peer's HELLO has arrived.
    pub const fn is_established(&self) -> bool {
        self.peer_hello
    }

    /// True once the connection is closed (the last GOAWAY may still await transmission).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Why the connection closed, once it has.
    pub const fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// Streams currently in the table (open calls in both directions).
    pub fn open_streams(&self) -> usize {
        self.table.len()
    }

    /// The stream's state, if it is in the table.
    pub fn stream_state(&self, stream: StreamId) -> Option<(Role, StreamState)> {
        self.table.get(stream.0).map(|s| (s.role, s.state))
    }

    /// Whole frames taken from the input so far (valid or not).
    pub fn frames_received(&self) -> u64 {
        self.frames_received
    }

    /// Bytes that may be sent on `stream` now (both windows); the connection window for 0.
    pub fn send_credit(&self, stream: StreamId) -> u64 {
        let conn = self.send_conn_credit.max(0) as u64;
        if stream.is_connection() {
            return conn;
        }
        self.table
            .get(stream.0)
            .map_or(0, |s| conn.min(s.send_credit.max(0) as u64))
    }

    /// True if no event, frame or timer is pending: the connection is idle.
    pub fn is_idle(&self) -> bool {
        self.events.len() == 0 && self.control.len() == 0 && self.pending_notices == 0
    }

    /// Queue depths: (events, control frames, payload events, pending notices).
    #[doc(hidden)]
    pub fn queue_depths(&self) -> (usize, usize, usize, usize) {
        (
            self.events.len(),
            self.control.len(),
            self.payload_events,
            self.pending_notices,
        )
    }

    /// Checks internal invariants (for tests and fuzzers): credit never negative, the
    /// open-call counters match the table, the table within its capacity.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if self.send_conn_credit < 0 {
            return Err("connection send credit negative");
        }
        if self.table.iter().any(|s| s.send_credit < 0) {
            return Err("stream send credit negative");
        }
        let callers = self.table.iter().filter(|s| s.role == Role::Caller).count();
        if self.phase != Phase::Closed
            && (callers != self.local_open as usize
                || self.table.len() - callers != self.peer_open as usize)
        {
            return Err("open-call counters disagree with the table");
        }
        if self.table.len() > self.table.capacity() {
            return Err("table over capacity");
        }
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Input

    /// Hands in bytes received from the peer. Processes every whole frame at the front of
    /// `input` and returns how many bytes it consumed; the caller keeps the rest and
    /// appends to it. Stops early (consuming less) when the event queue needs polling.
    ///
    /// A protocol violation by the peer closes the connection: the GOAWAY naming it is
    /// queued for `poll_transmit`, every open call fails, [`Event::Closed`] follows, and
    /// [`Connection::close_reason`] names the code and the rule. Later calls return
    /// [`Error::Closed`].
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        if self.payload_events > 0 {
            return Err(Error::EventsPending);
        }
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let mut pos = 0;
        while self.preface_matched < PREFACE.len() {
            let Some(&b) = input.get(pos) else {
                return Ok(pos);
            };
            if b != PREFACE[self.preface_matched] {
                self.fail(
                    now,
                    FrameError {
                        code: ErrorCode::HANDSHAKE_ERROR,
                        rule: Rule::BadPreface,
                    },
                );
                return Ok(pos);
            }
            self.preface_matched += 1;
            pos += 1;
        }
        while self.phase != Phase::Closed {
            // Room for what one frame can produce.
            if self.events.free() < 4 || self.control.free() < 3 {
                break;
            }
            let rest = &input[pos..];
            match wire::decode(rest, self.cfg.settings.max_frame_size) {
                Err(e) => {
                    self.fail(now, e);
                    break;
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Ok(Decoded::Frame { frame, len }) => {
                    self.last_recv = now;
                    self.frames_received += 1;
                    if let Err(e) = self.on_frame(now, &frame, input) {
                        self.fail(now, e);
                        pos += len;
                        break;
                    }
                    pos += len;
                }
            }
        }
        if pos < input.len() && self.phase != Phase::Closed {
            self.partial_since.get_or_insert(now);
        } else {
            self.partial_since = None;
        }
        Ok(pos)
    }

    /// Advances timers to `now`. Idempotent; extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if !self.peer_hello && now >= self.started + self.cfg.handshake_timeout {
            return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("handshake_timeout"));
        }
        if let Some(since) = self.partial_since {
            if now >= since + self.cfg.frame_timeout {
                return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("frame_timeout"));
            }
        }
        if let Some((_, sent)) = self.ping {
            if now >= sent + self.cfg.ping_timeout {
                return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("ping_timeout"));
            }
        }
        if let Some(interval) = self.cfg.keepalive_interval {
            if self.ping.is_none() && self.peer_hello && now >= self.last_recv + interval {
                let _ = self.ping(now);
            }
        }
        let idle = self.cfg.settings.idle_timeout_ms;
        if idle > 0
            && self.table.len() == 0
            && now >= self.last_recv + Duration::from_millis(u64::from(idle))
        {
            self.queue_goaway(ErrorCode::NO_ERROR, Reason::Text("idle_timeout"));
            self.close_now(ErrorCode::NO_ERROR, false, None, "idle timeout");
            return;
        }
        if self.next_deadline.is_some_and(|d| now >= d) {
            self.expire_deadlines(now);
        }
    }

    /// The peer closed the transport (or it broke). Every open call ends.
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        let clean = self.goaway_received && self.table.len() == 0;
        let detail = if clean {
            "closed by peer"
        } else {
            "transport closed"
        };
        self.close_now(ErrorCode::NO_ERROR, true, None, detail);
    }

    // ----------------------------------------------------------------------------------
    // Output

    /// The next event, or `None`. Poll until `None` after every input or command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(ev) = self.events.pop() {
            if carries_payload(&ev) {
                self.payload_events -= 1;
            }
            return Some(ev);
        }
        if self.pending_notices > 0 {
            if let Some(ev) = self.take_notice() {
                return Some(ev);
            }
            self.pending_notices = 0;
        }
        if self.phase == Phase::Closed && !self.close_reported {
            self.close_reported = true;
            return self.close.map(Event::Closed);
        }
        None
    }

    /// Writes queued frames (the preface and HELLO first) into `out` and returns how many
    /// bytes it wrote; 0 when nothing is queued. Fails only if `out` cannot hold even the
    /// next frame.
    pub fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> Result<usize, Error> {
        let mut pos = 0;
        if !self.hello_sent {
            pos = self.write_hello(out)?;
        }
        'drain: loop {
            while let Some(&c) = self.control.front() {
                match c.encode(&mut out[pos..], self.crc_out) {
                    Ok(n) => pos += n,
                    Err(wire::EncodeError::BufferTooSmall { needed }) if pos == 0 => {
                        return Err(Error::BufferTooSmall { needed });
                    }
                    Err(_) => break 'drain,
                }
                self.control.pop();
                if let Some(id) = c.terminal_of() {
                    self.terminal_written(id);
                }
            }
            if !self.windows_deferred {
                break;
            }
            // Room again: queue what was deferred and write it in this same call.
            self.release_deferred_windows();
            if self.control.front().is_none() {
                break;
            }
        }
        if self.goaway_sent && self.table.len() == 0 && self.control.len() == 0 {
            self.close_now(ErrorCode::NO_ERROR, false, None, "drained");
        }
        Ok(pos)
    }

    /// When `handle_timeout` should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut consider = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if !self.peer_hello {
            consider(self.started + self.cfg.handshake_timeout);
        }
        if let Some(since) = self.partial_since {
            consider(since + self.cfg.frame_timeout);
        }
        if let Some((_, sent)) = self.ping {
            consider(sent + self.cfg.ping_timeout);
        } else if let Some(interval) = self.cfg.keepalive_interval {
            if self.peer_hello {
                consider(self.last_recv + interval);
            }
        }
        let idle = self.cfg.settings.idle_timeout_ms;
        if idle > 0 && self.table.len() == 0 {
            consider(self.last_recv + Duration::from_millis(u64::from(idle)));
        }
        if let Some(d) = self.next_deadline {
            consider(d);
        }
        t
    }

    // ----------------------------------------------------------------------------------
    // Commands

    /// Opens a call (or sends a one-way call) and writes its CALL frame into `out`.
    pub fn open_call(
        &mut self,
        now: Instant,
        spec: &CallSpec<'_>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.check_open()?;
        if self.goaway_sent || self.goaway_received {
            return Err(Error::NotAccepting);
        }
        if spec.method.is_empty() {
            return Err(Error::InvalidArgument("empty method"));
        }
        let msg = spec.message;
        if spec.one_way && !(spec.end_stream && msg.is_some_and(|m| !m.more)) {
            return Err(Error::InvalidArgument(
                "a one-way call is a single frame with a message",
            ));
        }
        if let Some(m) = msg {
            self.check_outgoing(&m, spec.end_stream, None)?;
        }
        if !spec.one_way {
            if self.local_open >= self.peer.max_concurrent_streams {
                self.streams_blocked = true;
                return Err(Error::StreamLimit);
            }
            if self.table.len() >= self.table.capacity() {
                self.streams_blocked = true;
                return Err(Error::StorageFull);
            }
        }
        let body_len = msg.map_or(0, |m| m.body.len());
        let stream_credit = i64::from(self.peer.initial_stream_window);
        let available = if spec.one_way {
            self.send_conn_credit
        } else {
            self.send_conn_credit.min(stream_credit)
        };
        if body_len as i64 > available {
            self.conn_blocked = true;
            return Err(Error::Blocked {
                available: available.max(0) as u64,
            });
        }
        let id = self.free_local_id().ok_or(Error::StorageFull)?;
        let mut flags = Flags::NONE;
        if spec.end_stream {
            flags |= Flags::END_STREAM;
        }
        if spec.one_way {
            flags |= Flags::NO_REPLY;
        }
        let sent = self.write_frame(out, FrameType::CALL, id, 0, flags, msg, |enc| {
            enc.tlv(Tag::METHOD, spec.method.as_bytes())?;
            if let Some(d) = spec.deadline {
                enc.tlv_u64(Tag::DEADLINE, d.as_micros())?;
            }
            for (k, v) in spec.entries {
                enc.entry(k, v)?;
            }
            Ok(())
        })?;
        if sent.head_len - HEADER_LEN > self.peer.max_metadata_size as usize {
            return Err(Error::TooLarge);
        }
        // Committed: update state.
        self.hello_sent = true;
        self.calls_sent += 1;
        self.send_conn_credit -= body_len as i64;
        self.next_id = id.wrapping_add(2);
        if !spec.one_way {
            let state = if spec.end_stream {
                StreamState::HalfClosedLocal
            } else {
                StreamState::Open
            };
            let mut s = Stream::new(id, Role::Caller, state);
            s.send_credit = stream_credit - body_len as i64;
            s.recv_window = self.cfg.settings.initial_stream_window;
            s.seq = self.calls_sent;
            s.out_chain = msg.filter(|m| m.more).map(|m| m.codec);
            s.deadline = spec.deadline.map(|d| now + d);
            if let Some(d) = s.deadline {
                self.next_deadline = Some(self.next_deadline.map_or(d, |n| n.min(d)));
            }
            // Cannot fail: capacity was checked above.
            let _ = self.table.insert(s);
            self.local_open += 1;
        }
        Ok(sent)
    }

    /// Sends a message (or chunk) and/or the caller's half-close on an open stream.
    pub fn send_message(
        &mut self,
        _now: Instant,
        stream: StreamId,
        message: Option<Outgoing<'_>>,
        end_stream: bool,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.check_open()?;
        let s = *self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        match (s.role, s.state) {
            (Role::Caller, StreamState::Open) => {}
            (Role::Callee, StreamState::Open | StreamState::HalfClosedRemote) if !end_stream => {}
            (Role::Callee, StreamState::Open | StreamState::HalfClosedRemote) => {
                return Err(Error::WrongRole)
            }
            _ => return Err(Error::InvalidState),
        }
        if message.is_none() && !end_stream {
            return Err(Error::InvalidArgument("nothing to send"));
        }
        if let Some(chain) = s.out_chain {
            if message.is_none_or(|m| m.codec != chain) {
                return Err(Error::InvalidArgument(
                    "a chunked message must continue with its codec",
                ));
            }
        }
        if let Some(m) = message {
            self.check_outgoing(&m, end_stream, Some(&s))?;
        }
        let len = message.map_or(0, |m| m.body.len()) as i64;
        let available = self.send_conn_credit.min(s.send_credit);
        if len > available {
            if let Some(st) = self.table.get_mut(stream.0) {
                st.blocked = true;
            }
            self.conn_blocked |= len > self.send_conn_credit;
            return Err(Error::Blocked {
                available: available.max(0) as u64,
            });
        }
        let flags = if end_stream {
            Flags::END_STREAM
        } else {
            Flags::NONE
        };
        let sent =
            self.write_frame(
                out,
                FrameType::DATA,
                stream.0,
                0,
                flags,
                message,
                |_| Ok(()),
            )?;
        self.hello_sent = true;
        self.send_conn_credit -= len;
        if let Some(st) = self.table.get_mut(stream.0) {
            st.send_credit -= len;
            st.out_chain = message.filter(|m| m.more).map(|m| m.codec);
            if end_stream {
                st.state = StreamState::HalfClosedLocal;
            }
        }
        Ok(sent)
    }

    /// Ends a call this endpoint serves with STATUS (and an optional final message).
    #[allow(clippy::too_many_arguments)]
    pub fn send_status(
        &mut self,
        _now: Instant,
        stream: StreamId,
        code: StatusCode,
        reason: Option<&str>,
        entries: &[(&str, &[u8])],
        message: Option<Outgoing<'_>>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.check_open()?;
        let s = *self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        if s.role != Role::Callee {
            return Err(Error::WrongRole);
        }
        let closes = match s.state {
            StreamState::Open => false,
            StreamState::HalfClosedRemote | StreamState::CancelReceived => true,
            _ => return Err(Error::InvalidState),
        };
        if s.out_chain.is_some() && message.is_some() {
            return Err(Error::InvalidArgument(
                "a STATUS that ends a chunked message cannot carry a message",
            ));
        }
        if let Some(m) = message {
            if m.more {
                return Err(Error::InvalidArgument("a STATUS message cannot be chunked"));
            }
            self.check_outgoing(&m, true, Some(&s))?;
        }
        let len = message.map_or(0, |m| m.body.len()) as i64;
        let available = self.send_conn_credit.min(s.send_credit);
        if len > available {
            self.conn_blocked |= len > self.send_conn_credit;
            if let Some(st) = self.table.get_mut(stream.0) {
                st.blocked = true;
            }
            return Err(Error::Blocked {
                available: available.max(0) as u64,
            });
        }
        let sent = self.write_frame(
            out,
            FrameType::STATUS,
            stream.0,
            code.0,
            Flags::NONE,
            message,
            |enc| {
                if let Some(r) = reason {
                    enc.tlv(Tag::REASON, r.as_bytes())?;
                }
                for (k, v) in entries {
                    enc.entry(k, v)?;
                }
                Ok(())
            },
        )?;
        if sent.head_len - HEADER_LEN > self.peer.max_metadata_size as usize {
            return Err(Error::TooLarge);
        }
        self.hello_sent = true;
        self.send_conn_credit -= len;
        if closes {
            self.remove_stream(stream.0);
        } else if let Some(st) = self.table.get_mut(stream.0) {
            st.state = StreamState::StatusSent;
            st.deadline = None;
        }
        Ok(sent)
    }

    /// Cancels a call this endpoint made: queues CANCEL with `code` (normally CANCELLED).
    /// The call's outcome is `code` from now on; its id stays reserved until the callee's
    /// STATUS arrives.
    pub fn cancel(
        &mut self,
        _now: Instant,
        stream: StreamId,
        code: StatusCode,
    ) -> Result<(), Error> {
        self.check_open()?;
        if code == StatusCode::OK {
            return Err(Error::InvalidArgument("CANCEL needs a non-OK status"));
        }
        let s = self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        if s.role != Role::Caller {
            return Err(Error::WrongRole);
        }
        if !matches!(s.state, StreamState::Open | StreamState::HalfClosedLocal) {
            return Err(Error::InvalidState);
        }
        self.control
            .push(Control::Cancel {
                stream: stream.0,
                code,
                reason: Reason::None,
            })
            .map_err(|_| Error::QueueFull)?;
        if let Some(st) = self.table.get_mut(stream.0) {
            st.state = StreamState::CancelSent;
            st.reported = true;
            st.deadline = None;
            st.out_chain = None;
            st.terminal_queued = true;
        }
        Ok(())
    }

    /// The application consumed `n` bytes of messages received on `stream` (use the
    /// stream of a one-way call, or any closed stream, to return connection credit only).
    /// Queues WINDOW frames once half a window has been consumed.
    pub fn consume(&mut self, stream: StreamId, n: usize) {
        let n = n as u64;
        self.recv_conn_unacked += n;
        if let Some(s) = self.table.get_mut(stream.0) {
            if receiving(s) {
                s.recv_unacked = s.recv_unacked.saturating_add(n as u32);
            }
        }
        self.queue_conn_window();
        self.queue_stream_window(stream.0);
    }

    /// Queues a connection WINDOW once half the window is consumed, or defers it.
    fn queue_conn_window(&mut self) {
        let conn_window = u64::from(self.cfg.settings.initial_connection_window);
        if self.recv_conn_unacked < conn_window / 2 {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            return;
        }
        let inc = self.recv_conn_unacked.min(u64::from(wire::MAX_WINDOW)) as u32;
        if self
            .control
            .push(Control::Window {
                stream: 0,
                increment: inc,
            })
            .is_ok()
        {
            self.recv_conn_unacked -= u64::from(inc);
            self.recv_conn_window += u64::from(inc);
        }
    }

    /// Queues a stream's WINDOW once half its window is consumed, or defers it.
    fn queue_stream_window(&mut self, id: u32) {
        let half = self.cfg.settings.initial_stream_window / 2;
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        if !receiving(s) || s.recv_unacked < half {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            return;
        }
        let inc = s.recv_unacked;
        s.recv_unacked = 0;
        s.recv_window = s.recv_window.saturating_add(inc);
        let _ = self.control.push(Control::Window {
            stream: id,
            increment: inc,
        });
    }

    /// Queues the window updates deferred by a full control queue, as room allows.
    fn release_deferred_windows(&mut self) {
        self.windows_deferred = false;
        self.queue_conn_window();
        let half = self.cfg.settings.initial_stream_window / 2;
        // Each update queued takes its stream out of the search; a lack of room ends it.
        while !self.windows_deferred {
            let Some(id) = self
                .table
                .iter()
                .find(|s| receiving(s) && s.recv_unacked >= half)
                .map(|s| s.id)
            else {
                return;
            };
            self.queue_stream_window(id);
        }
    }

    /// Queues a PING; its answer arrives as [`Event::Pong`].
    pub fn ping(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        if self.ping.is_some() {
            return Err(Error::InvalidState);
        }
        self.ping_counter = self.ping_counter.wrapping_add(1);
        let op = self.ping_counter;
        self.control
            .push(Control::Ping(op))
            .map_err(|_| Error::QueueFull)?;
        self.ping = Some((op, now));
        Ok(())
    }

    /// Starts a graceful drain: GOAWAY(NO_ERROR); calls in flight finish, new ones are
    /// refused; the connection closes when no stream is left.
    pub fn drain(&mut self, _now: Instant) -> Result<(), Error> {
        self.check_open()?;
        if !self.goaway_sent {
            self.queue_goaway(ErrorCode::NO_ERROR, Reason::Text("draining"));
        }
        Ok(())
    }

    /// Closes now with `code`: GOAWAY is queued and every open call ends.
    pub fn close(&mut self, _now: Instant, code: ErrorCode, reason: &'static str) {
        if self.phase == Phase::Closed {
            return;
        }
        self.queue_goaway(code, Reason::Text(reason));
        self.close_now(code, false, None, reason);
    }

    // ----------------------------------------------------------------------------------
    // Internals: frames in

    fn on_frame(&mut self, now: Instant, f: &Frame<'_>, input: &[u8]) -> Result<(), FrameError> {
        use ErrorCode as E;
        let err = |code, rule| Err(FrameError { code, rule });
        if self
            .cfg
            .settings
            .features
            .contains(wire::Features::CRC_REQUESTED)
        {
            if f.crc().is_some() {
                self.sticky_crc = true;
            } else if self.sticky_crc {
                return err(E::CRC_ERROR, Rule::CrcMissing);
            }
        }
        if !self.peer_hello {
            if f.ty() != FrameType::HELLO {
                return err(E::HANDSHAKE_ERROR, Rule::ExpectedHello);
            }
            return self.on_hello(f);
        }
        // Connection flow control covers every message byte, even of ignored frames.
        let flow = f.flow_len() as u64;
        if flow > 0 {
            if flow > self.recv_conn_window {
                return err(E::FLOW_CONTROL_ERROR, Rule::CreditExceeded);
            }
            self.recv_conn_window -= flow;
            if f.flags()
                .codec()
                .is_some_and(|c| !self.cfg.settings.accepts_codec(c))
            {
                return err(E::COMPRESSION_ERROR, Rule::CodecNotOffered);
            }
        }
        match f.ty() {
            FrameType::HELLO => err(E::HANDSHAKE_ERROR, Rule::RepeatedHello),
            FrameType::CALL => self.on_call(now, f, input),
            FrameType::DATA => self.on_data(f, input),
            FrameType::STATUS => self.on_status(f, input),
            FrameType::CANCEL => self.on_cancel(now, f),
            FrameType::WINDOW => self.on_window(now, f),
            FrameType::PING => self.on_ping(now, f),
            FrameType::GOAWAY => {
                self.on_goaway(f);
                Ok(())
            }
            _ => self.spend_control(now),
        }
    }

    fn on_hello(&mut self, f: &Frame<'_>) -> Result<(), FrameError> {
        let peer = Settings::from_hello(f.arg(), &f.metadata());
        let version = VERSION.min(peer.max_version);
        if version < peer.min_version.max(VERSION) {
            return Err(FrameError {
                code: ErrorCode::VERSION_ERROR,
                rule: Rule::NoCommonVersion,
            });
        }
        let initial = Settings::INITIAL;
        self.send_conn_credit += i64::from(peer.initial_connection_window)
            - i64::from(initial.initial_connection_window);
        let delta =
            i64::from(peer.initial_stream_window) - i64::from(initial.initial_stream_window);
        for s in self.table.iter_mut() {
            s.send_credit += delta;
        }
        if peer.features.contains(wire::Features::CRC_REQUESTED) {
            self.crc_out = true;
        }
        self.peer = peer;
        self.peer_hello = true;
        self.phase = Phase::Open;
        self.push_event(Event::Connected);
        // The peer's windows may be larger than the initial ones every send was held to:
        // one WindowOpened for the connection tells the caller to retry every blocked send.
        let mut blocked = self.conn_blocked;
        for s in self.table.iter_mut() {
            blocked |= s.blocked;
            s.blocked = false;
        }
        if blocked {
            self.conn_blocked = false;
            self.push_event(Event::WindowOpened {
                stream: StreamId::CONNECTION,
            });
        }
        Ok(())
    }

    fn on_call(&mut self, now: Instant, f: &Frame<'_>, input: &[u8]) -> Result<(), FrameError> {
        let id = f.stream_id();
        if id.opener() == Some(self.cfg.side) {
            return Err(FrameError {
                code: ErrorCode::PROTOCOL_ERROR,
                rule: Rule::WrongParity,
            });
        }
        self.calls_received += 1;
        let flags = f.flags();
        let flow = f.flow_len();
        let one_way = flags.contains(Flags::NO_REPLY);
        let limits = self.cfg.settings;
        let meta = f.metadata();
        if self.table.contains(id.0) {
            return Err(FrameError {
                code: ErrorCode::STREAM_STATE_ERROR,
                rule: Rule::DuplicateStream,
            });
        }
        if one_way {
            let fits = flow as u64 <= u64::from(limits.max_message_size)
                && meta.as_bytes().len() <= limits.max_metadata_size as usize;
            if self.goaway_sent || !fits {
                self.consume(StreamId::CONNECTION, flow);
                return Ok(());
            }
            self.push_call_event(f, input, None);
            return Ok(());
        }
        let refuse = |reason| Control::Status {
            stream: id.0,
            code: StatusCode::UNAVAILABLE,
            refused: true,
            reason,
            slot: false,
        };
        let error = |reason| Control::Status {
            stream: id.0,
            code: StatusCode::RESOURCE_EXHAUSTED,
            refused: false,
            reason,
            slot: false,
        };
        let rejection = if self.goaway_sent {
            Some(refuse(Reason::Text("draining")))
        } else if self.peer_open >= limits.max_concurrent_streams {
            Some(refuse(Reason::Limit(
                "max_concurrent_streams",
                u64::from(limits.max_concurrent_streams),
            )))
        } else if self.table.len() >= self.table.capacity() {
            Some(refuse(Reason::Limit(
                "stream storage",
                self.table.capacity() as u64,
            )))
        } else if meta.as_bytes().len() > limits.max_metadata_size as usize {
            Some(error(Reason::Limit(
                "max_metadata_size",
                u64::from(limits.max_metadata_size),
            )))
        } else if flow as u64 > u64::from(limits.max_message_size) {
            Some(error(Reason::Limit(
                "max_message_size",
                u64::from(limits.max_message_size),
            )))
        } else {
            None
        };
        if let Some(c) = rejection {
            self.consume(StreamId::CONNECTION, flow);
            if !self.control_budget.spend(now) {
                return Err(FrameError {
                    code: ErrorCode::ENHANCE_YOUR_CALM,
                    rule: Rule::BudgetExceeded("control_budget"),
                });
            }
            let _ = self.control.push(c);
            return Ok(());
        }
        if flow as u64 > u64::from(limits.initial_stream_window) {
            return Err(FrameError {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                rule: Rule::CreditExceeded,
            });
        }
        let end = flags.contains(Flags::END_STREAM);
        let state = if end {
            StreamState::HalfClosedRemote
        } else {
            StreamState::Open
        };
        let mut s = Stream::new(id.0, Role::Callee, state);
        s.send_credit = i64::from(self.peer.initial_stream_window);
        s.recv_window = limits.initial_stream_window - flow as u32;
        if flags.contains(Flags::MORE) {
            s.in_chain = flags.codec();
            s.in_msg_len = flow as u64;
        }
        let deadline = meta.deadline_us().map(Duration::from_micros);
        s.deadline = deadline.map(|d| now + d);
        if let Some(d) = s.deadline {
            self.next_deadline = Some(self.next_deadline.map_or(d, |n| n.min(d)));
        }
        let _ = self.table.insert(s);
        self.peer_open += 1;
        self.push_call_event(f, input, deadline);
        Ok(())
    }

    fn push_call_event(&mut self, f: &Frame<'_>, input: &[u8], deadline: Option<Duration>) {
        let meta = f.metadata();
        let method = meta
            .get(Tag::METHOD)
            .map_or(Payload::default(), |m| range(input, m));
        let flags = f.flags();
        self.push_event(Event::Call {
            stream: f.stream_id(),
            method,
            metadata: range(input, meta.as_bytes()),
            deadline,
            one_way: flags.contains(Flags::NO_REPLY),
            end_stream: flags.contains(Flags::END_STREAM),
            message: message_of(f, input),
        });
    }

    fn on_data(&mut self, f: &Frame<'_>, input: &[u8]) -> Result<(), FrameError> {
        let id = f.stream_id();
        let flow = f.flow_len();
        let flags = f.flags();
        let end = flags.contains(Flags::END_STREAM);
        let state_error = Err(FrameError {
            code: ErrorCode::STREAM_STATE_ERROR,
            rule: Rule::NotAllowedInState(FrameType::DATA.0),
        });
        let Some(s) = self.table.get(id.0).copied() else {
            if id.opener() == Some(self.cfg.side) {
                return state_error;
            }
            // Late DATA for a refused or finished call: ignored, credit returned.
            self.consume(StreamId::CONNECTION, flow);
            return Ok(());
        };
        let deliver = match (s.role, s.state) {
            (Role::Caller, _) if end => return state_error,
            (Role::Caller, StreamState::Open | StreamState::HalfClosedLocal) => true,
            (Role::Caller, StreamState::CancelSent) => false,
            (Role::Callee, StreamState::Open) => true,
            (Role::Callee, StreamState::StatusSent) => false,
            _ => return state_error,
        };
        if flow as u64 > u64::from(s.recv_window) {
            return Err(FrameError {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                rule: Rule::CreditExceeded,
            });
        }
        if !deliver {
            self.consume(StreamId::CONNECTION, flow);
            if end {
                // The caller's terminal frame after our STATUS: the stream is closed.
                self.settle(id.0);
            } else if let Some(st) = self.table.get_mut(id.0) {
                st.recv_window -= flow as u32;
            }
            return Ok(());
        }
        let message = f.has_message();
        if let Some(codec) = s.in_chain {
            if !message {
                return state_error;
            }
            if flags.codec() != Some(codec) {
                return Err(FrameError {
                    code: ErrorCode::PROTOCOL_ERROR,
                    rule: Rule::CodecChanged,
                });
            }
        }
        let max = u64::from(self.cfg.settings.max_message_size);
        let total = s.in_msg_len + flow as u64;
        let more = flags.contains(Flags::MORE);
        {
            let st = self.table.get_mut(id.0).expect("looked up above");
            st.recv_window -= flow as u32;
            st.in_msg_len = if more { total } else { 0 };
            st.in_chain = if more { flags.codec() } else { None };
            if end {
                st.state = StreamState::HalfClosedRemote;
            }
        }
        if message && total > max {
            self.consume(StreamId::CONNECTION, flow);
            self.stream_limit_error(id.0, Reason::Limit("max_message_size", max));
            return Ok(());
        }
        let ev = match message_of(f, input) {
            Some(message) => Event::Message {
                stream: id,
                message,
                end_stream: end,
            },
            None => Event::HalfClosed { stream: id },
        };
        self.push_event(ev);
        Ok(())
    }

    fn on_status(&mut self, f: &Frame<'_>, input: &[u8]) -> Result<(), FrameError> {
        let id = f.stream_id();
        let state_error = Err(FrameError {
            code: ErrorCode::STREAM_STATE_ERROR,
            rule: Rule::NotAllowedInState(FrameType::STATUS.0),
        });
        let Some(s) = self.table.get(id.0).copied() else {
            return state_error;
        };
        // A STATUS may end an incomplete chunk chain (the partial message is discarded),
        // but then it cannot carry a message of its own (PROTOCOL.md section 8.4).
        let chain_with_message = s.in_chain.is_some() && f.has_message();
        if s.role != Role::Caller || chain_with_message || s.state == StreamState::Closing {
            return state_error;
        }
        let flow = f.flow_len();
        if flow as u64 > u64::from(s.recv_window) {
            return Err(FrameError {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                rule: Rule::CreditExceeded,
            });
        }
        let too_big = flow as u64 > u64::from(self.cfg.settings.max_message_size)
            || f.metadata().as_bytes().len() > self.cfg.settings.max_metadata_size as usize;
        if !s.reported {
            if too_big {
                self.consume(StreamId::CONNECTION, flow);
                self.push_event(Event::CallFailed {
                    stream: id,
                    code: StatusCode::RESOURCE_EXHAUSTED,
                    reason: FailReason::LimitExceeded,
                });
            } else {
                self.push_event(Event::Status {
                    stream: id,
                    code: f.status(),
                    refused: f.flags().contains(Flags::REFUSED),
                    metadata: range(input, f.metadata().as_bytes()),
                    message: message_of(f, input),
                });
            }
        } else {
            self.consume(StreamId::CONNECTION, flow);
        }
        if s.state == StreamState::Open {
            // Early STATUS: half-close at once (CANCEL if a chunk chain is open).
            let c = if s.out_chain.is_some() {
                Control::Cancel {
                    stream: id.0,
                    code: StatusCode::CANCELLED,
                    reason: Reason::None,
                }
            } else {
                Control::AutoEnd { stream: id.0 }
            };
            let _ = self.control.push(c);
            if let Some(st) = self.table.get_mut(id.0) {
                st.state = StreamState::Closing;
                st.reported = true;
                st.terminal_queued = true;
                st.deadline = None;
            }
            return Ok(());
        }
        if let Some(st) = self.table.get_mut(id.0) {
            st.reported = true;
        }
        self.settle(id.0);
        Ok(())
    }

    fn on_cancel(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        if !self.cancels.spend(now) {
            return Err(FrameError {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                rule: Rule::BudgetExceeded("cancel_budget"),
            });
        }
        let id = f.stream_id();
        let state_error = Err(FrameError {
            code: ErrorCode::STREAM_STATE_ERROR,
            rule: Rule::NotAllowedInState(FrameType::CANCEL.0),
        });
        let Some(s) = self.table.get(id.0).copied() else {
            if id.opener() == Some(self.cfg.side) {
                return state_error;
            }
            return Ok(());
        };
        if s.role != Role::Callee {
            return state_error;
        }
        match s.state {
            StreamState::Open | StreamState::HalfClosedRemote => {
                if let Some(st) = self.table.get_mut(id.0) {
                    st.state = StreamState::CancelReceived;
                    st.in_chain = None;
                }
                self.push_event(Event::Cancelled {
                    stream: id,
                    code: f.status(),
                });
                Ok(())
            }
            StreamState::StatusSent => {
                self.settle(id.0);
                Ok(())
            }
            StreamState::Closing => Ok(()),
            _ => state_error,
        }
    }

    fn on_window(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        let inc = f.arg();
        if inc < 1024 {
            self.spend_control(now)?;
        }
        let overflow = Err(FrameError {
            code: ErrorCode::FLOW_CONTROL_ERROR,
            rule: Rule::WindowOverflow,
        });
        let id = f.stream_id();
        if id.is_connection() {
            self.send_conn_credit += i64::from(inc);
            if self.send_conn_credit > i64::from(wire::MAX_WINDOW) {
                return overflow;
            }
            if self.conn_blocked {
                self.conn_blocked = false;
                self.push_event(Event::WindowOpened { stream: id });
            }
            return Ok(());
        }
        let Some(s) = self.table.get_mut(id.0) else {
            return self.spend_control(now);
        };
        s.send_credit += i64::from(inc);
        if s.send_credit > i64::from(wire::MAX_WINDOW) {
            return overflow;
        }
        if s.blocked {
            s.blocked = false;
            self.push_event(Event::WindowOpened { stream: id });
        }
        Ok(())
    }

    fn on_ping(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        if f.flags().contains(Flags::ACK) {
            if let Some((op, sent)) = self.ping {
                if op == f.arg() {
                    self.ping = None;
                    self.push_event(Event::Pong {
                        rtt: now.saturating_since(sent),
                    });
                }
            }
            return Ok(());
        }
        self.spend_control(now)?;
        let acks = self.control.iter().filter(|c| c.is_ack()).count();
        if acks >= self.cfg.ack_queue {
            return Err(FrameError {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                rule: Rule::BudgetExceeded("ack_queue"),
            });
        }
        let _ = self.control.push(Control::PingAck(f.arg()));
        Ok(())
    }

    fn on_goaway(&mut self, f: &Frame<'_>) {
        let accepted = f.accepted_calls();
        self.goaway_received = true;
        self.push_event(Event::GoAway {
            code: f.error_code(),
            accepted_calls: accepted,
        });
        let mut failed = 0;
        for s in self.table.iter_mut() {
            if s.role == Role::Caller && s.seq > accepted && !s.reported {
                s.reported = true;
                s.notice = Some(Notice::Failed(
                    StatusCode::UNAVAILABLE,
                    FailReason::NotProcessed,
                ));
                failed += 1;
            }
        }
        self.pending_notices += failed;
        if f.error_code() != ErrorCode::NO_ERROR {
            self.close_now(f.error_code(), true, None, "peer sent GOAWAY");
        } else if self.table.len() == 0 {
            self.close_now(ErrorCode::NO_ERROR, true, None, "peer drained");
        }
    }

    fn spend_control(&mut self, now: Instant) -> Result<(), FrameError> {
        if self.control_budget.spend(now) {
            Ok(())
        } else {
            Err(FrameError {
                code: ErrorCode::ENHANCE_YOUR_CALM,
                rule: Rule::BudgetExceeded("control_budget"),
            })
        }
    }

    // ----------------------------------------------------------------------------------
    // Internals: streams

    /// A limit broken by a message on `id`: the callee answers STATUS, the caller cancels.
    fn stream_limit_error(&mut self, id: u32, reason: Reason) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        let code = StatusCode::RESOURCE_EXHAUSTED;
        match s.role {
            Role::Callee => {
                s.state = if s.state == StreamState::HalfClosedRemote {
                    StreamState::Closing
                } else {
                    StreamState::StatusSent
                };
                s.deadline = None;
                s.notice = Some(Notice::Aborted(code));
                let _ = self.control.push(Control::Status {
                    stream: id,
                    code,
                    refused: false,
                    reason,
                    slot: true,
                });
            }
            Role::Caller => {
                s.state = StreamState::CancelSent;
                s.reported = true;
                s.deadline = None;
                s.notice = Some(Notice::Failed(code, FailReason::LimitExceeded));
                let _ = self.control.push(Control::Cancel {
                    stream: id,
                    code,
                    reason,
                });
            }
        }
        s.terminal_queued = true;
        self.pending_notices += 1;
    }

    /// Both terminal frames are settled: free the slot, unless our own terminal frame is
    /// still queued (then the slot waits in `Closing` until it is written).
    fn settle(&mut self, id: u32) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        if s.terminal_queued {
            s.state = StreamState::Closing;
        } else {
            self.remove_stream(id);
        }
    }

    fn terminal_written(&mut self, id: u32) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        s.terminal_queued = false;
        if s.state == StreamState::Closing {
            self.remove_stream(id);
        }
    }

    fn remove_stream(&mut self, id: u32) {
        let Some(s) = self.table.remove(id) else {
            return;
        };
        if let Some(n) = s.notice {
            self.pending_notices = self.pending_notices.saturating_sub(1);
            let ev = notice_event(id, s.role, n);
            if self.events.push(ev).is_ok() && carries_payload(&ev) {
                self.payload_events += 1;
            }
        }
        match s.role {
            Role::Caller => self.local_open -= 1,
            Role::Callee => self.peer_open -= 1,
        }
        if self.streams_blocked && self.phase != Phase::Closed {
            self.streams_blocked = false;
            self.push_event(Event::StreamsAvailable);
        }
        if self.goaway_received
            && self.table.len() == 0
            && self.phase != Phase::Closed
            && !self.goaway_sent
        {
            self.close_now(ErrorCode::NO_ERROR, true, None, "peer drained");
        }
    }

    fn take_notice(&mut self) -> Option<Event> {
        let closed = self.phase == Phase::Closed;
        let mut found = None;
        for s in self.table.iter_mut() {
            if let Some(n) = s.notice.take() {
                found = Some((s.id, s.role, n));
                break;
            }
        }
        let (id, role, n) = found?;
        self.pending_notices = self.pending_notices.saturating_sub(1);
        if closed && n == Notice::Closed {
            let _ = self.table.remove(id);
        }
        Some(notice_event(id, role, n))
    }

    fn expire_deadlines(&mut self, now: Instant) {
        let mut next: Option<Instant> = None;
        let mut queued = 0;
        let room = self.control.free().saturating_sub(4);
        let mut expired = [0u32; 16];
        for s in self.table.iter() {
            match s.deadline {
                Some(d) if d <= now && queued < room.min(expired.len()) => {
                    expired[queued] = s.id;
                    queued += 1;
                }
                Some(d) => next = Some(next.map_or(d, |n| n.min(d))),
                None => {}
            }
        }
        for &id in &expired[..queued] {
            let Some(s) = self.table.get_mut(id) else {
                continue;
            };
            s.deadline = None;
            let code = StatusCode::DEADLINE_EXCEEDED;
            let reason = Reason::Text("deadline exceeded");
            let c = match s.role {
                Role::Caller => {
                    s.state = StreamState::CancelSent;
                    s.reported = true;
                    s.out_chain = None;
                    s.notice = Some(Notice::Failed(code, FailReason::Deadline));
                    Control::Cancel {
                        stream: id,
                        code,
                        reason,
                    }
                }
                Role::Callee => {
                    s.state = match s.state {
                        StreamState::Open => StreamState::StatusSent,
                        _ => StreamState::Closing,
                    };
                    s.notice = Some(Notice::Deadline);
                    Control::Status {
                        stream: id,
                        code,
                        refused: false,
                        reason,
                        slot: true,
                    }
                }
            };
            s.terminal_queued = true;
            self.pending_notices += 1;
            let _ = self.control.push(c);
        }
        // Streams left over for lack of queue room are retried at once.
        if queued == room.min(expired.len()) && queued > 0 {
            next = Some(now);
        }
        self.next_deadline = next;
    }

    fn free_local_id(&self) -> Option<u32> {
        let mut id = self.next_id;
        for _ in 0..=self.table.capacity() {
            if id == 0 || id == 1 && self.cfg.side == Side::Acceptor {
                id = match self.cfg.side {
                    Side::Connector => 1,
                    Side::Acceptor => 2,
                };
            }
            if !self.table.contains(id) {
                return Some(id);
            }
            id = id.wrapping_add(2);
        }
        None
    }

    // ----------------------------------------------------------------------------------
    // Internals: frames out

    fn check_open(&self) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn check_outgoing(
        &self,
        m: &Outgoing<'_>,
        end_stream: bool,
        s: Option<&Stream>,
    ) -> Result<(), Error> {
        if m.more && end_stream {
            return Err(Error::InvalidArgument(
                "a chunk with more cannot end the stream",
            ));
        }
        if m.more && m.body.len() < MIN_CHUNK {
            return Err(Error::InvalidArgument(
                "chunks with more carry at least 1024 bytes",
            ));
        }
        if m.codec != Codec::Identity && (!self.peer_hello || !self.peer.accepts_codec(m.codec)) {
            return Err(Error::InvalidArgument("codec not offered by the peer"));
        }
        // A whole message must fit the peer's MAX_MESSAGE_SIZE (chunked ones are checked
        // by the receiver as they add up).
        let whole = !m.more && s.is_none_or(|s| s.out_chain.is_none());
        if whole && m.body.len() as u64 > u64::from(self.peer.max_message_size) {
            return Err(Error::TooLarge);
        }
        // The whole frame must fit the peer's MAX_FRAME_SIZE; split larger messages.
        if m.body.len() + CRC_LEN > self.peer.max_frame_size as usize {
            return Err(Error::InvalidArgument(
                "body larger than the peer's max_frame_size: send chunks",
            ));
        }
        Ok(())
    }

    fn write_hello(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let need = PREFACE.len() + HEADER_LEN;
        if out.len() < need {
            return Err(Error::BufferTooSmall { needed: need + 128 });
        }
        out[..PREFACE.len()].copy_from_slice(&PREFACE);
        let flags = if self.crc_out {
            Flags::CRC
        } else {
            Flags::NONE
        };
        let n = self
            .cfg
            .settings
            .encode_hello(&mut out[PREFACE.len()..], self.cfg.agent, flags)?;
        self.hello_sent = true;
        Ok(PREFACE.len() + n)
    }

    /// Writes the preface and HELLO (if not yet sent) and one frame into `out`. Does not
    /// change state: the caller commits after checking the result.
    #[allow(clippy::too_many_arguments)]
    fn write_frame(
        &mut self,
        out: &mut [u8],
        ty: FrameType,
        stream: u32,
        arg: u32,
        mut flags: Flags,
        message: Option<Outgoing<'_>>,
        meta: impl FnOnce(&mut FrameEncoder<'_>) -> Result<(), wire::EncodeError>,
    ) -> Result<Sent, Error> {
        let was_sent = self.hello_sent;
        let start = if was_sent { 0 } else { self.write_hello(out)? };
        self.hello_sent = was_sent;
        let frame_out = &mut out[start..];
        let mut enc = FrameEncoder::new(frame_out, ty, stream, arg)?;
        meta(&mut enc)?;
        if let Some(m) = message {
            flags |= Flags::MESSAGE;
            flags = flags.with_codec(m.codec);
            if m.more {
                flags |= Flags::MORE;
            }
        }
        if self.crc_out {
            flags |= Flags::CRC;
        }
        let (len, head_len) = match message.map(|m| m.body) {
            Some(Body::External(n)) => {
                let head = enc.finish_head(flags, n)?;
                (head, head)
            }
            Some(Body::Inline(b)) => {
                let meta_len = enc.meta_len();
                let n = enc.finish_with_body(flags, b)?;
                (n, HEADER_LEN + meta_len)
            }
            None => {
                let meta_len = enc.meta_len();
                (enc.finish(flags)?, HEADER_LEN + meta_len)
            }
        };
        // The whole payload must fit the peer's MAX_FRAME_SIZE (or the initial value).
        let body_len = message.map_or(0, |m| m.body.len());
        let crc = if self.crc_out { CRC_LEN } else { 0 };
        let payload = head_len - HEADER_LEN + body_len + crc;
        if payload > self.peer.max_frame_size as usize {
            return Err(Error::InvalidArgument(
                "frame exceeds the peer's max_frame_size: send the message in chunks",
            ));
        }
        let external = matches!(message.map(|m| m.body), Some(Body::External(_)));
        Ok(Sent {
            stream: StreamId(stream),
            len: start + len,
            crc: external && self.crc_out,
            head_len,
        })
    }

    // ----------------------------------------------------------------------------------
    // Internals: closing

    fn queue_goaway(&mut self, code: ErrorCode, reason: Reason) {
        self.goaway_sent = true;
        let c = Control::GoAway {
            code,
            accepted: self.calls_received,
            reason,
        };
        if self.control.push(c).is_err() {
            // Make room: a closing connection needs its GOAWAY more than anything queued.
            let _ = self.control.pop();
            let _ = self.control.push(c);
        }
    }

    /// A protocol violation by the peer.
    fn fail(&mut self, _now: Instant, e: FrameError) {
        self.queue_goaway(e.code, Reason::Rule(e.rule));
        self.close_now(
            e.code,
            false,
            Some(e.rule),
            "protocol violation by the peer",
        );
    }

    fn fail_local(&mut self, code: ErrorCode, rule: Rule) {
        self.queue_goaway(code, Reason::Rule(rule));
        self.close_now(code, false, Some(rule), "timeout");
    }

    fn close_now(
        &mut self,
        code: ErrorCode,
        by_peer: bool,
        rule: Option<Rule>,
        detail: &'static str,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.close = Some(CloseReason {
            code,
            by_peer,
            rule,
            detail,
        });
        let mut n = 0;
        for s in self.table.iter_mut() {
            // A caller whose outcome is already known gets no second report.
            let known = s.role == Role::Caller && s.reported;
            if s.notice.is_none() && !known {
                s.notice = Some(Notice::Closed);
                n += 1;
            }
        }
        self.pending_notices += n;
    }

    fn push_event(&mut self, ev: Event) {
        // handle_input keeps room for what one frame produces; commands produce at most
        // two events each, so a full queue here means the caller is not polling.
        if self.events.push(ev).is_ok() && carries_payload(&ev) {
            self.payload_events += 1;
        }
    }
}

/// Whether a stream still receives messages (and so earns window updates).
fn receiving(s: &Stream) -> bool {
    match s.role {
        Role::Caller => !matches!(s.state, StreamState::CancelSent | StreamState::Closing),
        Role::Callee => s.state == StreamState::Open,
    }
}

fn carries_payload(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Call { .. } | Event::Message { .. } | Event::Status { .. }
    )
}

fn notice_event(id: u32, role: Role, n: Notice) -> Event {
    let stream = StreamId(id);
    match n {
        Notice::Closed if role == Role::Callee => Event::Cancelled {
            stream,
            code: StatusCode::UNAVAILABLE,
        },
        Notice::Failed(code, reason) => Event::CallFailed {
            stream,
            code,
            reason,
        },
        Notice::Deadline => Event::DeadlineExceeded { stream },
        Notice::Aborted(code) => Event::CallAborted { stream, code },
        Notice::Closed => Event::CallFailed {
            stream,
            code: StatusCode::UNAVAILABLE,
            reason: FailReason::ConnectionClosed,
        },
    }
}

/// The range of `part` (a sub-slice of `input`) within `input`.
fn range(input: &[u8], part: &[u8]) -> Payload {
    let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    Payload {
        start: start as u32,
        len: part.len() as u32,
    }
}

fn message_of(f: &Frame<'_>, input: &[u8]) -> Option<Message> {
    if !f.has_message() {
        return None;
    }
    Some(Message {
        data: range(input, f.body()),
        codec: f.flags().codec().unwrap_or(Codec::Identity),
        more: f.flags().contains(Flags::MORE),
    })
}
