//! Drives the connection through every row of `spec/states.csv`: put one stream into the
//! row's state, apply the row's event, and check the next state, the action and the error.

use muxwire_core::conn::{CallSpec, Config, Connection, Event, Outgoing, StreamSlot, StreamState};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{
    self, Decoded, ErrorCode, Flags, FrameEncoder, FrameType, Settings, Side, StatusCode, StreamId,
    Tag, PREFACE,
};

const T0: Instant = Instant(1_000_000);
const DEADLINE: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Row {
    line: usize,
    role: String,
    state: String,
    event: String,
    next: String,
    action: String,
    error: String,
}

fn rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/states.csv");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .skip(1)
        .map(|(i, l)| {
            let f: Vec<&str> = l.splitn(7, ',').collect();
            Row {
                line: i + 1,
                role: f[0].into(),
                state: f[1].into(),
                event: f[2].into(),
                next: f[3].into(),
                action: f[4].into(),
                error: f[5].into(),
            }
        })
        .collect()
}

fn frame(
    ty: FrameType,
    id: u32,
    arg: u32,
    flags: Flags,
    tlvs: &[(Tag, &[u8])],
    body: &[u8],
) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let mut enc = FrameEncoder::new(&mut out, ty, id, arg).unwrap();
    for (t, v) in tlvs {
        enc.tlv(*t, v).unwrap();
    }
    let n = enc.finish_with_body(flags, body).unwrap();
    out.truncate(n);
    out
}

fn call(id: u32, flags: Flags, deadline: bool) -> Vec<u8> {
    let d = DEADLINE.as_micros().to_le_bytes();
    let mut tlvs: Vec<(Tag, &[u8])> = vec![(Tag::METHOD, b"m")];
    if deadline {
        tlvs.push((Tag::DEADLINE, &d));
    }
    frame(FrameType::CALL, id, 0, flags | Flags::MESSAGE, &tlvs, b"q")
}

struct Harness {
    conn: Connection<&'static mut [StreamSlot]>,
    now: Instant,
    /// Frames the connection wrote: (type, stream, flags, arg).
    written: Vec<(FrameType, u32, u8, u32)>,
    events: Vec<Event>,
}

impl Harness {
    fn new(side: Side, max_streams: u32) -> Harness {
        let slots: &'static mut [StreamSlot] =
            Box::leak(vec![StreamSlot::EMPTY; 16].into_boxed_slice());
        let mut cfg = Config::new(side);
        cfg.settings.max_concurrent_streams = max_streams;
        let mut h = Harness {
            conn: Connection::new(cfg, slots, T0),
            now: T0,
            written: vec![],
            events: vec![],
        };
        h.flush();
        let mut hello = PREFACE.to_vec();
        let mut buf = [0u8; 128];
        let n = Settings::INITIAL
            .encode_hello(&mut buf, None, Flags::NONE)
            .unwrap();
        hello.extend_from_slice(&buf[..n]);
        h.input(&hello);
        h.clear();
        h
    }

    fn input(&mut self, bytes: &[u8]) {
        let n = self.conn.handle_input(self.now, bytes).unwrap();
        assert_eq!(n, bytes.len());
        while let Some(ev) = self.conn.poll_event() {
            self.events.push(ev);
        }
        self.flush();
    }

    fn flush(&mut self) {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = self.conn.poll_transmit(self.now, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            self.record(&buf[..n]);
        }
        while let Some(ev) = self.conn.poll_event() {
            self.events.push(ev);
        }
    }

    fn record(&mut self, mut bytes: &[u8]) {
        if bytes.starts_with(&PREFACE) {
            bytes = &bytes[8..];
        }
        while let Ok(Decoded::Frame { frame, len }) = wire::decode(bytes, 1 << 20) {
            self.written.push((
                frame.ty(),
                frame.stream_id().0,
                frame.flags().0,
                frame.arg(),
            ));
            bytes = &bytes[len..];
        }
    }

    fn clear(&mut self) {
        self.written.clear();
        self.events.clear();
    }

    fn cmd(&mut self, r: Result<muxwire_core::conn::Sent, muxwire_core::conn::Error>) -> bool {
        match r {
            Ok(sent) => {
                let mut buf = vec![0u8; 4096];
                // Re-encode nothing: commands wrote into their own buffer; record via a
                // second flush of queued frames only.
                let _ = sent;
                let _ = &mut buf;
                self.flush();
                true
            }
            Err(_) => false,
        }
    }
}

/// Puts stream 1 into `state` for `role`; returns the harness.
fn setup(role: &str, state: &str, max_streams: u32) -> Harness {
    match role {
        "caller" => {
            let mut h = Harness::new(Side::Connector, max_streams);
            let open = |h: &mut Harness, end: bool| {
                let spec = CallSpec {
                    method: "m",
                    deadline: Some(DEADLINE),
                    entries: &[],
                    one_way: false,
                    end_stream: end,
                    message: Some(Outgoing::bytes(b"q")),
                };
                let mut buf = vec![0u8; 4096];
                let sent = h.conn.open_call(h.now, &spec, &mut buf).unwrap();
                assert_eq!(sent.stream, StreamId(1));
            };
            match state {
                "IDLE" => {}
                "OPEN" => open(&mut h, false),
                "HALF_CLOSED_LOCAL" => open(&mut h, true),
                "CANCEL_SENT" => {
                    open(&mut h, false);
                    h.conn
                        .cancel(h.now, StreamId(1), StatusCode::CANCELLED)
                        .unwrap();
                }
                s => panic!("unknown caller state {s}"),
            }
            h.flush();
            h.clear();
            h
        }
        "callee" => {
            let mut h = Harness::new(Side::Acceptor, max_streams);
            match state {
                "IDLE" => {}
                "OPEN" => h.input(&call(1, Flags::NONE, true)),
                "HALF_CLOSED_REMOTE" => h.input(&call(1, Flags::END_STREAM, true)),
                "CANCEL_RECEIVED" => {
                    h.input(&call(1, Flags::NONE, true));
                    h.input(&frame(FrameType::CANCEL, 1, 1, Flags::NONE, &[], b""));
                }
                "STATUS_SENT" => {
                    h.input(&call(1, Flags::NONE, true));
                    let mut buf = vec![0u8; 4096];
                    let r = h.conn.send_status(
                        h.now,
                        StreamId(1),
                        StatusCode::OK,
                        None,
                        &[],
                        None,
                        &mut buf,
                    );
                    r.unwrap_or_else(|e| panic!("{e}: {:?} {:?}", h.events, h.written));
                }
                s => panic!("unknown callee state {s}"),
            }
            h.flush();
            h.clear();
            h
        }
        r => panic!("unknown role {r}"),
    }
}

fn state_name(s: Option<StreamState>) -> &'static str {
    match s {
        None => "IDLE",
        Some(StreamState::Open) => "OPEN",
        Some(StreamState::HalfClosedLocal) => "HALF_CLOSED_LOCAL",
        Some(StreamState::CancelSent) => "CANCEL_SENT",
        Some(StreamState::HalfClosedRemote) => "HALF_CLOSED_REMOTE",
        Some(StreamState::CancelReceived) => "CANCEL_RECEIVED",
        Some(StreamState::StatusSent) => "STATUS_SENT",
        Some(StreamState::Closing) => "CLOSING",
    }
}

/// Applies the row's event; returns false if a local command was rejected.
fn apply(h: &mut Harness, role: &str, event: &str) -> bool {
    let id = StreamId(1);
    let mut buf = vec![0u8; 4096];
    // The stream under test was opened by the connector (odd id); a CALL on it is "own
    // parity" for the caller role.
    match event {
        "send_call" | "send_call_end" | "send_call_noreply" => {
            // The API allocates ids itself: it can never open the id under test while it
            // is in use, nor open a peer-parity id.
            let spec = CallSpec {
                one_way: event == "send_call_noreply",
                end_stream: event != "send_call",
                ..CallSpec::unary("m", b"x")
            };
            let in_use = h.conn.stream_state(id).is_some();
            let r = h.conn.open_call(h.now, &spec, &mut buf);
            if let Ok(sent) = r {
                if sent.stream == id && (role == "callee" || in_use) {
                    panic!("opened the stream under test");
                }
                // A fresh id was used: for rows about the id under test that is a rejection.
                return sent.stream == id;
            }
            false
        }
        "send_data" => {
            let r = h_send(h, Some(b"x"), false);
            h.cmd(r)
        }
        "send_data_end" => {
            let r = h_send(h, None, true);
            h.cmd(r)
        }
        "send_status" => {
            let r = h
                .conn
                .send_status(h.now, id, StatusCode::OK, None, &[], None, &mut buf);
            h.cmd(r)
        }
        "send_cancel" => {
            let r = h.conn.cancel(h.now, id, StatusCode::CANCELLED);
            h.flush();
            r.is_ok()
        }
        "send_window" => {
            h.conn.consume(id, 1 << 20);
            h.flush();
            h.written
                .iter()
                .any(|w| w.0 == FrameType::WINDOW && w.1 == 1)
        }
        "recv_call" => input(h, &call(1, Flags::NONE, false)),
        "recv_call_end" => input(h, &call(1, Flags::END_STREAM, false)),
        "recv_call_noreply" => input(h, &call(1, Flags::END_STREAM | Flags::NO_REPLY, false)),
        "admission_full" => input(h, &call(1, Flags::END_STREAM, false)),
        "recv_data" => input(h, &frame(FrameType::DATA, 1, 0, Flags::MESSAGE, &[], b"d")),
        "recv_data_end" => input(
            h,
            &frame(FrameType::DATA, 1, 0, Flags::END_STREAM, &[], b""),
        ),
        "recv_status" => input(
            h,
            &frame(FrameType::STATUS, 1, 0, Flags::MESSAGE, &[], b"r"),
        ),
        "recv_cancel" => input(h, &frame(FrameType::CANCEL, 1, 1, Flags::NONE, &[], b"")),
        "recv_window" => input(h, &frame(FrameType::WINDOW, 1, 4096, Flags::NONE, &[], b"")),
        "deadline" => {
            h.now = h.now + DEADLINE;
            h.conn.handle_timeout(h.now);
            h.flush();
            true
        }
        e => panic!("unknown event {e}"),
    }
}

fn h_send(
    h: &mut Harness,
    body: Option<&[u8]>,
    end: bool,
) -> Result<muxwire_core::conn::Sent, muxwire_core::conn::Error> {
    let mut buf = vec![0u8; 4096];
    h.conn
        .send_message(h.now, StreamId(1), body.map(Outgoing::bytes), end, &mut buf)
}

fn input(h: &mut Harness, bytes: &[u8]) -> bool {
    h.input(bytes);
    true
}

fn check(row: &Row) -> Result<(), String> {
    let max_streams = match (row.event.as_str(), row.state.as_str()) {
        ("admission_full", "IDLE") => 0,
        ("admission_full", _) => 1,
        _ => 100,
    };
    let mut h = setup(&row.role, &row.state, max_streams);
    if state_name(h.conn.stream_state(StreamId(1)).map(|s| s.1)) != row.state {
        return Err(format!(
            "setup reached {:?}",
            h.conn.stream_state(StreamId(1))
        ));
    }
    let credit_before = h.conn.send_credit(StreamId(1));
    let accepted = apply(&mut h, &row.role, &row.event);
    match row.error.as_str() {
        "usage" => {
            return if accepted {
                Err("local command accepted".into())
            } else {
                Ok(())
            };
        }
        "" => {
            if !accepted && row.event.starts_with("send_") {
                return Err("local command rejected".into());
            }
            if let Some(r) = h.conn.close_reason() {
                return Err(format!("connection closed: {r:?}"));
            }
        }
        code => {
            let got = h.conn.close_reason().map(|r| r.code.name());
            return if got == Some(code) {
                Ok(())
            } else {
                Err(format!("expected {code}, got {got:?}"))
            };
        }
    }
    let now = state_name(h.conn.stream_state(StreamId(1)).map(|s| s.1));
    if now != row.next {
        return Err(format!("next state {now}, expected {}", row.next));
    }
    let on_stream = |e: &Event| match e {
        Event::Call { stream, .. }
        | Event::Message { stream, .. }
        | Event::HalfClosed { stream }
        | Event::Status { stream, .. }
        | Event::Cancelled { stream, .. }
        | Event::DeadlineExceeded { stream }
        | Event::CallFailed { stream, .. }
        | Event::WindowOpened { stream } => stream.0 == 1,
        _ => false,
    };
    let delivered = h.events.iter().any(on_stream);
    let wrote = |ty: FrameType, flags: Flags, arg: Option<u32>| {
        h.written.iter().any(|w| {
            w.0 == ty && w.1 == 1 && w.2 & flags.0 == flags.0 && arg.is_none_or(|a| a == w.3)
        })
    };
    let ok = match row.action.as_str() {
        "none" => true,
        "deliver" if row.event == "recv_window" => {
            h.conn.send_credit(StreamId(1)) > credit_before || credit_before == 0
        }
        "deliver" => delivered,
        "discard" | "ignore" => !delivered && h.conn.close_reason().is_none(),
        "auto_end" => delivered && wrote(FrameType::DATA, Flags::END_STREAM, None),
        "send_status_deadline" => wrote(
            FrameType::STATUS,
            Flags::NONE,
            Some(StatusCode::DEADLINE_EXCEEDED.0),
        ),
        "send_cancel_deadline" => wrote(
            FrameType::CANCEL,
            Flags::NONE,
            Some(StatusCode::DEADLINE_EXCEEDED.0),
        ),
        "refuse" => wrote(
            FrameType::STATUS,
            Flags::REFUSED,
            Some(StatusCode::UNAVAILABLE.0),
        ),
        a => return Err(format!("unknown action {a}")),
    };
    if !ok {
        return Err(format!(
            "action {} not observed (events {:?}, frames {:?})",
            row.action, h.events, h.written
        ));
    }
    Ok(())
}

#[test]
fn every_row_of_the_state_table() {
    let rows = rows();
    assert_eq!(rows.len(), 162);
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            check(r)
                .err()
                .map(|e| format!("line {} {},{},{}: {e}", r.line, r.role, r.state, r.event))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = ErrorCode::NO_ERROR;
}
