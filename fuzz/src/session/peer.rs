//! Well-formed frames from the peer, built from a script step's fields, so that the
//! fuzzer reaches the connection's states without having to find lengths and CRCs.

use muxwire_core::wire::{Flags, FrameEncoder, FrameType, Tag, GOAWAY_BODY_LEN};

use super::script::Step;
use super::{Harness, BODY};

/// The frame a [`Step::PeerFrame`] describes. `meta` bits: 0 METHOD (always on a CALL
/// unless bit 1), 1 no METHOD, 2 DEADLINE of `arg` microseconds, 3 an ENTRY, 4 a
/// REASON, 5 CRC trailer, 6 Argument = the last PING written (to answer it), 7 flags
/// as given (else only the flags the type allows, and MESSAGE with a body).
pub(super) fn frame(step: &Step<'_>, h: &Harness) -> Vec<u8> {
    let Step::PeerFrame {
        ty,
        flags,
        sel,
        arg,
        meta,
        body,
    } = *step
    else {
        unreachable!("not a peer frame: {step:?}");
    };
    let bit = |n: u8| meta & (1 << n) != 0;
    let ty = match ty % 10 {
        0 => FrameType(0x80 | ty),
        n => FrameType(n.min(8)),
    };
    let stream = h.stream(sel);
    let carries_message = matches!(ty, FrameType::CALL | FrameType::DATA | FrameType::STATUS);
    let mut arg = if bit(6) {
        h.out.last_ping.unwrap_or(arg)
    } else {
        arg
    };
    let deadline = u64::from(arg);
    if matches!(ty, FrameType::CALL | FrameType::DATA) && !bit(7) {
        arg = 0;
    }
    let mut body = &BODY[..usize::from(body)];
    if ty == FrameType::GOAWAY {
        body = &BODY[..GOAWAY_BODY_LEN];
    }
    let mut flags = Flags(flags);
    if !bit(7) {
        flags = Flags(flags.0 & Flags::allowed_for(ty).0 & !Flags::CRC.0);
        if carries_message && !body.is_empty() {
            flags |= Flags::MESSAGE;
        }
    }
    if bit(5) {
        flags |= Flags::CRC;
    }
    let mut out = vec![0u8; 16 + 256 + body.len() + 4];
    let mut enc = FrameEncoder::new(&mut out, ty, stream, arg).expect("room for a header");
    let written = (|| {
        if ty == FrameType::CALL && (bit(0) || !bit(1)) {
            enc.tlv(Tag::METHOD, b"m")?;
        }
        if bit(2) {
            enc.tlv_u64(Tag::DEADLINE, deadline)?;
        }
        if bit(3) {
            enc.entry("k", b"v")?;
        }
        if bit(4) {
            enc.tlv(Tag::REASON, b"r")?;
        }
        Ok::<_, muxwire_core::wire::EncodeError>(())
    })();
    written.expect("metadata fits");
    let n = enc.finish_with_body(flags, body).expect("the frame fits");
    out.truncate(n);
    out
}
