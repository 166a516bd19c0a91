//! Entries C hands in (request metadata, trailers): checked and copied.

use bytes::Bytes;
use muxwire_core::wire::Entry;

use crate::args::{bytes, text};
use crate::entries::muxwire_entry;
use crate::error::{Failure, Outcome};

/// The `count` entries at `p`, checked (NULL_ARGUMENT or INVALID_ARGUMENT naming `what`
/// and the index) and copied.
///
/// # Safety
/// `p` is NULL (with `count` 0) or `count` readable entries, each as `muxwire_entry`'s
/// docs say for entries handed in.
pub(crate) unsafe fn entries_in(
    p: *const muxwire_entry,
    count: usize,
    what: &str,
) -> Outcome<Vec<(String, Bytes)>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(Failure::null(&format!("{what} (with count {count})")));
    }
    // SAFETY: not NULL, `count` readable entries by the caller's contract.
    let list = unsafe { std::slice::from_raw_parts(p, count) };
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            // SAFETY: NUL-terminated or NULL, by the caller's contract.
            let key = unsafe { text(e.key, &format!("{what}[{i}].key")) }?;
            if e.key_len != 0 && e.key_len != key.len() {
                return Err(Failure::invalid(format!(
                    "{what}[{i}].key_len is {} but the key {key:?} has {} bytes (0 also \
                     means: up to the NUL)",
                    e.key_len,
                    key.len()
                )));
            }
            if !Entry::is_valid_key(key) {
                return Err(Failure::invalid(format!(
                    "{what}[{i}].key {key:?} is not a metadata key: 1 to 255 bytes of \
                     [a-z0-9-_.]"
                )));
            }
            // SAFETY: NULL with 0 or `value_len` readable bytes, by the caller's contract.
            let value = unsafe { bytes(e.value, e.value_len, &format!("{what}[{i}].value")) }?;
            Ok((key.to_string(), Bytes::copy_from_slice(value)))
        })
        .collect()
}
