//! The proof of "no alloc": a global allocator that counts every allocation made while
//! the codec runs, over every frame vector (decode, metadata walk, settings, re-encode),
//! and while the connection runs: steady unary calls, streaming, chunked messages, flow
//! control (WINDOW, blocked sends), deadlines and timers, cancel, PING, drain with GOAWAY,
//! and error paths (peer protocol errors, rejected commands, error formatting).
//! This file holds a single test so that no other test thread allocates concurrently.
//!
//! Shown to fail on broken builds (`extern crate std;` added to `lib.rs` and a
//! `Box::leak(Box::new(0u8))` put in one core function, run, reverted): in `on_ping`,
//! `cancel`, `expire_deadlines`, `queue_goaway` and where `queue_stream_window` queues a
//! WINDOW (one build), the scenarios ping, cancel, deadlines, drain, errors and flow control
//! failed; in `send_message`, streaming, chunks, flow control and errors failed. Each
//! scenario also counts what it saw (`Seen::check`), so one that stopped doing its job
//! fails rather than passing vacuously.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use muxwire_core::wire::{self, Decoded, FrameEncoder, FrameType, Settings};

struct CountingAlloc;

static ARMED_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every method forwards to `System` with the same arguments; counting is a side
// effect on an atomic and a thread-local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ARMED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ARMED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn inputs() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/frames.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["testGroups"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| hex::decode(t["input"].as_str().unwrap()).unwrap())
        .collect()
}

/// Everything the codec offers, on one input; returns a value so nothing is optimised out.
fn exercise(input: &[u8], out: &mut [u8]) -> usize {
    let mut acc = 0usize;
    match wire::decode(input, 16_384) {
        Ok(Decoded::Frame { frame, len }) => {
            acc += len;
            let meta = frame.metadata();
            acc += meta.iter().map(|t| t.value.len()).sum::<usize>();
            acc += meta.entries().count();
            acc += meta.method().map_or(0, str::len);
            acc += meta.reason().map_or(0, str::len);
            acc += meta.deadline_us().unwrap_or(0) as usize & 1;
            if frame.ty() == FrameType::HELLO {
                let s = Settings::from_hello(frame.arg(), &meta);
                acc += s.max_frame_size as usize;
                acc += s
                    .encode_hello(out, Some("agent"), wire::Flags::CRC)
                    .unwrap();
            }
            if !frame.is_extension() {
                let mut enc =
                    FrameEncoder::new(out, frame.ty(), frame.stream_id(), frame.arg()).unwrap();
                for t in meta.iter() {
                    enc.tlv(t.tag, t.value).unwrap();
                }
                acc += enc.finish_with_body(frame.flags(), frame.body()).unwrap();
            }
        }
        Ok(Decoded::Incomplete { needed }) => acc += needed,
        Err(e) => {
            // Formatting the error into a fixed buffer must not allocate either.
            use core::fmt::Write;
            let mut w = FixedWriter {
                buf: [0; 256],
                len: 0,
            };
            let _ = write!(w, "{e}");
            acc += w.len + e.code.0 as usize;
        }
    }
    acc
}

struct FixedWriter {
    buf: [u8; 256],
    len: usize,
}

impl core::fmt::Write for FixedWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Runs `f` with the counter armed; returns the allocations it made.
fn allocations(f: impl FnOnce()) -> usize {
    ARMED_ALLOCS.store(0, Ordering::SeqCst);
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ARMED_ALLOCS.swap(0, Ordering::SeqCst)
}

#[test]
fn codec_and_connection_never_allocate() {
    let inputs = inputs();
    let mut out = vec![0u8; 1 << 16];
    // Sanity: the counter works.
    let allocs = allocations(|| drop(std::hint::black_box(Box::new(1u8))));
    assert_eq!(allocs, 1, "allocation counter is broken");

    let mut acc = 0usize;
    let allocs = allocations(|| {
        for input in &inputs {
            acc = acc.wrapping_add(exercise(input, &mut out));
        }
    });
    assert_eq!(allocs, 0, "the codec allocated {allocs} times");
    assert!(acc > 0 && inputs.len() >= 80);

    let (allocs, calls) = connection_allocations_per_call();
    assert_eq!(calls, 100 * echo_round::IN_FLIGHT);
    assert_eq!(
        allocs, 0,
        "the connection allocated {allocs} times over {calls} calls"
    );

    // Every other path of the connection: each scenario runs once to warm up and to check
    // that it did its job, then 20 times armed.
    let mut arena = Arena::new();
    let mut failures = Vec::new();
    for (name, scenario) in SCENARIOS {
        let seen = scenario(&mut arena);
        seen.check(name);
        let allocs = allocations(|| {
            for _ in 0..20 {
                assert_eq!(scenario(&mut arena), seen, "{name} is not repeatable");
            }
        });
        if allocs > 0 {
            failures.push(format!("{name}: the connection allocated {allocs} times"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[path = "support/echo_round.rs"]
mod echo_round;

/// The state machine: after warm-up, unary calls between two connections allocate nothing.
fn connection_allocations_per_call() -> (usize, usize) {
    use muxwire_core::conn::StreamSlot;
    let mut cs = vec![StreamSlot::EMPTY; 512];
    let mut ss = vec![StreamSlot::EMPTY; 512];
    let mut bufs = echo_round::Bufs::new();
    let (mut client, mut server) = echo_round::setup(&mut cs, &mut ss, &mut bufs);
    let body = [7u8; 64];
    let mut calls = 0;
    ARMED.with(|a| a.set(true));
    for _ in 0..100 {
        calls += echo_round::round(&mut client, &mut server, &mut bufs, &body);
    }
    ARMED.with(|a| a.set(false));
    (ARMED_ALLOCS.swap(0, Ordering::SeqCst), calls)
}

// ---------------------------------------------------------------------------------------
// Connection scenarios beyond the unary echo, on storage allocated once.

use muxwire_core::conn::{CallSpec, Config, Connection, Error, Event, Outgoing, StreamSlot};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{ErrorCode, Flags, Side, StatusCode, StreamId, MIN_CHUNK};

/// Buffers and slots for two connections, allocated once and reused by every scenario.
struct Arena {
    client_slots: Vec<StreamSlot>,
    server_slots: Vec<StreamSlot>,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    body: Vec<u8>,
}

impl Arena {
    fn new() -> Arena {
        Arena {
            client_slots: vec![StreamSlot::EMPTY; 64],
            server_slots: vec![StreamSlot::EMPTY; 64],
            c2s: vec![0; 1 << 20],
            s2c: vec![0; 1 << 20],
            body: (0..64 * 1024).map(|i| i as u8).collect(),
        }
    }
}

/// What a scenario observed, by kind; compared between runs and checked for its job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    calls: u32,
    messages: u32,
    chunks: u32,
    half_closed: u32,
    statuses: u32,
    cancelled: u32,
    deadlines: u32,
    failed: u32,
    windows_opened: u32,
    blocked: u32,
    pongs: u32,
    goaways: u32,
    closed: u32,
    rejected: u32,
    window_frames: u32,
}

impl Seen {
    /// Each scenario must have seen what it is about (else it proves nothing).
    fn check(&self, name: &str) {
        let ok = match name {
            "streaming" => self.messages == 10 && self.half_closed == 1 && self.statuses == 1,
            "chunks" => self.chunks == 5 && self.messages == 2 && self.statuses == 1,
            "flow control" => {
                self.blocked >= 1 && self.windows_opened >= 1 && self.window_frames >= 2
            }
            "deadlines" => self.deadlines == 1 && self.failed == 1,
            "cancel" => self.cancelled == 1 && self.statuses == 0 && self.calls == 1,
            "ping" => self.pongs == 1,
            "drain" => self.goaways == 1 && self.rejected == 1 && self.closed == 2,
            "errors" => self.rejected >= 4 && self.closed == 2,
            _ => false,
        };
        assert!(ok, "scenario {name} did not do its job: {self:?}");
    }
}

type Conn<'a> = Connection<&'a mut [StreamSlot]>;

/// One endpoint and the bytes it has written but not yet delivered.
struct End<'a> {
    conn: Conn<'a>,
    out: &'a mut [u8],
    len: usize,
}

impl<'a> End<'a> {
    fn new(cfg: Config, slots: &'a mut [StreamSlot], out: &'a mut [u8], now: Instant) -> Self {
        slots.fill(StreamSlot::EMPTY);
        End {
            conn: Connection::new(cfg, slots, now),
            out,
            len: 0,
        }
    }

    fn open(&mut self, now: Instant, spec: &CallSpec<'_>) -> Result<StreamId, Error> {
        let sent = self.conn.open_call(now, spec, &mut self.out[self.len..])?;
        self.len += sent.len;
        Ok(sent.stream)
    }

    fn send(
        &mut self,
        now: Instant,
        id: StreamId,
        msg: Option<Outgoing<'_>>,
        end: bool,
    ) -> Result<(), Error> {
        let sent = self
            .conn
            .send_message(now, id, msg, end, &mut self.out[self.len..])?;
        self.len += sent.len;
        Ok(())
    }

    fn status(&mut self, now: Instant, id: StreamId, code: StatusCode, msg: Option<&[u8]>) {
        let sent = self
            .conn
            .send_status(
                now,
                id,
                code,
                None,
                &[],
                msg.map(Outgoing::bytes),
                &mut self.out[self.len..],
            )
            .unwrap();
        self.len += sent.len;
    }
}

/// Moves everything `from` wrote (and still has queued) into `to`, handing each event to
/// `on`; counts the WINDOW frames that went by. Input after `to` closed is dropped.
fn pump(
    now: Instant,
    from: &mut End<'_>,
    to: &mut End<'_>,
    seen: &mut Seen,
    mut on: impl FnMut(&mut End<'_>, Event, &[u8], &mut Seen),
) {
    loop {
        let n = from
            .conn
            .poll_transmit(now, &mut from.out[from.len..])
            .unwrap();
        if n == 0 {
            break;
        }
        from.len += n;
    }
    seen.window_frames += count_windows(&from.out[..from.len]);
    let mut pos = 0;
    while pos < from.len {
        let input = &from.out[pos..from.len];
        let Ok(n) = to.conn.handle_input(now, input) else {
            break;
        };
        while let Some(ev) = to.conn.poll_event() {
            on(to, ev, input, seen);
        }
        if n == 0 {
            break;
        }
        pos += n;
    }
    while let Some(ev) = to.conn.poll_event() {
        on(to, ev, &[], seen);
    }
    from.len = 0;
}

fn count_windows(mut b: &[u8]) -> u32 {
    if b.starts_with(&wire::PREFACE) {
        b = &b[wire::PREFACE.len()..];
    }
    let mut n = 0;
    while let Ok(Decoded::Frame { frame, len }) = wire::decode(b, 1 << 24) {
        n += u32::from(frame.ty() == FrameType::WINDOW);
        b = &b[len..];
    }
    n
}

/// Counts the events no handler acts on.
fn note(ev: &Event, seen: &mut Seen) {
    match ev {
        Event::Call { .. } => seen.calls += 1,
        Event::Message {
            message,
            end_stream,
            ..
        } => {
            if message.more {
                seen.chunks += 1;
            } else {
                seen.messages += 1;
            }
            seen.half_closed += u32::from(*end_stream);
        }
        Event::HalfClosed { .. } => seen.half_closed += 1,
        Event::Status { .. } => seen.statuses += 1,
        Event::Cancelled { .. } => seen.cancelled += 1,
        Event::DeadlineExceeded { .. } => seen.deadlines += 1,
        Event::CallFailed { .. } => seen.failed += 1,
        Event::WindowOpened { .. } => seen.windows_opened += 1,
        Event::Pong { .. } => seen.pongs += 1,
        Event::GoAway { .. } => seen.goaways += 1,
        Event::Closed(_) => seen.closed += 1,
        _ => {}
    }
}

fn just_note(_: &mut End<'_>, ev: Event, _: &[u8], seen: &mut Seen) {
    note(&ev, seen);
}

const T0: Instant = Instant(1_000_000);

/// A connected pair on the arena's storage, with `tweak` applied to both configs, and
/// the arena's message bytes.
fn pair(a: &mut Arena, tweak: fn(&mut Config)) -> (End<'_>, End<'_>, &[u8]) {
    let (mut cc, mut sc) = (Config::new(Side::Connector), Config::new(Side::Acceptor));
    tweak(&mut cc);
    tweak(&mut sc);
    let mut c = End::new(cc, &mut a.client_slots, &mut a.c2s, T0);
    let mut s = End::new(sc, &mut a.server_slots, &mut a.s2c, T0);
    let mut seen = Seen::default();
    pump(T0, &mut c, &mut s, &mut seen, just_note);
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    (c, s, &a.body)
}

fn no_tweak(_: &mut Config) {}

type Scenario = fn(&mut Arena) -> Seen;

const SCENARIOS: [(&str, Scenario); 8] = [
    ("streaming", streaming),
    ("chunks", chunks),
    ("flow control", flow_control),
    ("deadlines", deadlines),
    ("cancel", cancel),
    ("ping", ping),
    ("drain", drain),
    ("errors", errors),
];

/// A streaming call: five messages each way, the caller's half-close, the STATUS.
fn streaming(a: &mut Arena) -> Seen {
    let (mut c, mut s, body) = pair(a, no_tweak);
    let mut seen = Seen::default();
    let id = c
        .open(
            T0,
            &CallSpec {
                message: None,
                end_stream: false,
                ..CallSpec::unary("stream", b"")
            },
        )
        .unwrap();
    for i in 0..5 {
        c.send(T0, id, Some(Outgoing::bytes(&body[..10 + i])), i == 4)
            .unwrap();
    }
    // The server echoes every message and answers the half-close.
    pump(T0, &mut c, &mut s, &mut seen, |s, ev, input, seen| {
        note(&ev, seen);
        match ev {
            Event::Message {
                stream,
                message,
                end_stream,
            } => {
                let data = message.data.get(input);
                s.conn.consume(stream, data.len());
                s.send(T0, stream, Some(Outgoing::bytes(data)), false)
                    .unwrap();
                if end_stream {
                    s.status(T0, stream, StatusCode::OK, None);
                }
            }
            Event::HalfClosed { stream } => s.status(T0, stream, StatusCode::OK, None),
            _ => {}
        }
    });
    pump(T0, &mut s, &mut c, &mut seen, |c, ev, _, seen| {
        note(&ev, seen);
        if let Event::Message {
            stream, message, ..
        } = ev
        {
            c.conn.consume(stream, message.data.len as usize);
        }
    });
    assert_eq!(c.conn.open_streams() + s.conn.open_streams(), 0);
    seen
}

/// Chunked messages both ways: four chunks up, three chunks and an end down.
fn chunks(a: &mut Arena) -> Seen {
    let (mut c, mut s, body) = pair(a, no_tweak);
    let mut seen = Seen::default();
    let chunk = |i: usize, more: bool| Outgoing {
        more,
        ..Outgoing::bytes(&body[i * MIN_CHUNK..(i + 1) * MIN_CHUNK])
    };
    let id = c
        .open(
            T0,
            &CallSpec {
                message: Some(chunk(0, true)),
                end_stream: false,
                ..CallSpec::unary("chunks", b"")
            },
        )
        .unwrap();
    c.send(T0, id, Some(chunk(1, true)), false).unwrap();
    c.send(T0, id, Some(chunk(2, true)), false).unwrap();
    c.send(T0, id, Some(chunk(3, false)), true).unwrap();
    pump(T0, &mut c, &mut s, &mut seen, |s, ev, input, seen| {
        note(&ev, seen);
        if let Event::Message {
            stream,
            message,
            end_stream: true,
            ..
        } = ev
        {
            s.conn.consume(stream, 4 * MIN_CHUNK);
            let data = message.data.get(input);
            for more in [true, true, false] {
                let out = Outgoing {
                    more,
                    ..Outgoing::bytes(data)
                };
                s.send(T0, stream, Some(out), false).unwrap();
            }
            s.status(T0, stream, StatusCode::OK, None);
        }
    });
    // The CALL's first chunk is part of the Call event.
    seen.chunks += seen.calls;
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    seen
}

/// Small windows: sends block, WINDOW frames come back as messages are consumed, the
/// blocked sender is told and finishes.
fn flow_control(a: &mut Arena) -> Seen {
    fn small(cfg: &mut Config) {
        cfg.settings.initial_stream_window = 65_536;
        cfg.settings.initial_connection_window = 262_144;
    }
    let (mut c, mut s, body) = pair(a, small);
    let body = &body[..16 * 1024];
    let mut seen = Seen::default();
    let stream_spec = CallSpec {
        message: None,
        end_stream: false,
        ..CallSpec::unary("flow", b"")
    };
    let id = c.open(T0, &stream_spec).unwrap();
    let mut sent = 0;
    while sent < 12 {
        match c.send(T0, id, Some(Outgoing::bytes(body)), false) {
            Ok(()) => sent += 1,
            Err(Error::Blocked { .. }) => {
                seen.blocked += 1;
                // The server consumes what arrived; its WINDOWs unblock the client.
                pump(T0, &mut c, &mut s, &mut seen, |s, ev, _, seen| {
                    note(&ev, seen);
                    if let Event::Message {
                        stream, message, ..
                    } = ev
                    {
                        s.conn.consume(stream, message.data.len as usize);
                    }
                });
                pump(T0, &mut s, &mut c, &mut seen, just_note);
            }
            Err(e) => panic!("flow control: {e}"),
        }
    }
    c.send(T0, id, None, true).unwrap();
    pump(T0, &mut c, &mut s, &mut seen, |s, ev, _, seen| {
        note(&ev, seen);
        match ev {
            Event::Message {
                stream,
                message,
                end_stream,
                ..
            } => {
                s.conn.consume(stream, message.data.len as usize);
                if end_stream {
                    s.status(T0, stream, StatusCode::OK, None);
                }
            }
            Event::HalfClosed { stream } => s.status(T0, stream, StatusCode::OK, None),
            _ => {}
        }
    });
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    assert_eq!(seen.statuses, 1, "flow control: the call did not finish");
    seen
}

/// A call whose deadline passes unanswered: both ends' timers fire (poll_timeout says
/// when), the caller sends CANCEL, the callee STATUS(DEADLINE_EXCEEDED).
fn deadlines(a: &mut Arena) -> Seen {
    let (mut c, mut s, _) = pair(a, no_tweak);
    let mut seen = Seen::default();
    let spec = CallSpec {
        deadline: Some(Duration::from_millis(5)),
        ..CallSpec::unary("slow", b"q")
    };
    c.open(T0, &spec).unwrap();
    pump(T0, &mut c, &mut s, &mut seen, |_, ev, _, _| {
        assert!(matches!(ev, Event::Call { .. }));
    });
    let at = c
        .conn
        .poll_timeout()
        .unwrap()
        .min(s.conn.poll_timeout().unwrap());
    assert!(at > T0);
    let later = T0 + Duration::from_millis(6);
    c.conn.handle_timeout(later);
    s.conn.handle_timeout(later);
    while let Some(ev) = c.conn.poll_event() {
        note(&ev, &mut seen);
    }
    while let Some(ev) = s.conn.poll_event() {
        note(&ev, &mut seen);
    }
    assert_eq!(
        (seen.failed, seen.deadlines),
        (1, 1),
        "deadlines: timers did not fire"
    );
    if let Some(t) = c.conn.poll_timeout() {
        assert!(t >= later);
    }
    pump(later, &mut c, &mut s, &mut seen, just_note);
    pump(later, &mut s, &mut c, &mut seen, just_note);
    assert_eq!(c.conn.open_streams() + s.conn.open_streams(), 0);
    seen
}

/// The caller cancels; the callee is told and answers CANCELLED, which the caller drops.
fn cancel(a: &mut Arena) -> Seen {
    let (mut c, mut s, _) = pair(a, no_tweak);
    let mut seen = Seen::default();
    let id = c.open(T0, &CallSpec::unary("m", b"q")).unwrap();
    c.conn.cancel(T0, id, StatusCode::CANCELLED).unwrap();
    pump(T0, &mut c, &mut s, &mut seen, |s, ev, _, seen| {
        note(&ev, seen);
        if let Event::Cancelled { stream, .. } = ev {
            s.status(T0, stream, StatusCode::CANCELLED, None);
        }
    });
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    assert_eq!(c.conn.open_streams() + s.conn.open_streams(), 0);
    seen
}

/// A PING and its answer.
fn ping(a: &mut Arena) -> Seen {
    let (mut c, mut s, _) = pair(a, no_tweak);
    let mut seen = Seen::default();
    c.conn.ping(T0).unwrap();
    pump(T0, &mut c, &mut s, &mut seen, just_note);
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    seen
}

/// The server drains: GOAWAY, a new call refused locally, the call in flight finishes,
/// both ends close.
fn drain(a: &mut Arena) -> Seen {
    let (mut c, mut s, _) = pair(a, no_tweak);
    let mut seen = Seen::default();
    c.open(T0, &CallSpec::unary("m", b"q")).unwrap();
    let mut call = None;
    pump(T0, &mut c, &mut s, &mut seen, |_, ev, _, _| {
        if let Event::Call { stream, .. } = ev {
            call = Some(stream);
        }
    });
    s.conn.drain(T0).unwrap();
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    match c.open(T0, &CallSpec::unary("m", b"q")) {
        Err(Error::NotAccepting) => seen.rejected += 1,
        other => panic!("drain: open_call gave {other:?}"),
    }
    s.status(T0, call.unwrap(), StatusCode::OK, None);
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    pump(T0, &mut c, &mut s, &mut seen, just_note);
    c.conn.handle_eof(T0);
    s.conn.handle_eof(T0);
    for end in [&mut c, &mut s] {
        while let Some(ev) = end.conn.poll_event() {
            note(&ev, &mut seen);
        }
    }
    seen
}

/// Rejected commands (and their messages formatted), then a peer protocol error: a
/// CALL with the server's own parity closes the client with GOAWAY(PROTOCOL_ERROR).
fn errors(a: &mut Arena) -> Seen {
    let (mut c, mut s, _) = pair(a, no_tweak);
    let mut seen = Seen::default();
    let mut text = FixedWriter {
        buf: [0; 256],
        len: 0,
    };
    let mut reject = |r: Result<(), Error>, seen: &mut Seen| {
        use core::fmt::Write;
        let e = r.unwrap_err();
        let _ = write!(text, "{e}");
        seen.rejected += 1;
    };
    reject(
        c.send(T0, StreamId(7), Some(Outgoing::bytes(b"x")), false),
        &mut seen,
    );
    reject(c.conn.cancel(T0, StreamId(7), StatusCode::OK), &mut seen);
    reject(c.open(T0, &CallSpec::unary("", b"")).map(|_| ()), &mut seen);
    c.conn.ping(T0).unwrap();
    reject(c.conn.ping(T0), &mut seen);
    // The server writes a CALL on an odd (client-parity) id: a protocol error at the client.
    let mut frame = [0u8; 64];
    let mut enc = wire::FrameEncoder::new(&mut frame, FrameType::CALL, 1, 0).unwrap();
    enc.tlv(wire::Tag::METHOD, b"m").unwrap();
    let n = enc
        .finish_with_body(Flags::END_STREAM | Flags::MESSAGE, b"q")
        .unwrap();
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    s.out[..n].copy_from_slice(&frame[..n]);
    s.len = n;
    pump(T0, &mut s, &mut c, &mut seen, just_note);
    let reason = c.conn.close_reason().unwrap();
    assert_eq!(reason.code, ErrorCode::PROTOCOL_ERROR);
    assert!(matches!(c.conn.handle_input(T0, b"x"), Err(Error::Closed)));
    // The client's GOAWAY reaches the server, which closes too.
    pump(T0, &mut c, &mut s, &mut seen, just_note);
    s.conn.handle_eof(T0);
    while let Some(ev) = s.conn.poll_event() {
        note(&ev, &mut seen);
    }
    assert!(text.len > 0);
    seen
}
