//! `muxwire_server`: C handlers registered by method name, served on worker threads.

use std::collections::HashSet;
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use muxwire::{
    Context, Options, Responder, Router, Running, RuntimeHandle, Server, StatsSnapshot,
    TlsServerConfig,
};

use crate::args::{into_handle, obj, take_handle, text, Out, UserData};
use crate::boundary::{guard, guard_value};
use crate::entries::OwnedEntries;
use crate::error::{c_string, Failure, Outcome};
use crate::options::{muxwire_options, options_or_default};
use crate::responder::muxwire_responder;
use crate::result::muxwire_result;
use crate::runtime::muxwire_runtime;
use crate::server_stream::{muxwire_stream_handler_fn, serve};
use crate::stats::muxwire_stats;

/// Handles one call, on a worker thread (never a connection's thread): read the call with
/// `muxwire_responder_method` / `_request`, then answer it through `responder` now or
/// later, from any thread. `responder` belongs to the handler from here on.
#[allow(non_camel_case_types)]
pub type muxwire_handler_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, responder: *mut muxwire_responder)>;

/// The handler, without the Option.
type HandlerFn = unsafe extern "C" fn(*mut c_void, *mut muxwire_responder);

/// A server before it starts.
struct Building {
    router: Router,
    opts: Options,
    names: HashSet<String>,
    /// Streaming-handler threads in use (bounded by `opts.worker_threads`).
    stream_threads: Arc<AtomicUsize>,
}

enum State {
    /// Collecting handlers.
    Building(Box<Building>),
    /// Serving.
    Running {
        running: Running,
        rt: RuntimeHandle,
        endpoint: CString,
        /// Its TLS settings, shared with the listener (a reload changes what it serves).
        tls: Option<TlsServerConfig>,
    },
    /// Shutting down or shut down: the endpoint and the counters as they were at the end.
    Stopped {
        endpoint: CString,
        stats: Box<StatsSnapshot>,
    },
}

/// A server: register handlers, start it on a runtime and URL, shut it down. Thread-safe:
/// use it from any thread.
#[allow(non_camel_case_types)]
pub struct muxwire_server {
    state: Mutex<State>,
}

impl muxwire_server {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Makes a server with `opts` (NULL: the defaults) and stores it in `*out`.
///
/// # Safety
/// `opts` is NULL or live; `out` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_new(
    opts: *const muxwire_options,
    out: *mut *mut muxwire_server,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: NULL or live, by the caller's contract.
        let opts = unsafe { options_or_default(opts) };
        opts.validate()?;
        let state = State::Building(Box::new(Building {
            router: Router::new(),
            opts,
            names: HashSet::new(),
            stream_threads: Arc::default(),
        }));
        let s = muxwire_server {
            state: Mutex::new(state),
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(s)) };
        Ok(())
    })
}

/// Runs a C handler for one call, handing it a responder.
fn run_handler(
    f: HandlerFn,
    userdata: UserData,
    ctx: &Context,
    request: Bytes,
    responder: Responder,
) {
    let r = muxwire_responder {
        method: c_string(ctx.method()),
        request,
        responder,
        peer: ctx.peer().clone(),
        metadata: OwnedEntries::new(ctx.metadata().to_vec()),
        peer_view: std::sync::OnceLock::new(),
    };
    // SAFETY: the host registered `f` for its method; it now owns the responder.
    unsafe { f(userdata.get(), into_handle(r)) };
}

/// How a method is served.
enum Handler {
    Unary(HandlerFn),
    Streaming(crate::server_stream::StreamHandlerFn),
}

/// Adds `handler` for `method` to a server that has not started.
fn register(
    server: &muxwire_server,
    method: &str,
    handler: Handler,
    userdata: UserData,
) -> Outcome {
    if method.is_empty() {
        return Err(Failure::invalid("method is empty"));
    }
    let mut state = server.lock();
    let State::Building(b) = &mut *state else {
        return Err(Failure::new(
            muxwire_result::FailedPrecondition,
            format!("cannot add a handler for {method:?}: the server has started"),
        ));
    };
    if !b.names.insert(method.to_string()) {
        return Err(Failure::new(
            muxwire_result::AlreadyExists,
            format!("method {method:?} already has a handler"),
        ));
    }
    let taken = std::mem::take(&mut b.router);
    b.router = match handler {
        Handler::Unary(f) => taken
            .unary_worker(method, move |ctx: Context, req: Bytes, r: Responder| {
                run_handler(f, userdata, &ctx, req, r)
            }),
        Handler::Streaming(f) => {
            let max = b.opts.worker_threads;
            taken.streaming(method, serve(f, userdata, b.stream_threads.clone(), max))
        }
    };
    b.router.check()?;
    Ok(())
}

/// Registers `handler` for calls of `method`, before the server starts. Fails with
/// ALREADY_EXISTS if `method` has a handler and FAILED_PRECONDITION once started.
/// `userdata` is handed to every call of the handler, on worker threads, and must stay
/// valid while the handler may run: until `muxwire_server_shutdown` has returned (or the
/// runtime was freed) and every responder was answered or freed.
///
/// # Safety
/// `server` is NULL or live; `method` NULL or a NUL-terminated string; `handler` NULL or
/// a function safe to call from any thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_handle(
    server: *const muxwire_server,
    method: *const c_char,
    handler: muxwire_handler_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let (server, method) = unsafe { (obj(server, "server")?, text(method, "method")?) };
        let f = handler.ok_or_else(|| Failure::null("handler"))?;
        register(server, method, Handler::Unary(f), UserData(userdata))
    })
}

/// Registers a streaming `handler` for calls of `method`, before the server starts: each
/// call runs it on a thread of its own, at most `worker_threads` (an option) at once;
/// calls beyond that are refused with RESOURCE_EXHAUSTED, safe to retry. Errors and
/// `userdata` as for `muxwire_server_handle`.
///
/// # Safety
/// As for `muxwire_server_handle`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_handle_stream(
    server: *const muxwire_server,
    method: *const c_char,
    handler: muxwire_stream_handler_fn,
    userdata: *mut c_void,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let (server, method) = unsafe { (obj(server, "server")?, text(method, "method")?) };
        let f = handler.ok_or_else(|| Failure::null("handler"))?;
        register(server, method, Handler::Streaming(f), UserData(userdata))
    })
}

/// Changes the router of a server that has not started with `f`, which also sees the
/// registered method names; FAILED_PRECONDITION saying it cannot `what` once started.
pub(crate) fn edit_router(
    server: &muxwire_server,
    what: &str,
    f: impl FnOnce(Router, &HashSet<String>) -> Outcome<Router>,
) -> Outcome {
    let mut state = server.lock();
    let State::Building(b) = &mut *state else {
        return Err(Failure::new(
            muxwire_result::FailedPrecondition,
            format!("cannot {what}: the server has started"),
        ));
    };
    let router = f(b.router.clone(), &b.names)?;
    b.router = router;
    Ok(())
}

/// The TLS settings of a running server, or FAILED_PRECONDITION saying why there are none.
pub(crate) fn tls_of(server: &muxwire_server) -> Outcome<TlsServerConfig> {
    match &*server.lock() {
        State::Running { tls: Some(t), .. } => Ok(t.clone()),
        State::Running { tls: None, .. } => Err(Failure::new(
            muxwire_result::FailedPrecondition,
            "the server has no TLS certificate (muxwire_options_set_tls_server_*)",
        )),
        _ => Err(Failure::new(
            muxwire_result::FailedPrecondition,
            "the server is not running",
        )),
    }
}

/// The server's counters now (after shutdown: as they were when it began).
pub(crate) fn stats_of(server: &muxwire_server) -> StatsSnapshot {
    match &*server.lock() {
        State::Building(_) => StatsSnapshot::default(),
        State::Running { running, .. } => running.stats(),
        State::Stopped { stats, .. } => (**stats).clone(),
    }
}

/// A copy of the handlers of a server that has not started, for a client to serve calls
/// from its server with.
pub(crate) fn handlers_of(server: &muxwire_server) -> Outcome<Router> {
    match &*server.lock() {
        State::Building(b) => Ok(b.router.clone()),
        _ => Err(Failure::new(
            muxwire_result::FailedPrecondition,
            "handlers come from a server that was not started",
        )),
    }
}

/// Starts serving on `rt` at `url` (`tcp://host:port`, port 0 for any free one;
/// `unix:///path`) in the background. Fails with INVALID_ARGUMENT for a bad URL,
/// UNAVAILABLE if the address cannot be bound, FAILED_PRECONDITION if already started.
///
/// # Safety
/// `server` and `rt` are NULL or live; `url` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_start(
    server: *const muxwire_server,
    rt: *const muxwire_runtime,
    url: *const c_char,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or valid, by the caller's contract.
        let (server, rt, url) =
            unsafe { (obj(server, "server")?, obj(rt, "rt")?, text(url, "url")?) };
        let mut state = server.lock();
        let State::Building(b) = &mut *state else {
            return Err(Failure::new(
                muxwire_result::FailedPrecondition,
                "the server was started before",
            ));
        };
        let tls = b.opts.tls_server.clone();
        let srv = Server::new(std::mem::take(&mut b.router), b.opts.clone());
        let url = url.to_string();
        let handle = rt.handle().clone();
        let bound = handle.block_on(async move { srv.bind(&url).await });
        let running = match bound {
            Ok(Ok(r)) => r,
            Ok(Err(status)) | Err(status) => {
                // The router went into the failed server; a later start has no handlers
                // to serve, so refuse it.
                *state = State::Stopped {
                    endpoint: CString::default(),
                    stats: Box::default(),
                };
                return Err(status.into());
            }
        };
        let endpoint = c_string(&running.local_endpoint().to_string());
        *state = State::Running {
            running,
            rt: handle,
            endpoint,
            tls,
        };
        Ok(())
    })
}

/// Where the server listens, as a URL (with the real port when 0 was asked for), valid
/// until the server is freed; NULL if it never started (or for NULL).
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_endpoint(server: *const muxwire_server) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: NULL or live, by the caller's contract.
        let Some(server) = (unsafe { server.as_ref() }) else {
            return std::ptr::null();
        };
        match &*server.lock() {
            State::Running { endpoint, .. } => endpoint.as_ptr(),
            State::Stopped { endpoint, .. } if !endpoint.is_empty() => endpoint.as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// Copies the server's counters into `*out` (after shutdown: as they were when it began).
///
/// # Safety
/// `server` is NULL or live; `out` NULL or valid for writing a `muxwire_stats`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_stats(
    server: *const muxwire_server,
    out: *mut muxwire_stats,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        let out = Out::new(out, "out")?;
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(stats_of(server).into()) };
        Ok(())
    })
}

/// Shuts the server down gracefully: stops accepting, lets calls in flight finish for up
/// to `grace_ms` milliseconds (new calls are refused as safe to retry), then closes what
/// is left. Blocks until done; not from a callback (FAILED_PRECONDITION there). A server
/// that never started, or was shut down before, is left as it is (OK).
///
/// # Safety
/// `server` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_shutdown(
    server: *const muxwire_server,
    grace_ms: u64,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let server = unsafe { obj(server, "server") }?;
        stop(server, Duration::from_millis(grace_ms))
    })
}

fn stop(server: &muxwire_server, grace: Duration) -> Outcome {
    if RuntimeHandle::current().is_some() {
        return Err(Failure::new(
            muxwire_result::FailedPrecondition,
            "muxwire_server_shutdown blocks and cannot run on a library thread (a callback)",
        ));
    }
    let (running, rt) = {
        let mut state = server.lock();
        let State::Running {
            running, endpoint, ..
        } = &mut *state
        else {
            return Ok(());
        };
        let stats = Box::new(running.stats());
        let endpoint = std::mem::take(endpoint);
        match std::mem::replace(&mut *state, State::Stopped { endpoint, stats }) {
            State::Running { running, rt, .. } => (running, rt),
            _ => unreachable!("matched Running above"),
        }
    };
    // Outside the lock: handlers finishing their calls may read the server meanwhile.
    rt.block_on(async move { running.shutdown(grace).await })?;
    Ok(())
}

/// Frees the server; a running server stops accepting and its connections drain in the
/// background (use `muxwire_server_shutdown` first to wait for that). NULL is accepted
/// and does nothing.
///
/// # Safety
/// `server` is NULL or a server not freed before, no longer used by any other thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_server_free(server: *mut muxwire_server) {
    // SAFETY: NULL or from muxwire_server_new, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(server) }));
}
