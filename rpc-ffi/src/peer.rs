//! `muxwire_peer`: who is on the other end of a call's connection, as handlers and
//! authorization checks see it: its address and what the transport verified (a TLS client
//! certificate's subject, DNS names and chain; a Unix socket peer's uid, gid and pid).

use std::ffi::{c_char, CString};

use bytes::Bytes;
use muxwire::PeerIdentity;

use crate::args::Out;
use crate::boundary::{guard, guard_value};
use crate::error::{c_string, Failure};
use crate::result::muxwire_result;

/// A Unix socket peer's process credentials, as the kernel gave them (SO_PEERCRED) when
/// the connection was made.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct muxwire_unix_credentials {
    /// The peer's user id.
    pub uid: u32,
    /// The peer's group id.
    pub gid: u32,
    /// The peer's process id; -1 if the kernel did not report it.
    pub pid: i32,
}

/// The peer of a call: a view the library owns (the function that hands it out says how
/// long it lives). Immutable: any thread may read it while it lives.
#[allow(non_camel_case_types)]
pub struct muxwire_peer {
    address: CString,
    /// The verified certificate's subject, if the peer presented one.
    subject: Option<CString>,
    dns_names: Vec<CString>,
    certificates: Vec<Bytes>,
    unix: Option<muxwire_unix_credentials>,
}

impl muxwire_peer {
    /// The peer at `address`, with what the transport verified about it.
    pub(crate) fn new(address: &str, identity: Option<&PeerIdentity>) -> muxwire_peer {
        let certified = identity.filter(|i| !i.certificates.is_empty());
        muxwire_peer {
            address: c_string(address),
            subject: certified.map(|i| c_string(&i.subject)),
            dns_names: certified
                .map(|i| i.dns_names.iter().map(|n| c_string(n)).collect())
                .unwrap_or_default(),
            certificates: certified
                .map(|i| i.certificates.clone())
                .unwrap_or_default(),
            unix: identity
                .and_then(|i| i.unix)
                .map(|c| muxwire_unix_credentials {
                    uid: c.uid,
                    gid: c.gid,
                    pid: c.pid.unwrap_or(-1),
                }),
        }
    }
}

/// The peer's address as the transport names it (`host:port`, or a Unix socket's path),
/// NUL-terminated; NULL for NULL. Valid as long as `peer`.
///
/// # Safety
/// `peer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_address(peer: *const muxwire_peer) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { peer.as_ref() }.map_or(std::ptr::null(), |p| p.address.as_ptr())
    })
}

/// The subject of the certificate the peer presented and the server verified (mutual
/// TLS), e.g. `CN=client-1, O=Example` (empty if it could not be read as X.509); NULL if
/// the peer presented none (or for NULL). Valid as long as `peer`.
///
/// # Safety
/// `peer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_subject(peer: *const muxwire_peer) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let p = unsafe { peer.as_ref() };
        p.and_then(|p| p.subject.as_ref())
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// How many DNS names (subjectAltName) the peer's verified certificate has (0 without
/// one, or for NULL).
///
/// # Safety
/// `peer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_dns_name_count(peer: *const muxwire_peer) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { peer.as_ref() }.map_or(0, |p| p.dns_names.len())
    })
}

/// DNS name `index` of the peer's verified certificate (NUL-terminated); NULL past the
/// last (or for NULL). Valid as long as `peer`.
///
/// # Safety
/// `peer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_dns_name(
    peer: *const muxwire_peer,
    index: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let p = unsafe { peer.as_ref() };
        p.and_then(|p| p.dns_names.get(index))
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// How many certificates the peer presented and the server verified (its own first; 0
/// without mutual TLS, or for NULL).
///
/// # Safety
/// `peer` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_certificate_count(peer: *const muxwire_peer) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or live, by the caller's contract.
        unsafe { peer.as_ref() }.map_or(0, |p| p.certificates.len())
    })
}

/// Certificate `index` of the peer's verified chain (DER), its length in `*len` (may be
/// NULL); NULL with `*len` 0 past the last (or for NULL). Valid as long as `peer`.
///
/// # Safety
/// `peer` is NULL or live; `len` NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_certificate(
    peer: *const muxwire_peer,
    index: usize,
    len: *mut usize,
) -> *const u8 {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let p = unsafe { peer.as_ref() };
        let (ptr, n) = p
            .and_then(|p| p.certificates.get(index))
            .map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
        if !len.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { len.write(n) };
        }
        ptr
    })
}

/// Copies a Unix socket peer's process credentials (SO_PEERCRED) into `*out`;
/// NOT_FOUND if the peer is not on a Unix socket.
///
/// # Safety
/// `peer` is NULL or live; `out` NULL or valid for writing a `muxwire_unix_credentials`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_peer_unix_credentials(
    peer: *const muxwire_peer,
    out: *mut muxwire_unix_credentials,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let p = unsafe { crate::args::obj(peer, "peer") }?;
        let out = Out::new(out, "out")?;
        let creds = p.unix.ok_or_else(|| {
            Failure::new(
                muxwire_result::NotFound,
                format!("peer {:?} is not on a Unix socket", p.address),
            )
        })?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(creds) };
        Ok(())
    })
}
