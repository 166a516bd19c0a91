//! Changing the TLS pieces of a `muxwire_options`: all or nothing.

use crate::args::obj;
use crate::boundary::guard;
use crate::error::Outcome;
use crate::options::muxwire_options;
use crate::result::muxwire_result;
use crate::tls_pieces::TlsPieces;

/// Applies `f` to a copy of the TLS pieces of `opts`, builds the server and client
/// configurations from the result and, only if both build, keeps the copy and puts them
/// in the options: a failed setter leaves the options as they were.
///
/// # Safety
/// `opts` is NULL or live.
pub(crate) unsafe fn edit_tls(
    opts: *const muxwire_options,
    f: impl FnOnce(&mut TlsPieces) -> Outcome,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let o = unsafe { obj(opts, "opts") }?;
        let mut pieces = o.tls.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = pieces.clone();
        f(&mut next)?;
        let server = next.server()?;
        let client = next.client()?;
        let mut settings = o.opts.lock().unwrap_or_else(|e| e.into_inner());
        settings.tls_server = server;
        settings.tls_client = client;
        *pieces = next;
        Ok(())
    })
}
