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

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

struct Runner {
    conn: Connection<&'static mut [StreamSlot]>,
    now: Instant,
    written: Vec<Value>,
    events: Vec<Value>,
    ping_arg: Option<u32>,
}

fn apply_config(cfg: &mut Config, v: &Value) {
    let Some(m) = v.as_object() else { return };
    for (k, v) in m {
        let n = v.as_u64().expect("numeric config") as u32;
        let s = &mut cfg.settings;
        match k.as_str() {
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

    fn recv(&mut self, bytes: &[u8]) {
        let mut pos = 0;
        while pos < bytes.len() {
            let input = &bytes[pos..];
            match self.conn.handle_input(self.now, input) {
                Ok(0) => {
                    self.collect(input);
                    break;
                }
                Ok(n) => {
                    self.collect(input);
                    pos += n;
                }
                Err(_) => break,
            }
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
                    body.as_deref().map(Outgoing::bytes),
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

fn error_name(e: &Error) -> &'static str {
    match e {
        Error::Blocked { .. } => "blocked",
        Error::StreamLimit => "stream_limit",
        _ => "usage",
    }
}

fn run(session: &Value) -> Result<(), String> {
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
    for (i, step) in session["steps"].as_array().unwrap().iter().enumerate() {
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
                    return fail(format!("wrote {:?}", r.written));
                }
                r.written.clear();
            }
            "events" => {
                if !list_matches(arg.as_array().unwrap(), &r.events) {
                    return fail(format!("events {:?}", r.events));
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
    Ok(())
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
            run(s)
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
