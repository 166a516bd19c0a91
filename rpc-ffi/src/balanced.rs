//! `muxwire_balanced`: one client of many servers. It keeps a connection pool per URL
//! (each reconnecting on its own), picks one per call (power of two choices on calls in
//! flight, or round robin), sets aside a server whose calls fail for a growing backoff,
//! and retries a call that is safe to retry (refused, or never sent) on another server.

use std::ffi::c_char;

use bytes::Bytes;
use muxwire::{BalanceOptions, Balanced, ConnState, Policy, RuntimeHandle};

use crate::args::{bytes, into_handle, obj, take_handle, text, Out};
use crate::boundary::{guard, guard_value};
use crate::call_options::{call_options_or_default, muxwire_call_options};
use crate::error::{Failure, Outcome};
use crate::options::{muxwire_options, options_or_default};
use crate::reply::muxwire_reply;
use crate::result::muxwire_result;
use crate::runtime::muxwire_runtime;

/// Most URLs a balanced client takes.
const MAX_ENDPOINTS: usize = 1024;

/// How a balanced client picks a server for each call.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_balance_policy {
    /// Two servers at random; the one with fewer calls in flight (the default).
    PowerOfTwoChoices = 0,
    /// Each server in turn.
    RoundRobin = 1,
}

/// A server's connection state, as a balanced client sees it.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_endpoint_state {
    /// Trying to connect.
    Connecting = 0,
    /// Connected and usable.
    Ready = 1,
    /// Not connected (down, or not joined yet); retrying after a backoff.
    TransientFailure = 2,
    /// Closed.
    Shutdown = 3,
}

/// One server of a balanced client, at one moment.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_endpoint_stats {
    /// Its connection state (a `muxwire_endpoint_state`).
    pub state: i32,
    /// Calls in flight on it now.
    pub in_flight: u64,
    /// Calls sent to it that ended (any status).
    pub calls: u64,
    /// Calls that failed in a way that set it aside (UNAVAILABLE, refused).
    pub failures: u64,
    /// True while it is set aside.
    pub ejected: bool,
}

/// A client of many servers. Thread-safe: use it from any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_balanced {
    pub(crate) client: Balanced,
    pub(crate) rt: RuntimeHandle,
}

/// Connects to the `count` URLs at `urls` (`tcp://`, `tls://` or `unix://`; 1 to 1024) on
/// `rt` with `opts` (NULL: the defaults; TLS settings apply to every `tls://` URL) and
/// picks servers with `policy` (a `muxwire_balance_policy`); stores the client in `*out`.
/// Servers that are down now join when they come up, so this fails only for a bad URL,
/// option or policy (INVALID_ARGUMENT). Calls fail fast: with no server up, a call fails
/// at once with UNAVAILABLE (wait_for_ready is not used). Not from a callback.
///
/// # Safety
/// `rt` and `opts` NULL or live; `urls` NULL (with `count` 0) or `count` pointers, each
/// NULL or a NUL-terminated string; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_connect(
    rt: *const muxwire_runtime,
    urls: *const *const c_char,
    count: usize,
    opts: *const muxwire_options,
    policy: i32,
    out: *mut *mut muxwire_balanced,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let (rt, opts) = unsafe { (obj(rt, "rt")?, options_or_default(opts)) };
        let out = Out::new(out, "out")?;
        // SAFETY: NULL with 0 or `count` readable pointers, each checked by `text`.
        let urls = unsafe { url_list(urls, count) }?;
        let policy = match policy {
            0 => Policy::PowerOfTwoChoices,
            1 => Policy::RoundRobin,
            _ => {
                return Err(Failure::invalid(format!(
                    "policy {policy} is not a muxwire_balance_policy (0 power of two \
                     choices, 1 round robin)"
                )))
            }
        };
        opts.validate()?;
        let mut balance = BalanceOptions::default();
        balance.policy = policy;
        let handle = rt.handle().clone();
        let client = handle.block_on(async move {
            let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
            Balanced::connect(&refs, opts, balance).await
        })??;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_balanced { client, rt: handle })) };
        Ok(())
    })
}

/// `method` checked: NULL_ARGUMENT, INVALID_ARGUMENT for bad UTF-8 or an empty name.
///
/// # Safety
/// `method` is NULL or a NUL-terminated string.
pub(crate) unsafe fn method_name<'a>(method: *const c_char) -> Outcome<&'a str> {
    // SAFETY: forwarded contract.
    let m = unsafe { text(method, "method") }?;
    if m.is_empty() {
        return Err(Failure::invalid("method is empty"));
    }
    Ok(m)
}

/// The URLs C handed in, checked and copied.
///
/// # Safety
/// `urls` NULL (with `count` 0) or `count` readable pointers, each NULL or a
/// NUL-terminated string.
unsafe fn url_list(urls: *const *const c_char, count: usize) -> Outcome<Vec<String>> {
    if count == 0 || count > MAX_ENDPOINTS {
        return Err(Failure::invalid(format!(
            "{count} URLs: a balanced client takes 1 to {MAX_ENDPOINTS}"
        )));
    }
    if urls.is_null() {
        return Err(Failure::null(&format!("urls (with count {count})")));
    }
    // SAFETY: not NULL, `count` readable pointers by the caller's contract.
    let list = unsafe { std::slice::from_raw_parts(urls, count) };
    list.iter()
        .enumerate()
        // SAFETY: each NULL or NUL-terminated, by the caller's contract.
        .map(|(i, p)| unsafe { text(*p, &format!("urls[{i}]")) }.map(str::to_string))
        .collect()
}

/// Calls `method` with the `body_len` bytes at `body` and `opts` (NULL: the defaults;
/// timeout, metadata, compression) on the server the policy picks, and waits for the
/// reply, stored in `*reply`. A failure that is safe to retry is retried on another
/// server, once per server at most. Otherwise as `muxwire_client_call_with`; not from a
/// callback (FAILED_PRECONDITION there).
///
/// # Safety
/// `client` NULL or live; `method` NULL or a NUL-terminated string; `body` NULL (with
/// `body_len` 0) or readable; `opts` NULL or live; `reply` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_call(
    client: *const muxwire_balanced,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
    opts: *const muxwire_call_options,
    reply: *mut *mut muxwire_reply,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (b, method, body, opts) = unsafe {
            (
                obj(client, "client")?,
                method_name(method)?,
                bytes(body, body_len, "body")?,
                call_options_or_default(opts),
            )
        };
        let out = Out::new(reply, "reply")?;
        let (c, method, body) = (
            b.client.clone(),
            method.to_string(),
            Bytes::copy_from_slice(body),
        );
        let body =
            b.rt.block_on(async move { c.call_with(&method, body, &opts).await })??;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_reply { body })) };
        Ok(())
    })
}

/// Sends a one-way message to the server the policy picks (no retry elsewhere). Not
/// from a callback.
///
/// # Safety
/// As for `muxwire_balanced_call`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_notify(
    client: *const muxwire_balanced,
    method: *const c_char,
    body: *const u8,
    body_len: usize,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (b, method, body) = unsafe {
            (
                obj(client, "client")?,
                method_name(method)?,
                bytes(body, body_len, "body")?,
            )
        };
        let (c, method, body) = (
            b.client.clone(),
            method.to_string(),
            Bytes::copy_from_slice(body),
        );
        b.rt.block_on(async move { c.notify(&method, body).await })??;
        Ok(())
    })
}

/// Copies the state and counts of the server at `url` (as given to
/// `muxwire_balanced_connect`) into `*out`; NOT_FOUND for a URL it does not have.
///
/// # Safety
/// `client` NULL or live; `url` NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_endpoint_stats(
    client: *const muxwire_balanced,
    url: *const c_char,
    out: *mut muxwire_endpoint_stats,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each NULL or valid, by the caller's contract.
        let (b, url) = unsafe { (obj(client, "client")?, text(url, "url")?) };
        let out = Out::new(out, "out")?;
        let e = b
            .client
            .endpoints()
            .into_iter()
            .find(|e| e.endpoint == url)
            .ok_or_else(|| {
                Failure::new(
                    muxwire_result::NotFound,
                    format!("the balanced client has no endpoint {url:?}"),
                )
            })?;
        let state = match e.state {
            ConnState::Connecting => muxwire_endpoint_state::Connecting,
            ConnState::Ready => muxwire_endpoint_state::Ready,
            ConnState::Shutdown => muxwire_endpoint_state::Shutdown,
            _ => muxwire_endpoint_state::TransientFailure,
        };
        let view = muxwire_endpoint_stats {
            state: state as i32,
            in_flight: e.in_flight,
            calls: e.calls,
            failures: e.failures,
            ejected: e.ejected,
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(view) };
        Ok(())
    })
}

/// Closes every server's connections gracefully (calls in flight finish); later calls
/// fail with UNAVAILABLE. Blocks until done; not from a callback. It must still be freed.
///
/// # Safety
/// `client` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_close(client: *const muxwire_balanced) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let b = unsafe { obj(client, "client") }?;
        let c = b.client.clone();
        b.rt.block_on(async move { c.close().await })?;
        Ok(())
    })
}

/// Frees the client; its connections drain in the background. NULL is accepted.
///
/// # Safety
/// `client` NULL or a client not freed before, no longer used by any other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_balanced_free(client: *mut muxwire_balanced) {
    // SAFETY: NULL or from muxwire_balanced_connect, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(client) }));
}
