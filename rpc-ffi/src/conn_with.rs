//! A sans-IO connection's commands with everything a CALL, DATA or STATUS may carry:
//! metadata entries, a compressed message, DETAILS. The plain forms are in `conn_calls`.

use std::ffi::c_char;

use bytes::Bytes;
use muxwire::Codec;
use muxwire_core::conn::{CallSpec, Entries, Outgoing, StatusSpec};
use muxwire_core::time::Duration;
use muxwire_core::wire::{StatusCode, StreamId};

use crate::args::{bytes, obj, text, Out};
use crate::conn::muxwire_conn;
use crate::conn_calls::{MUXWIRE_CALL_ONE_WAY, MUXWIRE_CALL_STREAMING};
use crate::conn_io::with_command;
use crate::entries::muxwire_entry;
use crate::entry_args::entries_in;
use crate::error::{Failure, Outcome};
use crate::options::codec_of;
use crate::result::muxwire_result;

/// A call to open with `muxwire_conn_open_call_with`. Zero-initialise it, then set what
/// the call needs (`method` is required).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_conn_call {
    /// The method (NUL-terminated UTF-8).
    pub method: *const c_char,
    /// The first (for a unary call, only) request message (NULL with `body_len` 0: empty).
    pub body: *const u8,
    /// Its length in bytes.
    pub body_len: usize,
    /// The codec `body` is already compressed with (a `muxwire_codec`; see
    /// `muxwire_compress`): the peer's HELLO must have offered it. 0: uncompressed.
    pub codec: i32,
    /// The deadline, in microseconds from now (0: none).
    pub timeout_us: u64,
    /// `MUXWIRE_CALL_*` flags.
    pub flags: u32,
    /// Request metadata entries (NULL with `metadata_count` 0), as `muxwire_entry` says
    /// for entries handed in.
    pub metadata: *const muxwire_entry,
    /// How many.
    pub metadata_count: usize,
}

/// Pairs borrowed from owned entries, as the core takes them.
fn pairs(owned: &[(String, Bytes)]) -> Vec<(&str, &[u8])> {
    owned.iter().map(|(k, v)| (k.as_str(), &v[..])).collect()
}

/// An outgoing whole message with `codec`.
fn outgoing(body: &[u8], codec: Codec) -> Outgoing<'_> {
    Outgoing {
        codec,
        ..Outgoing::bytes(body)
    }
}

/// `muxwire_conn_open_call` with metadata entries and a compressed body: opens the call
/// `*call` describes and stores its stream id in `*stream` (may be NULL). Errors as
/// `muxwire_conn_open_call`; INVALID_ARGUMENT (with the core's reason) for a codec the
/// peer did not offer or a bad entry.
///
/// # Safety
/// `conn` is NULL or live; `call` NULL or valid, its pointers as its fields say; `stream`
/// NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_open_call_with(
    conn: *mut muxwire_conn,
    now_us: u64,
    call: *const muxwire_conn_call,
    stream: *mut u32,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        // SAFETY: NULL or valid, by the caller's contract.
        let call = unsafe { obj(call, "call") }?;
        // SAFETY: each pointer as the struct's docs say, by the caller's contract.
        let (method, body, entries) = unsafe {
            (
                text(call.method, "call->method")?,
                bytes(call.body, call.body_len, "call->body")?,
                entries_in(call.metadata, call.metadata_count, "call->metadata")?,
            )
        };
        let flags = call.flags;
        if flags & !(MUXWIRE_CALL_ONE_WAY | MUXWIRE_CALL_STREAMING) != 0 {
            return Err(Failure::invalid(format!("unknown call flags {flags:#x}")));
        }
        let pairs = pairs(&entries);
        let spec = CallSpec {
            method,
            deadline: (call.timeout_us > 0).then(|| Duration::from_micros(call.timeout_us)),
            entries: &pairs,
            one_way: flags & MUXWIRE_CALL_ONE_WAY != 0,
            end_stream: flags & MUXWIRE_CALL_STREAMING == 0,
            message: Some(outgoing(body, codec_of(call.codec)?)),
        };
        c.at(now_us);
        let hint = body.len()
            + method.len()
            + entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 5)
                .sum::<usize>();
        let id = c.write_with(hint, |conn, now, out| {
            conn.open_call(now, &spec, out).map(|s| (s.stream.0, s.len))
        })?;
        if !stream.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { Out::new(stream, "stream")?.write(id) };
        }
        Ok(())
    })
}

/// `muxwire_conn_send` with a compressed message: sends the `body_len` bytes at `body`,
/// compressed with `codec` (a `muxwire_codec` the peer's HELLO offered; 0 uncompressed),
/// as a message (or, with `more`, a chunk: every chunk of a message has the same codec)
/// on `stream`; `end_stream` half-closes. Errors as `muxwire_conn_send`.
///
/// # Safety
/// `conn` is NULL or live; `body` NULL (with `body_len` 0) or `body_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_send_with(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    body: *const u8,
    body_len: usize,
    codec: i32,
    more: bool,
    end_stream: bool,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        // SAFETY: NULL with 0 or `body_len` readable bytes, by the caller's contract.
        let body = unsafe { bytes(body, body_len, "body") }?;
        let message = Outgoing {
            more,
            ..outgoing(body, codec_of(codec)?)
        };
        c.at(now_us);
        c.write_with(body.len(), |conn, now, out| {
            conn.send_message(now, StreamId(stream), Some(message), end_stream, out)
                .map(|s| ((), s.len))
        })
    })
}

/// Writes a STATUS built from `spec` (checked by the core).
fn send_status(
    c: &mut muxwire_conn,
    now_us: u64,
    stream: u32,
    spec: &StatusSpec<'_>,
    hint: usize,
) -> Outcome {
    c.at(now_us);
    c.write_with(hint, |conn, now, out| {
        conn.send_status_spec(now, StreamId(stream), spec, out)
            .map(|s| ((), s.len))
    })
}

/// `muxwire_conn_reply` with trailers and a compressed reply: ends the call on `stream`
/// with OK, the `body_len` bytes at `body` (NULL: no message) in `codec` (a
/// `muxwire_codec` the caller's HELLO offered; 0 uncompressed), and `trailers_count`
/// entries at `trailers` as the STATUS's metadata.
///
/// # Safety
/// `conn` is NULL or live; `body` NULL (with `body_len` 0) or `body_len` readable bytes;
/// `trailers` NULL (with `trailers_count` 0) or that many readable entries.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_reply_with(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    body: *const u8,
    body_len: usize,
    codec: i32,
    trailers: *const muxwire_entry,
    trailers_count: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let no_message = body.is_null();
        // SAFETY: each NULL or valid as documented, by the caller's contract.
        let (body, entries) = unsafe {
            (
                bytes(body, body_len, "body")?,
                entries_in(trailers, trailers_count, "trailers")?,
            )
        };
        let codec = codec_of(codec)?;
        let pairs = pairs(&entries);
        let spec = StatusSpec {
            entries: Entries::Pairs(&pairs),
            message: (!no_message).then(|| outgoing(body, codec)),
            ..StatusSpec::code(StatusCode::OK)
        };
        let hint = body.len()
            + entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 5)
                .sum::<usize>();
        send_status(c, now_us, stream, &spec, hint)
    })
}

/// `muxwire_conn_fail` with DETAILS and trailers: ends the call on `stream` with status
/// `code` (1 to 16), `reason` (NULL: none), the `details_len` bytes at `details` as
/// DETAILS (none if 0) and `trailers_count` entries at `trailers`.
///
/// # Safety
/// `conn` is NULL or live; `reason` NULL or a NUL-terminated string; `details` NULL (with
/// `details_len` 0) or readable; `trailers` NULL (with `trailers_count` 0) or that many
/// readable entries.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_fail_with(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    code: u32,
    reason: *const c_char,
    details: *const u8,
    details_len: usize,
    trailers: *const muxwire_entry,
    trailers_count: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        // SAFETY: each NULL or valid as documented, by the caller's contract.
        let (reason, details, entries) = unsafe {
            (
                if reason.is_null() {
                    None
                } else {
                    Some(text(reason, "reason")?)
                },
                bytes(details, details_len, "details")?,
                entries_in(trailers, trailers_count, "trailers")?,
            )
        };
        if !(1..=16).contains(&code) {
            return Err(Failure::invalid(format!(
                "status code {code} cannot end a call in failure: use 1 to 16"
            )));
        }
        let pairs = pairs(&entries);
        let spec = StatusSpec {
            reason,
            entries: Entries::Pairs(&pairs),
            details: (!details.is_empty()).then_some(details),
            ..StatusSpec::code(StatusCode(code))
        };
        let hint = reason.map_or(0, str::len)
            + details.len()
            + entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 5)
                .sum::<usize>();
        send_status(c, now_us, stream, &spec, hint)
    })
}
