//! A sans-IO connection's commands: open a call, send on a stream, reply or fail, cancel,
//! return flow-control credit, ping, drain, close. Each writes its frames into the
//! connection's output (see `muxwire_conn_poll_transmit`).

use std::ffi::c_char;

use muxwire_core::conn::{CallSpec, Entries, Outgoing, StatusSpec};
use muxwire_core::time::Duration;
use muxwire_core::wire::{ErrorCode, StatusCode, StreamId};

use crate::args::{bytes, text, Out};
use crate::conn::muxwire_conn;
use crate::conn_io::with_command;
use crate::error::Failure;
use crate::result::muxwire_result;

/// `muxwire_conn_open_call` flag: a one-way call (no reply, no stream kept).
pub const MUXWIRE_CALL_ONE_WAY: u32 = 1;
/// `muxwire_conn_open_call` flag: keep the request side open (a streaming call; send more
/// with `muxwire_conn_send`).
pub const MUXWIRE_CALL_STREAMING: u32 = 2;

/// Opens a call of `method` carrying the `body_len` bytes at `body` as its first (for a
/// unary call, only) request message, with a deadline of `timeout_us` microseconds (0:
/// none) and `flags` (`MUXWIRE_CALL_*`); stores its stream id in `*stream` (may be NULL).
/// MUXWIRE_RESULT_AGAIN when the peer's concurrency limit is reached (wait for
/// STREAMS_AVAILABLE) or the body needs more credit than there is.
///
/// # Safety
/// `conn` is NULL or live; `method` NULL or a NUL-terminated string; `body` NULL (with
/// `body_len` 0) or `body_len` readable bytes; `stream` NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_open_call(
    conn: *mut muxwire_conn,
    now_us: u64,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    timeout_us: u64,
    flags: u32,
    stream: *mut u32,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        // SAFETY: each NULL or valid as documented, by the caller's contract.
        let (method, body) = unsafe { (text(method, "method")?, bytes(body, body_len, "body")?) };
        if flags & !(MUXWIRE_CALL_ONE_WAY | MUXWIRE_CALL_STREAMING) != 0 {
            return Err(Failure::invalid(format!("unknown call flags {flags:#x}")));
        }
        let spec = CallSpec {
            method,
            deadline: (timeout_us > 0).then(|| Duration::from_micros(timeout_us)),
            entries: &[],
            one_way: flags & MUXWIRE_CALL_ONE_WAY != 0,
            end_stream: flags & MUXWIRE_CALL_STREAMING == 0,
            message: Some(Outgoing::bytes(body)),
        };
        c.at(now_us);
        let hint = body.len() + method.len();
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

/// Sends the `body_len` bytes at `body` as a message on `stream` (a NULL `body`: no
/// message, only the half-close, which needs `end_stream`); `more` marks a chunk that
/// more chunks of the same message follow (at least 1024 bytes); `end_stream` half-closes
/// this end. For streaming calls, in both directions. MUXWIRE_RESULT_AGAIN when flow
/// control blocks it (wait for MUXWIRE_EVENT_KIND_WINDOW_OPENED).
///
/// # Safety
/// `conn` is NULL or live; `body` NULL (with `body_len` 0) or `body_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_send(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    body: *const u8,
    body_len: usize,
    more: bool,
    end_stream: bool,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let body_ptr_null = body.is_null();
        // SAFETY: NULL with 0 or `body_len` readable bytes, by the caller's contract.
        let body = unsafe { bytes(body, body_len, "body") }?;
        let message = (!body_ptr_null).then_some(Outgoing {
            more,
            ..Outgoing::bytes(body)
        });
        c.at(now_us);
        c.write_with(body.len(), |conn, now, out| {
            conn.send_message(now, StreamId(stream), message, end_stream, out)
                .map(|s| ((), s.len))
        })
    })
}

/// Ends the call on `stream` that this end serves with OK and the `body_len` bytes at
/// `body` as the reply (a NULL `body`: a STATUS without a message, which callers read as
/// an empty reply).
///
/// # Safety
/// `conn` is NULL or live; `body` NULL (with `body_len` 0) or `body_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_reply(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    body: *const u8,
    body_len: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let body_ptr_null = body.is_null();
        // SAFETY: NULL with 0 or `body_len` readable bytes, by the caller's contract.
        let body = unsafe { bytes(body, body_len, "body") }?;
        let spec = StatusSpec {
            message: (!body_ptr_null).then_some(Outgoing::bytes(body)),
            ..StatusSpec::ok(body)
        };
        c.at(now_us);
        c.write_with(body.len(), |conn, now, out| {
            conn.send_status_spec(now, StreamId(stream), &spec, out)
                .map(|s| ((), s.len))
        })
    })
}

/// Ends the call on `stream` that this end serves with status `code` (1 to 16) and
/// `reason` (NULL: none).
///
/// # Safety
/// `conn` is NULL or live; `reason` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_fail(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    code: u32,
    reason: *const c_char,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let reason = if reason.is_null() {
            None
        } else {
            // SAFETY: not NULL, NUL-terminated by the caller's contract.
            Some(unsafe { text(reason, "reason") }?)
        };
        if !(1..=16).contains(&code) {
            return Err(Failure::invalid(format!(
                "status code {code} cannot end a call in failure: use 1 to 16"
            )));
        }
        let spec = StatusSpec {
            reason,
            entries: Entries::NONE,
            ..StatusSpec::code(StatusCode(code))
        };
        c.at(now_us);
        let hint = reason.map_or(0, str::len);
        c.write_with(hint, |conn, now, out| {
            conn.send_status_spec(now, StreamId(stream), &spec, out)
                .map(|s| ((), s.len))
        })
    })
}

/// Cancels a call this end made, with status `code` (normally 1, CANCELLED).
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_cancel(
    conn: *mut muxwire_conn,
    now_us: u64,
    stream: u32,
    code: u32,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let now = c.at(now_us);
        c.conn
            .cancel(now, StreamId(stream), StatusCode(code))
            .map_err(|e| c.failure(e))
    })
}

/// Returns flow-control credit for `n` message bytes received on `stream` that the
/// program has dealt with. Call it for every message byte, or the peer stops sending.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_consume(
    conn: *mut muxwire_conn,
    stream: u32,
    n: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        c.conn.consume(StreamId(stream), n);
        Ok(())
    })
}

/// Sends a PING; its answer arrives as MUXWIRE_EVENT_KIND_PONG.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_ping(conn: *mut muxwire_conn, now_us: u64) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let now = c.at(now_us);
        c.conn.ping(now).map_err(|e| c.failure(e))
    })
}

/// Starts a graceful close: calls in flight finish, new ones are refused; the connection
/// closes (MUXWIRE_EVENT_KIND_CLOSED) when none is left.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_drain(
    conn: *mut muxwire_conn,
    now_us: u64,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let now = c.at(now_us);
        c.conn.drain(now).map_err(|e| c.failure(e))
    })
}

/// Closes the connection now (GOAWAY NO_ERROR); every open call ends. Transmit what is
/// left, then close the socket.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_close(
    conn: *mut muxwire_conn,
    now_us: u64,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_command(conn, |c| {
        let now = c.at(now_us);
        c.conn
            .close(now, ErrorCode::NO_ERROR, "closed by the application");
        Ok(())
    })
}
