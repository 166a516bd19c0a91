//! The spec's session vectors (`spec/vectors/sessions.json`, step kinds described in
//! `spec/vectors/README.md`) run through the sans-IO C functions (`muxwire_conn_*`),
//! called as a C program calls them: the same checks as muxwire-core's own runner, so the
//! C layer adds, loses and reorders nothing.

use serde_json::{json, Map, Value};

use muxwire_core::wire::{
    self, Decoded, ErrorCode, Flags, FrameEncoder, FrameType, Settings, PREFACE,
};

use crate::conn::muxwire_conn;
use crate::conn_calls::*;
use crate::conn_config::{muxwire_conn_config, muxwire_conn_config_init};
use crate::conn_event::muxwire_event;
use crate::conn_io::*;
use crate::result::muxwire_result;

const T0: u64 = 1_000_000;

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// `len` bytes at `p` (NULL with 0 allowed).
fn view<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the library hands out views of `len` bytes, valid until the next call.
    unsafe { std::slice::from_raw_parts(p, len) }
}

struct Runner {
    conn: *mut muxwire_conn,
    now: u64,
    written: Vec<Value>,
    events: Vec<Value>,
    ping_arg: Option<u32>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // SAFETY: made by muxwire_conn_new, freed once.
        unsafe { muxwire_conn_free(self.conn) };
    }
}

fn apply_config(cfg: &mut muxwire_conn_config, v: &Value) {
    let Some(m) = v.as_object() else { return };
    for (k, v) in m {
        let n = v.as_u64().expect("numeric config") as u32;
        match k.as_str() {
            "max_frame_size" => cfg.max_frame_size = n,
            "max_message_size" => cfg.max_message_size = n,
            "max_metadata_size" => cfg.max_metadata_size = n,
            "max_concurrent_streams" => cfg.max_concurrent_streams = n,
            "initial_stream_window" => cfg.initial_stream_window = n,
            "initial_connection_window" => cfg.initial_connection_window = n,
            "compression" => cfg.compression = n,
            "features" => cfg.features = n,
            "idle_timeout_ms" => cfg.idle_timeout_ms = n,
            "cancel_budget" => cfg.cancel_budget = n,
            "control_budget" => cfg.control_budget = n,
            "ack_queue" => cfg.ack_queue = n,
            other => panic!("config key {other} is not settable through muxwire_conn_config"),
        }
    }
}

/// The peer's preface and HELLO with the session's `peer_settings`.
fn peer_hello(v: &Value) -> Vec<u8> {
    let mut s = Settings::INITIAL;
    if let Some(m) = v.as_object() {
        for (k, v) in m {
            let n = v.as_u64().unwrap() as u32;
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
                "min_version" => s.min_version = n,
                other => panic!("unknown peer setting {other}"),
            }
        }
    }
    let mut buf = [0u8; 256];
    let n = s.encode_hello(&mut buf, None, Flags::NONE).unwrap();
    let mut out = PREFACE.to_vec();
    out.extend_from_slice(&buf[..n]);
    out
}

fn event_json(e: &muxwire_event) -> Option<Value> {
    let data = hex(view(e.message, e.message_len));
    Some(match e.kind {
        1 => json!({"event": "connected"}),
        2 => {
            let mut v = json!({"event": "call", "stream": e.stream, "one_way": e.one_way,
                               "end_stream": e.end_stream});
            if e.deadline_us >= 0 {
                v["deadline_us"] = json!(e.deadline_us);
            }
            if e.has_message {
                v["data"] = json!(data);
                v["more"] = json!(e.more);
            }
            v
        }
        3 => json!({"event": "message", "stream": e.stream, "data": data, "more": e.more,
                    "end_stream": e.end_stream}),
        4 => json!({"event": "half_closed", "stream": e.stream}),
        5 => {
            let mut v = json!({"event": "status", "stream": e.stream, "code": e.status,
                               "refused": e.refused});
            if e.has_message {
                v["data"] = json!(data);
            }
            v
        }
        6 => json!({"event": "cancelled", "stream": e.stream, "code": e.status}),
        7 => json!({"event": "deadline_exceeded", "stream": e.stream}),
        8 => json!({"event": "call_failed", "stream": e.stream, "code": e.status}),
        9 => json!({"event": "call_aborted", "stream": e.stream, "code": e.status}),
        12 => json!({"event": "goaway", "code": e.error_code, "accepted_calls": e.accepted_calls}),
        13 => json!({"event": "pong"}),
        _ => return None,
    })
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
                other => return Err(format!("the library wrote an undecodable frame: {other:?}")),
            }
        }
        Ok(())
    }

    /// Everything waiting to be sent, recorded as frames.
    fn transmit(&mut self) -> Result<(), String> {
        let (mut p, mut n) = (std::ptr::null(), 0usize);
        // SAFETY: a live connection and two writable locals.
        let r = unsafe { muxwire_conn_poll_transmit(self.conn, self.now, &mut p, &mut n) };
        if r != muxwire_result::Ok {
            return Err(format!("poll_transmit: {r:?}"));
        }
        let bytes = view(p, n).to_vec();
        // SAFETY: a live connection; `n` bytes were pending.
        let done = unsafe { muxwire_conn_transmitted(self.conn, n) };
        assert_eq!(done, muxwire_result::Ok);
        self.record(&bytes)?;
        self.collect();
        Ok(())
    }

    /// Every event ready, as JSON.
    fn collect(&mut self) {
        let mut e = std::mem::MaybeUninit::<muxwire_event>::uninit();
        // SAFETY: a live connection and a writable local, read only after OK.
        while unsafe { muxwire_conn_poll_event(self.conn, e.as_mut_ptr()) } == muxwire_result::Ok {
            // SAFETY: written by the call that returned OK.
            if let Some(v) = event_json(unsafe { e.assume_init_ref() }) {
                self.events.push(v);
            }
        }
    }

    fn recv(&mut self, bytes: &[u8]) {
        // SAFETY: a live connection and a live buffer of the given length.
        let r = unsafe { muxwire_conn_feed(self.conn, self.now, bytes.as_ptr(), bytes.len()) };
        assert!(
            matches!(r, muxwire_result::Ok | muxwire_result::Unavailable),
            "feed: {r:?}"
        );
        self.collect();
    }

    fn check_input_consumed(&self) -> Result<(), String> {
        // SAFETY: a live connection, not used elsewhere meanwhile.
        let c = unsafe { &*self.conn };
        let rest = &c.rx[c.base + c.consumed..];
        if rest.is_empty() || c.conn.is_closed() {
            return Ok(());
        }
        match wire::decode(rest, 1 << 24) {
            Ok(Decoded::Incomplete { .. }) => Ok(()),
            _ => Err(format!("a whole frame was left unprocessed: {}", hex(rest))),
        }
    }
}

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

fn error_name(kind: u32) -> &'static str {
    match kind {
        2 => "unknown_stream",
        3 => "invalid_state",
        4 => "wrong_role",
        5 => "blocked",
        6 => "stream_limit",
        7 => "storage_full",
        8 => "not_accepting",
        9 => "closed",
        11 => "invalid_argument",
        12 => "too_large",
        _ => "runner_error",
    }
}

/// Runs one command through the C functions: the stream it opened, or the core's error
/// kind.
fn command(r: &mut Runner, c: &Map<String, Value>) -> Result<u32, u32> {
    let now = r.now;
    let stream = || c["stream"].as_u64().unwrap() as u32;
    let body = c.get("body").and_then(Value::as_str).map(unhex);
    let (bp, bl) = body
        .as_ref()
        .map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
    let mut id = 0u32;
    // SAFETY: every arm passes a live connection and strings and buffers that live
    // across the call.
    let res = unsafe {
        match c["op"].as_str().unwrap() {
            "call" => {
                let method = std::ffi::CString::new(c["method"].as_str().unwrap()).unwrap();
                let mut flags = 0;
                if c.get("one_way").and_then(Value::as_bool).unwrap_or(false) {
                    flags |= MUXWIRE_CALL_ONE_WAY;
                }
                if !c["end_stream"].as_bool().unwrap() {
                    flags |= MUXWIRE_CALL_STREAMING;
                }
                let timeout = c.get("deadline_us").and_then(Value::as_u64).unwrap_or(0);
                let body = body.clone().unwrap_or_default();
                muxwire_conn_open_call(
                    r.conn,
                    now,
                    method.as_ptr(),
                    body.as_ptr(),
                    body.len(),
                    timeout,
                    flags,
                    &mut id,
                )
            }
            "send" => muxwire_conn_send(
                r.conn,
                now,
                stream(),
                bp,
                bl,
                c.get("more").and_then(Value::as_bool).unwrap_or(false),
                c["end_stream"].as_bool().unwrap(),
            ),
            "status" => match c["code"].as_u64().unwrap() as u32 {
                0 => muxwire_conn_reply(r.conn, now, stream(), bp, bl),
                code => {
                    assert!(body.is_none(), "a failed status with a body");
                    muxwire_conn_fail(r.conn, now, stream(), code, std::ptr::null())
                }
            },
            "cancel" => {
                muxwire_conn_cancel(r.conn, now, stream(), c["code"].as_u64().unwrap() as u32)
            }
            "ping" => muxwire_conn_ping(r.conn, now),
            "drain" => muxwire_conn_drain(r.conn, now),
            "consume" => muxwire_conn_consume(r.conn, stream(), c["n"].as_u64().unwrap() as usize),
            op => panic!("unknown command {op}"),
        }
    };
    r.collect();
    if res == muxwire_result::Ok {
        Ok(id)
    } else {
        // SAFETY: a live connection.
        Err(unsafe { muxwire_conn_last_error_kind(r.conn) })
    }
}

fn run(session: &Value, steps: &[Value]) -> Result<(), String> {
    let side = if session["side"] == "acceptor" { 1 } else { 0 };
    let mut cfg = std::mem::MaybeUninit::<muxwire_conn_config>::uninit();
    // SAFETY: a writable local.
    let done = unsafe { muxwire_conn_config_init(cfg.as_mut_ptr(), side) };
    assert_eq!(done, muxwire_result::Ok);
    // SAFETY: initialised by the call above.
    let mut cfg = unsafe { cfg.assume_init() };
    cfg.stream_slots = 64;
    apply_config(&mut cfg, &session["config"]);
    let mut conn = std::ptr::null_mut();
    // SAFETY: a live config and a writable local.
    let made = unsafe { muxwire_conn_new(&cfg, T0, &mut conn) };
    assert_eq!(
        made,
        muxwire_result::Ok,
        "{}",
        crate::error::last_error_text()
    );
    let mut r = Runner {
        conn,
        now: T0,
        written: vec![],
        events: vec![],
        ping_arg: None,
    };
    // The library's own preface and HELLO.
    let (mut p, mut n) = (std::ptr::null(), 0usize);
    // SAFETY: a live connection and writable locals.
    let done = unsafe { muxwire_conn_poll_transmit(r.conn, r.now, &mut p, &mut n) };
    assert_eq!(done, muxwire_result::Ok);
    let first = view(p, n).to_vec();
    // SAFETY: a live connection.
    let done = unsafe { muxwire_conn_transmitted(r.conn, n) };
    assert_eq!(done, muxwire_result::Ok);
    if !first.starts_with(&PREFACE) {
        return Err("output does not start with the preface".into());
    }
    r.record(&first[PREFACE.len()..])?;
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
        let (kind, arg) = step
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "expect")
            .unwrap();
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
                let result = command(&mut r, arg.as_object().unwrap());
                match (result, step.get("expect")) {
                    (Ok(id), Some(e)) if e.get("stream").is_some() => {
                        if e["stream"].as_u64() != Some(u64::from(id)) {
                            return fail(format!("stream {id}"));
                        }
                    }
                    (Ok(_), Some(e)) if e.get("error").is_some() => {
                        return fail("command succeeded".into())
                    }
                    (Ok(_), _) => {}
                    (Err(kind), Some(e)) if e.get("error").is_some() => {
                        if e["error"] != error_name(kind) {
                            return fail(format!("error kind {kind}"));
                        }
                    }
                    (Err(kind), _) => return fail(format!("command failed: kind {kind}")),
                }
            }
            "advance_us" => {
                r.now += arg.as_u64().unwrap();
                // SAFETY: a live connection.
                let done = unsafe { muxwire_conn_on_timeout(r.conn, r.now) };
                assert_eq!(done, muxwire_result::Ok);
                r.collect();
            }
            "closed" => {
                r.transmit()?;
                let mut code = 0u32;
                // SAFETY: a live connection and a writable local.
                let got = match unsafe { muxwire_conn_close_code(r.conn, &mut code) } {
                    muxwire_result::Ok => Some(ErrorCode(code).name()),
                    _ => None,
                };
                if got != arg.as_str() {
                    return fail(format!("close code {got:?}"));
                }
            }
            "eof" => {
                // SAFETY: a live connection.
                let done = unsafe { muxwire_conn_on_eof(r.conn, r.now) };
                assert_eq!(done, muxwire_result::Ok);
                r.collect();
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
    r.check_input_consumed()?;
    r.transmit()?;
    if !r.written.is_empty() {
        return Err(format!("end of session: unchecked frames {:?}", r.written));
    }
    if !r.events.is_empty() {
        return Err(format!("end of session: unchecked events {:?}", r.events));
    }
    Ok(())
}

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
fn every_session_vector_through_the_c_functions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/sessions.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(
        sessions.len() as u64,
        doc["numberOfSessions"].as_u64().unwrap()
    );
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
