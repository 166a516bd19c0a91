//! `muxwire_frame_encode`: one frame written into a caller's buffer by the core's encoder
//! (there is exactly one encoding of a frame, so decode and encode round-trip).

use muxwire_core::wire::{
    crc32, Flags, FrameEncoder, FrameType, Header, StreamId, Tag, HEADER_LEN,
};

use crate::args::{bytes, Out};
use crate::boundary::guard;
use crate::error::{Failure, Outcome};
use crate::metadata::muxwire_tlv;
use crate::result::muxwire_result;

/// Bytes of a CRC-32 trailer.
const CRC_LEN: usize = 4;

/// A frame to encode. For a core frame type the metadata is the `metadata_count` TLVs at
/// `metadata`, written in that order, and `meta_len` is computed; for an extension type
/// (0x80 and above) `metadata` must be empty, `body` is the whole payload and `meta_len`
/// is written as given. A CRC trailer is added when `flags` has the CRC bit (0x80).
/// The encoder checks sizes only: which flags and tags a frame type allows is the
/// sender's business (a receiver's decoder enforces it).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_frame_fields {
    /// The frame type.
    pub frame_type: u8,
    /// The flags, as on the wire.
    pub flags: u8,
    /// Extension frames only: the header's metadata length field.
    pub meta_len: u16,
    /// The stream id.
    pub stream_id: u32,
    /// The Argument field.
    pub arg: u32,
    /// The TLVs (NULL with `metadata_count` 0).
    pub metadata: *const muxwire_tlv,
    /// How many.
    pub metadata_count: usize,
    /// The body, or an extension frame's payload (NULL with `body_len` 0).
    pub body: *const u8,
    /// Its length in bytes.
    pub body_len: usize,
}

/// The checked TLVs of `f`.
///
/// # Safety
/// `f.metadata` is NULL (with count 0) or `metadata_count` readable TLVs, each value NULL
/// (with length 0) or readable.
unsafe fn tlvs(f: &muxwire_frame_fields) -> Outcome<Vec<(Tag, &[u8])>> {
    if f.metadata_count == 0 {
        return Ok(Vec::new());
    }
    if f.metadata.is_null() {
        return Err(Failure::null(&format!(
            "frame->metadata (with count {})",
            f.metadata_count
        )));
    }
    // SAFETY: not NULL, `metadata_count` readable TLVs by the caller's contract.
    let list = unsafe { std::slice::from_raw_parts(f.metadata, f.metadata_count) };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            // SAFETY: NULL with 0 or readable, by the caller's contract.
            let v = unsafe { bytes(t.value, t.value_len, &format!("frame->metadata[{i}].value")) }?;
            if v.len() > usize::from(u16::MAX) {
                return Err(Failure::invalid(format!(
                    "frame->metadata[{i}]: a TLV value holds at most 65535 bytes, not {}",
                    v.len()
                )));
            }
            Ok((Tag(t.tag), v))
        })
        .collect()
}

/// The encoded length of a frame, or INVALID_ARGUMENT if it cannot be encoded.
fn encoded_len(f: &muxwire_frame_fields, tlvs: &[(Tag, &[u8])], body: &[u8]) -> Outcome<usize> {
    let meta: usize = tlvs.iter().map(|(_, v)| 4 + v.len()).sum();
    if meta > usize::from(u16::MAX) {
        return Err(Failure::invalid(format!(
            "the metadata block would take {meta} bytes; at most 65535 fit a frame"
        )));
    }
    let crc = if f.flags & Flags::CRC.0 != 0 {
        CRC_LEN
    } else {
        0
    };
    let payload = meta + body.len() + crc;
    if u32::try_from(payload).is_err() {
        return Err(Failure::invalid(format!(
            "a payload of {payload} bytes does not fit a frame"
        )));
    }
    Ok(HEADER_LEN + payload)
}

/// Writes the frame into `out`, which is exactly its encoded length.
fn write(f: &muxwire_frame_fields, tlvs: &[(Tag, &[u8])], body: &[u8], out: &mut [u8]) -> Outcome {
    let flags = Flags(f.flags);
    let ty = FrameType(f.frame_type);
    if ty.is_extension() {
        let crc = if flags.contains(Flags::CRC) {
            CRC_LEN
        } else {
            0
        };
        let header = Header {
            payload_len: (body.len() + crc) as u32,
            ty,
            flags,
            meta_len: f.meta_len,
            stream_id: StreamId(f.stream_id),
            arg: f.arg,
        };
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        out[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(body);
        if crc > 0 {
            let end = HEADER_LEN + body.len();
            let sum = crc32(&out[..end]);
            out[end..].copy_from_slice(&sum.to_le_bytes());
        }
        return Ok(());
    }
    let internal = |e| Failure::new(muxwire_result::Internal, format!("encoding: {e}"));
    let mut enc = FrameEncoder::new(out, ty, StreamId(f.stream_id), f.arg).map_err(internal)?;
    for (tag, value) in tlvs {
        enc.tlv(*tag, value).map_err(internal)?;
    }
    enc.finish_with_body(flags, body).map_err(internal)?;
    Ok(())
}

/// Encodes `*frame` into the `out_len` bytes at `out` and stores the frame's length in
/// `*len`. With `out` NULL and `out_len` 0 it only stores the length a buffer needs
/// (as snprintf does). RESOURCE_EXHAUSTED, with nothing written, when `out_len` is
/// smaller than that (the last error names the size); INVALID_ARGUMENT for metadata on
/// an extension frame, a TLV value over 65535 bytes, a metadata block over 65535 bytes
/// or a payload over 2^32 - 1. Any thread; no state is kept.
///
/// # Safety
/// `frame` is NULL or a valid `muxwire_frame_fields` whose pointers satisfy its field
/// docs; `out` NULL (with `out_len` 0) or `out_len` writable bytes; `len` NULL or valid
/// for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_frame_encode(
    frame: *const muxwire_frame_fields,
    out: *mut u8,
    out_len: usize,
    len: *mut usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let f = unsafe { frame.as_ref() }.ok_or_else(|| Failure::null("frame"))?;
        let len_out = Out::new(len, "len")?;
        // SAFETY: as the field docs say, by the caller's contract.
        let tlvs = unsafe { tlvs(f) }?;
        // SAFETY: NULL with 0 or readable, by the caller's contract.
        let body = unsafe { bytes(f.body, f.body_len, "frame->body") }?;
        if FrameType(f.frame_type).is_extension() && !tlvs.is_empty() {
            return Err(Failure::invalid(
                "an extension frame carries no metadata: put everything in its body",
            ));
        }
        let needed = encoded_len(f, &tlvs, body)?;
        if !out.is_null() || out_len != 0 {
            if out.is_null() {
                return Err(Failure::null(&format!("out (with length {out_len})")));
            }
            if out_len < needed {
                return Err(Failure::new(
                    muxwire_result::ResourceExhausted,
                    format!("the frame takes {needed} bytes; out has {out_len}"),
                ));
            }
            // SAFETY: not NULL, at least `needed` writable bytes by the caller's contract.
            let buf = unsafe { std::slice::from_raw_parts_mut(out, needed) };
            write(f, &tlvs, body, buf)?;
        }
        // SAFETY: checked, writable by the caller's contract.
        unsafe { len_out.write(needed) };
        Ok(())
    })
}
