//! Property tests: arbitrary valid frames round-trip through encode and decode (every
//! field, flags included); damaged frames never panic the decoder, and those it accepts
//! re-encode to the same bytes; every prefix of a frame is "incomplete" with the exact
//! number of missing bytes; flipping any byte of a CRC-protected frame is always caught.

use muxwire_core::wire::{
    self, Codec, Decoded, Flags, FrameEncoder, FrameType, Settings, StreamId, Tag,
    MAX_MAX_FRAME_SIZE, MIN_CHUNK,
};
use proptest::prelude::*;

/// A frame description that the spec allows.
#[derive(Debug, Clone)]
struct Spec {
    ty: FrameType,
    flags: Flags,
    stream: u32,
    arg: u32,
    tlvs: Vec<(u16, Vec<u8>)>,
    body: Vec<u8>,
}

fn key() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,20}"
}

fn entry() -> impl Strategy<Value = (u16, Vec<u8>)> {
    (key(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(k, v)| {
        let mut value = vec![k.len() as u8];
        value.extend_from_slice(k.as_bytes());
        value.extend_from_slice(&v);
        (Tag::ENTRY.0, value)
    })
}

fn ignorable() -> impl Strategy<Value = (u16, Vec<u8>)> {
    (
        0x4000u16..=0xFFFF,
        proptest::collection::vec(any::<u8>(), 0..16),
    )
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::Identity), Just(Codec::Lz4), Just(Codec::Zstd)]
}

fn body(min: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), min..min + 64),
        proptest::collection::vec(any::<u8>(), min.max(1000)..3000),
    ]
}

fn call() -> impl Strategy<Value = Spec> {
    let shape = prop_oneof![
        Just(Flags::END_STREAM | Flags::MESSAGE),
        Just(Flags::MESSAGE),
        Just(Flags::NONE),
        Just(Flags::MESSAGE | Flags::MORE),
        Just(Flags::NO_REPLY | Flags::END_STREAM | Flags::MESSAGE),
    ];
    (
        shape,
        codec(),
        1u32..,
        "[a-zA-Z./é]{1,40}",
        proptest::option::of(any::<u64>()),
        proptest::collection::vec(prop_oneof![entry(), ignorable()], 0..4),
        body(MIN_CHUNK),
        body(0),
    )
        .prop_map(|(shape, c, stream, method, deadline, extra, big, small)| {
            let message = shape.contains(Flags::MESSAGE);
            let flags = if message { shape.with_codec(c) } else { shape };
            let mut tlvs = vec![(Tag::METHOD.0, method.into_bytes())];
            if let Some(d) = deadline {
                tlvs.push((Tag::DEADLINE.0, d.to_le_bytes().to_vec()));
            }
            tlvs.extend(extra);
            let body = match (message, shape.contains(Flags::MORE)) {
                (false, _) => vec![],
                (true, true) => big,
                (true, false) => small,
            };
            Spec {
                ty: FrameType::CALL,
                flags,
                stream,
                arg: 0,
                tlvs,
                body,
            }
        })
}

fn data() -> impl Strategy<Value = Spec> {
    let shape = prop_oneof![
        Just(Flags::MESSAGE),
        Just(Flags::END_STREAM),
        Just(Flags::END_STREAM | Flags::MESSAGE),
        Just(Flags::MESSAGE | Flags::MORE),
    ];
    (
        shape,
        codec(),
        1u32..,
        proptest::collection::vec(entry(), 0..3),
        body(MIN_CHUNK),
        body(0),
    )
        .prop_map(|(shape, c, stream, tlvs, big, small)| {
            let message = shape.contains(Flags::MESSAGE);
            let flags = if message { shape.with_codec(c) } else { shape };
            let body = match (message, shape.contains(Flags::MORE)) {
                (false, _) => vec![],
                (true, true) => big,
                (true, false) => small,
            };
            Spec {
                ty: FrameType::DATA,
                flags,
                stream,
                arg: 0,
                tlvs,
                body,
            }
        })
}

fn status() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        any::<bool>(),
        codec(),
        1u32..,
        0u32..20,
        body(0),
        ".{0,30}",
    )
        .prop_map(|(refused, message, c, stream, code, body, reason)| {
            let tlvs = vec![(Tag::REASON.0, reason.into_bytes())];
            if refused {
                let code = code.max(1);
                Spec {
                    ty: FrameType::STATUS,
                    flags: Flags::REFUSED,
                    stream,
                    arg: code,
                    tlvs,
                    body: vec![],
                }
            } else if message {
                let flags = Flags::MESSAGE.with_codec(c);
                Spec {
                    ty: FrameType::STATUS,
                    flags,
                    stream,
                    arg: code,
                    tlvs,
                    body,
                }
            } else {
                Spec {
                    ty: FrameType::STATUS,
                    flags: Flags::NONE,
                    stream,
                    arg: code,
                    tlvs,
                    body: vec![],
                }
            }
        })
}

fn control() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (1u32.., 1u32..).prop_map(|(stream, code)| Spec {
            ty: FrameType::CANCEL,
            flags: Flags::NONE,
            stream,
            arg: code,
            tlvs: vec![],
            body: vec![]
        }),
        (any::<u32>(), 1u32..=0x7FFF_FFFF).prop_map(|(stream, inc)| Spec {
            ty: FrameType::WINDOW,
            flags: Flags::NONE,
            stream,
            arg: inc,
            tlvs: vec![],
            body: vec![]
        }),
        (any::<bool>(), any::<u32>()).prop_map(|(ack, opaque)| Spec {
            ty: FrameType::PING,
            flags: if ack { Flags::ACK } else { Flags::NONE },
            stream: 0,
            arg: opaque,
            tlvs: vec![],
            body: vec![]
        }),
        (any::<u32>(), any::<u64>()).prop_map(|(code, accepted)| Spec {
            ty: FrameType::GOAWAY,
            flags: Flags::NONE,
            stream: 0,
            arg: code,
            tlvs: vec![(Tag::REASON.0, b"bye".to_vec())],
            body: accepted.to_le_bytes().to_vec()
        }),
        (
            16_384u32..=MAX_MAX_FRAME_SIZE,
            any::<u32>(),
            65_536u32..=0x7FFF_FFFF
        )
            .prop_map(|(mfs, streams, win)| Spec {
                ty: FrameType::HELLO,
                flags: Flags::NONE,
                stream: 0,
                arg: 1,
                tlvs: vec![
                    (Tag::MAX_FRAME_SIZE.0, mfs.to_le_bytes().to_vec()),
                    (
                        Tag::MAX_CONCURRENT_STREAMS.0,
                        streams.to_le_bytes().to_vec()
                    ),
                    (Tag::INITIAL_STREAM_WINDOW.0, win.to_le_bytes().to_vec()),
                ],
                body: vec![]
            }),
    ]
}

fn any_frame() -> impl Strategy<Value = (Spec, bool)> {
    (
        prop_oneof![call(), data(), status(), control()],
        any::<bool>(),
    )
}

fn encode(spec: &Spec, crc: bool) -> Vec<u8> {
    let mut out =
        vec![
            0u8;
            16 + 4 + spec.body.len() + spec.tlvs.iter().map(|t| 4 + t.1.len()).sum::<usize>()
        ];
    let mut enc = FrameEncoder::new(&mut out, spec.ty, spec.stream, spec.arg).unwrap();
    for (tag, value) in &spec.tlvs {
        enc.tlv(Tag(*tag), value).unwrap();
    }
    let flags = if crc {
        spec.flags | Flags::CRC
    } else {
        spec.flags
    };
    let n = enc.finish_with_body(flags, &spec.body).unwrap();
    out.truncate(n);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn valid_frames_round_trip((spec, crc) in any_frame()) {
        let bytes = encode(&spec, crc);
        let Ok(Decoded::Frame { frame, len }) = wire::decode(&bytes, MAX_MAX_FRAME_SIZE) else {
            panic!("spec-valid frame rejected: {spec:?} -> {:?}", wire::decode(&bytes, MAX_MAX_FRAME_SIZE));
        };
        prop_assert_eq!(len, bytes.len());
        prop_assert_eq!(frame.ty(), spec.ty);
        prop_assert_eq!(frame.stream_id(), StreamId(spec.stream));
        prop_assert_eq!(frame.arg(), spec.arg);
        // Every flag survives, CRC included (shown to fail: `finish_with_body` writing
        // `flags & !Flags::NO_REPLY` into the header, a frame that still decodes).
        let flags = if crc { spec.flags | Flags::CRC } else { spec.flags };
        prop_assert_eq!(frame.flags(), flags);
        prop_assert_eq!(frame.flags().codec(), spec.flags.codec());
        prop_assert_eq!(frame.body(), &spec.body[..]);
        prop_assert_eq!(frame.crc().is_some(), crc);
        let tlvs: Vec<(u16, Vec<u8>)> = frame.metadata().iter().map(|t| (t.tag.0, t.value.to_vec())).collect();
        prop_assert_eq!(tlvs, spec.tlvs.clone());
        if spec.ty == FrameType::HELLO {
            let s = Settings::from_hello(frame.arg(), &frame.metadata());
            prop_assert_eq!(s.max_frame_size.to_le_bytes().to_vec(), spec.tlvs[0].1.clone());
        }
    }

    #[test]
    fn every_prefix_is_incomplete_with_the_exact_shortfall((spec, crc) in any_frame(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&spec, crc);
        let at = cut.index(bytes.len());
        match wire::decode(&bytes[..at], MAX_MAX_FRAME_SIZE) {
            Ok(Decoded::Incomplete { needed }) => {
                let expect = if at < 16 { 16 - at } else { bytes.len() - at };
                prop_assert_eq!(needed, expect);
            }
            other => prop_assert!(false, "prefix of {} bytes gave {:?}", at, other.map(|_| ())),
        }
    }

    #[test]
    fn any_corrupted_byte_of_a_crc_frame_is_caught((spec, _) in any_frame(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode(&spec, true);
        // Corrupt anything but the length field (which moves the frame's end) and the CRC
        // flag itself (clearing it turns the trailer into body bytes; PROTOCOL.md section 11
        // closes that hole with the "sticky CRC" rule at the connection level).
        let i = 4 + at.index(bytes.len() - 4);
        prop_assume!(!(i == 5 && bit == 7));
        bytes[i] ^= 1 << bit;
        match wire::decode(&bytes, MAX_MAX_FRAME_SIZE) {
            Ok(Decoded::Frame { .. }) => prop_assert!(false, "corruption at byte {} not detected", i),
            Ok(Decoded::Incomplete { .. }) => prop_assert!(false, "corruption made the frame incomplete"),
            Err(_) => {}
        }
    }

    #[test]
    fn structured_garbage_never_panics(
        ty in any::<u8>(), flags in any::<u8>(), stream in prop_oneof![Just(0u32), any::<u32>()],
        arg in prop_oneof![Just(0u32), any::<u32>()],
        tlvs in proptest::collection::vec((0u16..0x30, proptest::collection::vec(any::<u8>(), 0..12)), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..64), crc in any::<bool>())
    {
        // Headers that look plausible reach the deep validation paths.
        let mut out = vec![0u8; 512];
        let mut enc = FrameEncoder::new(&mut out, FrameType(ty), stream, arg).unwrap();
        for (t, v) in &tlvs { enc.tlv(Tag(*t), v).unwrap(); }
        let f = if crc { Flags(flags) | Flags::CRC } else { Flags(flags & !Flags::CRC.0) };
        let n = enc.finish_with_body(f, &body).unwrap();
        let _ = wire::decode(&out[..n], 16_384);
    }
}

/// How to damage an encoded frame.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    FlipBit(prop::sample::Index, u8),
    SetByte(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::None),
        4 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Append),
    ]
}

/// Mostly valid frames with one mutation, and some purely random bytes: inputs that reach
/// every outcome of `decode`, including "a frame" for a good share of them.
fn damaged_input() -> impl Strategy<Value = (Vec<u8>, u32)> {
    let max = prop_oneof![3 => Just(MAX_MAX_FRAME_SIZE), 1 => any::<u32>()];
    let damaged = (any_frame(), mutation()).prop_map(|((spec, crc), m)| {
        let mut bytes = encode(&spec, crc);
        let n = bytes.len();
        match m {
            Mutation::None => {}
            Mutation::FlipBit(i, b) => bytes[i.index(n)] ^= 1 << b,
            Mutation::SetByte(i, v) => bytes[i.index(n)] = v,
            Mutation::Truncate(i) => bytes.truncate(i.index(n)),
            Mutation::Append(tail) => bytes.extend(tail),
        }
        bytes
    });
    let input = prop_oneof![
        9 => damaged,
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ];
    (input, max)
}

/// What one damaged input decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Frame,
    Incomplete,
    Error,
}

/// Checks one decode result; a decoded frame must be exactly what re-encoding its parts
/// gives back (its bytes, its CRC) and its accessors must not fail.
fn check_decode(bytes: &[u8], max: u32) -> Result<Outcome, TestCaseError> {
    match wire::decode(bytes, max) {
        Ok(Decoded::Frame { frame, len }) => {
            prop_assert!(len >= 16 && len <= bytes.len());
            let payload_len = u32::from_le_bytes(bytes[..4].try_into().unwrap());
            prop_assert_eq!(len, 16 + payload_len as usize);
            prop_assert!(payload_len <= max);
            let crc_len = if frame.crc().is_some() { 4 } else { 0 };
            prop_assert_eq!(frame.flags().contains(Flags::CRC), crc_len == 4);
            if frame.is_extension() {
                prop_assert_eq!(frame.body(), &bytes[16..len - crc_len]);
            } else {
                // The parts re-encode to the very same bytes (a CRC flag re-computes the
                // trailer, so a frame with a bad trailer could not have decoded).
                let mut out = vec![0u8; len];
                let mut enc =
                    FrameEncoder::new(&mut out, frame.ty(), frame.stream_id().0, frame.arg())
                        .unwrap();
                for t in frame.metadata().iter() {
                    enc.tlv(t.tag, t.value).unwrap();
                }
                let n = enc.finish_with_body(frame.flags(), frame.body()).unwrap();
                prop_assert_eq!(&out[..n], &bytes[..len], "re-encoding differs");
            }
            for t in frame.metadata().iter() {
                let _ = t.tag.name();
            }
            let _ = (
                frame.metadata().method(),
                frame.metadata().entries().count(),
                frame.accepted_calls(),
                frame.flow_len(),
            );
            Ok(Outcome::Frame)
        }
        Ok(Decoded::Incomplete { needed }) => {
            prop_assert!(needed > 0);
            // Exactly the missing bytes: of the header, or of the frame it announces.
            if bytes.len() < 16 {
                prop_assert_eq!(needed, 16 - bytes.len());
            } else {
                let payload_len = u32::from_le_bytes(bytes[..4].try_into().unwrap());
                prop_assert_eq!(needed, 16 + payload_len as usize - bytes.len());
            }
            Ok(Outcome::Incomplete)
        }
        Err(e) => {
            let _ = e.to_string();
            Ok(Outcome::Error)
        }
    }
}

/// Damaged frames never panic the decoder, and what it accepts is checked in depth. The
/// share of inputs that decode to a frame is counted and must be meaningful: the random
/// bytes of the test this replaces gave 0 frames in 2000 cases, so its frame checks never
/// ran. Shown to fail: with that generator put back, "only 0 of 2001 inputs decoded to a
/// frame"; with CRC verification skipped in `decode` (`received != computed &&
/// received == 0`), a CALL with a flipped trailer bit decodes and "re-encoding differs".
#[test]
fn damaged_frames_never_panic_and_decoded_ones_are_exact() {
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    let counts = std::cell::RefCell::new([0usize; 3]);
    let regressions = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/proptests.proptest-regressions"
    );
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    });
    runner
        .run(&damaged_input(), |(bytes, max)| {
            let outcome = check_decode(&bytes, max)?;
            counts.borrow_mut()[outcome as usize] += 1;
            Ok(())
        })
        .unwrap();
    let [frames, incomplete, errors] = *counts.borrow();
    let total = frames + incomplete + errors;
    eprintln!("decoded: {frames} frames, {incomplete} incomplete, {errors} errors");
    assert!(
        frames * 4 >= total,
        "only {frames} of {total} inputs decoded to a frame"
    );
    assert!(
        errors * 5 >= total,
        "only {errors} of {total} inputs were errors"
    );
    assert!(
        incomplete * 20 >= total,
        "only {incomplete} of {total} were incomplete"
    );
}
