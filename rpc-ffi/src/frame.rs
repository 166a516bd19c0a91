//! `muxwire_frame_decode`: one frame at the front of a caller's buffer, decoded and
//! validated by the core's codec (PROTOCOL.md section 17), as views into that buffer.
//! For programs that own their IO and want the frames themselves (a proxy, a logger, a
//! test tool); `muxwire_conn` does this internally.

use muxwire_core::wire::{self, Decoded, Frame};

use crate::args::{bytes, Out};
use crate::boundary::guard;
use crate::result::muxwire_result;

/// What `muxwire_frame_decode` found (the `outcome` of a `muxwire_frame_decoded`).
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_decode_outcome {
    /// A whole, valid frame is at the front of the buffer (`frame`).
    Frame = 0,
    /// The buffer holds only the start of a frame: read at least `needed` more bytes.
    Incomplete = 1,
    /// The bytes break the protocol (`error_code`, `error_rule`): a receiver sends GOAWAY
    /// with that code and closes the connection.
    Invalid = 2,
}

/// One decoded frame: its header fields and views into the caller's buffer (valid as
/// long as that buffer is, and unchanged). `metadata` is the TLV block as on the wire,
/// already validated; walk it with `muxwire_metadata_iter_init` / `_next`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_frame_view {
    /// Bytes of the buffer the frame takes (header, payload and CRC trailer).
    pub frame_len: usize,
    /// The frame type (1 HELLO to 8 GOAWAY; 0x80 and above are extension types).
    pub frame_type: u8,
    /// The flags, as on the wire (0x80: a CRC trailer follows).
    pub flags: u8,
    /// The header's metadata length field (for an extension frame, uninterpreted).
    pub meta_len: u16,
    /// The stream id.
    pub stream_id: u32,
    /// The header's Argument field.
    pub arg: u32,
    /// The frame carried a CRC-32 trailer, and it matched.
    pub crc: bool,
    /// An extension frame (type 0x80 and above): nothing after the header is interpreted,
    /// `metadata` is empty and `body` is the whole payload without the CRC trailer.
    pub extension: bool,
    /// The metadata block (NULL when empty).
    pub metadata: *const u8,
    /// Its length in bytes.
    pub metadata_len: usize,
    /// The body (for an extension frame, the payload); NULL when empty.
    pub body: *const u8,
    /// Its length in bytes.
    pub body_len: usize,
}

/// The outcome of `muxwire_frame_decode`. Only the fields of its `outcome` are set; the
/// others are zero.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_frame_decoded {
    /// A `muxwire_decode_outcome`.
    pub outcome: i32,
    /// FRAME: the frame.
    pub frame: muxwire_frame_view,
    /// INCOMPLETE: at least this many more bytes are needed before the decoder can say
    /// more.
    pub needed: usize,
    /// INVALID: the connection error code (PROTOCOL.md section 4.4; its name from
    /// `muxwire_error_code_name`).
    pub error_code: u32,
    /// INVALID: which rule the bytes broke, a stable number (1 frame too large, 2 CRC flag
    /// without room for it, 3 CRC mismatch, 4 invalid type, ...; the list is the core's
    /// `Rule` in rpc-core/src/wire/error.rs). For logs and tests; the code is what a peer
    /// is told.
    pub error_rule: u32,
}

/// A pointer for a view: NULL when empty.
pub(crate) fn view_ptr(b: &[u8]) -> *const u8 {
    if b.is_empty() {
        std::ptr::null()
    } else {
        b.as_ptr()
    }
}

const EMPTY_VIEW: muxwire_frame_view = muxwire_frame_view {
    frame_len: 0,
    frame_type: 0,
    flags: 0,
    meta_len: 0,
    stream_id: 0,
    arg: 0,
    crc: false,
    extension: false,
    metadata: std::ptr::null(),
    metadata_len: 0,
    body: std::ptr::null(),
    body_len: 0,
};

fn view(frame: &Frame<'_>, len: usize) -> muxwire_frame_view {
    let h = frame.header();
    let meta = frame.metadata().as_bytes();
    muxwire_frame_view {
        frame_len: len,
        frame_type: h.ty.0,
        flags: h.flags.0,
        meta_len: h.meta_len,
        stream_id: h.stream_id.0,
        arg: h.arg,
        crc: frame.crc().is_some(),
        extension: frame.is_extension(),
        metadata: view_ptr(meta),
        metadata_len: meta.len(),
        body: view_ptr(frame.body()),
        body_len: frame.body().len(),
    }
}

/// Decodes the frame at the front of the `len` bytes at `input` as a receiver whose
/// MAX_FRAME_SIZE is `max_frame_size` (16384 before the peer's HELLO) and stores what it
/// found in `*out`: a frame (views into `input`), "incomplete" with the bytes still
/// needed, or "invalid" with the connection error code. Returns MUXWIRE_RESULT_OK
/// whenever the bytes were judged, whatever the verdict; NULL_ARGUMENT for a NULL `out`
/// or a NULL `input` with a non-zero `len`. Checks what a frame's own bytes determine
/// (section 17, steps 1 to 13); stream states, credit and budgets are a connection's.
/// Any thread; no state is kept.
///
/// # Safety
/// `input` is NULL (with `len` 0) or `len` readable bytes; `out` NULL or valid for
/// writing a `muxwire_frame_decoded`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_frame_decode(
    input: *const u8,
    len: usize,
    max_frame_size: u32,
    out: *mut muxwire_frame_decoded,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: NULL with 0 or `len` readable bytes, by the caller's contract.
        let input = unsafe { bytes(input, len, "input") }?;
        let mut d = muxwire_frame_decoded {
            outcome: muxwire_decode_outcome::Frame as i32,
            frame: EMPTY_VIEW,
            needed: 0,
            error_code: 0,
            error_rule: 0,
        };
        match wire::decode(input, max_frame_size) {
            Ok(Decoded::Frame { frame, len }) => d.frame = view(&frame, len),
            Ok(Decoded::Incomplete { needed }) => {
                d.outcome = muxwire_decode_outcome::Incomplete as i32;
                d.needed = needed;
            }
            Err(e) => {
                d.outcome = muxwire_decode_outcome::Invalid as i32;
                d.error_code = e.code.0;
                d.error_rule = e.rule.code();
            }
        }
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(d) };
        Ok(())
    })
}
