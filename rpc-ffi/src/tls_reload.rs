//! Reloading a running server's TLS certificate without a restart.

use crate::args::obj;
use crate::boundary::guard;
use crate::result::muxwire_result;
use crate::server::{muxwire_server, tls_of};

/// Reads the server's certificate and key files again (those given to
/// `muxwire_options_set_tls_server_certificate_files`): new connections get the new
/// certificate, open ones keep theirs. On any error the current certificate stays in use:
/// INVALID_ARGUMENT names the file and the problem; FAILED_PRECONDITION if the server is
/// not running, has no TLS, or got its certificate as PEM in memory (nothing to read).
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_reload_tls(
    server: *const muxwire_server,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        tls_of(server)?.reload()?;
        Ok(())
    })
}
