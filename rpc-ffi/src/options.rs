//! `muxwire_options`: settings for a client or a server, copied when they are used.

use std::time::Duration;

use muxwire::{Codec, Options};

use crate::args::{into_handle, obj, take_handle, Out};
use crate::boundary::{guard, guard_value};
use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;
use crate::tls_pieces::TlsPieces;

/// Most connections a client's pool may keep.
const MAX_POOL_SIZE: usize = 256;
/// Most worker threads a server may ask for.
const MAX_WORKER_THREADS: usize = 4096;

/// Compression codecs, as the wire numbers them.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_codec {
    /// No compression.
    Identity = 0,
    /// LZ4 frames.
    Lz4 = 1,
    /// Zstandard frames.
    Zstd = 2,
}

/// Settings for clients and servers. Setters may be called from any thread (they are
/// serialized); clients and servers copy the settings, so it may be freed right after use.
#[allow(non_camel_case_types)]
pub struct muxwire_options {
    pub(crate) opts: std::sync::Mutex<Options>,
    /// The TLS pieces set so far (their result is in `opts`).
    pub(crate) tls: std::sync::Mutex<TlsPieces>,
}

impl muxwire_options {
    /// A copy of the settings.
    pub(crate) fn snapshot(&self) -> Options {
        self.opts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The options for `opts` (NULL: the defaults).
///
/// # Safety
/// `opts` is NULL or a live options object.
pub(crate) unsafe fn options_or_default(opts: *const muxwire_options) -> Options {
    // SAFETY: NULL or live, by the caller's contract.
    match unsafe { opts.as_ref() } {
        Some(o) => o.snapshot(),
        None => Options::default(),
    }
}

/// Makes options with the defaults (no default call timeout, no compression, one
/// connection per client, 4 MiB messages) and stores them in `*out`.
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_new(out: *mut *mut muxwire_options) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        let o = muxwire_options {
            opts: std::sync::Mutex::new(Options::default()),
            tls: std::sync::Mutex::default(),
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(o)) };
        Ok(())
    })
}

/// Frees options. NULL is accepted and does nothing.
///
/// # Safety
/// `opts` is NULL or options not freed before.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_free(opts: *mut muxwire_options) {
    // SAFETY: NULL or from muxwire_options_new, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(opts) }));
}

/// Applies `f` to the options behind `opts`.
///
/// # Safety
/// `opts` is NULL or live.
pub(crate) unsafe fn edit(
    opts: *const muxwire_options,
    f: impl FnOnce(&mut Options) -> Outcome,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let o = unsafe { obj(opts, "opts") }?;
        let mut guard = o.opts.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    })
}

/// Timeout for calls that set none, in milliseconds (0: none, the default).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_timeout_ms(
    opts: *mut muxwire_options,
    timeout_ms: u64,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            o.default_timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
            Ok(())
        })
    }
}

/// The codec a `muxwire_codec` number names, or INVALID_ARGUMENT.
pub(crate) fn codec_of(codec: i32) -> Outcome<Codec> {
    match codec {
        0 => Ok(Codec::Identity),
        1 => Ok(Codec::Lz4),
        2 => Ok(Codec::Zstd),
        _ => Err(Failure::invalid(format!(
            "codec {codec} is not a muxwire_codec (0 identity, 1 lz4, 2 zstd)"
        ))),
    }
}

/// Compress outgoing messages with `codec` (a `muxwire_codec`) when the peer accepts it
/// (`MUXWIRE_CODEC_IDENTITY`: never, the default).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_compression(
    opts: *mut muxwire_options,
    codec: i32,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            o.compress_with = Some(codec_of(codec)?).filter(|c| *c != Codec::Identity);
            Ok(())
        })
    }
}

/// Connections a client keeps to its server, calls spread over them (1 to 256; default 1).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_pool_size(
    opts: *mut muxwire_options,
    connections: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            if !(1..=MAX_POOL_SIZE).contains(&connections) {
                return Err(Failure::invalid(format!(
                    "pool size {connections}: a client keeps 1 to {MAX_POOL_SIZE} connections"
                )));
            }
            o.pool_size = connections;
            Ok(())
        })
    }
}

/// Largest message accepted, in bytes (default 4 MiB). A larger incoming message fails
/// its call with RESOURCE_EXHAUSTED.
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_max_message_size(
    opts: *mut muxwire_options,
    bytes: u32,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            if bytes == 0 {
                return Err(Failure::invalid(
                    "max message size 0: must be at least 1 byte",
                ));
            }
            o.max_message_size = bytes;
            Ok(())
        })
    }
}

/// Worker threads at most for a server's handlers (1 to 4096; default one per core).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_worker_threads(
    opts: *mut muxwire_options,
    threads: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            if !(1..=MAX_WORKER_THREADS).contains(&threads) {
                return Err(Failure::invalid(format!(
                    "worker threads {threads}: must be 1 to {MAX_WORKER_THREADS}"
                )));
            }
            o.worker_threads = threads;
            Ok(())
        })
    }
}

/// Calls at most waiting for a worker thread before new ones are refused with
/// RESOURCE_EXHAUSTED (at least 1; default 1024).
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_worker_queue(
    opts: *mut muxwire_options,
    calls: usize,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            if calls == 0 {
                return Err(Failure::invalid(
                    "worker queue 0: at least one call must be able to wait for a worker",
                ));
            }
            o.worker_queue = calls;
            Ok(())
        })
    }
}

/// When true, a call made while the client is disconnected waits for a connection (up to
/// its timeout) instead of failing at once with UNAVAILABLE, and connecting succeeds
/// before the server is up. Default false.
///
/// # Safety
/// `opts` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_options_set_wait_for_ready(
    opts: *mut muxwire_options,
    wait: bool,
) -> muxwire_result {
    // SAFETY: forwarded contract.
    unsafe {
        edit(opts, |o| {
            o.wait_for_ready = wait;
            Ok(())
        })
    }
}
