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
//! If [`Connection::awaits_room`] is then true, hand the unconsumed input in again at once:
//! whole frames were left for want of queue room, and the peer owes no more bytes.
//!
//! # Memory
//!
//! Storage is any [`Storage`]: a borrowed `&mut [StreamSlot]` (no allocation at all) or an
//! owned `Box<[StreamSlot]>`. A connection is `size_of::<Connection>()` bytes (about 7 KiB
//! on 64-bit targets: its 64-entry event and control queues are inline) plus
//! [`SLOT_SIZE`] bytes (72: a stream and its links in the notice, window and deadline
//! queues) per caller-provided slot; `tests/connection.rs` keeps these numbers honest.
//! With `max_concurrent_streams` `n`, give it at least `n` slots plus room for this
//! endpoint's own calls; a full table refuses incoming calls (REFUSED on the wire) and
//! fails `open_call` with [`Error::StorageFull`], never panics. A caller with an allocator
//! may start small and grow: with [`Config::storage_max`] set, the connection asks for
//! more slots ([`Connection::wants_storage`]) instead of refusing, and
//! [`Connection::replace_storage`] hands them over.
//!
//! # Bindings
//!
//! A C ABI or Python wrapper needs no conversion code of its own: [`Event::kind`] (an
//! [`EventKind`] with stable numbers) and [`Event::view`] (an [`EventView`] borrowing the
//! input), [`Error::code`], [`Connection::check_send`] to ask for credit,
//! [`Connection::send_status_spec`] and [`Connection::open_call_with`] taking metadata as
//! a pre-encoded [`Entries::Encoded`] block, [`Config::with_agent`] for a run-time AGENT,
//! and [`SLOT_SIZE`] / [`SLOT_ALIGN`] to size slot storage (see [`StreamSlot`]).
//!
//! # Layout
//!
//! One file per job, as quinn-proto's `connection/` and h2's `proto/streams/`:
//! `recv.rs` (frames in), `send.rs` (commands, frames out), `flow.rs` and `window.rs`
//! (credit), `timers.rs` (one timer table and the deadline queue), `close.rs` (close and
//! drain), `lifecycle.rs` (stream endings, events out), `streams.rs` (the slot table),
//! `links.rs` and `queue.rs` (intrusive queues through the slots).

mod budget;
mod config;
mod control;
mod error;
mod event;
mod ring;
mod streams;

mod args;
mod close;
mod flow;
mod lifecycle;
mod links;
mod queue;
mod recv;
mod refusals;
mod send;
#[cfg(test)]
mod tests;
mod timers;
mod window;

pub use config::{Agent, Config};
pub use error::Error;
pub use event::{
    CloseReason, Event, EventKind, EventView, FailReason, Message, MessageView, Payload,
};
pub use streams::{Role, Storage, StreamSlot, StreamState, SLOT_ALIGN, SLOT_SIZE};

use budget::Budget;
use control::Control;
use links::Queue;
use refusals::Refusals;
use ring::Ring;
use streams::Table;
use window::{RecvWindow, SendWindow};

use crate::time::Instant;
use crate::wire::{Settings, Side, StreamId};

pub use args::{Body, CallSpec, Entries, Outgoing, Sent, StatusSpec};

const EVENT_QUEUE: usize = 64;
const CONTROL_QUEUE: usize = 64;

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
    phase: Phase,
    preface_matched: usize,
    hello_sent: bool,
    peer: Settings,
    peer_hello: bool,
    crc_out: bool,
    sticky_crc: bool,
    send_conn: SendWindow,
    recv_conn: RecvWindow,
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
    /// The lowest Accepted Calls of the peer's GOAWAYs (`u64::MAX` before the first).
    peer_accepted: u64,
    started: Instant,
    last_recv: Instant,
    /// When the frame at the front of the unconsumed input started to arrive, if it is
    /// incomplete.
    partial_since: Option<Instant>,
    /// The last `handle_input` left whole frames unprocessed for want of queue room.
    awaits_room: bool,
    /// The caller holds input back (see [`Connection::hold_input`]): no frame timer runs.
    input_held: bool,
    ping: Option<(u32, Instant)>,
    ping_counter: u32,
    cancels: Budget,
    control_budget: Budget,
    /// Calls refused lately, whose late DATA is not counted against `control_budget`.
    refusals: Refusals,
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
            phase: Phase::Handshake,
            preface_matched: 0,
            hello_sent: false,
            peer: initial,
            peer_hello: false,
            crc_out: cfg.send_crc,
            sticky_crc: false,
            send_conn: SendWindow::new(initial.initial_connection_window),
            recv_conn: RecvWindow::new(cfg.settings.initial_connection_window),
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
            peer_accepted: u64::MAX,
            started: now,
            last_recv: now,
            partial_since: None,
            awaits_room: false,
            input_held: false,
            ping: None,
            ping_counter: 0,
            cancels: Budget::new(cfg.cancel_budget),
            control_budget: Budget::new(cfg.control_budget),
            refusals: Refusals::new(),
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

    /// Tells the connection that its caller holds the peer's input back (`true`: it stops
    /// reading for reasons of its own, such as full output queues) or reads again
    /// (`false`). While held, no frame-completion timer runs for a frame that has started
    /// to arrive (PROTOCOL.md section 15.2: such bytes are not a stalled frame); once
    /// released, that frame is timed again from `now`.
    pub fn hold_input(&mut self, now: Instant, held: bool) {
        if self.input_held && !held && self.partial_since.is_some() {
            self.partial_since = Some(now);
        }
        self.input_held = held;
    }

    /// Slots in the stream storage now.
    pub fn storage_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// True while the storage is three quarters full and smaller than
    /// [`Config::storage_max`]: input stops before the next frame ([`Connection::awaits_room`])
    /// until [`Connection::replace_storage`] hands over more slots.
    pub fn wants_storage(&self) -> bool {
        let cap = self.table.capacity();
        cap < self.cfg.storage_max && self.table.len() * 4 >= cap * 3
    }

    /// Moves the streams into `slots` and returns the old storage, or gives `slots` back
    /// if it cannot hold the streams open now. Call it between inputs and commands (never
    /// while events are owed); nothing else changes.
    pub fn replace_storage(&mut self, slots: S) -> Result<S, S> {
        self.table.replace(slots)
    }

    /// The stream's state, if it is in the table.
    pub fn stream_state(&self, stream: StreamId) -> Option<(Role, StreamState)> {
        self.table.get(stream.0).map(|s| (s.role, s.state))
    }

    /// True when the last [`Connection::handle_input`] stopped before the end of its input
    /// because its event or control queue was full, not for want of bytes: drain
    /// `poll_event` and `poll_transmit`, then hand the rest in again at once (more bytes
    /// from the peer may never come).
    pub const fn awaits_room(&self) -> bool {
        self.awaits_room
    }

    /// Whole frames taken from the input so far (valid or not).
    pub fn frames_received(&self) -> u64 {
        self.frames_received
    }

    /// Bytes that may be sent on `stream` now (both windows); the connection window for 0.
    pub fn send_credit(&self, stream: StreamId) -> u64 {
        let conn = self.send_conn.available();
        if stream.is_connection() {
            return conn;
        }
        self.table
            .get(stream.0)
            .map_or(0, |s| conn.min(s.send.available()))
    }

    /// True if no event, frame or timer is pending: the connection is idle.
    pub fn is_idle(&self) -> bool {
        self.events.len() == 0 && self.control.len() == 0 && self.table.queued(Queue::Notices) == 0
    }

    /// Queue depths: (events, control frames, payload events, pending notices).
    #[doc(hidden)]
    pub fn queue_depths(&self) -> (usize, usize, usize, usize) {
        (
            self.events.len(),
            self.control.len(),
            self.payload_events,
            self.table.queued(Queue::Notices),
        )
    }

    /// Checks internal invariants (for tests and fuzzers): credit never negative, the
    /// open-call counters match the table, the table within its capacity.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if self.send_conn.credit() < 0 {
            return Err("connection send credit negative");
        }
        if self.table.iter().any(|s| s.send.credit() < 0) {
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
}
