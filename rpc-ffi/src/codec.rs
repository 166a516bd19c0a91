//! `muxwire_compress` / `muxwire_decompress`: one message in a codec of PROTOCOL.md
//! section 10 (an LZ4 frame, a Zstandard frame), for the sans-IO layer, whose events carry
//! messages as they came off the wire (`muxwire_event.codec`).

use std::io::{Read, Write};

use bytes::Bytes;
use muxwire::Codec;

use crate::args::{bytes, into_handle, Out};
use crate::boundary::guard;
use crate::error::{Failure, Outcome};
use crate::options::codec_of;
use crate::reply::muxwire_reply;
use crate::result::muxwire_result;

fn compress(codec: Codec, data: &[u8]) -> Outcome<Vec<u8>> {
    let failed = |e: std::io::Error| {
        Failure::new(muxwire_result::Internal, format!("compression failed: {e}"))
    };
    match codec {
        Codec::Identity => Ok(data.to_vec()),
        Codec::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
            enc.write_all(data).map_err(failed)?;
            enc.finish()
                .map_err(|e| Failure::new(muxwire_result::Internal, format!("lz4: {e}")))
        }
        Codec::Zstd => zstd::bulk::compress(data, 1).map_err(failed),
    }
}

fn decompress(codec: Codec, data: &[u8], max: usize) -> Outcome<Vec<u8>> {
    let corrupt = |e: std::io::Error| {
        Failure::new(
            muxwire_result::Internal,
            format!("the message cannot be decompressed: {e}"),
        )
    };
    let mut out = Vec::new();
    let limit = max as u64 + 1;
    match codec {
        Codec::Identity => out.extend_from_slice(data),
        Codec::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(data)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
        Codec::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(data).map_err(corrupt)?;
            (&mut dec)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
    }
    if out.len() > max {
        return Err(Failure::new(
            muxwire_result::ResourceExhausted,
            format!("the message exceeds {max} bytes once decompressed"),
        ));
    }
    Ok(out)
}

/// Compresses the `len` bytes at `data` with `codec` (a `muxwire_codec`) into a new
/// buffer stored in `*out` (read it with `muxwire_reply_data` / `_len`, free it with
/// `muxwire_reply_free`). Send it with that codec only if it is smaller and the peer's
/// HELLO offered the codec. INVALID_ARGUMENT for an unknown codec. Any thread.
///
/// # Safety
/// `data` NULL (with `len` 0) or `len` readable bytes; `out` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_compress(
    codec: i32,
    data: *const u8,
    len: usize,
    out: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: NULL with 0 or `len` readable bytes, by the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        let body = Bytes::from(compress(codec_of(codec)?, data)?);
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_reply { body })) };
        Ok(())
    })
}

/// Decompresses one message of `codec` (a `muxwire_codec`, as a `muxwire_event` reports
/// it), the `len` bytes at `data`, into a new buffer stored in `*out` (free it with
/// `muxwire_reply_free`). RESOURCE_EXHAUSTED once the result would exceed `max` bytes
/// (pass the connection's MAX_MESSAGE_SIZE), INTERNAL for bytes that are not a valid
/// frame of the codec (as the spec says: the call fails with INTERNAL), INVALID_ARGUMENT
/// for an unknown codec. Any thread.
///
/// # Safety
/// `data` NULL (with `len` 0) or `len` readable bytes; `out` NULL or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_decompress(
    codec: i32,
    data: *const u8,
    len: usize,
    max: usize,
    out: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: NULL with 0 or `len` readable bytes, by the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        let body = Bytes::from(decompress(codec_of(codec)?, data, max)?);
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_reply { body })) };
        Ok(())
    })
}
