//! A server's TLS settings on `muxwire_options`: its certificate and key, and the CAs a
//! client's certificate must be signed by (mutual TLS). A server needs a certificate to
//! start on a `tls://host:port` URL.

use std::ffi::c_char;

use muxwire::TlsServerConfig;

use crate::args::{bytes, text};
use crate::options::muxwire_options;
use crate::result::muxwire_result;
use crate::tls_edit::edit_tls;
use crate::tls_pieces::{named, read_file};

/// Serves `tls://` URLs with the certificate chain in the PEM file `cert_path` (the
/// server's own certificate first) and the private key in the PEM file `key_path`
/// (PKCS#8, PKCS#1 or SEC1). Both are read and checked now (INVALID_ARGUMENT naming the
/// file and the problem: unreadable, no certificate, no key, a key that does not match),
/// and again by `muxwire_server_reload_tls`.
///
/// # Safety
/// `opts` is NULL or live; `cert_path` and `key_path` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_server_certificate_files(
    opts: *mut muxwire_options,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let cert_path = text(cert_path, "cert_path")?;
            let key_path = text(key_path, "key_path")?;
            // The runtime's errors name the files; `muxwire_server_reload_tls` reads them
            // again.
            t.server_cert = Some(TlsServerConfig::from_pem_files(cert_path, key_path)?);
            Ok(())
        })
    }
}

/// As `muxwire_options_set_tls_server_certificate_files`, with the PEM text in memory:
/// `cert_len` bytes at `cert_pem` and `key_len` bytes at `key_pem` (copied; not
/// reloadable).
///
/// # Safety
/// `opts` is NULL or live; `cert_pem` and `key_pem` NULL (with length 0) or readable for
/// their lengths.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_server_certificate_pem(
    opts: *mut muxwire_options,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let cert = bytes(cert_pem, cert_len, "cert_pem")?;
            let key = bytes(key_pem, key_len, "key_pem")?;
            t.server_cert = Some(
                TlsServerConfig::from_pem(cert, key)
                    .map_err(|s| named("cert_pem and key_pem", s))?,
            );
            Ok(())
        })
    }
}

/// Requires every client on `tls://` URLs to present a certificate signed by one of the
/// CAs in the PEM file `ca_path` (mutual TLS); handlers and checks then see it in the
/// call's `muxwire_peer`. A client without one fails its handshake. Read and checked now.
///
/// # Safety
/// `opts` is NULL or live; `ca_path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_server_client_ca_file(
    opts: *mut muxwire_options,
    ca_path: *const c_char,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let path = text(ca_path, "ca_path")?;
            let pem = read_file(path, "client CA file")?;
            check_roots(&pem, &format!("{path:?}"))?;
            t.client_ca = Some(pem);
            Ok(())
        })
    }
}

/// As `muxwire_options_set_tls_server_client_ca_file`, with the PEM text in memory
/// (`ca_len` bytes at `ca_pem`, copied).
///
/// # Safety
/// `opts` is NULL or live; `ca_pem` NULL (with `ca_len` 0) or `ca_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_server_client_ca_pem(
    opts: *mut muxwire_options,
    ca_pem: *const u8,
    ca_len: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let pem = bytes(ca_pem, ca_len, "ca_pem")?;
            check_roots(pem, "ca_pem")?;
            t.client_ca = Some(pem.to_vec());
            Ok(())
        })
    }
}

/// Checks that `pem` holds usable CA certificates (as the client's trust would).
fn check_roots(pem: &[u8], source: &str) -> crate::error::Outcome {
    muxwire::TlsClientConfig::from_ca_pem(pem).map_err(|s| named(source, s))?;
    Ok(())
}
