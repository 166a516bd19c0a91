//! Prints the bytes of a muxwire exchange, annotated field by field: both prefaces and
//! HELLOs, a unary call and its reply, a one-way call, a PING and a GOAWAY. Then decodes
//! one malformed frame to show the error a receiver sends back.
//!
//! `cargo run -p muxwire-core --example frames` (or `make demo`).

use muxwire_core::wire::{
    self, Decoded, Flags, FrameEncoder, FrameType, Settings, StatusCode, Tag, PREFACE,
};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(direction: &str, bytes: &[u8]) {
    let Ok(Decoded::Frame { frame, len }) = wire::decode(bytes, 65_536) else {
        panic!("example frame does not decode");
    };
    let h = frame.header();
    println!(
        "{direction} {} {} flags=0x{:02x} arg={} ({} bytes)",
        h.ty.name(),
        h.stream_id,
        h.flags.0,
        h.arg,
        len
    );
    println!("    header   {}", hex(&bytes[..16]));
    for tlv in frame.metadata().iter() {
        let name = tlv.tag.name().unwrap_or("?");
        let shown = match std::str::from_utf8(tlv.value) {
            Ok(s) if tlv.tag == Tag::METHOD || tlv.tag == Tag::REASON || tlv.tag == Tag::AGENT => {
                format!("{s:?}")
            }
            _ => hex(tlv.value),
        };
        println!("    tlv      {name} = {shown}");
    }
    if !frame.body().is_empty() {
        println!("    body     {}", hex(frame.body()));
    }
    if let Some(crc) = frame.crc() {
        println!("    crc32    {crc:#010x}");
    }
}

fn main() {
    let mut buf = [0u8; 256];
    println!("client -> server preface  {}", hex(&PREFACE));
    let client = Settings {
        max_frame_size: 65_536,
        compression: 0b110,
        ..Settings::INITIAL
    };
    let n = client
        .encode_hello(&mut buf, Some("muxwire-example"), Flags::NONE)
        .unwrap();
    show("client -> server", &buf[..n]);

    println!("server -> client preface  {}", hex(&PREFACE));
    let server = Settings {
        max_concurrent_streams: 1024,
        ..Settings::INITIAL
    };
    let n = server.encode_hello(&mut buf, None, Flags::NONE).unwrap();
    show("server -> client", &buf[..n]);

    let mut enc = FrameEncoder::new(&mut buf, FrameType::CALL, 1u32, 0).unwrap();
    enc.tlv(Tag::METHOD, b"echo").unwrap();
    enc.tlv_u64(Tag::DEADLINE, 250_000).unwrap();
    let n = enc
        .finish_with_body(Flags::END_STREAM | Flags::MESSAGE, b"hello")
        .unwrap();
    show("client -> server", &buf[..n]);

    let enc = FrameEncoder::new(&mut buf, FrameType::STATUS, 1u32, StatusCode::OK.0).unwrap();
    let n = enc
        .finish_with_body(Flags::MESSAGE | Flags::CRC, b"hello")
        .unwrap();
    show("server -> client", &buf[..n]);

    let mut enc = FrameEncoder::new(&mut buf, FrameType::CALL, 3u32, 0).unwrap();
    enc.tlv(Tag::METHOD, b"log").unwrap();
    let n = enc
        .finish_with_body(
            Flags::NO_REPLY | Flags::END_STREAM | Flags::MESSAGE,
            b"event",
        )
        .unwrap();
    show("client -> server", &buf[..n]);

    let n = FrameEncoder::new(&mut buf, FrameType::PING, 0u32, 42)
        .unwrap()
        .finish(Flags::NONE)
        .unwrap();
    show("server -> client", &buf[..n]);

    let mut enc = FrameEncoder::new(&mut buf, FrameType::GOAWAY, 0u32, 0).unwrap();
    enc.tlv(Tag::REASON, b"shutting down").unwrap();
    let n = enc
        .finish_with_body(Flags::NONE, &2u64.to_le_bytes())
        .unwrap();
    show("server -> client", &buf[..n]);

    let bad = [0u8; 16];
    match wire::decode(&bad, 65_536) {
        Err(e) => println!(
            "16 zero bytes are rejected: GOAWAY {} with reason \"{}\"",
            e.code, e.rule
        ),
        Ok(_) => unreachable!(),
    }
}
