//! Session vectors through a testee (spec/CONFORMANCE.md section 2.4): the runner plays
//! the peer, step by step as `spec/vectors/README.md` describes, and judges everything the
//! testee's connection wrote and reported.

use muxwire_core::wire::{self, Decoded, Flags, FrameEncoder, FrameType, Settings, PREFACE};
use serde_json::{json, Map, Value};

use super::adapter::{Answer, Testee};
use super::report::Outcome;
use crate::hex::{hex, unhex};

/// The time a session starts at (µs), as the reference runner's.
const T0: u64 = 1_000_000;

/// Events never listed in a session (README, "Events").
const UNLISTED_EVENTS: [&str; 3] = ["window_opened", "streams_available", "closed"];

/// Why a session stopped early.
enum Stop {
    Fail(String),
    Unsupported(String),
}

type Step<T> = Result<T, Stop>;

/// Runs session `session`: its steps, or its steps followed by each alternative on a fresh
/// connection until one passes.
pub(crate) fn run(testee: &mut Testee, session: &Value) -> Outcome {
    if !testee.supports("session") {
        return Outcome::Unsupported("the testee does not run sessions".into());
    }
    let steps = session["steps"].as_array().cloned().unwrap_or_default();
    let alternatives = match session.get("alternatives").and_then(Value::as_array) {
        Some(alts) => alts.clone(),
        None => vec![Value::Array(vec![])],
    };
    let several = alternatives.len() > 1;
    let mut failures = Vec::new();
    for (i, alt) in alternatives.iter().enumerate() {
        let mut all = steps.clone();
        all.extend(alt.as_array().cloned().unwrap_or_default());
        match Run::new(testee).play(session, &all) {
            Ok(()) => return Outcome::Pass,
            Err(Stop::Unsupported(why)) => return Outcome::Unsupported(why),
            Err(Stop::Fail(why)) if several => failures.push(format!("alternative {i}: {why}")),
            Err(Stop::Fail(why)) => failures.push(why),
        }
    }
    Outcome::Fail(failures.join("; "))
}

/// One run of a session's steps.
struct Run<'a> {
    testee: &'a mut Testee,
    now: u64,
    /// Output not yet decoded into frames (a frame split across `output` answers).
    out: Vec<u8>,
    /// Whether the preface and HELLO were checked.
    greeted: bool,
    /// Frames written since the last `sent`-like step, as matchable objects.
    written: Vec<Value>,
    /// Events reported since the last `events` step.
    events: Vec<Value>,
    ping_arg: Option<u32>,
    /// Input handed in but not yet consumed, fed again before new bytes.
    pending: Vec<u8>,
}

impl<'a> Run<'a> {
    fn new(testee: &'a mut Testee) -> Run<'a> {
        Run {
            testee,
            now: T0,
            out: Vec::new(),
            greeted: false,
            written: Vec::new(),
            events: Vec::new(),
            ping_arg: None,
            pending: Vec::new(),
        }
    }

    fn op(&mut self, req: Value) -> Step<Value> {
        match self.testee.request(&req) {
            Answer::Ok(v) => Ok(v),
            Answer::Unsupported(why) => Err(Stop::Unsupported(why)),
            Answer::Failed(why) => Err(Stop::Fail(why)),
        }
    }

    fn play(&mut self, session: &Value, steps: &[Value]) -> Step<()> {
        let side = session["side"].as_str().unwrap_or("acceptor");
        let config = session.get("config").cloned().unwrap_or(json!({}));
        self.op(json!({"op": "session", "side": side, "config": config, "now_us": T0}))?;
        self.transmit()?;
        self.written.clear();
        if session["handshake"] == "auto" {
            let hello = peer_hello(&session["peer_settings"]).map_err(Stop::Fail)?;
            self.recv(&hello)?;
            self.poll_events()?;
            if self.events != [json!({"event": "connected"})] {
                return fail(format!("handshake: events {}", show(&self.events)));
            }
            self.events.clear();
        }
        for (i, step) in steps.iter().enumerate() {
            self.step(step).map_err(|stop| match stop {
                Stop::Fail(why) => Stop::Fail(format!("step {i} {}: {why}", brief(step))),
                unsupported => unsupported,
            })?;
        }
        self.finish()
    }

    fn step(&mut self, step: &Value) -> Step<()> {
        let obj = step
            .as_object()
            .ok_or_else(|| Stop::Fail("a step is not an object".into()))?;
        let Some((kind, arg)) = obj.iter().find(|(k, _)| *k != "expect") else {
            return fail("an empty step".into());
        };
        match kind.as_str() {
            "recv" => self.recv(&unhex(arg.as_str().unwrap_or("")).map_err(Stop::Fail)?),
            "sent" | "sent_tail" => {
                self.transmit()?;
                let want = arg.as_array().cloned().unwrap_or_default();
                let ok = if kind == "sent" {
                    list_matches(&want, &self.written)
                } else {
                    self.written.len() >= want.len()
                        && list_matches(&want, &self.written[self.written.len() - want.len()..])
                };
                if !ok {
                    return fail(format!("wrote {}", show(&self.written)));
                }
                self.written.clear();
                Ok(())
            }
            "events" => {
                self.poll_events()?;
                if !list_matches(arg.as_array().map_or(&[][..], |a| &a[..]), &self.events) {
                    return fail(format!("events {}", show(&self.events)));
                }
                self.events.clear();
                Ok(())
            }
            "command" => self.command(arg, step.get("expect")),
            "advance_us" => {
                self.now += arg.as_u64().unwrap_or(0);
                self.op(json!({"op": "advance", "now_us": self.now}))
                    .map(drop)
            }
            "closed" => {
                self.transmit()?;
                let state = self.op(json!({"op": "state"}))?;
                if state["closed"] != true || state["code"] != *arg {
                    return fail(format!(
                        "expected closed with {arg}, state is closed={} code={}",
                        state["closed"], state["code"]
                    ));
                }
                Ok(())
            }
            "eof" => self.op(json!({"op": "eof"})).map(drop),
            "sent_ping" => {
                self.transmit()?;
                match &self.written[..] {
                    [p] if p["type"] == "PING" && p["flags"].as_u64().unwrap_or(0) & 0x20 == 0 => {
                        self.ping_arg = p["arg"].as_u64().map(|a| a as u32);
                    }
                    other => return fail(format!("expected one PING, wrote {}", show(other))),
                }
                self.written.clear();
                Ok(())
            }
            "recv_ping_ack" => {
                let Some(arg) = self.ping_arg else {
                    return fail("no PING of the testee's to answer".into());
                };
                let mut b = [0u8; 32];
                let n = FrameEncoder::new(&mut b, FrameType::PING, 0u32, arg)
                    .and_then(|e| e.finish(Flags::ACK))
                    .map_err(|e| Stop::Fail(format!("encoding the PING ACK: {e}")))?;
                self.recv(&b[..n])
            }
            other => fail(format!("unknown step kind {other}")),
        }
    }

    /// Hands `bytes` in after any bytes left unconsumed before (README, "Input").
    fn recv(&mut self, bytes: &[u8]) -> Step<()> {
        self.pending.extend_from_slice(bytes);
        let mut zero_in_a_row = 0;
        while !self.pending.is_empty() {
            let got = self.op(json!({"op": "input", "data": hex(&self.pending)}))?;
            let n = got["consumed"]
                .as_u64()
                .filter(|&n| n as usize <= self.pending.len())
                .ok_or_else(|| {
                    Stop::Fail(format!("input answer without a valid consumed: {got}"))
                })? as usize;
            self.pending.drain(..n);
            if self.closed()? {
                // A closed connection reads no more (PROTOCOL.md section 9.3).
                self.pending.clear();
                break;
            }
            if n == 0 {
                zero_in_a_row += 1;
                if zero_in_a_row == 2 {
                    break;
                }
            } else {
                zero_in_a_row = 0;
            }
        }
        Ok(())
    }

    fn closed(&mut self) -> Step<bool> {
        Ok(self.op(json!({"op": "state"}))?["closed"] == true)
    }

    fn poll_events(&mut self) -> Step<()> {
        let got = self.op(json!({"op": "events"}))?;
        let events = got["events"]
            .as_array()
            .ok_or_else(|| Stop::Fail(format!("events answer without events: {got}")))?;
        self.events.extend(
            events
                .iter()
                .filter(|e| !UNLISTED_EVENTS.contains(&e["event"].as_str().unwrap_or("")))
                .cloned(),
        );
        Ok(())
    }

    /// Drains the testee's output into `written`: the preface and exactly one HELLO
    /// first, then whole frames.
    fn transmit(&mut self) -> Step<()> {
        let got = self.op(json!({"op": "output"}))?;
        let data = unhex(got["data"].as_str().unwrap_or("")).map_err(Stop::Fail)?;
        self.out.extend_from_slice(&data);
        if !self.greeted {
            if self.out.len() < PREFACE.len() {
                return fail("the connection did not write its preface".into());
            }
            if self.out[..PREFACE.len()] != PREFACE {
                return fail(format!(
                    "output does not start with the preface: {}",
                    hex(&self.out[..PREFACE.len()])
                ));
            }
            self.out.drain(..PREFACE.len());
            self.decode_output()?;
            if self.written.len() != 1 || self.written[0]["type"] != "HELLO" {
                return fail(format!(
                    "expected exactly HELLO after the preface, got {}",
                    show(&self.written)
                ));
            }
            self.greeted = true;
            return Ok(());
        }
        self.decode_output()
    }

    fn decode_output(&mut self) -> Step<()> {
        let mut at = 0;
        while at < self.out.len() {
            match wire::decode(&self.out[at..], 1 << 24) {
                Ok(Decoded::Frame { frame, len }) => {
                    self.written.push(json!({
                        "type": frame.ty().name(),
                        "stream": frame.stream_id().0,
                        "flags": frame.flags().0,
                        "arg": frame.arg(),
                        "body": hex(frame.body()),
                    }));
                    at += len;
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Err(e) => {
                    return fail(format!(
                        "the connection wrote an undecodable frame ({e}): {}",
                        hex(&self.out[at..])
                    ))
                }
            }
        }
        self.out.drain(..at);
        Ok(())
    }

    fn command(&mut self, command: &Value, expect: Option<&Value>) -> Step<()> {
        let got = self.op(json!({"op": "command", "command": command}))?;
        match (got.get("rejected").and_then(Value::as_str), expect) {
            (None, Some(e)) if e.get("error").is_some() => {
                fail(format!("the command succeeded: {got}"))
            }
            (None, Some(e)) if e.get("stream").is_some() => {
                if got["stream"] != e["stream"] {
                    return fail(format!(
                        "stream {}, expected {}",
                        got["stream"], e["stream"]
                    ));
                }
                Ok(())
            }
            (None, _) => Ok(()),
            (Some(kind), Some(e)) if e.get("error").is_some() => {
                if e["error"] != kind {
                    return fail(format!("rejected as {kind}, expected {}", e["error"]));
                }
                Ok(())
            }
            (Some(kind), _) => fail(format!("the command was rejected as {kind}")),
        }
    }

    /// README, "End of a session": nothing handed in or written or reported is left
    /// unchecked.
    fn finish(&mut self) -> Step<()> {
        if !self.pending.is_empty()
            && !self.closed()?
            && matches!(
                wire::decode(&self.pending, 1 << 24),
                Ok(Decoded::Frame { .. }) | Err(_)
            )
        {
            return fail(format!(
                "end of session: a whole frame was left unprocessed: {}",
                hex(&self.pending)
            ));
        }
        self.transmit()?;
        if !self.written.is_empty() {
            return fail(format!(
                "end of session: unchecked frames {}",
                show(&self.written)
            ));
        }
        self.poll_events()?;
        if !self.events.is_empty() {
            return fail(format!(
                "end of session: unchecked events {}",
                show(&self.events)
            ));
        }
        Ok(())
    }
}

fn fail<T>(why: String) -> Step<T> {
    Err(Stop::Fail(why))
}

/// The peer's preface and HELLO advertising `v`'s settings.
fn peer_hello(v: &Value) -> Result<Vec<u8>, String> {
    let mut s = Settings::INITIAL;
    if let Some(m) = v.as_object() {
        apply_settings(&mut s, m)?;
    }
    let mut buf = [0u8; 256];
    let n = s
        .encode_hello(&mut buf, None, Flags::NONE)
        .map_err(|e| format!("encoding the peer's HELLO: {e}"))?;
    let mut out = PREFACE.to_vec();
    out.extend_from_slice(&buf[..n]);
    Ok(out)
}

/// Sets the settings `m` names (the budgets, which only the testee has, are skipped).
pub(crate) fn apply_settings(s: &mut Settings, m: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in m {
        let n = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("setting {k} is not a u32: {v}"))?;
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
            "cancel_budget" | "control_budget" | "ack_queue" => {}
            other => return Err(format!("unknown setting {other}")),
        }
    }
    Ok(())
}

/// True if every key of `matcher` equals `actual`'s (frame flags: CRC only if asked).
fn matches(matcher: &Value, actual: &Value) -> bool {
    let Some(m) = matcher.as_object() else {
        return false;
    };
    m.iter().all(|(k, want)| {
        if k == "flags" {
            let (w, a) = (want.as_u64().unwrap_or(0), actual[k].as_u64().unwrap_or(0));
            (w & 0x7F) == (a & 0x7F) && (w & 0x80 == 0 || a & 0x80 != 0)
        } else if let (Some(w), Some(a)) = (want.as_str(), actual[k].as_str()) {
            w.eq_ignore_ascii_case(a)
        } else {
            &actual[k] == want
        }
    })
}

fn list_matches(matchers: &[Value], actual: &[Value]) -> bool {
    matchers.len() == actual.len() && matchers.iter().zip(actual).all(|(m, a)| matches(m, a))
}

/// Frames or events for a failure message, long hex shortened.
fn show(values: &[Value]) -> String {
    brief(&Value::Array(values.to_vec()))
}

/// `v` as JSON for a failure message, every string longer than 40 characters shortened to
/// its start and its length.
fn brief(v: &Value) -> String {
    fn shorten(v: &Value) -> Value {
        match v {
            Value::String(s) if s.len() > 40 => {
                Value::String(format!("{}..({} chars)", &s[..32], s.len()))
            }
            Value::Array(a) => Value::Array(a.iter().map(shorten).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), shorten(x))).collect())
            }
            other => other.clone(),
        }
    }
    shorten(v).to_string()
}
