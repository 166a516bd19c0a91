//! `muxwire decode`: frames in (hex or binary), annotated frames out.

use std::io::Read;

use clap::Args;
use muxwire_core::wire::{
    self, Decoded, ErrorCode, Flags, FrameType, StatusCode, Tag, MAX_MAX_FRAME_SIZE, PREFACE,
};

use crate::exit;

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

/// The bytes of hex `text`: whitespace between digits and `0x` prefixes are allowed. The
/// error says what is wrong.
fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let mut clean = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let word = word
            .strip_prefix("0x")
            .or_else(|| word.strip_prefix("0X"))
            .unwrap_or(word);
        clean.push_str(word);
    }
    if let Some((i, c)) = clean.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} at digit {i} is not a hex digit"));
    }
    if clean.len() % 2 != 0 {
        return Err(format!(
            "an odd number of hex digits ({}): every byte takes two",
            clean.len()
        ));
    }
    Ok((0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("hex digits"))
        .collect())
}

/// The names of the flags set in `flags` on a frame of type `ty`, e.g. `END_STREAM|MESSAGE`.
fn flag_names(ty: FrameType, flags: Flags) -> String {
    let bit_20 = match ty {
        FrameType::CALL => "NO_REPLY",
        FrameType::STATUS => "REFUSED",
        FrameType::PING => "ACK",
        _ => "0x20",
    };
    let mut names: Vec<String> = [
        (0x01, "END_STREAM"),
        (0x02, "MESSAGE"),
        (0x04, "MORE"),
        (0x20, bit_20),
        (0x40, "RESERVED"),
        (0x80, "CRC"),
    ]
    .iter()
    .filter(|(bit, _)| flags.0 & bit != 0)
    .map(|(_, n)| n.to_string())
    .collect();
    let codec = (flags.0 >> 3) & 3;
    if codec != 0 {
        names.push(format!("CODEC={codec}"));
    }
    if names.is_empty() {
        "none".into()
    } else {
        names.join("|")
    }
}

/// The Argument, named where the frame type gives it a meaning.
fn arg_text(ty: FrameType, arg: u32) -> String {
    match ty {
        FrameType::STATUS | FrameType::CANCEL => format!("{arg} {}", StatusCode(arg).name()),
        FrameType::GOAWAY => format!("{arg} {}", ErrorCode(arg).name()),
        _ => arg.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A frame described for people: a header line (type, stream, flags and Argument named),
/// then a line per metadata TLV and one for the body (its first 32 bytes).
pub(crate) fn frame_lines(frame: &wire::Frame<'_>) -> Vec<String> {
    let h = frame.header();
    let mut lines = vec![format!(
        "{:<8} stream={} flags=0x{:02x} ({}) arg={} meta={} body={} {}",
        if frame.is_extension() {
            "EXT"
        } else {
            h.ty.name()
        },
        h.stream_id.0,
        h.flags.0,
        flag_names(h.ty, h.flags),
        arg_text(h.ty, h.arg),
        h.meta_len,
        frame.body().len(),
        frame
            .crc()
            .map(|c| format!("crc={c:#010x}"))
            .unwrap_or_default()
    )];
    for t in frame.metadata().iter() {
        let name = t.tag.name().unwrap_or("(unknown)");
        let text = matches!(t.tag, Tag::METHOD | Tag::REASON | Tag::AGENT);
        let value = match std::str::from_utf8(t.value) {
            Ok(s) if text => format!("{s:?}"),
            _ if t.value.len() == 4 && t.tag.0 <= 0x0A => {
                u32::from_le_bytes(t.value.try_into().expect("4 bytes")).to_string()
            }
            _ if t.value.len() == 8 && t.tag == Tag::DEADLINE => {
                format!(
                    "{} us",
                    u64::from_le_bytes(t.value.try_into().expect("8 bytes"))
                )
            }
            _ => hex(t.value),
        };
        lines.push(format!("{name:<26} {value}"));
    }
    if !frame.body().is_empty() {
        let b = frame.body();
        let shown = &b[..b.len().min(32)];
        lines.push(format!(
            "body {}{}",
            hex(shown),
            if b.len() > 32 { " ..." } else { "" }
        ));
    }
    lines
}

pub(crate) fn run(args: DecodeArgs) -> i32 {
    let bytes = if !args.hex.is_empty() {
        match unhex(&args.hex.join(" ")) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("muxwire decode: the arguments are not hex: {e}");
                return exit::USAGE;
            }
        }
    } else {
        let mut raw = Vec::new();
        let r = match &args.file {
            Some(f) => std::fs::File::open(f)
                .and_then(|mut file| file.read_to_end(&mut raw))
                .map_err(|e| format!("cannot read {}: {e}", f.display())),
            None => {
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    eprintln!(
                        "muxwire decode: reading frames from stdin (hex or binary); end with \
                         Ctrl-D, or give them as arguments or with --file"
                    );
                }
                std::io::stdin()
                    .read_to_end(&mut raw)
                    .map_err(|e| format!("cannot read stdin: {e}"))
            }
        };
        if let Err(e) = r {
            eprintln!("muxwire decode: {e}");
            return exit::FAILED;
        }
        // Text that is all hex digits is taken as hex.
        match std::str::from_utf8(&raw).ok().map(unhex) {
            Some(Ok(b)) if !raw.is_empty() => b,
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
                let mut lines = frame_lines(&frame).into_iter();
                if let Some(head) = lines.next() {
                    println!("@{offset:<6} {head}");
                }
                for l in lines {
                    println!("         {l}");
                }
                bytes = &bytes[len..];
                offset += len;
            }
            Ok(Decoded::Incomplete { needed }) => {
                println!(
                    "@{offset:<6} incomplete frame: {} bytes here, at least {needed} more needed",
                    bytes.len()
                );
                return exit::INVALID_INPUT;
            }
            Err(e) => {
                println!("@{offset:<6} invalid: GOAWAY {} ({})", e.code, e.rule);
                return exit::INVALID_INPUT;
            }
        }
    }
    exit::OK
}
