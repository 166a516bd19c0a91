//! The reference testee: `muxwire conformance testee` answers the adapter protocol
//! (spec/CONFORMANCE.md) on stdin and stdout with the Rust core, `muxwire-core`. It is the
//! example an implementer's adapter can follow, and the runner's own check.

use std::io::{BufReader, BufWriter};

use muxwire_core::conn::{CallSpec, Config, Connection, Error, Event, Outgoing, StreamSlot};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{
    self, crc32, Decoded, Flags, FrameEncoder, FrameType, Header, Side, StatusCode, StreamId, Tag,
    HEADER_LEN,
};
use serde_json::{json, Map, Value};

use super::adapter::{read_message, write_message};
use super::sessions::apply_settings;
use crate::hex::{hex, unhex};

/// Stream slots per session, as the reference runner gives its connections.
const SLOTS: usize = 64;

/// Room for the frames one command or one poll writes.
const OUT_ROOM: usize = 1 << 18;

/// Serves requests from stdin until it closes; the process exit status.
pub(crate) fn run() -> i32 {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let mut testee = Reference::default();
    loop {
        let req = match read_message(&mut input) {
            Ok(Some(req)) => req,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("muxwire conformance testee: {e}");
                return 2;
            }
        };
        let answer = match testee.handle(&req) {
            Ok(mut v) => {
                v["ok"] = json!(true);
                v
            }
            Err(e) => json!({"ok": false, "error": e}),
        };
        if let Err(e) = write_message(&mut output, &answer) {
            eprintln!("muxwire conformance testee: {e}");
            return 2;
        }
    }
}

/// A session: one connection and what it reported since the last `events` request.
struct Session {
    conn: Connection<Vec<StreamSlot>>,
    now: Instant,
    events: Vec<Value>,
    /// Frames commands wrote (into their own buffers), not yet taken by `output`.
    written: Vec<u8>,
}

#[derive(Default)]
struct Reference {
    session: Option<Session>,
}

impl Reference {
    fn handle(&mut self, req: &Value) -> Result<Value, String> {
        match req["op"].as_str().unwrap_or("") {
            "hello" => Ok(json!({
                "name": concat!("muxwire-core ", env!("CARGO_PKG_VERSION")),
                "supports": ["decode", "encode", "session"],
            })),
            "decode" => decode(req),
            "encode" => encode(&req["frame"]),
            "session" => {
                self.session = Some(new_session(req)?);
                Ok(json!({}))
            }
            op => {
                let s = self
                    .session
                    .as_mut()
                    .ok_or_else(|| format!("{op} before any session"))?;
                s.handle(op, req)
            }
        }
    }
}

fn field_u64(v: &Value, k: &str) -> Result<u64, String> {
    v[k].as_u64()
        .ok_or_else(|| format!("missing or non-numeric {k}"))
}

fn field_u32(v: &Value, k: &str) -> Result<u32, String> {
    u32::try_from(field_u64(v, k)?).map_err(|_| format!("{k} does not fit a u32"))
}

fn field_hex(v: &Value, k: &str) -> Result<Vec<u8>, String> {
    unhex(v[k].as_str().ok_or_else(|| format!("missing {k}"))?)
}

fn decode(req: &Value) -> Result<Value, String> {
    let input = field_hex(req, "input")?;
    let max = field_u32(req, "max_frame_size")?;
    Ok(match wire::decode(&input, max) {
        Ok(Decoded::Frame { frame, len }) => {
            let h = frame.header();
            let mut v = json!({
                "result": "frame", "frame_len": len, "type": h.ty.0, "flags": h.flags.0,
                "meta_len": h.meta_len, "stream_id": h.stream_id.0, "arg": h.arg,
                "crc": frame.crc().is_some(),
            });
            if frame.is_extension() {
                v["payload"] = json!(hex(frame.body()));
            } else {
                let tlvs: Vec<Value> = frame
                    .metadata()
                    .iter()
                    .map(|t| json!({"tag": t.tag.0, "value": hex(t.value)}))
                    .collect();
                v["metadata"] = json!(tlvs);
                v["body"] = json!(hex(frame.body()));
            }
            v
        }
        Ok(Decoded::Incomplete { needed }) => json!({"result": "incomplete", "needed": needed}),
        Err(e) => json!({"result": "error", "code": e.code.name()}),
    })
}

fn encode(f: &Value) -> Result<Value, String> {
    let ty = u8::try_from(field_u64(f, "type")?).map_err(|_| "type does not fit a byte")?;
    let flags = Flags(u8::try_from(field_u64(f, "flags")?).map_err(|_| "flags do not fit a byte")?);
    let (stream, arg) = (StreamId(field_u32(f, "stream_id")?), field_u32(f, "arg")?);
    if f.get("payload").is_some() {
        // An extension frame: the header, its payload as given, and the trailer if asked.
        let payload = field_hex(f, "payload")?;
        let crc_len = if flags.contains(Flags::CRC) { 4 } else { 0 };
        let header = Header {
            payload_len: (payload.len() + crc_len) as u32,
            ty: FrameType(ty),
            flags,
            // Not interpreted in an extension frame, but part of its header.
            meta_len: u16::try_from(field_u64(f, "meta_len")?)
                .map_err(|_| "meta_len does not fit a u16")?,
            stream_id: stream,
            arg,
        };
        let mut v = header.to_bytes().to_vec();
        v.extend_from_slice(&payload);
        if crc_len > 0 {
            let crc = crc32(&v);
            v.extend_from_slice(&crc.to_le_bytes());
        }
        return Ok(json!({"bytes": hex(&v)}));
    }
    let body = field_hex(f, "body")?;
    let mut out = vec![0u8; HEADER_LEN + body.len() + 65_536];
    let mut enc =
        FrameEncoder::new(&mut out, FrameType(ty), stream, arg).map_err(|e| e.to_string())?;
    for tlv in f["metadata"].as_array().ok_or("missing metadata")? {
        let tag = u16::try_from(field_u64(tlv, "tag")?).map_err(|_| "tag does not fit a u16")?;
        enc.tlv(Tag(tag), &field_hex(tlv, "value")?)
            .map_err(|e| e.to_string())?;
    }
    let n = enc
        .finish_with_body(flags, &body)
        .map_err(|e| e.to_string())?;
    Ok(json!({"bytes": hex(&out[..n])}))
}

fn new_session(req: &Value) -> Result<Session, String> {
    let side = match req["side"].as_str() {
        Some("acceptor") => Side::Acceptor,
        Some("connector") => Side::Connector,
        other => return Err(format!("unknown side {other:?}")),
    };
    let mut cfg = Config::new(side);
    if let Some(m) = req["config"].as_object() {
        apply_settings(&mut cfg.settings, m)?;
        apply_budgets(&mut cfg, m)?;
    }
    let now = Instant(field_u64(req, "now_us")?);
    Ok(Session {
        conn: Connection::new(cfg, vec![StreamSlot::EMPTY; SLOTS], now),
        now,
        events: Vec::new(),
        written: Vec::new(),
    })
}

fn apply_budgets(cfg: &mut Config, m: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in m {
        let n = || v.as_u64().and_then(|n| u32::try_from(n).ok());
        let bad = || format!("{k} is not a u32: {v}");
        match k.as_str() {
            "cancel_budget" => cfg.cancel_budget = n().ok_or_else(bad)?,
            "control_budget" => cfg.control_budget = n().ok_or_else(bad)?,
            "ack_queue" => cfg.ack_queue = n().ok_or_else(bad)? as usize,
            _ => {}
        }
    }
    Ok(())
}

impl Session {
    fn handle(&mut self, op: &str, req: &Value) -> Result<Value, String> {
        match op {
            "input" => {
                let data = field_hex(req, "data")?;
                Ok(json!({"consumed": self.input(&data)}))
            }
            "events" => Ok(json!({"events": std::mem::take(&mut self.events)})),
            "output" => {
                let mut buf = vec![0u8; OUT_ROOM];
                let mut out = std::mem::take(&mut self.written);
                loop {
                    let n = self
                        .conn
                        .poll_transmit(self.now, &mut buf)
                        .map_err(|e| e.to_string())?;
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                self.collect(&[]);
                Ok(json!({"data": hex(&out)}))
            }
            "command" => self.command(&req["command"]),
            "advance" => {
                self.now = Instant(field_u64(req, "now_us")?);
                self.conn.handle_timeout(self.now);
                self.collect(&[]);
                Ok(json!({}))
            }
            "eof" => {
                self.conn.handle_eof(self.now);
                self.collect(&[]);
                Ok(json!({}))
            }
            "state" => Ok(json!({
                "closed": self.conn.is_closed(),
                "code": self.conn.close_reason().map(|r| r.code.name()),
            })),
            other => Err(format!("unknown op {other:?}")),
        }
    }

    /// Hands `data` in, taking events out whenever the core's queue is full; the bytes
    /// taken.
    fn input(&mut self, data: &[u8]) -> usize {
        let (mut at, mut zero_in_a_row) = (0, 0);
        // Each pass takes bytes or empties the event queue; bounded all the same. Taking
        // nothing twice in a row (the events were taken between) means: not now.
        for _ in 0..=2 * data.len() + 16 {
            if at == data.len() || self.conn.is_closed() {
                break;
            }
            let rest = &data[at..];
            let result = self.conn.handle_input(self.now, rest);
            self.collect(rest);
            match result {
                Ok(0) => {
                    zero_in_a_row += 1;
                    if zero_in_a_row == 2 {
                        break;
                    }
                }
                Ok(n) => {
                    at += n;
                    zero_in_a_row = 0;
                }
                Err(Error::EventsPending) => {}
                Err(_) => break,
            }
        }
        at
    }

    fn collect(&mut self, input: &[u8]) {
        while let Some(ev) = self.conn.poll_event() {
            if let Some(v) = event_json(ev, input) {
                self.events.push(v);
            }
        }
    }

    fn command(&mut self, c: &Value) -> Result<Value, String> {
        let mut buf = vec![0u8; OUT_ROOM];
        let now = self.now;
        let stream = || field_u32(c, "stream").map(StreamId);
        let body = match c.get("body") {
            Some(_) => Some(field_hex(c, "body")?),
            None => None,
        };
        let flag = |k: &str| c[k].as_bool().unwrap_or(false);
        let done = match c["op"].as_str().unwrap_or("") {
            "call" => {
                let body = body.unwrap_or_default();
                let spec = CallSpec {
                    method: c["method"].as_str().ok_or("call without method")?,
                    deadline: c["deadline_us"].as_u64().map(Duration::from_micros),
                    entries: &[],
                    one_way: flag("one_way"),
                    end_stream: flag("end_stream"),
                    message: Some(Outgoing::bytes(&body)),
                };
                self.conn
                    .open_call(now, &spec, &mut buf)
                    .map(|s| (Some(s.stream.0), s.len))
            }
            "send" => {
                let message = body.as_deref().map(|b| Outgoing {
                    more: flag("more"),
                    ..Outgoing::bytes(b)
                });
                self.conn
                    .send_message(now, stream()?, message, flag("end_stream"), &mut buf)
                    .map(|s| (None, s.len))
            }
            "status" => {
                let code = StatusCode(field_u32(c, "code")?);
                let message = body.as_deref().map(Outgoing::bytes);
                self.conn
                    .send_status(now, stream()?, code, None, &[], message, &mut buf)
                    .map(|s| (None, s.len))
            }
            "cancel" => {
                let code = StatusCode(field_u32(c, "code")?);
                self.conn.cancel(now, stream()?, code).map(|()| (None, 0))
            }
            "ping" => self.conn.ping(now).map(|()| (None, 0)),
            "drain" => self.conn.drain(now).map(|()| (None, 0)),
            "consume" => {
                let n = usize::try_from(field_u64(c, "n")?).map_err(|_| "n too large")?;
                self.conn.consume(stream()?, n);
                Ok((None, 0))
            }
            op => return Err(format!("unknown command {op:?}")),
        };
        self.collect(&[]);
        match done {
            Ok((id, len)) => {
                self.written.extend_from_slice(&buf[..len]);
                Ok(id.map_or_else(|| json!({}), |id| json!({"stream": id})))
            }
            Err(e) => match rejection(&e) {
                Some(kind) => Ok(json!({"rejected": kind})),
                None => Err(format!("the core refused the command: {e}")),
            },
        }
    }
}

/// The kind of a rejected command (spec/vectors/README.md, "Command errors"); `None` for
/// errors of the caller's own making (buffer sizes, unpolled events).
fn rejection(e: &Error) -> Option<&'static str> {
    Some(match e {
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
        _ => return None,
    })
}

/// An event as the vectors name it (spec/vectors/README.md, "Events"); `None` for those
/// never listed.
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
            let mut v = json!({"event": "call", "stream": stream.0, "one_way": one_way,
                               "end_stream": end_stream});
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
            let mut v = json!({"event": "status", "stream": stream.0, "code": code.0,
                               "refused": refused});
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
        } => json!({"event": "goaway", "code": code.0, "accepted_calls": accepted_calls}),
        Event::Pong { .. } => json!({"event": "pong"}),
        _ => return None,
    })
}
