//! Metadata blocks (PROTOCOL.md section 6) for C: an iterator over the TLVs of a block
//! (a decoded frame's, or an event's), and the names of connection error codes.

use std::ffi::c_char;

use muxwire_core::wire::{Entry, Tag, TlvIter};

use crate::args::{bytes, Out};
use crate::boundary::{guard, guard_value};
use crate::entries::muxwire_entry;
use crate::error::{Failure, Outcome};
use crate::frame::view_ptr;
use crate::result::muxwire_result;

/// One metadata TLV: a tag and its value. As `muxwire_metadata_next` fills it, `value`
/// points into the block being walked.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_tlv {
    /// The tag (0x0010 METHOD, 0x0012 REASON, 0x0014 ENTRY, ...).
    pub tag: u16,
    /// The value bytes (NULL when empty).
    pub value: *const u8,
    /// Their length.
    pub value_len: usize,
}

/// A walk over a metadata block, on the caller's stack: set it up with
/// `muxwire_metadata_iter_init`, then call `muxwire_metadata_next` until it returns
/// MUXWIRE_RESULT_AGAIN. The fields are the library's; do not change them.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_metadata_iter {
    /// The block.
    pub block: *const u8,
    /// Its length.
    pub len: usize,
    /// Where the next TLV starts.
    pub pos: usize,
}

/// Starts a walk over the `len` bytes of a metadata block at `block` (a
/// `muxwire_frame_view`'s or a `muxwire_event`'s `metadata`), which must stay unchanged
/// during the walk.
///
/// # Safety
/// `iter` is NULL or valid for writing a `muxwire_metadata_iter`; `block` NULL (with
/// `len` 0) or `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_metadata_iter_init(
    iter: *mut muxwire_metadata_iter,
    block: *const u8,
    len: usize,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(iter, "iter")?;
        // SAFETY: NULL with 0 or `len` readable bytes, by the caller's contract.
        let block = unsafe { bytes(block, len, "block") }?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe {
            out.write(muxwire_metadata_iter {
                block: view_ptr(block),
                len: block.len(),
                pos: 0,
            })
        };
        Ok(())
    })
}

/// The next TLV of the walk over `it`'s block (ending the walk at a malformed one).
///
/// # Safety
/// `it` was set up over a block still live and unchanged.
unsafe fn next_tlv<'a>(it: &mut muxwire_metadata_iter) -> Outcome<Option<(u16, &'a [u8])>> {
    // SAFETY: the block the iterator was set up over, live by the caller's contract.
    let block: &'a [u8] = unsafe { bytes(it.block, it.len, "iter->block") }?;
    let rest = block.get(it.pos..).ok_or_else(|| {
        Failure::invalid(format!(
            "iter->pos {} is past the block ({})",
            it.pos, it.len
        ))
    })?;
    match TlvIter::new(rest).next() {
        None => Ok(None),
        Some(Err(e)) => {
            it.pos = it.len;
            Err(Failure::invalid(format!(
                "the metadata block is malformed at byte {}: {}",
                block.len() - rest.len(),
                e.rule
            )))
        }
        Some(Ok(t)) => {
            it.pos += 4 + t.value.len();
            Ok(Some((t.tag.0, t.value)))
        }
    }
}

/// AGAIN: the walk is over.
fn walk_over() -> Failure {
    Failure::new(muxwire_result::Again, "no TLV is left")
}

/// Stores the next TLV of the walk in `*tlv` (its value a view into the block) and
/// advances; MUXWIRE_RESULT_AGAIN when no TLV is left. A TLV that overruns the block
/// (possible only in a block that no decoder validated) gives INVALID_ARGUMENT and ends
/// the walk.
///
/// # Safety
/// `iter` is NULL or set up by `muxwire_metadata_iter_init` over a block still live and
/// unchanged; `tlv` NULL or valid for writing a `muxwire_tlv`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_metadata_next(
    iter: *mut muxwire_metadata_iter,
    tlv: *mut muxwire_tlv,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let it = unsafe { iter.as_mut() }.ok_or_else(|| Failure::null("iter"))?;
        let out = Out::new(tlv, "tlv")?;
        // SAFETY: set up over a live block, by the caller's contract.
        let (tag, value) = unsafe { next_tlv(it) }?.ok_or_else(walk_over)?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe {
            out.write(muxwire_tlv {
                tag,
                value: view_ptr(value),
                value_len: value.len(),
            })
        };
        Ok(())
    })
}

/// Stores the next ENTRY of the walk (application metadata: request metadata on a CALL,
/// trailers on a STATUS) in `*entry` and advances, skipping TLVs of other tags;
/// MUXWIRE_RESULT_AGAIN when none is left. Key and value are views into the block: here
/// the key is not NUL-terminated, use `key_len`. A malformed TLV or ENTRY (possible only
/// in a block that no decoder validated) gives INVALID_ARGUMENT and ends the walk.
///
/// # Safety
/// As for `muxwire_metadata_next`; `entry` NULL or valid for writing a `muxwire_entry`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_metadata_next_entry(
    iter: *mut muxwire_metadata_iter,
    entry: *mut muxwire_entry,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let it = unsafe { iter.as_mut() }.ok_or_else(|| Failure::null("iter"))?;
        let out = Out::new(entry, "entry")?;
        let value = loop {
            // SAFETY: set up over a live block, by the caller's contract.
            match unsafe { next_tlv(it) }?.ok_or_else(walk_over)? {
                (tag, value) if tag == Tag::ENTRY.0 => break value,
                _ => continue,
            }
        };
        let Some(e) = Entry::parse(value) else {
            it.pos = it.len;
            return Err(Failure::invalid(
                "a malformed ENTRY: its key length or key bytes are wrong",
            ));
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe {
            out.write(muxwire_entry {
                key: e.key.as_ptr().cast(),
                key_len: e.key.len(),
                value: view_ptr(e.value),
                value_len: e.value.len(),
            })
        };
        Ok(())
    })
}

/// The name of connection error code `code` as PROTOCOL.md section 4.4 spells it
/// ("NO_ERROR", "FRAME_SIZE_ERROR", ...), or "RESERVED" for a number without one. Static
/// and NUL-terminated; never NULL.
#[no_mangle]
pub extern "C" fn muxwire_error_code_name(code: u32) -> *const c_char {
    guard_value(c"RESERVED".as_ptr(), || error_code_name(code).as_ptr())
}

/// The C string for `code`'s name.
fn error_code_name(code: u32) -> &'static std::ffi::CStr {
    match code {
        0 => c"NO_ERROR",
        1 => c"PROTOCOL_ERROR",
        2 => c"INTERNAL_ERROR",
        3 => c"FLOW_CONTROL_ERROR",
        4 => c"FRAME_SIZE_ERROR",
        5 => c"STREAM_STATE_ERROR",
        6 => c"CRC_ERROR",
        7 => c"COMPRESSION_ERROR",
        8 => c"VERSION_ERROR",
        9 => c"HANDSHAKE_ERROR",
        10 => c"METADATA_ERROR",
        11 => c"ENHANCE_YOUR_CALM",
        12 => c"TIMEOUT",
        _ => c"RESERVED",
    }
}

#[cfg(test)]
mod tests {
    use muxwire_core::wire::ErrorCode;

    #[test]
    fn error_code_names_are_the_cores() {
        for code in 0..40 {
            let ours = super::error_code_name(code).to_str().unwrap();
            assert_eq!(ours, ErrorCode(code).name(), "code {code}");
        }
    }
}
