//! `muxwire_entry`: one application metadata entry (an ENTRY TLV: a key and a value), and
//! the owned lists the library hands to C as arrays of them.

use std::ffi::{c_char, CString};

use bytes::Bytes;

/// One metadata entry: request metadata, or a failed call's trailers. Keys are 1 to 255
/// bytes of `[a-z0-9-_.]`; values are opaque bytes.
///
/// Handed out by the library: `key_len` is the key's length, and both views live as long
/// as the function that handed them out says; `key` is NUL-terminated too, except from
/// `muxwire_metadata_next_entry` (a view into a metadata block as on the wire). Handed in: `key` is a
/// NUL-terminated string and `key_len` is 0 or its length; `value` is NULL (with
/// `value_len` 0) or `value_len` readable bytes; everything is copied.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_entry {
    /// The key (NUL-terminated).
    pub key: *const c_char,
    /// Its length in bytes.
    pub key_len: usize,
    /// The value (NULL when empty).
    pub value: *const u8,
    /// Its length in bytes.
    pub value_len: usize,
}

/// Entries owned by the library, with their C views (pointing into the owned keys and
/// values, whose heap memory does not move when this struct does).
#[derive(Default)]
pub(crate) struct OwnedEntries {
    _keys: Vec<CString>,
    _values: Vec<Bytes>,
    views: Vec<muxwire_entry>,
}

// SAFETY: the views only point into `_keys` and `_values`, which this struct owns and never
// changes; moving it to or sharing it with another thread moves those owners with it.
unsafe impl Send for OwnedEntries {}
// SAFETY: as for Send: nothing is mutated through a shared reference.
unsafe impl Sync for OwnedEntries {}

impl OwnedEntries {
    /// Takes `pairs` (keys with NULs, impossible for valid keys, are shown as `\0`).
    pub(crate) fn new(pairs: Vec<(String, Bytes)>) -> OwnedEntries {
        let mut keys = Vec::with_capacity(pairs.len());
        let mut values = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            keys.push(CString::new(k.replace('\0', "\\0")).unwrap_or_default());
            values.push(v);
        }
        let views = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| muxwire_entry {
                key: k.as_ptr(),
                key_len: k.as_bytes().len(),
                value: if v.is_empty() {
                    std::ptr::null()
                } else {
                    v.as_ptr()
                },
                value_len: v.len(),
            })
            .collect();
        OwnedEntries {
            _keys: keys,
            _values: values,
            views,
        }
    }

    /// The array for C and its length; NULL and 0 when empty.
    pub(crate) fn as_c(&self) -> (*const muxwire_entry, usize) {
        if self.views.is_empty() {
            (std::ptr::null(), 0)
        } else {
            (self.views.as_ptr(), self.views.len())
        }
    }
}
