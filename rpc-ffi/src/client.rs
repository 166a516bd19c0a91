//! `muxwire_client`: connecting, counters, closing. The calls are in `call.rs`.

use muxwire::Client;

use crate::args::{into_handle, obj, take_handle, text, Out};
use crate::boundary::{guard, guard_value};
use crate::options::{muxwire_options, options_or_default};
use crate::result::muxwire_result;
use crate::runtime::muxwire_runtime;
use crate::server::{handlers_of, muxwire_server};
use crate::stats::muxwire_stats;

/// A client of one server: a pool of connections that reconnect on their own, carrying
/// any number of concurrent calls. Thread-safe: use it from any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_client {
    pub(crate) client: Client,
}

/// Connects to `url` (`tcp://host:port` or `unix:///path`) on `rt` with `opts` (NULL: the
/// defaults) and stores the client in `*out`. Blocks until the first connection is up
/// (or, with wait_for_ready, returns at once). Fails with INVALID_ARGUMENT for a bad URL
/// or option and UNAVAILABLE when the server cannot be reached.
///
/// # Safety
/// `rt` and `opts` are NULL or live; `url` is NULL or a NUL-terminated string; `out` is
/// NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_connect(
    rt: *const muxwire_runtime,
    url: *const std::ffi::c_char,
    opts: *const muxwire_options,
    out: *mut *mut muxwire_client,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each pointer is NULL or valid, by the caller's contract.
        let (rt, url, opts) =
            unsafe { (obj(rt, "rt")?, text(url, "url")?, options_or_default(opts)) };
        let out = Out::new(out, "out")?;
        opts.validate()?;
        let url = url.to_string();
        let client = rt
            .handle()
            .block_on(async move { Client::connect_with(&url, opts, None).await })??;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_client { client })) };
        Ok(())
    })
}

/// Connects like `muxwire_client_connect`, and serves calls the server makes back over
/// this client's connections with the handlers registered on `handlers`, a
/// `muxwire_server` that is never started (it lends its handlers and may be freed after
/// this returns). FAILED_PRECONDITION if `handlers` was started.
///
/// # Safety
/// As for `muxwire_client_connect`; `handlers` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_connect_serving(
    rt: *const muxwire_runtime,
    url: *const std::ffi::c_char,
    opts: *const muxwire_options,
    handlers: *const muxwire_server,
    out: *mut *mut muxwire_client,
) -> muxwire_result {
    guard(|| {
        // SAFETY: each pointer is NULL or valid, by the caller's contract.
        let (rt, url, opts, handlers) = unsafe {
            (
                obj(rt, "rt")?,
                text(url, "url")?,
                options_or_default(opts),
                obj(handlers, "handlers")?,
            )
        };
        let out = Out::new(out, "out")?;
        opts.validate()?;
        let router = handlers_of(handlers)?;
        let url = url.to_string();
        let client = rt
            .handle()
            .block_on(async move { Client::connect_with(&url, opts, Some(router)).await })??;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(muxwire_client { client })) };
        Ok(())
    })
}

/// Copies the client's counters into `*out`.
///
/// # Safety
/// `client` is NULL or live; `out` is NULL or valid for writing a `muxwire_stats`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_stats(
    client: *const muxwire_client,
    out: *mut muxwire_stats,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(client, "client") }?;
        let out = Out::new(out, "out")?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(c.client.stats().into()) };
        Ok(())
    })
}

/// Closes the client gracefully: calls in flight finish, then its connections close;
/// later calls fail with UNAVAILABLE. Blocks until done; not from a callback (fails with
/// FAILED_PRECONDITION there). The client must still be freed.
///
/// # Safety
/// `client` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_close(client: *const muxwire_client) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let c = unsafe { obj(client, "client") }?;
        let client = c.client.clone();
        c.client
            .runtime()
            .block_on(async move { client.close().await })?;
        Ok(())
    })
}

/// Frees the client: its connections drain in the background (calls in flight finish and
/// their callbacks still run). NULL is accepted and does nothing. Safe from a callback.
///
/// # Safety
/// `client` is NULL or a client not freed before, no longer used by any other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_client_free(client: *mut muxwire_client) {
    // SAFETY: NULL or from muxwire_client_connect, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(client) }));
}
