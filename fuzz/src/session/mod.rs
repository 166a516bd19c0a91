//! A `Connection` driven by a script (see [`script`]) of peer bytes, application
//! commands and clock steps, with its behaviour checked after every step:
//!
//! - nothing panics, and no loop over its outputs runs away (events, transmits, timers);
//! - every returned length lies within the buffer given, and nothing is written past it;
//! - a rejected command changes nothing;
//! - every event's payload lies within the input it came from, and payload events come
//!   only from input;
//! - what it writes is the preface and valid frames (see [`output`]), within the
//!   connection window the peer granted (see [`credit`]);
//! - every call ends, a call made here exactly once (see [`ledger`]);
//! - bytes it was handed are worked through: a whole frame is never left waiting;
//! - its internal invariants hold and its state stays within the slots it was given;
//! - once closed, it stays closed and quiet.

mod commands;
pub mod credit;
pub mod ledger;
pub mod output;
mod peer;
pub mod script;

use muxwire_core::conn::{Connection, Error, Event, StreamSlot};
use muxwire_core::time::Instant;
use muxwire_core::wire::{self, Decoded, StreamId};

use crate::reader::Reader;
use credit::PeerCredit;
use ledger::Ledger;
use output::Output;
use script::{Ending, Sel, Setup, Step};

/// Runs the script in `data`; panics on the first broken invariant.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let setup = Setup::read(&mut r);
    let mut h = Harness::new(setup);
    if !setup.lazy_hello {
        h.transmit();
    }
    // Every step reads at least its opcode, so this ends with the input.
    while let Some(step) = Step::read(&mut r) {
        h.step(step);
    }
    h.finish();
}

/// Filler for message bodies, and the largest body a step asks for.
static BODY: [u8; 65_536] = [0x42; 65_536];
/// Bytes every output buffer is filled with, to see what a call wrote.
const CANARY: u8 = 0xA5;
/// Loop bounds: far above what a correct connection needs.
const MAX_EVENTS: usize = 10_000;
const MAX_TRANSMITS: usize = 1_000;
const MAX_TIMER_ROUNDS: usize = 64;

struct Harness {
    setup: Setup,
    conn: Connection<Vec<StreamSlot>>,
    now: Instant,
    /// Peer bytes handed in but not consumed yet.
    pending: Vec<u8>,
    out: Output,
    credit: PeerCredit,
    ledger: Ledger,
    /// `poll_transmit`'s buffer: room for many control frames.
    buf: Vec<u8>,
    /// The commands' buffer: room for the preface, HELLO and the largest frame a step
    /// asks for.
    frame_buf: Vec<u8>,
}

impl Harness {
    fn new(setup: Setup) -> Harness {
        let now = Instant(1_000_000);
        let cfg = setup.config;
        Harness {
            setup,
            conn: Connection::new(cfg, vec![StreamSlot::EMPTY; setup.slots], now),
            now,
            pending: Vec::new(),
            out: Output::new(cfg.side, cfg.settings),
            credit: PeerCredit::new(),
            ledger: Ledger::new(cfg.side),
            buf: vec![0; 4096],
            frame_buf: vec![0; 72 * 1024],
        }
    }

    fn step(&mut self, step: Step<'_>) {
        let closed = self.conn.is_closed();
        match step {
            Step::Recv(bytes) => self.recv(bytes),
            Step::Advance(us) => self.advance(us),
            Step::PeerFrame { .. } => {
                let frame = peer::frame(&step, self);
                self.recv(&frame);
            }
            Step::Eof => self.conn.handle_eof(self.now),
            Step::SmallTransmit(size) => self.small_transmit(usize::from(size % 512)),
            _ => self.command(step, closed),
        }
        self.settle(None);
        self.check_state();
    }

    fn stream(&self, sel: Sel) -> StreamId {
        StreamId(match sel {
            Sel::Id(id) => id,
            Sel::Known(i) => self.ledger.recent(i).unwrap_or(0),
        })
    }

    /// Hands peer bytes in after those left over, as a transport would, until the
    /// connection takes no more; events and output are handled after every call.
    fn recv(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let mut stalled = 0;
        for _ in 0..=self.pending.len() + 2 {
            if self.pending.is_empty() || self.conn.is_closed() {
                break;
            }
            let input = std::mem::take(&mut self.pending);
            let n = match self.conn.handle_input(self.now, &input) {
                Ok(n) => n,
                Err(e) => panic!("handle_input refused input on an open connection: {e:?}"),
            };
            assert!(n <= input.len(), "consumed {n} of {} bytes", input.len());
            self.credit.consumed(&input[..n]);
            self.settle(Some(&input));
            self.pending = input[n..].to_vec();
            if n > 0 {
                stalled = 0;
                continue;
            }
            stalled += 1;
            if stalled == 2 {
                break;
            }
        }
        if self.conn.is_closed() {
            self.pending.clear();
            return;
        }
        // Everything polled and written: a whole frame left over is a wedged connection.
        let max = self.setup.config.settings.max_frame_size;
        if let Ok(Decoded::Frame { .. }) | Err(_) = wire::decode(&self.pending, max) {
            panic!("a whole frame is left unprocessed on an open connection");
        }
    }

    fn advance(&mut self, us: u32) {
        self.now = self.now + muxwire_core::time::Duration(u64::from(us));
        // Possibly spurious: must then do nothing.
        self.conn.handle_timeout(self.now);
        for _ in 0..MAX_TIMER_ROUNDS {
            self.settle(None);
            match self.conn.poll_timeout() {
                Some(at) if at <= self.now => self.conn.handle_timeout(self.now),
                _ => return,
            }
        }
        panic!("timers still due after {MAX_TIMER_ROUNDS} rounds");
    }

    /// Polls every event and writes out everything queued.
    fn settle(&mut self, input: Option<&[u8]>) {
        for _ in 0..MAX_EVENTS {
            let Some(ev) = self.conn.poll_event() else {
                self.transmit();
                return;
            };
            if ev.has_payload() {
                let input = input.expect("an event with a payload, not after input");
                check_payloads(&ev, input);
            }
            let _ = ev.view(input.unwrap_or(&[]));
            self.ledger.event(&ev);
        }
        panic!("more than {MAX_EVENTS} events in a row");
    }

    /// Drains `poll_transmit` into a buffer far larger than any control frame.
    fn transmit(&mut self) {
        for _ in 0..MAX_TRANSMITS {
            self.buf.fill(CANARY);
            let n = self
                .conn
                .poll_transmit(self.now, &mut self.buf)
                .expect("poll_transmit with a large buffer");
            check_written(&self.buf, n);
            if n == 0 {
                return;
            }
            let peer_max = self.conn.peer_settings().max_frame_size;
            let bytes = std::mem::take(&mut self.buf);
            self.out.write(&bytes[..n], peer_max);
            self.buf = bytes;
        }
        panic!("poll_transmit wrote more than {MAX_TRANSMITS} times in a row");
    }

    fn small_transmit(&mut self, size: usize) {
        let mut small = vec![CANARY; size];
        match self.conn.poll_transmit(self.now, &mut small) {
            Ok(n) => {
                assert!(n <= size);
                let peer_max = self.conn.peer_settings().max_frame_size;
                self.out.write(&small[..n], peer_max);
            }
            Err(Error::BufferTooSmall { needed }) => assert!(needed > size),
            Err(e) => panic!("poll_transmit failed with {e:?}"),
        }
    }

    fn check_state(&self) {
        if let Err(e) = self.conn.check_invariants() {
            panic!("invariant broken: {e}");
        }
        let open = self.conn.open_streams();
        assert!(
            open <= self.setup.slots,
            "{open} streams in {} slots",
            self.setup.slots
        );
        assert!(
            self.out.message_bytes() <= self.credit.window(),
            "sent {} message bytes, the peer granted {}",
            self.out.message_bytes(),
            self.credit.window()
        );
        assert!(
            self.ledger.open() <= open,
            "the application holds {} calls the connection dropped without an event",
            self.ledger.open() - open
        );
    }

    fn finish(&mut self) {
        if !self.conn.is_closed() {
            match self.setup.ending {
                Ending::Close => self.conn.close(self.now, wire::ErrorCode::NO_ERROR, "done"),
                Ending::Eof => self.conn.handle_eof(self.now),
            }
        }
        self.settle(None);
        assert!(self.conn.is_closed());
        self.ledger.check_all_ended();
        assert!(self.conn.poll_event().is_none(), "an event after Closed");
        assert_eq!(
            self.conn.poll_timeout(),
            None,
            "a timer on a closed connection"
        );
        assert_eq!(
            self.conn.handle_input(self.now, &[0; 16]),
            Err(Error::Closed)
        );
        let mut tail = [0u8; 256];
        assert_eq!(self.conn.poll_transmit(self.now, &mut tail), Ok(0));
        self.check_state();
    }
}

/// Bytes of `buf` after the `n` a call reported writing are untouched.
fn check_written(buf: &[u8], n: usize) {
    assert!(n <= buf.len(), "reported {n} bytes written");
    assert!(
        buf[n..].iter().all(|&b| b == CANARY),
        "wrote past the {n} bytes it reported"
    );
}

fn check_payloads(ev: &Event, input: &[u8]) {
    let within = |p: muxwire_core::conn::Payload| {
        assert!(
            p.start as usize + p.len as usize <= input.len(),
            "payload {p:?} outside the {}-byte input",
            input.len()
        );
    };
    match *ev {
        Event::Call {
            method,
            metadata,
            message,
            ..
        } => {
            within(method);
            within(metadata);
            assert!(!method.is_empty(), "a call without a method");
            if let Some(m) = message {
                within(m.data);
            }
        }
        Event::Message { message, .. } => within(message.data),
        Event::Status {
            metadata, message, ..
        } => {
            within(metadata);
            if let Some(m) = message {
                within(m.data);
            }
        }
        _ => {}
    }
}
