//! `muxwire_call_options`: what one call carries besides its method and body: a timeout,
//! request metadata entries and a compression choice. Used by the `_with` call functions.

use std::ffi::c_char;
use std::time::Duration;

use bytes::Bytes;
use muxwire::CallOptions;
use muxwire_core::wire::Entry;

use crate::args::{bytes, into_handle, take_handle, text, Out};
use crate::boundary::{guard, guard_value};
use crate::error::{Failure, Outcome};
use crate::options::codec_of;
use crate::result::muxwire_result;

/// Most metadata entries one call's options may hold.
const MAX_ENTRIES: usize = 1024;

/// Options for one call: a timeout, request metadata and compression. Make it with
/// `muxwire_call_options_new`, set what the call needs, pass it to a `_with` call function
/// (which copies it: reuse it for the next call or free it at once). One thread at a time
/// may change it; calls may read it from any number of threads while nobody changes it.
#[allow(non_camel_case_types)]
pub struct muxwire_call_options {
    pub(crate) opts: CallOptions,
}

/// The call options for `opts` (NULL: the defaults).
///
/// # Safety
/// `opts` is NULL or live.
pub(crate) unsafe fn call_options_or_default(opts: *const muxwire_call_options) -> CallOptions {
    // SAFETY: NULL or live, by the caller's contract.
    unsafe { opts.as_ref() }.map_or_else(CallOptions::default, |o| o.opts.clone())
}

/// The options behind a mutable handle, or NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or live and not used by another thread now.
unsafe fn options_mut<'a>(opts: *mut muxwire_call_options) -> Outcome<&'a mut CallOptions> {
    // SAFETY: forwarded contract.
    unsafe { opts.as_mut() }
        .map(|o| &mut o.opts)
        .ok_or_else(|| Failure::null("opts"))
}

/// Makes call options with the defaults (the client's default timeout, no metadata, the
/// client's compression) and stores them in `*out`.
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_new(
    out: *mut *mut muxwire_call_options,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        let o = muxwire_call_options {
            opts: CallOptions::default(),
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(o)) };
        Ok(())
    })
}

/// Frees call options. NULL is accepted and does nothing.
///
/// # Safety
/// `opts` is NULL or options not freed before, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_free(opts: *mut muxwire_call_options) {
    // SAFETY: NULL or from muxwire_call_options_new, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(opts) }));
}

/// The call fails with DEADLINE_EXCEEDED after `timeout_ms` milliseconds, which the server
/// also gets as the call's deadline (0: the client's default timeout, or none).
///
/// # Safety
/// `opts` is NULL or live, used by no other thread now.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_set_timeout_ms(
    opts: *mut muxwire_call_options,
    timeout_ms: u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let o = unsafe { options_mut(opts) }?;
        o.timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Adds a request metadata entry (an ENTRY TLV): `key` is 1 to 255 bytes of
/// `[a-z0-9-_.]`, the value the `value_len` bytes at `value` (both copied). Entries go in
/// the order added; a key may repeat. The server's handler reads them with
/// `muxwire_responder_metadata`. INVALID_ARGUMENT for a bad key, RESOURCE_EXHAUSTED past
/// 1024 entries; a call whose metadata exceeds the server's MAX_METADATA_SIZE fails.
///
/// # Safety
/// `opts` is NULL or live, used by no other thread now; `key` NULL or a NUL-terminated
/// string; `value` NULL (with `value_len` 0) or `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_add_metadata(
    opts: *mut muxwire_call_options,
    key: *const c_char,
    value: *const u8,
    value_len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let o = unsafe { options_mut(opts) }?;
        // SAFETY: each NULL or valid, by the caller's contract.
        let (key, value) = unsafe { (text(key, "key")?, bytes(value, value_len, "value")?) };
        if !Entry::is_valid_key(key) {
            return Err(Failure::invalid(format!(
                "key {key:?} is not a metadata key: 1 to 255 bytes of [a-z0-9-_.]"
            )));
        }
        if o.metadata.len() >= MAX_ENTRIES {
            return Err(Failure::new(
                muxwire_result::ResourceExhausted,
                format!("a call carries at most {MAX_ENTRIES} metadata entries"),
            ));
        }
        o.metadata
            .push((key.to_string(), Bytes::copy_from_slice(value)));
        Ok(())
    })
}

/// Removes every metadata entry added so far (to reuse the options for another call).
///
/// # Safety
/// `opts` is NULL or live, used by no other thread now.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_clear_metadata(
    opts: *mut muxwire_call_options,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        unsafe { options_mut(opts) }?.metadata.clear();
        Ok(())
    })
}

/// Compresses this call's request messages with `codec` (a `muxwire_codec`) when the
/// server accepts it and the message is large enough to gain, whatever the client's
/// options say; MUXWIRE_CODEC_IDENTITY sends this call uncompressed. The server replies
/// in the request's codec when that helps. INVALID_ARGUMENT for an unknown codec.
///
/// # Safety
/// `opts` is NULL or live, used by no other thread now.
#[no_mangle]
pub unsafe extern "C" fn muxwire_call_options_set_compression(
    opts: *mut muxwire_call_options,
    codec: i32,
) -> muxwire_result {
    guard(|| {
        // SAFETY: forwarded contract.
        let o = unsafe { options_mut(opts) }?;
        o.compression = Some(codec_of(codec)?);
        Ok(())
    })
}
