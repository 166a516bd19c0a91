//! The frame decoder on arbitrary bytes, checked against itself and the encoder (and a
//! valid HELLO's settings against `Settings::encode_hello`).

use muxwire_core::wire::{
    self, crc32, Decoded, ErrorCode, Flags, Frame, FrameEncoder, FrameType, Header, Rule, Settings,
    HEADER_LEN, MAX_MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE,
};

/// Decodes `data` as the front of a receive buffer and checks every property the
/// specification gives the outcome (PROTOCOL.md section 17 and the README of
/// `spec/vectors`). Panics on the first one broken.
pub fn check(data: &[u8]) {
    if let Some(head) = data.first_chunk::<HEADER_LEN>() {
        assert_eq!(&Header::parse(head).to_bytes(), head, "header round trip");
    }
    let outcome = wire::decode(data, MIN_MAX_FRAME_SIZE);
    let larger = wire::decode(data, MAX_MAX_FRAME_SIZE);
    match outcome {
        Ok(Decoded::Frame { frame, len }) => {
            // A larger MAX_FRAME_SIZE never changes a success.
            assert_eq!(larger, outcome, "a larger max_frame_size changed the frame");
            check_frame(data, &frame, len);
        }
        Ok(Decoded::Incomplete { needed }) => {
            let want = match wire::decode_header(data) {
                None => HEADER_LEN - data.len(),
                Some(h) => h.frame_len() - data.len(),
            };
            assert_eq!(needed, want, "incomplete by the wrong amount");
        }
        Err(e) => {
            assert_ne!(e.code, ErrorCode::NO_ERROR, "an error without a code: {e}");
            // Only the size check depends on the limit: any other error stays.
            if !matches!(e.rule, Rule::FrameTooLarge { .. }) {
                assert_eq!(larger, outcome, "a larger max_frame_size changed the error");
            }
        }
    }
}

fn check_frame(data: &[u8], frame: &Frame<'_>, len: usize) {
    assert!(
        (HEADER_LEN..=data.len()).contains(&len),
        "frame length {len}"
    );
    assert_eq!(
        len,
        frame.header().frame_len(),
        "length disagrees with the header"
    );
    let bytes = &data[..len];
    // Bytes after the frame play no part.
    assert_eq!(
        wire::decode(bytes, MIN_MAX_FRAME_SIZE),
        Ok(Decoded::Frame { frame: *frame, len }),
        "trailing bytes changed the frame"
    );
    // Every strict prefix waits for exactly the missing bytes.
    for k in 0..len {
        let needed = if k < HEADER_LEN {
            HEADER_LEN - k
        } else {
            len - k
        };
        assert_eq!(
            wire::decode(&bytes[..k], MIN_MAX_FRAME_SIZE),
            Ok(Decoded::Incomplete { needed }),
            "prefix of {k} bytes"
        );
    }
    if let Some(crc) = frame.crc() {
        assert_eq!(crc, crc32(&bytes[..len - 4]), "accepted a wrong CRC");
    }
    // There is exactly one encoding of a frame: re-encoding gives the same bytes.
    assert_eq!(reencode(frame), bytes, "re-encoding differs");
    // Accessors never panic, and agree with the header.
    assert!(frame.flow_len() <= frame.body().len());
    let _ = (frame.status(), frame.error_code(), frame.accepted_calls());
    let meta = frame.metadata();
    let walked: usize = meta.iter().map(|t| 4 + t.value.len()).sum();
    assert_eq!(
        walked,
        meta.as_bytes().len(),
        "validated metadata did not iterate whole"
    );
    let _ = (
        meta.method(),
        meta.deadline_us(),
        meta.reason(),
        meta.details(),
    );
    assert!(meta.entries().count() <= meta.iter().count());
    if frame.ty() == FrameType::HELLO {
        check_settings(frame);
    }
}

/// A valid HELLO's settings survive being written again and read back.
fn check_settings(frame: &Frame<'_>) {
    let settings = Settings::from_hello(frame.arg(), &frame.metadata());
    assert_eq!(
        settings.first_out_of_range(),
        None,
        "valid HELLO, settings out of range"
    );
    let mut buf = [0u8; 256];
    let n = settings
        .encode_hello(&mut buf, None, Flags::NONE)
        .expect("ten settings fit 256 bytes");
    match wire::decode(&buf[..n], MIN_MAX_FRAME_SIZE) {
        Ok(Decoded::Frame { frame: again, len }) => {
            assert_eq!(len, n);
            let read = Settings::from_hello(again.arg(), &again.metadata());
            assert_eq!(read, settings, "settings changed through encode_hello");
        }
        other => panic!("encode_hello wrote an invalid HELLO: {other:?}"),
    }
}

/// The frame written again from its decoded fields with the public encoder.
pub fn reencode(frame: &Frame<'_>) -> Vec<u8> {
    let crc = frame.flags().contains(Flags::CRC);
    if frame.is_extension() {
        let mut v = frame.header().to_bytes().to_vec();
        v.extend_from_slice(frame.body());
        if crc {
            let c = crc32(&v);
            v.extend_from_slice(&c.to_le_bytes());
        }
        return v;
    }
    let size = frame.header().frame_len();
    let mut out = vec![0u8; size];
    let mut enc = FrameEncoder::new(&mut out, frame.ty(), frame.stream_id(), frame.arg())
        .expect("room for the header");
    for tlv in frame.metadata().iter() {
        enc.tlv(tlv.tag, tlv.value).expect("a decoded TLV encodes");
    }
    let n = enc
        .finish_with_body(frame.flags(), frame.body())
        .expect("a decoded frame encodes in its own size");
    out.truncate(n);
    out
}
