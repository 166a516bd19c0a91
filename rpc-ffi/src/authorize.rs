//! Authorization checks from C: a call check run before every call's handler and a
//! connection check run once per connection, each deciding from the peer (and, for
//! calls, the method and metadata) whether to serve, or which status to refuse with.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use muxwire::{CallInfo, PeerInfo, Status, StatusCode};

use crate::args::{obj, UserData};
use crate::boundary::guard;
use crate::entries::{muxwire_entry, OwnedEntries};
use crate::error::{c_string, Failure};
use crate::peer::muxwire_peer;
use crate::result::muxwire_result;
use crate::server::{edit_router, muxwire_server};

/// The size of the buffer a check may write its refusal's message into (NUL included).
pub const MUXWIRE_CHECK_MESSAGE_SIZE: usize = 256;

/// Decides whether a call is served, before its handler runs (one-way calls too: a refused
/// one is dropped and counted). Sees the `method` called (registered or not), the request
/// metadata (`metadata_count` entries at `metadata`, NULL when none) and the `peer`, all
/// valid until it returns. Returns 0 to serve the call, or a status code from 1 to 16
/// (typically 16 UNAUTHENTICATED or 7 PERMISSION_DENIED) that the caller gets instead;
/// it may write the refusal's message, NUL-terminated UTF-8, into the `message_size`
/// bytes at `message` (zeroed; MUXWIRE_CHECK_MESSAGE_SIZE). Any other code refuses with
/// INTERNAL.
///
/// It runs on the connection's runtime thread, for every call: it must be short and must
/// never block (no locks held for long, no IO, no blocking muxwire function: those fail
/// with FAILED_PRECONDITION there), or every call on the connection waits.
#[allow(non_camel_case_types)]
pub type muxwire_call_check_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        method: *const c_char,
        metadata: *const muxwire_entry,
        metadata_count: usize,
        peer: *const muxwire_peer,
        message: *mut c_char,
        message_size: usize,
    ) -> u32,
>;

/// Decides once per connection, when it is made, whether it is served: sees the `peer`
/// (valid until it returns); returns 0 to serve, or a status code from 1 to 16 that every
/// call on the connection then gets (its handlers never run), with a message written as
/// for `muxwire_call_check_fn`. Runs on a runtime thread: short, never blocking.
#[allow(non_camel_case_types)]
pub type muxwire_connection_check_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        peer: *const muxwire_peer,
        message: *mut c_char,
        message_size: usize,
    ) -> u32,
>;

/// Runs `ask` (a C check, handed a zeroed message buffer) and turns its answer into the
/// check's outcome; a panic on this side refuses with INTERNAL.
fn decide(ask: impl FnOnce(*mut c_char, usize) -> u32) -> Result<(), Status> {
    let mut message = [0u8; MUXWIRE_CHECK_MESSAGE_SIZE];
    let asked = catch_unwind(AssertUnwindSafe(|| {
        ask(message.as_mut_ptr().cast(), message.len())
    }));
    let code = match asked {
        Ok(code) => code,
        Err(_) => {
            tracing::error!("the C authorization check's wrapper panicked: refused");
            return Err(Status::internal("the authorization check failed"));
        }
    };
    let end = message
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(message.len());
    let text = String::from_utf8_lossy(&message[..end]).into_owned();
    match code {
        0 => Ok(()),
        1..=16 => Err(Status::new(
            StatusCode(code),
            if text.is_empty() {
                "refused by the authorization check".to_string()
            } else {
                text
            },
        )),
        _ => Err(Status::internal(format!(
            "the authorization check returned {code}, not 0 to 16"
        ))),
    }
}

/// Installs `check` to run before every call's handler on `server` (not started yet;
/// FAILED_PRECONDITION otherwise), replacing an earlier one. `userdata` is handed to every
/// run, on runtime threads, and must stay valid until the server was shut down and freed.
/// A client serving calls back with this server's handlers
/// (`muxwire_client_connect_serving`) runs it too.
///
/// # Safety
/// `server` is NULL or live; `check` NULL or a function safe to call from any thread with
/// `userdata`, as `muxwire_call_check_fn` says.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_authorize_calls(
    server: *const muxwire_server,
    check: muxwire_call_check_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        let f = check.ok_or_else(|| Failure::null("check"))?;
        let userdata = UserData(userdata);
        edit_router(server, "install a call check", |router, _| {
            Ok(router.authorize_calls(move |call: &CallInfo<'_>| {
                let method = c_string(call.method);
                let metadata = OwnedEntries::new(call.metadata.to_vec());
                let (entries, count) = metadata.as_c();
                let peer = muxwire_peer::new(call.peer.address, call.peer.identity);
                decide(|message, size| {
                    // SAFETY: the host installed `f` for this; every pointer lives until
                    // it returns, and `message` has `size` writable bytes.
                    unsafe {
                        f(
                            userdata.get(),
                            method.as_ptr(),
                            entries,
                            count,
                            &peer,
                            message,
                            size,
                        )
                    }
                })
            }))
        })
    })
}

/// Installs `check` to run once per connection on `server`, when it is made (not started
/// yet; FAILED_PRECONDITION otherwise), replacing an earlier one. `userdata` as for
/// `muxwire_server_authorize_calls`.
///
/// # Safety
/// `server` is NULL or live; `check` NULL or a function safe to call from any thread with
/// `userdata`, as `muxwire_connection_check_fn` says.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_authorize_connections(
    server: *const muxwire_server,
    check: muxwire_connection_check_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        let f = check.ok_or_else(|| Failure::null("check"))?;
        let userdata = UserData(userdata);
        edit_router(server, "install a connection check", |router, _| {
            Ok(router.authorize_connections(move |info: &PeerInfo<'_>| {
                let peer = muxwire_peer::new(info.address, info.identity);
                decide(|message, size| {
                    // SAFETY: as in muxwire_server_authorize_calls.
                    unsafe { f(userdata.get(), &peer, message, size) }
                })
            }))
        })
    })
}
