//! The log callback: the library's log records (from `tracing`) and panic messages go to
//! a function the host sets, never to stderr. With no callback set nothing is logged.

use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{OnceLock, RwLock};

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

use crate::args::UserData;
use crate::error::{c_string, Failure};
use crate::result::muxwire_result;

/// How much the library logs; each level includes those before it.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_log_level {
    /// Nothing.
    Off = 0,
    /// Failures the library could not handle for the caller.
    Error = 1,
    /// Something unexpected the library handled.
    Warn = 2,
    /// Connections and servers starting and stopping.
    Info = 3,
    /// Details of single calls and frames.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

/// Receives one log record: its level, where it comes from (a module path) and the
/// message with its fields. Both strings are valid only during the call. Called on any
/// thread, possibly on several at once; it must not call back into muxwire.
#[allow(non_camel_case_types)]
pub type muxwire_log_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: muxwire_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// The callback, without the Option.
pub(crate) type LogFn =
    unsafe extern "C" fn(*mut c_void, muxwire_log_level, *const c_char, *const c_char);

/// The callback and its userdata; and the most verbose level it gets (0: none).
pub(crate) static SINK: RwLock<Option<(LogFn, UserData)>> = RwLock::new(None);
pub(crate) static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);

/// Installs the forwarding subscriber once for the process.
pub(crate) fn install() -> Result<(), Failure> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(Forward)).is_ok()
    });
    if installed {
        Ok(())
    } else {
        Err(Failure::new(
            muxwire_result::FailedPrecondition,
            "another log dispatcher was set for this process before muxwire's",
        ))
    }
}

/// Hands a panic message to the callback at ERROR level.
pub(crate) fn emit_panic(message: &str) {
    emit(muxwire_log_level::Error, "muxwire::panic", message);
}

fn emit(level: muxwire_log_level, target: &str, message: &str) {
    if (level as u8) > MAX_LEVEL.load(Ordering::Acquire) {
        return;
    }
    let sink = *SINK.read().unwrap_or_else(|e| e.into_inner());
    if let Some((f, userdata)) = sink {
        let (target, message) = (c_string(target), c_string(message));
        // SAFETY: the host set `f` for exactly this call; the strings live across it.
        unsafe { f(userdata.get(), level, target.as_ptr(), message.as_ptr()) };
    }
}

fn level_of(level: &Level) -> muxwire_log_level {
    match *level {
        Level::ERROR => muxwire_log_level::Error,
        Level::WARN => muxwire_log_level::Warn,
        Level::INFO => muxwire_log_level::Info,
        Level::DEBUG => muxwire_log_level::Debug,
        _ => muxwire_log_level::Trace,
    }
}

/// The subscriber that forwards events to the callback; spans are ignored.
struct Forward;

impl Subscriber for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (level_of(metadata.level()) as u8) <= MAX_LEVEL.load(Ordering::Acquire)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match MAX_LEVEL.load(Ordering::Acquire) {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        emit(level_of(meta.level()), meta.target(), &text.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's message followed by its other fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }
}
