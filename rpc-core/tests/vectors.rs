//! Runs every vector of `spec/vectors/frames.json` through the codec: valid frames decode
//! to the expected fields and re-encode byte for byte; invalid ones fail with exactly the
//! named code; truncated ones report exactly how many bytes are missing.

use muxwire_core::wire::{
    self, crc32, Decoded, Flags, FrameEncoder, FrameType, Header, Tag, HEADER_LEN,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    max_frame_size: u32,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u32,
    comment: String,
    input: String,
    result: String,
    expect: Option<Expect>,
    error: Option<ExpectError>,
    needed: Option<usize>,
}

#[derive(Deserialize)]
struct Expect {
    frame_len: usize,
    #[serde(rename = "type")]
    ty: u8,
    type_name: String,
    flags: u8,
    meta_len: u16,
    stream_id: u32,
    arg: u32,
    metadata: Option<Vec<ExpectTlv>>,
    body: Option<String>,
    payload: Option<String>,
    crc: bool,
}

#[derive(Deserialize)]
struct ExpectTlv {
    tag: u16,
    value: String,
}

#[derive(Deserialize)]
struct ExpectError {
    code: String,
    value: u32,
    scope: String,
}

fn load() -> File {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/frames.json");
    let text = std::fs::read_to_string(path).expect("spec/vectors/frames.json");
    serde_json::from_str(&text).expect("frames.json parses")
}

/// Re-encodes a decoded core frame with the public encoder.
fn reencode(frame: &wire::Frame<'_>, out: &mut [u8]) -> usize {
    let mut enc = FrameEncoder::new(out, frame.ty(), frame.stream_id(), frame.arg()).unwrap();
    for tlv in frame.metadata().iter() {
        enc.tlv(tlv.tag, tlv.value).unwrap();
    }
    enc.finish_with_body(frame.flags(), frame.body()).unwrap()
}

/// Re-encodes an extension frame from its header and payload.
fn reencode_extension(frame: &wire::Frame<'_>) -> Vec<u8> {
    let mut v = frame.header().to_bytes().to_vec();
    v.extend_from_slice(frame.body());
    if frame.flags().contains(Flags::CRC) {
        let crc = crc32(&v);
        v.extend_from_slice(&crc.to_le_bytes());
    }
    v
}

fn check(case: &Case, max: u32) -> Result<(), String> {
    let input = hex::decode(&case.input).map_err(|e| e.to_string())?;
    let outcome = wire::decode(&input, max);
    match case.result.as_str() {
        "valid" | "acceptable" => {
            let e = case.expect.as_ref().ok_or("no expect")?;
            let (frame, len) = match outcome {
                Ok(Decoded::Frame { frame, len }) => (frame, len),
                Ok(Decoded::Incomplete { needed }) => {
                    return Err(format!("expected a frame, got incomplete ({needed})"))
                }
                Err(err) => return Err(format!("expected a frame, got {err}")),
            };
            let h = frame.header();
            let got = (len, h.ty.0, h.flags.0, h.meta_len, h.stream_id.0, h.arg);
            let want = (e.frame_len, e.ty, e.flags, e.meta_len, e.stream_id, e.arg);
            if got != want {
                return Err(format!("header fields {got:?} != {want:?}"));
            }
            if frame.crc().is_some() != e.crc {
                return Err("crc presence differs".into());
            }
            let expected_name = if frame.is_extension() {
                "EXTENSION"
            } else {
                h.ty.name()
            };
            if e.type_name != expected_name {
                return Err(format!("type name {} != {expected_name}", e.type_name));
            }
            let original = &input[..len];
            if frame.is_extension() {
                let payload = hex::decode(e.payload.as_deref().ok_or("no payload")?).unwrap();
                if frame.body() != payload {
                    return Err("extension payload differs".into());
                }
                if reencode_extension(&frame) != original {
                    return Err("extension re-encoding differs".into());
                }
                return Ok(());
            }
            let tlvs: Vec<(u16, Vec<u8>)> = frame
                .metadata()
                .iter()
                .map(|t| (t.tag.0, t.value.to_vec()))
                .collect();
            let want: Vec<(u16, Vec<u8>)> = e
                .metadata
                .as_ref()
                .ok_or("no metadata")?
                .iter()
                .map(|t| (t.tag, hex::decode(&t.value).unwrap()))
                .collect();
            if tlvs != want {
                return Err(format!("metadata {tlvs:?} != {want:?}"));
            }
            let body = hex::decode(e.body.as_deref().ok_or("no body")?).unwrap();
            if frame.body() != body {
                return Err("body differs".into());
            }
            let mut out = vec![0u8; len + 64];
            let n = reencode(&frame, &mut out);
            if &out[..n] != original {
                return Err("re-encoding differs".into());
            }
            Ok(())
        }
        "invalid" => {
            let e = case.error.as_ref().ok_or("no error")?;
            if e.scope != "connection" {
                return Err(format!("unexpected scope {}", e.scope));
            }
            match outcome {
                Err(err) if err.code.0 == e.value && err.code.name() == e.code => Ok(()),
                Err(err) => Err(format!("expected {}, got {err}", e.code)),
                Ok(Decoded::Frame { frame, .. }) => Err(format!(
                    "expected {}, got a frame {:?}",
                    e.code,
                    frame.header()
                )),
                Ok(Decoded::Incomplete { needed }) => {
                    Err(format!("expected {}, got incomplete ({needed})", e.code))
                }
            }
        }
        "incomplete" => match outcome {
            Ok(Decoded::Incomplete { needed }) if Some(needed) == case.needed => Ok(()),
            Ok(Decoded::Incomplete { needed }) => Err(format!(
                "expected incomplete {:?}, got incomplete {needed}",
                case.needed
            )),
            Ok(Decoded::Frame { frame, .. }) => Err(format!(
                "expected incomplete, got a frame {:?}",
                frame.header()
            )),
            Err(err) => Err(format!("expected incomplete, got {err}")),
        },
        r => Err(format!("unknown result {r}")),
    }
}

#[test]
fn every_frame_vector() {
    let file = load();
    let mut failures = Vec::new();
    let mut count = 0;
    for group in &file.groups {
        for case in &group.tests {
            count += 1;
            if let Err(why) = check(case, group.max_frame_size) {
                failures.push(format!("tcId {} ({}): {why}", case.id, case.comment));
            }
        }
    }
    assert_eq!(count, file.number_of_tests);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vector_counts_meet_the_bar() {
    let file = load();
    let tests: Vec<&Case> = file.groups.iter().flat_map(|g| &g.tests).collect();
    let invalid = tests.iter().filter(|t| t.result == "invalid").count();
    assert!(tests.len() >= 80, "{} vectors", tests.len());
    assert!(invalid >= 35, "{invalid} invalid vectors");
    // Every core frame type appears in a valid vector.
    for ty in 1u8..=8 {
        let seen = tests
            .iter()
            .filter_map(|t| t.expect.as_ref())
            .any(|e| e.ty == ty);
        assert!(seen, "no valid vector of type {ty}");
    }
    // Every well-known tag appears in a valid vector.
    let tags = [
        Tag::MIN_VERSION,
        Tag::MAX_FRAME_SIZE,
        Tag::MAX_MESSAGE_SIZE,
        Tag::MAX_METADATA_SIZE,
        Tag::MAX_CONCURRENT_STREAMS,
        Tag::INITIAL_STREAM_WINDOW,
        Tag::INITIAL_CONNECTION_WINDOW,
        Tag::COMPRESSION,
        Tag::FEATURES,
        Tag::IDLE_TIMEOUT,
        Tag::METHOD,
        Tag::DEADLINE,
        Tag::REASON,
        Tag::DETAILS,
        Tag::ENTRY,
        Tag::AGENT,
        Tag::TRACE,
    ];
    for tag in tags {
        let seen = tests
            .iter()
            .filter_map(|t| t.expect.as_ref()?.metadata.as_ref())
            .any(|m| m.iter().any(|t| t.tag == tag.0));
        assert!(seen, "no valid vector carries tag {:?}", tag.name());
    }
    // Every flag bit appears set in some valid vector.
    for bit in 0..8 {
        let seen = tests
            .iter()
            .filter_map(|t| t.expect.as_ref())
            .any(|e| e.flags & (1 << bit) != 0);
        assert!(seen, "flag bit {bit} never set in a valid vector");
    }
    let _ = (FrameType::HELLO, Header::parse(&[0; HEADER_LEN]));
}
