//! A client's TLS settings on `muxwire_options`: which servers it trusts on `tls://`
//! URLs (a CA, the platform's roots, or, for tests only, anything), its own certificate
//! for mutual TLS, and the server name it checks. Without any of them a client trusts the
//! platform's CA store.

use std::ffi::c_char;

use muxwire::TlsClientConfig;

use crate::args::{bytes, text};
use crate::options::muxwire_options;
use crate::result::muxwire_result;
use crate::tls_edit::edit_tls;
use crate::tls_pieces::{named, read_file, Trust};

/// Trusts servers whose certificates were signed by a CA in the PEM file `ca_path`
/// (instead of the platform's roots). Read and checked now: INVALID_ARGUMENT names the
/// file and the problem.
///
/// # Safety
/// `opts` is NULL or live; `ca_path` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_ca_file(
    opts: *mut muxwire_options,
    ca_path: *const c_char,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let path = text(ca_path, "ca_path")?;
            let pem = read_file(path, "CA file")?;
            let roots =
                TlsClientConfig::from_ca_pem(&pem).map_err(|s| named(&format!("{path:?}"), s))?;
            t.trust = Some(Trust::Roots(roots));
            Ok(())
        })
    }
}

/// As `muxwire_options_set_tls_client_ca_file`, with the PEM text in memory (`ca_len`
/// bytes at `ca_pem`, copied).
///
/// # Safety
/// `opts` is NULL or live; `ca_pem` NULL (with `ca_len` 0) or `ca_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_ca_pem(
    opts: *mut muxwire_options,
    ca_pem: *const u8,
    ca_len: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let pem = bytes(ca_pem, ca_len, "ca_pem")?;
            let roots = TlsClientConfig::from_ca_pem(pem).map_err(|s| named("ca_pem", s))?;
            t.trust = Some(Trust::Roots(roots));
            Ok(())
        })
    }
}

/// Trusts the certificates the platform trusts (its CA store), the default. Fails with
/// INVALID_ARGUMENT if the platform has no usable CA certificates.
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_platform_roots(
    opts: *mut muxwire_options,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            t.trust = Some(Trust::Platform);
            Ok(())
        })
    }
}

/// FOR TESTS ONLY, NEVER IN PRODUCTION: trusts any server certificate at all, so the
/// connection is encrypted but the server is not authenticated (anyone in the middle can
/// pose as it). Replaces any CA set before; a later CA setter replaces this.
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_insecure_tests_only(
    opts: *mut muxwire_options,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            t.trust = Some(Trust::Anything);
            Ok(())
        })
    }
}

/// Presents the certificate chain in the PEM file `cert_path` and the private key in
/// `key_path` to servers that ask for one (mutual TLS). Read and checked now
/// (INVALID_ARGUMENT naming the files and the problem). Set the trust (a CA, or the
/// platform's roots) first when the platform may have no CA store: until one is set, the
/// platform's roots are used and must exist.
///
/// # Safety
/// `opts` is NULL or live; `cert_path` and `key_path` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_certificate_files(
    opts: *mut muxwire_options,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let cert_path = text(cert_path, "cert_path")?;
            let key_path = text(key_path, "key_path")?;
            let cert = read_file(cert_path, "client certificate file")?;
            let key = read_file(key_path, "client key file")?;
            t.identity = Some((cert, key, format!("{cert_path:?} and {key_path:?}")));
            Ok(())
        })
    }
}

/// As `muxwire_options_set_tls_client_certificate_files`, with the PEM text in memory
/// (`cert_len` bytes at `cert_pem`, `key_len` at `key_pem`, copied).
///
/// # Safety
/// `opts` is NULL or live; `cert_pem` and `key_pem` NULL (with length 0) or readable for
/// their lengths.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_certificate_pem(
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
            t.identity = Some((cert.to_vec(), key.to_vec(), "cert_pem and key_pem".into()));
            Ok(())
        })
    }
}

/// Sends `name` (SNI) and checks the server's certificate against it, instead of the
/// URL's host (e.g. `localhost` for `tls://127.0.0.1:port`).
///
/// # Safety
/// `opts` is NULL or live; `name` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_tls_client_server_name(
    opts: *mut muxwire_options,
    name: *const c_char,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit_tls(opts, |t| {
            let name = text(name, "name")?;
            if name.is_empty() {
                return Err(crate::error::Failure::invalid(
                    "TLS: the server name is empty",
                ));
            }
            t.server_name = Some(name.to_string());
            Ok(())
        })
    }
}
