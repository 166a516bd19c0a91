//! Runs every session of `spec/vectors/sessions.json` against `Connection`: the reference
//! runner for the step kinds described in `spec/vectors/README.md`.

use muxwire_core::conn::{CallSpec, Config, Connection, Error, Event, Outgoing, StreamSlot};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{
    self, Decoded, Flags, FrameEncoder, FrameType, Settings, Side, StatusCode, StreamId, PREFACE,
};
use serde_json::{json, Map, Value};

const T0: Instant = Instant(1_000_000);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Frames or events for a failure message, long hex strings shortened.
fn show(values: &[Value]) -> String {
    let s = format!("{values:?}");
    let mut out = String::new();
    let mut run = 0;
    for c in s.chars() {
        run = if c == '0' { run + 1 } else { 0 };
        if run <= 16 {
            out.push(c);
        } else if run == 17 {
            out.push_str("..");
        }
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

struct Runner {
    conn: Connection<&'static mut [StreamSlot]>,
    now: Instant,
    written: Vec<Value>,
    events: Vec<Value>,
    ping_arg: Option<u32>,
    /// Bytes handed in but not yet consumed by `handle_input`: kept and fed again with the
    /// next input, as a transport would, never dropped.
    pending: Vec<u8>,
}

fn apply_config(cfg: &mut Config, v: &Value) {
    let Some(m) = v.as_object() else { return };
    for (k, v) in m {
        let n = v.as_u64().expect("numeric config") as u32;
        let s = &mut cfg.settings;
        match k.as_str() {
            "min_version" => s.min_version = n,
            "max_frame_size" => s.max_frame_size = n,
            "max_message_size" => s.max_message_size = n,
            "max_metadata_size" => s.max_metadata_size = n,
            "max_concurrent_streams" => s.max_concurrent_streams = n,
            "initial_stream_window" => s.initial_stream_window = n,
            "initial_connection_window" => s.initial_connection_window = n,
            "compression" => s.compression = n,
            "features" => s.features = wire::Features(n),
            "idle_timeout_ms" => s.idle_timeout_ms = n,
            "cancel_budget" => cfg.cancel_budget = n,
            "control_budget" => cfg.control_budget = n,
            "ack_queue" => cfg.ack_queue = n as usize,
            other => panic!("unknown config key {other}"),
        }
    }
}

fn peer_hello(v: &Value) -> Vec<u8> {
    let mut s = Settings::INITIAL;
    let mut cfg = Config::new(Side::Connector);
    cfg.settings = s;
    apply_config(&mut cfg, v);
    s = cfg.settings;
    let mut buf = [0u8; 256];
    let n = s.encode_hello(&mut buf, None, Flags::NONE).unwrap();
    let mut out = PREFACE.to_vec();
    out.extend_from_slice(&buf[..n]);
    out
}

impl Runner {
    fn record(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            match wire::decode(bytes, 1 << 24) {
                Ok(Decoded::Frame { frame, len }) => {
                    self.written.push(json!({
                        "type": frame.ty().name(),
                        "stream": frame.stream_id().0,
                        "flags": frame.flags().0,
                        "arg": frame.arg(),
                        "body": hex(frame.body()),
                    }));
                    bytes = &bytes[len..];
                }
                other => {
                    return Err(format!(
                        "implementation wrote an undecodable frame: {other:?}"
                    ))
                }
            }
        }
        Ok(())
    }

    fn transmit(&mut self) -> Result<(), String> {
        let mut buf = vec![0u8; 1 << 18];
        loop {
            let n = self
                .conn
                .poll_transmit(self.now, &mut buf)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            let b = buf[..n].to_vec();
            self.record(&b)?;
        }
        self.collect(&[]);
        Ok(())
    }

    fn collect(&mut self, input: &[u8]) {
        while let Some(ev) = self.conn.poll_event() {
            if let Some(v) = event_json(ev, input) {
                self.events.push(v);
            }
        }
    }

    /// Hands `bytes` to the implementation after any bytes it left unconsumed before.
    /// `handle_input` may consume less than it was given (an incomplete frame, or a full
    /// event queue): the rest is kept, events are polled, and the rest is fed again; only
    /// a second `Ok(0)` in a row (nothing more it can take now) ends the attempt. Bytes
    /// are discarded only once the connection is closed (it stops reading, section 9.3).
    ///
    /// Shown to matter (tried 2026-11-30): make `handle_input` take no frame after the
    /// second one following HELLO (add `|| self.frames_received >= 3` to the room check of
    /// its frame loop in conn/mod.rs). The old runner, which dropped input after `Ok(0)`,
    /// still passed S114 (WINDOW ignored in CANCEL_RECEIVED) and S160 (10 CANCELs a second
    /// are fine); this one fails both with "a whole frame was left unprocessed".
    fn recv(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let mut zero_in_a_row = 0;
        while !self.pending.is_empty() && !self.conn.is_closed() {
            let input = std::mem::take(&mut self.pending);
            let result = self.conn.handle_input(self.now, &input);
            self.collect(&input);
            match result {
                Ok(n) => {
                    self.pending = input[n..].to_vec();
                    if n == 0 {
                        zero_in_a_row += 1;
                        if zero_in_a_row == 2 {
                            break;
                        }
                    } else {
                        zero_in_a_row = 0;
                    }
                }
                Err(Error::EventsPending) => self.pending = input,
                Err(_) => break,
            }
        }
        if self.conn.is_closed() {
            self.pending.clear();
        }
    }

    /// Fails if a whole frame is still waiting in `pending` on an open connection.
    fn check_input_consumed(&self) -> Result<(), String> {
        if self.pending.is_empty() || self.conn.is_closed() {
            return Ok(());
        }
        match wire::decode(&self.pending, 1 << 24) {
            Ok(Decoded::Incomplete { .. }) => Ok(()),
            _ => Err(format!(
                "a whole frame was left unprocessed: {}",
                hex(&self.pending)
            )),
        }
    }
}

fn event_json(ev: Event, input: &[u8]) -> Option<Value> {
    let data = |m: Option<muxwire_core::conn::Message>| m.map(|m| (hex(m.data.get(input)), m.more));
    Some(match ev {
        Event::Connected => json!({"event": "connected"}),
        Event::Call {
            stream,
            deadline,
            one_way,
            end_stream,
            message,
            ..
        } => {
            let mut v = json!({"event": "call", "stream": stream.0, "one_way": one_way, "end_stream": end_stream});
            if let Some(d) = deadline {
                v["deadline_us"] = json!(d.as_micros());
            }
            if let Some((d, more)) = data(message) {
                v["data"] = json!(d);
                v["more"] = json!(more);
            }
            v
        }
        Event::Message {
            stream,
            message,
            end_stream,
        } => json!({
            "event": "message", "stream": stream.0, "data": hex(message.data.get(input)),
            "more": message.more, "end_stream": end_stream,
        }),
        Event::HalfClosed { stream } => json!({"event": "half_closed", "stream": stream.0}),
        Event::Status {
            stream,
            code,
            refused,
            message,
            ..
        } => {
            let mut v =
                json!({"event": "status", "stream": stream.0, "code": code.0, "refused": refused});
            if let Some((d, _)) = data(message) {
                v["data"] = json!(d);
            }
            v
        }
        Event::Cancelled { stream, code } => {
            json!({"event": "cancelled", "stream": stream.0, "code": code.0})
        }
        Event::DeadlineExceeded { stream } => {
            json!({"event": "deadline_exceeded", "stream": stream.0})
        }
        Event::CallFailed { stream, code, .. } => {
            json!({"event": "call_failed", "stream": stream.0, "code": code.0})
        }
        Event::CallAborted { stream, code } => {
            json!({"event": "call_aborted", "stream": stream.0, "code": code.0})
        }
        Event::GoAway {
            code,
            accepted_calls,
        } => {
            json!({"event": "goaway", "code": code.0, "accepted_calls": accepted_calls})
        }
        Event::Pong { .. } => json!({"event": "pong"}),
        // Flow notifications and the close itself are checked by other step kinds.
        _ => return None,
    })
}

/// True if every key of `matcher` equals `actual`'s (frame flags: CRC only if asked).
fn matches(matcher: &Value, actual: &Value) -> bool {
    matcher.as_object().unwrap().iter().all(|(k, want)| {
        if k == "flags" {
            let (w, a) = (want.as_u64().unwrap(), actual[k].as_u64().unwrap());
            (w & 0x7F) == (a & 0x7F) && (w & 0x80 == 0 || a & 0x80 != 0)
        } else {
            &actual[k] == want
        }
    })
}

fn list_matches(matchers: &[Value], actual: &[Value]) -> bool {
    matchers.len() == actual.len() && matchers.iter().zip(actual).all(|(m, a)| matches(m, a))
}

fn command(r: &mut Runner, c: &Map<String, Value>) -> Result<Result<u32, Error>, String> {
    let mut buf = vec![0u8; 1 << 18];
    let now = r.now;
    let stream = || StreamId(c["stream"].as_u64().unwrap() as u32);
    let body = c.get("body").and_then(Value::as_str).map(unhex);
    let out = match c["op"].as_str().unwrap() {
        "call" => {
            let body = body.unwrap_or_default();
            let spec = CallSpec {
                method: c["method"].as_str().unwrap(),
                deadline: c
                    .get("deadline_us")
                    .and_then(Value::as_u64)
                    .map(Duration::from_micros),
                entries: &[],
                one_way: c.get("one_way").and_then(Value::as_bool).unwrap_or(false),
                end_stream: c["end_stream"].as_bool().unwrap(),
                message: Some(Outgoing::bytes(&body)),
            };
            r.conn
                .open_call(now, &spec, &mut buf)
                .map(|s| (s.stream.0, s.len))
        }
        "send" => {
            let end = c["end_stream"].as_bool().unwrap();
            r.conn
                .send_message(
                    now,
                    stream(),
                    body.as_deref().map(|b| Outgoing {
                        more: c.get("more").and_then(Value::as_bool).unwrap_or(false),
                        ..Outgoing::bytes(b)
                    }),
                    end,
                    &mut buf,
                )
                .map(|s| (s.stream.0, s.len))
        }
        "status" => {
            let code = StatusCode(c["code"].as_u64().unwrap() as u32);
            r.conn
                .send_status(
                    now,
                    stream(),
                    code,
                    None,
                    &[],
                    body.as_deref().map(Outgoing::bytes),
                    &mut buf,
                )
                .map(|s| (s.stream.0, s.len))
        }
        "cancel" => {
            let code = StatusCode(c["code"].as_u64().unwrap() as u32);
            r.conn.cancel(now, stream(), code).map(|()| (0, 0))
        }
        "ping" => r.conn.ping(now).map(|()| (0, 0)),
        "drain" => r.conn.drain(now).map(|()| (0, 0)),
        "consume" => {
            r.conn.consume(stream(), c["n"].as_u64().unwrap() as usize);
            Ok((0, 0))
        }
        op => return Err(format!("unknown command {op}")),
    };
    r.collect(&[]);
    Ok(match out {
        Ok((id, len)) => {
            let b = buf[..len].to_vec();
            r.record(&b)?;
            Ok(id)
        }
        Err(e) => Err(e),
    })
}

/// The precise kind of a rejected command (spec/vectors/README.md, "Command errors").
///
/// Shown to matter (tried 2026-11-30): the old runner mapped every kind but two to
/// `usage`, so any rejection passed 29 expectations. Make `send_status` (conn/mod.rs)
/// return `Error::InvalidState` instead of `Error::WrongRole` for a caller: S20, S34 and
/// S48 fail ("error InvalidState", wrong_role expected).
fn error_name(e: &Error) -> &'static str {
    match e {
        Error::UnknownStream => "unknown_stream",
        Error::WrongRole => "wrong_role",
        Error::InvalidState => "invalid_state",
        Error::NotAccepting => "not_accepting",
        Error::Blocked { .. } => "blocked",
        Error::StreamLimit => "stream_limit",
        Error::StorageFull => "storage_full",
        Error::Closed => "closed",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::TooLarge => "too_large",
        // Runner-side problems (buffer sizes, unpolled events, a full queue): never an
        // expected outcome of a session.
        _ => "runner_error",
    }
}

fn run(session: &Value, steps: &[Value]) -> Result<(), String> {
    let side = match session["side"].as_str().unwrap() {
        "acceptor" => Side::Acceptor,
        _ => Side::Connector,
    };
    let mut cfg = Config::new(side);
    apply_config(&mut cfg, &session["config"]);
    let slots: &'static mut [StreamSlot] =
        Box::leak(vec![StreamSlot::EMPTY; 64].into_boxed_slice());
    let mut r = Runner {
        conn: Connection::new(cfg, slots, T0),
        now: T0,
        written: vec![],
        events: vec![],
        ping_arg: None,
        pending: vec![],
    };
    // The implementation's own preface and HELLO.
    let mut buf = vec![0u8; 4096];
    let n = r.conn.poll_transmit(r.now, &mut buf).unwrap();
    if !buf[..n].starts_with(&PREFACE) {
        return Err("output does not start with the preface".into());
    }
    r.record(&buf[8..n])?;
    if r.written.len() != 1 || r.written[0]["type"] != "HELLO" {
        return Err(format!(
            "expected exactly HELLO after the preface, got {:?}",
            r.written
        ));
    }
    r.written.clear();
    if session["handshake"] == "auto" {
        r.recv(&peer_hello(&session["peer_settings"]));
        if r.events != [json!({"event": "connected"})] {
            return Err(format!("handshake: {:?}", r.events));
        }
        r.events.clear();
    }
    for (i, step) in steps.iter().enumerate() {
        let fail = |what: String| Err(format!("step {i} {step}: {what}"));
        let step_obj = step.as_object().unwrap();
        let (kind, arg) = step_obj.iter().find(|(k, _)| *k != "expect").unwrap();
        match kind.as_str() {
            "recv" => r.recv(&unhex(arg.as_str().unwrap())),
            "sent" | "sent_tail" => {
                r.transmit()?;
                let want = arg.as_array().unwrap();
                let ok = if kind == "sent" {
                    list_matches(want, &r.written)
                } else {
                    r.written.len() >= want.len()
                        && list_matches(want, &r.written[r.written.len() - want.len()..])
                };
                if !ok {
                    return fail(format!("wrote {}", show(&r.written)));
                }
                r.written.clear();
            }
            "events" => {
                if !list_matches(arg.as_array().unwrap(), &r.events) {
                    return fail(format!("events {}", show(&r.events)));
                }
                r.events.clear();
            }
            "command" => {
                let result = command(&mut r, arg.as_object().unwrap())?;
                let expect = step.get("expect");
                match (result, expect) {
                    (Ok(id), Some(e)) if e.get("stream").is_some() => {
                        if e["stream"].as_u64() != Some(u64::from(id)) {
                            return fail(format!("stream {id}"));
                        }
                    }
                    (Ok(_), Some(e)) if e.get("error").is_some() => {
                        return fail("command succeeded".into())
                    }
                    (Ok(_), _) => {}
                    (Err(err), Some(e)) if e.get("error").is_some() => {
                        if e["error"] != error_name(&err) {
                            return fail(format!("error {err:?}"));
                        }
                    }
                    (Err(err), _) => return fail(format!("command failed: {err}")),
                }
            }
            "advance_us" => {
                r.now = r.now + Duration::from_micros(arg.as_u64().unwrap());
                r.conn.handle_timeout(r.now);
                r.collect(&[]);
            }
            "closed" => {
                r.transmit()?;
                let got = r.conn.close_reason().map(|c| c.code.name());
                if got != arg.as_str() {
                    return fail(format!("close reason {:?}", r.conn.close_reason()));
                }
            }
            "eof" => {
                r.conn.handle_eof(r.now);
                r.collect(&[]);
            }
            "sent_ping" => {
                r.transmit()?;
                match &r.written[..] {
                    [p] if p["type"] == "PING" && p["flags"].as_u64().unwrap() & 0x20 == 0 => {
                        r.ping_arg = p["arg"].as_u64().map(|a| a as u32);
                    }
                    other => return fail(format!("expected one PING, wrote {other:?}")),
                }
                r.written.clear();
            }
            "recv_ping_ack" => {
                let mut b = vec![0u8; 32];
                let n = FrameEncoder::new(&mut b, FrameType::PING, 0u32, r.ping_arg.unwrap())
                    .unwrap()
                    .finish(Flags::ACK)
                    .unwrap();
                b.truncate(n);
                r.recv(&b);
            }
            other => return fail(format!("unknown step kind {other}")),
        }
    }
    finish(&mut r)
}

/// The end of a session (README, "End of a session"): every whole frame handed in was
/// processed, and nothing the implementation wrote or reported since the last `sent` /
/// `events` step is left unchecked.
///
/// Shown to matter (tried 2026-11-30): make `on_ping` (conn/mod.rs) also push
/// `Event::Pong` for a PING without ACK. The old runner passed S170 ("PING is answered
/// with the same opaque value") and S188 (sticky CRC), whose last steps come before that
/// event is looked at; this check fails both with "unchecked events".
fn finish(r: &mut Runner) -> Result<(), String> {
    r.check_input_consumed()?;
    r.transmit()?;
    if !r.written.is_empty() {
        return Err(format!(
            "end of session: unchecked frames {}",
            show(&r.written)
        ));
    }
    if !r.events.is_empty() {
        return Err(format!(
            "end of session: unchecked events {}",
            show(&r.events)
        ));
    }
    Ok(())
}

/// Runs a session: its `steps`, or, if it lists `alternatives`, its `steps` followed by
/// each alternative in turn on a fresh implementation until one passes (README, "Alternatives").
///
/// Shown to matter (tried 2026-11-30): with `alternatives` ignored (only `steps` run), 9
/// sessions fail at their end (S177 and S184 among them) and so does
/// `any_listed_alternative_passes` below, which also fails a runner that tries only the
/// first alternative (its passing session passes by the second).
fn run_session(session: &Value) -> Result<(), String> {
    let steps = session["steps"].as_array().unwrap();
    let Some(alts) = session.get("alternatives").and_then(Value::as_array) else {
        return run(session, steps);
    };
    let mut failures = vec![];
    for (i, alt) in alts.iter().enumerate() {
        let mut all = steps.clone();
        all.extend(alt.as_array().unwrap().iter().cloned());
        match run(session, &all) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("alternative {i}: {e}")),
        }
    }
    Err(failures.join("; "))
}

#[test]
fn every_session_vector() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/sessions.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(
        sessions.len() as u64,
        doc["numberOfSessions"].as_u64().unwrap()
    );
    assert!(sessions.len() >= 60);
    let failures: Vec<String> = sessions
        .iter()
        .filter_map(|s| {
            run_session(s)
                .err()
                .map(|e| format!("sId {} ({}): {e}", s["sId"], s["comment"]))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} sessions failed:\n{}",
        failures.len(),
        sessions.len(),
        failures.join("\n")
    );
}

/// The runner honours `alternatives`: the session passes when any one passes (here the
/// second), and fails when none does.
#[test]
fn any_listed_alternative_passes() {
    let ping = |arg: u32| {
        let mut b = vec![0u8; 32];
        let n = FrameEncoder::new(&mut b, FrameType::PING, 0u32, arg)
            .unwrap()
            .finish(Flags::NONE)
            .unwrap();
        hex(&b[..n])
    };
    let ack = |arg: u32| json!({"type": "PING", "flags": 32, "arg": arg});
    let session = |alts: Value| {
        json!({"sId": 1, "comment": "self-test", "flags": [], "side": "acceptor",
               "handshake": "auto", "steps": [{"recv": ping(7)}], "alternatives": alts})
    };
    let passing = session(json!([[{"sent": [ack(8)]}], [{"sent": [ack(7)]}]]));
    assert_eq!(run_session(&passing), Ok(()));
    let failing = session(json!([[{"sent": [ack(8)]}], [{"sent": []}]]));
    let err = run_session(&failing).unwrap_err();
    assert!(
        err.contains("alternative 0") && err.contains("alternative 1"),
        "{err}"
    );
    // Steps alone leave the ACK unchecked: the end-of-session check catches it.
    let bare = json!({"sId": 1, "comment": "self-test", "flags": [], "side": "acceptor",
                      "handshake": "auto", "steps": [{"recv": ping(7)}]});
    assert!(run_session(&bare).unwrap_err().contains("unchecked frames"));
}
