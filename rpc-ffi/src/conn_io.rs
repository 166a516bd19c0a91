//! A sans-IO connection's life and IO: new and free, bytes in, events out, bytes out,
//! timers, end of input, close reason.

use muxwire_core::conn::Error;
use muxwire_core::time::Instant;

use crate::args::{bytes, into_handle, obj, take_handle, Out};
use crate::boundary::{guard, guard_value};
use crate::conn::{muxwire_conn, MAX_BUFFERED_INPUT};
use crate::conn_config::{core_config, muxwire_conn_config};
use crate::conn_event::{muxwire_event, view_of};
use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;

/// Runs a command on the connection (as [`with_conn`]), first clearing the reason the
/// previous command was refused.
pub(crate) fn with_command(
    conn: Option<&mut muxwire_conn>,
    f: impl FnOnce(&mut muxwire_conn) -> Outcome,
) -> muxwire_result {
    with_conn(conn, |c| {
        c.last_error_kind = 0;
        f(c)
    })
}

/// Runs `f` on the connection (NULL_ARGUMENT for `None`) inside the panic boundary.
pub(crate) fn with_conn(
    conn: Option<&mut muxwire_conn>,
    f: impl FnOnce(&mut muxwire_conn) -> Outcome,
) -> muxwire_result {
    guard(|| f(conn.ok_or_else(|| Failure::null("conn"))?))
}

/// Makes a sans-IO connection with `config` (NULL: the connector's defaults) at time
/// `now_us` and stores it in `*out`. Its first bytes (the preface and HELLO) are ready in
/// `muxwire_conn_poll_transmit` at once.
///
/// # Safety
/// `config` is NULL or a live config; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_new(
    config: *const muxwire_conn_config,
    now_us: u64,
    out: *mut *mut muxwire_conn,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        let mut defaults = std::mem::MaybeUninit::<muxwire_conn_config>::uninit();
        // SAFETY: NULL or live, by the caller's contract.
        let config = match unsafe { config.as_ref() } {
            Some(c) => *c,
            None => {
                // SAFETY: a valid, writable local.
                let r = unsafe {
                    crate::conn_config::muxwire_conn_config_init(defaults.as_mut_ptr(), 0)
                };
                if r != muxwire_result::Ok {
                    return Err(Failure::new(r, "cannot make the default config"));
                }
                // SAFETY: initialised by the call that just succeeded.
                unsafe { defaults.assume_init() }
            }
        };
        let cfg = core_config(&config)?;
        let conn = muxwire_conn::new(cfg, config.stream_slots as usize, Instant(now_us));
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(conn)) };
        Ok(())
    })
}

/// Frees a connection (without sending anything). NULL is accepted and does nothing.
///
/// # Safety
/// `conn` is NULL or a connection not freed before, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_free(conn: *mut muxwire_conn) {
    // SAFETY: NULL or from muxwire_conn_new, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(conn) }));
}

/// Hands in `len` bytes received from the peer at time `now_us` (copied; the buffer may
/// be reused at once). Then poll events until MUXWIRE_RESULT_AGAIN: frames are processed
/// as events are taken, so bytes fed while events are waiting are kept until then. Fails
/// with UNAVAILABLE once the connection is closed and RESOURCE_EXHAUSTED if more than
/// 32 MiB would be waiting.
///
/// # Safety
/// `conn` is NULL or live; `data` NULL (with `len` 0) or `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_feed(
    conn: *mut muxwire_conn,
    now_us: u64,
    data: *const u8,
    len: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        // SAFETY: NULL with 0 or `len` readable bytes, by the caller's contract.
        let data = unsafe { bytes(data, len, "data") }?;
        c.at(now_us);
        if c.conn.is_closed() {
            return Err(Failure::new(
                muxwire_result::Unavailable,
                "the connection is closed",
            ));
        }
        let waiting = c.rx.len() - c.base - c.consumed;
        if waiting + data.len() > MAX_BUFFERED_INPUT {
            return Err(Failure::new(
                muxwire_result::ResourceExhausted,
                format!(
                    "{} bytes would wait to be processed (bound {MAX_BUFFERED_INPUT}): \
                     poll events before feeding more",
                    waiting + data.len()
                ),
            ));
        }
        c.rx.extend_from_slice(data);
        process(c)
    })
}

/// Runs the core over the input not processed yet. Events with payloads from the last
/// input may still be waiting (their offsets are relative to `rx[base..]`): then the core
/// refuses, and the bytes wait for `muxwire_conn_poll_event` to take those events.
fn process(c: &mut muxwire_conn) -> Outcome {
    if c.drained {
        // No event refers to the input any more: drop what was processed.
        c.rx.drain(..c.base + c.consumed);
        c.base = 0;
        c.consumed = 0;
    }
    let start = c.base + c.consumed;
    match c.conn.handle_input(c.now, &c.rx[start..]) {
        Ok(n) => {
            c.base = start;
            c.consumed = n;
            c.drained = false;
            Ok(())
        }
        Err(Error::EventsPending | Error::Closed) => Ok(()),
        Err(e) => Err(c.failure(e)),
    }
}

/// Takes the next event into `*event`; MUXWIRE_RESULT_AGAIN when there is none. The
/// event's pointers stay valid until the next call on this connection.
///
/// # Safety
/// `conn` is NULL or live; `event` NULL or valid for writing a `muxwire_event`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_poll_event(
    conn: *mut muxwire_conn,
    event: *mut muxwire_event,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        let out = Out::new(event, "event")?;
        loop {
            if let Some(ev) = c.conn.poll_event() {
                let view = view_of(&ev, &c.rx[c.base..]);
                // SAFETY: checked, writable by the caller's contract.
                unsafe { out.write(view) };
                return Ok(());
            }
            c.drained = true;
            // Every event is out: process the input that waited, if any.
            let unprocessed = c.rx.len() - c.base - c.consumed;
            if unprocessed == 0 || c.conn.is_closed() {
                return Err(Failure::new(muxwire_result::Again, "no event"));
            }
            process(c)?;
            if c.consumed == 0 {
                // Only part of a frame: wait for more bytes.
                return Err(Failure::new(muxwire_result::Again, "no event"));
            }
        }
    })
}

/// Bytes fed with `muxwire_conn_feed` that the connection has not processed yet (0 for
/// NULL): the start of a frame still incomplete, or frames waiting because events were
/// not yet taken. A program may stop reading its socket while this is large; once every
/// event is taken, anything left is an incomplete frame. Those bytes are the connection's:
/// never feed them again.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_unprocessed_input(conn: *const muxwire_conn) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { conn.as_ref() };
        c.map_or(0, |c| c.rx.len() - c.base - c.consumed)
    })
}

/// Points `*data` / `*len` at every byte waiting to be sent (the preface and HELLO first),
/// valid until the next call on this connection; `*len` is 0 when there is nothing. Send
/// them in order and report how many went with `muxwire_conn_transmitted`.
///
/// # Safety
/// `conn` is NULL or live; `data` and `len` NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_poll_transmit(
    conn: *mut muxwire_conn,
    now_us: u64,
    data: *mut *const u8,
    len: *mut usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        let (data_out, len_out) = (Out::new(data, "data")?, Out::new(len, "len")?);
        c.at(now_us);
        c.transmit_more()?;
        let pending = &c.tx[c.sent..];
        // SAFETY: both checked, writable by the caller's contract.
        unsafe {
            data_out.write(pending.as_ptr());
            len_out.write(pending.len());
        }
        Ok(())
    })
}

/// Reports that the first `n` bytes last returned by `muxwire_conn_poll_transmit` were
/// sent. INVALID_ARGUMENT if `n` is more than were pending.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_transmitted(
    conn: *mut muxwire_conn,
    n: usize,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        let pending = c.tx.len() - c.sent;
        if n > pending {
            return Err(Failure::invalid(format!(
                "{n} bytes reported sent but only {pending} were pending"
            )));
        }
        c.sent += n;
        Ok(())
    })
}

/// Stores in `*at_us` when `muxwire_conn_on_timeout` must be called next (same clock as
/// `now_us`); MUXWIRE_RESULT_AGAIN if no timer is set.
///
/// # Safety
/// `conn` is NULL or live; `at_us` NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_timeout(
    conn: *const muxwire_conn,
    at_us: *mut u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(conn, "conn") }?;
        let out = Out::new(at_us, "at_us")?;
        let at = c
            .conn
            .poll_timeout()
            .ok_or_else(|| Failure::new(muxwire_result::Again, "no timer is set"))?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(at.0) };
        Ok(())
    })
}

/// The time from `muxwire_conn_timeout` has come (early calls do nothing). Poll events
/// and transmit afterwards.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_on_timeout(
    conn: *mut muxwire_conn,
    now_us: u64,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        let now = c.at(now_us);
        c.conn.handle_timeout(now);
        Ok(())
    })
}

/// The peer closed the transport (read returned 0) or it broke: every open call ends.
/// Poll events afterwards.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_on_eof(
    conn: *mut muxwire_conn,
    now_us: u64,
) -> muxwire_result {
    // SAFETY: NULL or live and used by no other thread now, by the caller's contract.
    let conn = unsafe { conn.as_mut() };
    with_conn(conn, |c| {
        let now = c.at(now_us);
        c.conn.handle_eof(now);
        Ok(())
    })
}

/// True once the connection is closed (false for NULL).
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_is_closed(conn: *const muxwire_conn) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { conn.as_ref() };
        c.is_some_and(|c| c.conn.is_closed())
    })
}

/// Stores the connection error code it closed with (0 NO_ERROR) in `*code`;
/// MUXWIRE_RESULT_AGAIN while it is open.
///
/// # Safety
/// `conn` is NULL or live; `code` NULL or valid for writing.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_close_code(
    conn: *const muxwire_conn,
    code: *mut u32,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(conn, "conn") }?;
        let out = Out::new(code, "code")?;
        let reason = c
            .conn
            .close_reason()
            .ok_or_else(|| Failure::new(muxwire_result::Again, "the connection is open"))?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(reason.code.0) };
        Ok(())
    })
}

/// The core's number for why the last command on this connection (open_call, send,
/// reply, fail, cancel, ping, drain) was refused (0 if it succeeded): 1 buffer too small, 2 unknown stream, 3 invalid state, 4 wrong role,
/// 5 blocked by flow control, 6 the peer's stream limit, 7 storage full, 8 not accepting,
/// 9 closed, 10 events pending, 11 invalid argument, 12 too large, 13 queue full.
///
/// # Safety
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_last_error_kind(conn: *const muxwire_conn) -> u32 {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { conn.as_ref() };
        c.map_or(0, |c| c.last_error_kind)
    })
}
