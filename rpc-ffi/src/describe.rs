//! Described methods: what a server's methods do and their request and reply types, for
//! the built-in `muxwire.describe` (PROTOCOL.md section 6.3).

use std::ffi::c_char;

use muxwire::MethodInfo;

use crate::args::{obj, text};
use crate::boundary::guard;
use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;
use crate::server::{edit_router, muxwire_server};

/// `p` as text, "" for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn optional<'a>(p: *const c_char, what: &str) -> Outcome<&'a str> {
    if p.is_null() {
        return Ok("");
    }
    // SAFETY: not NULL, NUL-terminated by the caller's contract.
    unsafe { text(p, what) }
}

/// Describes `method`, registered on `server` before (NOT_FOUND otherwise) and not started
/// yet (FAILED_PRECONDITION otherwise), for the built-in `muxwire.describe`: what it does
/// (`description`) and its request and reply types (`request_type`, `reply_type`: free
/// text, a type name or a schema reference); NULL for any of the three is "". Describing
/// a method again replaces its description. `muxwire.describe` answers with JSON:
/// `{"methods":[{"name":...,"kind":"unary"|"streaming","description":...,
/// "request":...,"reply":...},...]}` (the last three only for described methods); called
/// with a method's name, it describes that one alone (NOT_FOUND for an unknown name).
///
/// # Safety
/// `server` is NULL or live; the strings NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_describe(
    server: *const muxwire_server,
    method: *const c_char,
    description: *const c_char,
    request_type: *const c_char,
    reply_type: *const c_char,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (server, method, description, request, reply) = unsafe {
            (
                obj(server, "server")?,
                text(method, "method")?,
                optional(description, "description")?,
                optional(request_type, "request_type")?,
                optional(reply_type, "reply_type")?,
            )
        };
        let what = format!("describe {method:?}");
        edit_router(server, &what, |router, names| {
            if !names.contains(method) {
                return Err(Failure::new(
                    muxwire_result::NotFound,
                    format!("cannot describe {method:?}: register its handler first"),
                ));
            }
            Ok(router.describe(method, MethodInfo::new(description, request, reply)))
        })
    })
}
