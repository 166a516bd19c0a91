//! `muxwire decode`: frames in (hex or binary), annotated frames out.

use std::io::Read;

use clap::Args;
use muxwire_core::wire::{self, Decoded, Tag, MAX_MAX_FRAME_SIZE, PREFACE};

#[derive(Args)]
pub(crate) struct DecodeArgs {
    /// Frames as hex (spaces allowed); without them, read --file or stdin.
    hex: Vec<String>,
    /// Read this file (binary, or hex text).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// The MAX_FRAME_SIZE to decode with.
    #[arg(long, default_value_t = MAX_MAX_FRAME_SIZE)]
    max_frame_size: u32,
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if clean.len() % 2 != 0 {
        return None;
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn run(args: DecodeArgs) -> i32 {
    let bytes = if !args.hex.is_empty() {
        match unhex(&args.hex.join("")) {
            Some(b) => b,
            None => {
                eprintln!("muxwire decode: arguments are not hex");
                return 2;
            }
        }
    } else {
        let mut raw = Vec::new();
        let r = match &args.file {
            Some(f) => std::fs::File::open(f).and_then(|mut f| f.read_to_end(&mut raw)),
            None => std::io::stdin().read_to_end(&mut raw),
        };
        if let Err(e) = r {
            eprintln!("muxwire decode: {e}");
            return 2;
        }
        // Text that is all hex digits is taken as hex.
        match std::str::from_utf8(&raw).ok().and_then(unhex) {
            Some(b) if !raw.is_empty() => b,
            _ => raw,
        }
    };
    annotate(&bytes, args.max_frame_size)
}

/// Prints every frame in `bytes`; returns the exit code.
pub(crate) fn annotate(mut bytes: &[u8], max: u32) -> i32 {
    let mut offset = 0;
    if bytes.starts_with(&PREFACE) {
        println!("@{offset:<6} PREFACE  {}", hex(&PREFACE));
        bytes = &bytes[8..];
        offset += 8;
    }
    while !bytes.is_empty() {
        match wire::decode(bytes, max) {
            Ok(Decoded::Frame { frame, len }) => {
                let h = frame.header();
                println!(
                    "@{offset:<6} {:<8} stream={} flags=0x{:02x} arg={} meta={} body={} {}",
                    if frame.is_extension() {
                        "EXT"
                    } else {
                        h.ty.name()
                    },
                    h.stream_id.0,
                    h.flags.0,
                    h.arg,
                    h.meta_len,
                    frame.body().len(),
                    frame
                        .crc()
                        .map(|c| format!("crc={c:#010x}"))
                        .unwrap_or_default()
                );
                for t in frame.metadata().iter() {
                    let name = t.tag.name().unwrap_or("(unknown)");
                    let text = matches!(t.tag, Tag::METHOD | Tag::REASON | Tag::AGENT);
                    let value = match std::str::from_utf8(t.value) {
                        Ok(s) if text => format!("{s:?}"),
                        _ if t.value.len() == 4 && t.tag.0 <= 0x0A => {
                            u32::from_le_bytes(t.value.try_into().unwrap()).to_string()
                        }
                        _ if t.value.len() == 8 && t.tag == Tag::DEADLINE => {
                            format!("{} us", u64::from_le_bytes(t.value.try_into().unwrap()))
                        }
                        _ => hex(t.value),
                    };
                    println!("         {name:<26} {value}");
                }
                if !frame.body().is_empty() {
                    let b = frame.body();
                    let shown = &b[..b.len().min(32)];
                    println!(
                        "         body {}{}",
                        hex(shown),
                        if b.len() > 32 { " ..." } else { "" }
                    );
                }
                bytes = &bytes[len..];
                offset += len;
            }
            Ok(Decoded::Incomplete { needed }) => {
                println!(
                    "@{offset:<6} incomplete frame: {} bytes here, at least {needed} more needed",
                    bytes.len()
                );
                return 5;
            }
            Err(e) => {
                println!("@{offset:<6} invalid: GOAWAY {} ({})", e.code, e.rule);
                return 5;
            }
        }
    }
    0
}
