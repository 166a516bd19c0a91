//! A deterministic two-peer simulator (after quinn-proto's `Pair`): two connections joined
//! by in-memory pipes, a virtual clock, and optional random splitting of the byte stream.
#![allow(dead_code, unreachable_pub)]

use muxwire_core::conn::{CallSpec, Config, Connection, Event, Message, Outgoing, StreamSlot};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{Side, StatusCode, StreamId};

/// An event with its payloads copied out of the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Connected,
    Call {
        stream: u32,
        method: String,
        one_way: bool,
        end: bool,
        msg: Option<(Vec<u8>, bool)>,
        deadline: Option<Duration>,
        meta: Vec<u8>,
    },
    Message {
        stream: u32,
        data: Vec<u8>,
        more: bool,
        end: bool,
    },
    HalfClosed {
        stream: u32,
    },
    Status {
        stream: u32,
        code: StatusCode,
        refused: bool,
        msg: Option<Vec<u8>>,
        meta: Vec<u8>,
    },
    Cancelled {
        stream: u32,
        code: StatusCode,
    },
    DeadlineExceeded {
        stream: u32,
    },
    CallFailed {
        stream: u32,
        code: StatusCode,
        reason: muxwire_core::conn::FailReason,
    },
    CallAborted {
        stream: u32,
        code: StatusCode,
    },
    WindowOpened {
        stream: u32,
    },
    StreamsAvailable,
    GoAway {
        code: u32,
        accepted: u64,
    },
    Pong,
    Closed {
        code: u32,
        by_peer: bool,
    },
    Other,
}

fn msg(m: Option<Message>, input: &[u8]) -> Option<(Vec<u8>, bool)> {
    m.map(|m| (m.data.get(input).to_vec(), m.more))
}

pub fn own(ev: Event, input: &[u8]) -> Ev {
    match ev {
        Event::Connected => Ev::Connected,
        Event::Call {
            stream,
            method,
            metadata,
            deadline,
            one_way,
            end_stream,
            message,
        } => Ev::Call {
            stream: stream.0,
            method: String::from_utf8(method.get(input).to_vec()).unwrap(),
            one_way,
            end: end_stream,
            msg: msg(message, input),
            deadline,
            meta: metadata.get(input).to_vec(),
        },
        Event::Message {
            stream,
            message,
            end_stream,
        } => Ev::Message {
            stream: stream.0,
            data: message.data.get(input).to_vec(),
            more: message.more,
            end: end_stream,
        },
        Event::HalfClosed { stream } => Ev::HalfClosed { stream: stream.0 },
        Event::Status {
            stream,
            code,
            refused,
            metadata,
            message,
        } => Ev::Status {
            stream: stream.0,
            code,
            refused,
            msg: message.map(|m| m.data.get(input).to_vec()),
            meta: metadata.get(input).to_vec(),
        },
        Event::Cancelled { stream, code } => Ev::Cancelled {
            stream: stream.0,
            code,
        },
        Event::DeadlineExceeded { stream } => Ev::DeadlineExceeded { stream: stream.0 },
        Event::CallFailed {
            stream,
            code,
            reason,
        } => Ev::CallFailed {
            stream: stream.0,
            code,
            reason,
        },
        Event::CallAborted { stream, code } => Ev::CallAborted {
            stream: stream.0,
            code,
        },
        Event::WindowOpened { stream } => Ev::WindowOpened { stream: stream.0 },
        Event::StreamsAvailable => Ev::StreamsAvailable,
        Event::GoAway {
            code,
            accepted_calls,
        } => Ev::GoAway {
            code: code.0,
            accepted: accepted_calls,
        },
        Event::Pong { .. } => Ev::Pong,
        Event::Closed(r) => Ev::Closed {
            code: r.code.0,
            by_peer: r.by_peer,
        },
        _ => Ev::Other,
    }
}

pub struct Peer {
    pub conn: Connection<&'static mut [StreamSlot]>,
    /// Bytes received but not yet consumed.
    pub inbox: Vec<u8>,
    pub events: Vec<Ev>,
    pub wire_out: Vec<u8>,
    pub eof: bool,
    /// Bytes sent by the other side that have not arrived yet.
    pub in_flight: Vec<u8>,
}

impl Peer {
    pub fn new(cfg: Config, slots: usize, now: Instant) -> Peer {
        let slots: &'static mut [StreamSlot] =
            Box::leak(vec![StreamSlot::EMPTY; slots].into_boxed_slice());
        Peer {
            conn: Connection::new(cfg, slots, now),
            inbox: Vec::new(),
            events: Vec::new(),
            wire_out: Vec::new(),
            eof: false,
            in_flight: Vec::new(),
        }
    }

    /// Feeds `n` bytes of the inbox (all if None) and collects events.
    pub fn receive(&mut self, now: Instant, limit: Option<usize>) {
        loop {
            let n = limit.unwrap_or(self.inbox.len()).min(self.inbox.len());
            let input = self.inbox[..n].to_vec();
            let consumed = match self.conn.handle_input(now, &input) {
                Ok(c) => c,
                Err(e) => {
                    assert_eq!(
                        e,
                        muxwire_core::conn::Error::Closed,
                        "handle_input refused input"
                    );
                    // Closed: a real transport would be shut; drop what arrives.
                    self.drain_events(&input);
                    self.inbox.clear();
                    return;
                }
            };
            self.drain_events(&input);
            self.inbox.drain(..consumed);
            if consumed == 0 || limit.is_some() {
                return;
            }
        }
    }

    pub fn drain_events(&mut self, input: &[u8]) {
        while let Some(ev) = self.conn.poll_event() {
            self.events.push(own(ev, input));
        }
    }

    pub fn transmit(&mut self, now: Instant) {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.conn.poll_transmit(now, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            self.wire_out.extend_from_slice(&buf[..n]);
        }
        self.drain_events(&[]);
    }

    pub fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.events)
    }

    pub fn call(
        &mut self,
        now: Instant,
        spec: &CallSpec<'_>,
    ) -> Result<u32, muxwire_core::conn::Error> {
        let mut buf = vec![0u8; 1 << 17];
        let sent = self.conn.open_call(now, spec, &mut buf)?;
        self.wire_out.extend_from_slice(&buf[..sent.len]);
        self.drain_events(&[]);
        Ok(sent.stream.0)
    }

    pub fn send(
        &mut self,
        now: Instant,
        stream: u32,
        body: Option<&[u8]>,
        end: bool,
    ) -> Result<(), muxwire_core::conn::Error> {
        let mut buf = vec![0u8; 1 << 17];
        let sent = self.conn.send_message(
            now,
            StreamId(stream),
            body.map(Outgoing::bytes),
            end,
            &mut buf,
        )?;
        self.wire_out.extend_from_slice(&buf[..sent.len]);
        self.drain_events(&[]);
        Ok(())
    }

    pub fn reply(
        &mut self,
        now: Instant,
        stream: u32,
        code: StatusCode,
        body: Option<&[u8]>,
    ) -> Result<(), muxwire_core::conn::Error> {
        let mut buf = vec![0u8; 1 << 17];
        let sent = self.conn.send_status(
            now,
            StreamId(stream),
            code,
            None,
            &[],
            body.map(Outgoing::bytes),
            &mut buf,
        )?;
        self.wire_out.extend_from_slice(&buf[..sent.len]);
        self.drain_events(&[]);
        Ok(())
    }
}

/// A tiny deterministic PRNG (xorshift64*), so the simulator needs no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

pub struct Pair {
    pub client: Peer,
    pub server: Peer,
    pub now: Instant,
    /// With Some, each delivery hands the receiver a random prefix of its inbox.
    pub split: Option<Rng>,
}

impl Pair {
    pub fn new(client: Config, server: Config) -> Pair {
        let now = Instant(1_000_000);
        Pair {
            client: Peer::new(client, 256, now),
            server: Peer::new(server, 256, now),
            now,
            split: None,
        }
    }

    pub fn default_pair() -> Pair {
        Pair::new(Config::new(Side::Connector), Config::new(Side::Acceptor))
    }

    /// One round: both transmit, bytes move, both receive.
    pub fn step(&mut self) -> bool {
        let now = self.now;
        self.client.transmit(now);
        self.server.transmit(now);
        let moved = !self.client.wire_out.is_empty() || !self.server.wire_out.is_empty();
        let c2s = std::mem::take(&mut self.client.wire_out);
        let s2c = std::mem::take(&mut self.server.wire_out);
        if std::env::var("MUXWIRE_TRACE").is_ok() {
            trace_frames("c2s", &c2s);
            trace_frames("s2c", &s2c);
        }
        self.server.in_flight.extend_from_slice(&c2s);
        self.client.in_flight.extend_from_slice(&s2c);
        // Bytes arrive in random pieces when splitting, all at once otherwise.
        for peer in [&mut self.client, &mut self.server] {
            let n = match &mut self.split {
                Some(rng) if !peer.in_flight.is_empty() => {
                    1 + rng.below(peer.in_flight.len() as u64) as usize
                }
                _ => peer.in_flight.len(),
            };
            let arrived: Vec<u8> = peer.in_flight.drain(..n).collect();
            peer.inbox.extend_from_slice(&arrived);
        }
        // A closed side that has flushed its output closes the transport.
        eof(&mut self.client, &mut self.server, now);
        eof(&mut self.server, &mut self.client, now);
        let before = (self.client.inbox.len(), self.server.inbox.len());
        self.client.receive(now, None);
        self.server.receive(now, None);
        let pending = !self.client.in_flight.is_empty() || !self.server.in_flight.is_empty();
        moved || pending || before != (self.client.inbox.len(), self.server.inbox.len())
    }

    /// Steps until nothing moves (bounded).
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() && self.client.inbox.is_empty() && self.server.inbox.is_empty() {
                // With splitting, a partial inbox still needs another pass.
                if !self.step() {
                    return;
                }
            }
        }
        panic!("pair did not settle");
    }

    /// Jumps the clock to the earliest timer and fires it.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        let now = self.now;
        self.client.conn.handle_timeout(now);
        self.server.conn.handle_timeout(now);
        self.client.drain_events(&[]);
        self.server.drain_events(&[]);
    }

    pub fn connected() -> Pair {
        let mut p = Pair::default_pair();
        p.drive();
        assert_eq!(p.client.take_events(), vec![Ev::Connected]);
        assert_eq!(p.server.take_events(), vec![Ev::Connected]);
        p
    }
}

fn trace_frames(dir: &str, mut b: &[u8]) {
    if b.starts_with(&muxwire_core::wire::PREFACE) {
        b = &b[8..];
    }
    while let Ok(muxwire_core::wire::Decoded::Frame { frame, len }) =
        muxwire_core::wire::decode(b, 1 << 24)
    {
        eprintln!(
            "  {dir} {} {} flags={:#x} arg={} body={}",
            frame.ty().name(),
            frame.stream_id().0,
            frame.flags().0,
            frame.arg(),
            frame.body().len()
        );
        b = &b[len..];
    }
    if !b.is_empty() {
        eprintln!("  {dir} + {} bytes undecodable", b.len());
    }
}

fn eof(a: &mut Peer, b: &mut Peer, now: Instant) {
    if a.conn.is_closed() && !a.eof && b.inbox.is_empty() && b.in_flight.is_empty() {
        a.eof = true;
        b.conn.handle_eof(now);
        b.drain_events(&[]);
    }
}

pub fn unary<'a>(method: &'a str, body: &'a [u8]) -> CallSpec<'a> {
    CallSpec::unary(method, body)
}

pub fn streaming(method: &str) -> CallSpec<'_> {
    CallSpec {
        method,
        deadline: None,
        entries: &[],
        one_way: false,
        end_stream: false,
        message: None,
    }
}
