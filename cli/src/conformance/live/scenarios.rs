//! The scenarios `muxwire conformance live` plays against a running server over a socket
//! (spec/CONFORMANCE.md section 4), each on a connection of its own, each judged against
//! PROTOCOL.md with the reactions it allows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use muxwire_core::wire::{ErrorCode, Flags, FrameType, StatusCode, Tag};

use super::peer::{encode, Gone, Peer};

/// A scenario: its id (`L<n>`), what it checks, and the check.
pub(crate) struct Scenario {
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) run: fn(&mut Peer) -> Result<(), String>,
}

/// Every scenario, in order. Ids never change meaning; new ones are appended.
pub(crate) const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: 1,
        name: "handshake: preface and HELLO first, sane settings",
        run: handshake,
    },
    Scenario {
        id: 2,
        name: "unary call: echo answers with the request",
        run: unary_echo,
    },
    Scenario {
        id: 3,
        name: "unknown method: UNIMPLEMENTED, the connection goes on",
        run: unknown_method,
    },
    Scenario {
        id: 4,
        name: "100 unary calls in one write: each answered with its own reply",
        run: pipelined,
    },
    Scenario {
        id: 5,
        name: "one-way calls: processed, never answered",
        run: one_way,
    },
    Scenario {
        id: 6,
        name: "streaming call: messages both ways, half-close, STATUS OK",
        run: streaming,
    },
    Scenario {
        id: 7,
        name: "cancellation: the callee still sends a STATUS",
        run: cancel,
    },
    Scenario {
        id: 8,
        name: "deadline: DEADLINE_EXCEEDED when it passes",
        run: deadline,
    },
    Scenario {
        id: 9,
        name: "PING is answered with the same Argument",
        run: ping,
    },
    Scenario {
        id: 10,
        name: "admission: a call over MAX_CONCURRENT_STREAMS is REFUSED",
        run: admission,
    },
    Scenario {
        id: 11,
        name: "metadata over MAX_METADATA_SIZE: RESOURCE_EXHAUSTED for that call only",
        run: metadata_limit,
    },
    Scenario {
        id: 12,
        name: "a reserved flag bit: GOAWAY PROTOCOL_ERROR, then close",
        run: reserved_flag,
    },
    Scenario {
        id: 13,
        name: "a frame over MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR, then close",
        run: frame_too_large,
    },
    Scenario {
        id: 14,
        name: "a CALL on the other side's stream parity: GOAWAY PROTOCOL_ERROR",
        run: wrong_parity,
    },
    Scenario {
        id: 15,
        name: "a PING flood: GOAWAY ENHANCE_YOUR_CALM",
        run: ping_flood,
    },
    Scenario {
        id: 16,
        name: "the client drains: open calls finish, then the server closes",
        run: client_drain,
    },
];

/// A unary CALL to `method`.
fn call(
    p: &mut Peer,
    id: u32,
    method: &str,
    body: &[u8],
    more_meta: &[(Tag, &[u8])],
) -> Result<(), String> {
    let mut meta = vec![(Tag::METHOD, method.as_bytes())];
    meta.extend_from_slice(more_meta);
    let flags = Flags(Flags::END_STREAM.0 | Flags::MESSAGE.0);
    p.send(FrameType::CALL, flags, id, 0, &meta, body)
}

/// How a call ended.
#[derive(Debug, Default)]
struct Outcome {
    code: u32,
    refused: bool,
    /// Every reply message, in order (DATA messages, then the STATUS's final message).
    messages: Vec<Vec<u8>>,
    /// The STATUS's REASON text.
    reason: String,
}

impl Outcome {
    /// The status for a failure message: its name and reason.
    fn status(&self) -> String {
        format!("{} ({:?})", StatusCode(self.code).name(), self.reason)
    }
}

/// Reads until every call in `ids` has its STATUS, assembling reply messages; fails on a
/// frame for any other stream, a GOAWAY, or silence.
fn outcomes(p: &mut Peer, ids: &[u32]) -> Result<BTreeMap<u32, Outcome>, String> {
    let mut done: BTreeMap<u32, Outcome> = BTreeMap::new();
    let mut partial: BTreeMap<u32, (Vec<Vec<u8>>, Vec<u8>)> = BTreeMap::new();
    while done.len() < ids.len() {
        let f = p
            .next()
            .map_err(|e| format!("{} of {} calls answered, then {e}", done.len(), ids.len()))?;
        if f.ty == FrameType::PING && !f.flags.contains(Flags::ACK) {
            p.send(FrameType::PING, Flags::ACK, 0, f.arg, &[], &[])?;
            continue;
        }
        if f.ty == FrameType::GOAWAY {
            return Err(format!(
                "GOAWAY {} arrived with calls open",
                ErrorCode(f.arg).name()
            ));
        }
        if !ids.contains(&f.stream) || done.contains_key(&f.stream) {
            return Err(format!("unexpected frame: {}", f.show()));
        }
        let (messages, chunk) = partial.entry(f.stream).or_default();
        match f.ty {
            FrameType::DATA if f.flags.contains(Flags::MESSAGE) => {
                chunk.extend_from_slice(&f.body);
                if !f.flags.contains(Flags::MORE) {
                    messages.push(std::mem::take(chunk));
                }
            }
            FrameType::STATUS => {
                let (mut messages, _) = partial.remove(&f.stream).unwrap_or_default();
                if f.flags.contains(Flags::MESSAGE) {
                    messages.push(f.body.clone());
                }
                let reason = String::from_utf8_lossy(f.tag(Tag::REASON).unwrap_or(b"")).to_string();
                done.insert(
                    f.stream,
                    Outcome {
                        code: f.arg,
                        refused: f.flags.contains(Flags::REFUSED),
                        messages,
                        reason,
                    },
                );
            }
            _ => return Err(format!("unexpected frame: {}", f.show())),
        }
    }
    Ok(done)
}

/// The one reply of a unary call that ended OK.
fn reply(o: &Outcome) -> Result<&[u8], String> {
    if o.code != 0 {
        return Err(format!("status {}, expected OK", o.status()));
    }
    match &o.messages[..] {
        [one] => Ok(one),
        other => Err(format!("{} reply messages, expected one", other.len())),
    }
}

/// Expects a GOAWAY with `code` (other frames before it are allowed), then the close.
fn expect_goaway(p: &mut Peer, code: ErrorCode) -> Result<(), String> {
    loop {
        match p.frame() {
            Ok(f) if f.ty == FrameType::GOAWAY => {
                if f.arg != code.0 {
                    return Err(format!(
                        "GOAWAY {}, expected {}",
                        ErrorCode(f.arg).name(),
                        code.name()
                    ));
                }
                break;
            }
            Ok(_) => continue,
            Err(e) => return Err(format!("expected GOAWAY {}: {e}", code.name())),
        }
    }
    expect_close(p)
}

/// Expects the transport to close (frames before it are allowed, not a silence).
fn expect_close(p: &mut Peer) -> Result<(), String> {
    loop {
        match p.frame() {
            Ok(_) => continue,
            Err(Gone::Eof) => return Ok(()),
            Err(e) => return Err(format!("expected the connection to close: {e}")),
        }
    }
}

fn handshake(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let s = p.settings;
    if s.max_frame_size < 16_384 {
        return Err(format!(
            "MAX_FRAME_SIZE {} is below the minimum 16 384",
            s.max_frame_size
        ));
    }
    if s.max_concurrent_streams == 0 {
        return Err("MAX_CONCURRENT_STREAMS 0: it can serve no call".into());
    }
    // The connection works: a PING round trip.
    ping_round_trip(p)
}

fn unary_echo(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    call(p, 1, "echo", b"hello, muxwire", &[])?;
    let o = outcomes(p, &[1])?;
    match reply(&o[&1])? {
        b"hello, muxwire" => Ok(()),
        other => Err(format!("echo replied {other:02x?}")),
    }
}

fn unknown_method(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    call(p, 1, "conformance.no-such-method", b"x", &[])?;
    let o = outcomes(p, &[1])?;
    if o[&1].code != StatusCode::UNIMPLEMENTED.0 {
        return Err(format!("status {}, expected UNIMPLEMENTED", o[&1].status()));
    }
    call(p, 3, "echo", b"still here", &[])?;
    let o = outcomes(p, &[3])?;
    reply(&o[&3]).map(drop)
}

fn pipelined(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let n = 100.min(p.settings.max_concurrent_streams);
    let ids: Vec<u32> = (0..n).map(|i| 2 * i + 1).collect();
    let mut bytes = Vec::new();
    let flags = Flags(Flags::END_STREAM.0 | Flags::MESSAGE.0);
    for &id in &ids {
        let body = format!("call {id}");
        bytes.extend(encode(
            FrameType::CALL,
            flags,
            id,
            0,
            &[(Tag::METHOD, b"echo")],
            body.as_bytes(),
        )?);
    }
    p.write(&bytes)?;
    let o = outcomes(p, &ids)?;
    for id in ids {
        let want = format!("call {id}");
        if reply(&o[&id])? != want.as_bytes() {
            return Err(format!("call {id} got another call's reply"));
        }
    }
    Ok(())
}

/// The `count` method's message count.
fn sink_count(p: &mut Peer, id: u32) -> Result<u64, String> {
    call(p, id, "count", b"", &[])?;
    let o = outcomes(p, &[id])?;
    let text = String::from_utf8_lossy(reply(&o[&id])?).to_string();
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("count replied {text:?}, expected \"MESSAGES BYTES\""))
}

fn one_way(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let before = sink_count(p, 1)?;
    let flags = Flags(Flags::NO_REPLY.0 | Flags::END_STREAM.0 | Flags::MESSAGE.0);
    for i in 0..10u32 {
        // A one-way call opens no stream: the same id serves every one of them.
        p.send(
            FrameType::CALL,
            flags,
            3,
            0,
            &[(Tag::METHOD, b"sink")],
            &i.to_le_bytes(),
        )?;
    }
    // Processed, though nothing says when: ask until the count moves (any STATUS for id 3
    // fails `outcomes`).
    let until = Instant::now() + p.patience;
    let mut id = 5;
    loop {
        let now = sink_count(p, id)?;
        if now >= before + 10 {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!(
                "count went from {before} to {now} after 10 one-way calls"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
        id += 2;
    }
}

fn streaming(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let m = Flags::MESSAGE;
    p.send(
        FrameType::CALL,
        m,
        1,
        0,
        &[(Tag::METHOD, b"echo.stream")],
        b"one",
    )?;
    p.send(FrameType::DATA, m, 1, 0, &[], b"two")?;
    p.send(
        FrameType::DATA,
        Flags(m.0 | Flags::END_STREAM.0),
        1,
        0,
        &[],
        b"three",
    )?;
    let o = outcomes(p, &[1])?;
    if o[&1].code != 0 {
        return Err(format!("status {}", o[&1].status()));
    }
    let got: Vec<&[u8]> = o[&1].messages.iter().map(Vec::as_slice).collect();
    if got != [&b"one"[..], b"two", b"three"] {
        return Err(format!("messages {got:?}, expected one, two, three"));
    }
    Ok(())
}

fn cancel(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    call(p, 1, "delay", b"30000", &[])?;
    p.send(
        FrameType::CANCEL,
        Flags::NONE,
        1,
        StatusCode::CANCELLED.0,
        &[],
        &[],
    )?;
    let o = outcomes(p, &[1])?;
    if o[&1].code == 0 {
        return Err("a cancelled 30 s call ended OK".into());
    }
    Ok(())
}

fn deadline(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let micros = 200_000u64.to_le_bytes();
    call(p, 1, "delay", b"30000", &[(Tag::DEADLINE, &micros)])?;
    let o = outcomes(p, &[1])?;
    if o[&1].code != StatusCode::DEADLINE_EXCEEDED.0 {
        return Err(format!(
            "status {}, expected DEADLINE_EXCEEDED",
            o[&1].status()
        ));
    }
    Ok(())
}

fn ping(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    ping_round_trip(p)
}

/// A PING and its ACK.
fn ping_round_trip(p: &mut Peer) -> Result<(), String> {
    p.send(FrameType::PING, Flags::NONE, 0, 0x5eed_1234, &[], &[])?;
    let f = p
        .next()
        .map_err(|e| format!("waiting for the PING ACK: {e}"))?;
    if f.ty != FrameType::PING || !f.flags.contains(Flags::ACK) || f.arg != 0x5eed_1234 {
        return Err(format!("expected PING ACK 0x5eed1234, got {}", f.show()));
    }
    Ok(())
}

fn admission(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let limit = p.settings.max_concurrent_streams;
    if limit > 4_096 {
        // Too many to open in a test; nothing to judge.
        return Ok(());
    }
    let ids: Vec<u32> = (0..=limit).map(|i| 2 * i + 1).collect();
    let mut bytes = Vec::new();
    let flags = Flags(Flags::END_STREAM.0 | Flags::MESSAGE.0);
    for &id in &ids {
        bytes.extend(encode(
            FrameType::CALL,
            flags,
            id,
            0,
            &[(Tag::METHOD, b"delay")],
            b"1500",
        )?);
    }
    p.write(&bytes)?;
    // The last call is over the limit: REFUSED at once, before any other call ends.
    let last = *ids.last().expect("limit + 1 ids");
    let o = outcomes(p, &[last])?;
    let o = &o[&last];
    if !o.refused || o.code != StatusCode::UNAVAILABLE.0 {
        return Err(format!(
            "the call over the limit ended {} (refused: {}), expected REFUSED UNAVAILABLE",
            o.status(),
            o.refused
        ));
    }
    // The others run to their end. (Cancelling them all at once would break the cancel
    // budget of 1 000 a second.)
    let o = outcomes(p, &ids[..ids.len() - 1])?;
    match o.values().find(|o| o.code != 0) {
        Some(bad) => Err(format!("an admitted call ended {}", bad.status())),
        None => Ok(()),
    }
}

fn metadata_limit(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let max = p.settings.max_metadata_size as usize;
    // One ENTRY that alone exceeds the limit (the frame itself stays within MAX_FRAME_SIZE).
    let room = p.settings.max_frame_size as usize - 64;
    if max + 16 > room {
        return Ok(());
    }
    let mut entry = vec![1u8];
    entry.push(b'k');
    entry.resize(max + 8, b'v');
    call(p, 1, "echo", b"x", &[(Tag::ENTRY, &entry)])?;
    let o = outcomes(p, &[1])?;
    if o[&1].code != StatusCode::RESOURCE_EXHAUSTED.0 {
        return Err(format!(
            "status {}, expected RESOURCE_EXHAUSTED",
            o[&1].status()
        ));
    }
    call(p, 3, "echo", b"after", &[])?;
    let o = outcomes(p, &[3])?;
    reply(&o[&3]).map(drop)
}

fn reserved_flag(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let mut frame = encode(FrameType::PING, Flags::NONE, 0, 7, &[], &[])?;
    frame[5] |= 0x40;
    p.write(&frame)?;
    expect_goaway(p, ErrorCode::PROTOCOL_ERROR)
}

fn frame_too_large(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    // A header announcing one byte more than the implementation accepts; no body follows.
    let mut header = encode(FrameType::DATA, Flags::MESSAGE, 1, 0, &[], &[])?;
    header[..4].copy_from_slice(&(p.settings.max_frame_size + 1).to_le_bytes());
    p.write(&header)?;
    expect_goaway(p, ErrorCode::FRAME_SIZE_ERROR)
}

fn wrong_parity(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    call(p, 2, "echo", b"x", &[])?;
    expect_goaway(p, ErrorCode::PROTOCOL_ERROR)
}

fn ping_flood(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    let one = encode(FrameType::PING, Flags::NONE, 0, 1, &[], &[])?;
    // More than a one-second control budget of 1 000, in one write; the ACKs it owes are
    // not read meanwhile, so the ack queue (16) may be what trips first: the same code.
    let flood: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * 2_000)
        .collect();
    p.write(&flood)?;
    expect_goaway(p, ErrorCode::ENHANCE_YOUR_CALM)
}

fn client_drain(p: &mut Peer) -> Result<(), String> {
    p.handshake()?;
    call(p, 1, "delay", b"200", &[])?;
    // GOAWAY NO_ERROR: this side opens nothing more; it received no CALL from the server.
    p.send(
        FrameType::GOAWAY,
        Flags::NONE,
        0,
        ErrorCode::NO_ERROR.0,
        &[],
        &0u64.to_le_bytes(),
    )?;
    let o = outcomes(p, &[1])?;
    reply(&o[&1]).map_err(|e| format!("the open call after the drain: {e}"))?;
    // No stream is open at the server now: it closes (after its own GOAWAY, if any).
    loop {
        match p.frame() {
            Ok(f) if f.ty == FrameType::GOAWAY && f.arg != ErrorCode::NO_ERROR.0 => {
                return Err(format!(
                    "GOAWAY {} after a clean drain",
                    ErrorCode(f.arg).name()
                ))
            }
            Ok(_) => continue,
            Err(Gone::Eof) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "expected the server to close once the call ended: {e}"
                ))
            }
        }
    }
}
