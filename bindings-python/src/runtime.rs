//! The one runtime per process that every client and server of the module runs on, and
//! what happens across `fork()`.
//!
//! The runtime's threads do not survive `fork()`: a child that inherited a runtime gets a
//! fresh one the first time it needs one (the parent's is left alone, never dropped, since
//! dropping it would wait for threads that do not exist there). Objects made before the
//! fork refuse to be used in the child with `MuxwireError` (see [`Owner`]).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use muxwire::{Runtime, RuntimeHandle};
use pyo3::prelude::*;

use crate::errors::muxwire_err;

/// The process's runtime, with the process id it was started in and the tokio handle
/// behind it (futures polled on Python threads enter it: see [`enter`]).
#[allow(clippy::type_complexity)]
static RUNTIME: Mutex<Option<(u32, RuntimeHandle, &'static tokio::runtime::Handle)>> =
    Mutex::new(None);

/// This process's id, kept up to date across `fork()` (0 until first asked for): checked on
/// every call, and `getpid()` is a system call.
static PID: AtomicU32 = AtomicU32::new(0);
static AT_FORK: Once = Once::new();

extern "C" fn forked_child() {
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// This process's id, without a system call once known.
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            AT_FORK.call_once(|| {
                // SAFETY: registers a handler that only stores the child's pid in an atomic
                // (async-signal-safe: getpid and an atomic store).
                #[allow(unsafe_code)]
                unsafe {
                    libc::pthread_atfork(None, None, Some(forked_child));
                }
            });
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Enters the runtime's context on this thread (for polling a runtime future on a Python
/// thread: its timers and IO are then the runtime's); `None` before the runtime of this
/// process started.
pub(crate) fn enter() -> Option<tokio::runtime::EnterGuard<'static>> {
    let slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref() {
        Some((owner, _, tokio)) if *owner == pid() => Some(tokio.enter()),
        _ => None,
    }
}

/// Worker threads for the next runtime started (0: the default, two).
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads of the runtime when `set_runtime_threads` was not called: enough to keep a
/// socket reader and writer busy while Python runs, few enough to leave cores to Python.
const DEFAULT_THREADS: usize = 2;

/// The runtime of this process, started on first use (again in a forked child).
pub(crate) fn handle(py: Python<'_>) -> PyResult<RuntimeHandle> {
    let pid = pid();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, handle, _)) = slot.as_ref() {
        if *owner == pid {
            return Ok(handle.clone());
        }
    }
    let threads = match THREADS.load(Ordering::Relaxed) {
        0 => DEFAULT_THREADS,
        n => n,
    };
    let runtime = Runtime::new(threads).map_err(|s| crate::errors::status_err(py, s))?;
    // Lives as long as the process: connections made on it end when the process does.
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    let handle = runtime.handle();
    let tokio = runtime
        .block_on(async { tokio::runtime::Handle::current() })
        .map_err(|s| crate::errors::status_err(py, s))?;
    *slot = Some((pid, handle.clone(), Box::leak(Box::new(tokio))));
    crate::log::after_runtime_start();
    Ok(handle)
}

/// Sets the runtime's worker threads; fails once the runtime of this process is running.
#[pyfunction]
pub(crate) fn set_runtime_threads(py: Python<'_>, threads: usize) -> PyResult<()> {
    let slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if matches!(slot.as_ref(), Some((owner, _, _)) if *owner == pid()) {
        return Err(muxwire_err(
            py,
            "the runtime is already running: call set_runtime_threads before the first \
             Client or Server",
        ));
    }
    if !(1..=256).contains(&threads) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "threads must be between 1 and 256",
        ));
    }
    THREADS.store(threads, Ordering::Relaxed);
    Ok(())
}

/// The process an object was made in: used in another (a `fork()` child), it refuses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pid: u32,
    what: &'static str,
}

impl Owner {
    /// An owner for an object of kind `what` made now, in this process.
    pub(crate) fn here(what: &'static str) -> Owner {
        Owner { pid: pid(), what }
    }

    /// True if this is still the process the object was made in.
    pub(crate) fn is_home(&self) -> bool {
        self.pid == pid()
    }

    /// Fails with `MuxwireError` in a process other than the one the object was made in.
    pub(crate) fn check(&self, py: Python<'_>) -> PyResult<()> {
        if self.is_home() {
            return Ok(());
        }
        Err(muxwire_err(
            py,
            format!(
                "this {} was made in process {} before fork(); its connections stayed there: \
                 make clients and servers after fork()",
                self.what, self.pid
            ),
        ))
    }
}
