//! The runtime's log events, delivered to `logging.getLogger("muxwire")`.
//!
//! Events are formatted where they happen and queued (at most [`LOG_QUEUE`] waiting; more
//! are counted and reported as dropped) for one thread, `muxwire-log`, that takes the GIL
//! and hands them to the logger: a connection's task never waits for Python. Only events
//! at or above the logger's effective level are formatted; the level is read when a
//! client or server is made (and by `muxwire.refresh_log_level()`). The package adds a
//! `NullHandler`, so nothing reaches stderr unless the application configures logging.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// Log records waiting for the `muxwire-log` thread at most.
const LOG_QUEUE: usize = 1_024;

/// One event for Python's logging.
struct LogRecord {
    level: u8,
    target: &'static str,
    message: String,
}

/// Python's levels, and `u8::MAX` for "off".
const DEBUG: u8 = 10;
const INFO: u8 = 20;
const WARNING: u8 = 30;
const ERROR: u8 = 40;

/// The lowest Python level forwarded (the logger's effective level).
static MIN_LEVEL: AtomicU8 = AtomicU8::new(WARNING);

/// Records dropped because the queue was full, not yet reported.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The queue to the `muxwire-log` thread of this process.
static SENDER: Mutex<Option<(u32, SyncSender<LogRecord>)>> = Mutex::new(None);

fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => ERROR,
        Level::WARN => WARNING,
        Level::INFO => INFO,
        // TRACE goes to DEBUG too (Python has nothing finer).
        _ => DEBUG,
    }
}

/// Reads the effective level of `logging.getLogger("muxwire")`.
pub(crate) fn sync_level(py: Python<'_>) {
    let level = py
        .import("logging")
        .and_then(|m| m.call_method1("getLogger", ("muxwire",)))
        .and_then(|l| l.call_method0("getEffectiveLevel"))
        .and_then(|l| l.extract::<i64>());
    if let Ok(level) = level {
        MIN_LEVEL.store(level.clamp(0, 255) as u8, Ordering::Relaxed);
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Reads the level of `logging.getLogger("muxwire")` again, after the application changed it.
#[pyfunction]
pub(crate) fn refresh_log_level(py: Python<'_>) {
    sync_level(py);
}

/// Queues a warning from this module itself.
pub(crate) fn warn(message: String) {
    send(LogRecord {
        level: WARNING,
        target: "muxwire.python",
        message,
    });
}

fn send(record: LogRecord) {
    let slot = SENDER.lock().unwrap_or_else(|e| e.into_inner());
    let Some((pid, tx)) = slot.as_ref() else {
        return;
    };
    if *pid != std::process::id() {
        return;
    }
    if let Err(TrySendError::Full(_)) = tx.try_send(record) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the `muxwire-log` thread of this process (again in a `fork()` child) and
/// installs the subscriber if no other is installed.
pub(crate) fn after_runtime_start() {
    let pid = std::process::id();
    let mut slot = SENDER.lock().unwrap_or_else(|e| e.into_inner());
    if matches!(slot.as_ref(), Some((p, _)) if *p == pid) {
        return;
    }
    let (tx, rx) = sync_channel(LOG_QUEUE);
    let started = std::thread::Builder::new()
        .name("muxwire-log".into())
        .spawn(move || forward(rx));
    if started.is_ok() {
        *slot = Some((pid, tx));
    }
    drop(slot);
    // Fails if the process already has a global subscriber: then that one gets the events.
    let _ = tracing::subscriber::set_global_default(ToPython);
}

/// Hands queued records to Python's logging until every sender is gone.
fn forward(rx: Receiver<LogRecord>) {
    while let Ok(record) = rx.recv() {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        Python::attach(|py| {
            let logger = match py
                .import("logging")
                .and_then(|m| m.call_method1("getLogger", ("muxwire",)))
            {
                Ok(l) => l,
                Err(_) => return,
            };
            if dropped > 0 {
                let text = format!("{dropped} log records dropped: more than {LOG_QUEUE} waited");
                let _ = logger.call_method1("log", (WARNING, "%s", text));
            }
            let extra = pyo3::types::PyDict::new(py);
            let _ = extra.set_item("muxwire_target", record.target);
            let kwargs = pyo3::types::PyDict::new(py);
            let _ = kwargs.set_item("extra", extra);
            let _ = logger.call_method("log", (record.level, "%s", record.message), Some(&kwargs));
        });
    }
}

/// Stops forwarding (at interpreter exit): the thread ends once the queue is empty.
#[pyfunction]
pub(crate) fn _stop_logging() {
    SENDER.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// A `tracing` subscriber that formats enabled events and queues them for Python.
struct ToPython;

/// Collects an event's message and fields into one line.
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let sep = if self.0.is_empty() { "" } else { " " };
            let _ = write!(self.0, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let sep = if self.0.is_empty() { "" } else { " " };
            let _ = write!(self.0, "{sep}{}={value}", field.name());
        }
    }
}

impl Subscriber for ToPython {
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // Asked again at every event, since the level can change at run time.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && python_level(meta.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        send(LogRecord {
            level: python_level(event.metadata().level()),
            target: event.metadata().target(),
            message: line.0,
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
