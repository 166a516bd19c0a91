//! Completions from the runtime to an asyncio event loop.
//!
//! A [`LoopBridge`] belongs to one event loop. An asyncio call is a runtime future polled
//! on the loop's thread (see [`CallGuard::start`]), with no task spawned for it: its first
//! poll, on the loop's next pass with every other call made meanwhile, queues the work on
//! the connection. When the runtime wakes the future (from one of its threads, without the GIL), the future is
//! queued on the bridge, and the first one queued while none is pending wakes the loop;
//! run on the loop, the bridge polls every queued future at once and settles the asyncio
//! futures of those that finished, so under load many completions share one wake-up (and
//! one pass of the loop). The bridge also calls Python callables on the loop for the
//! runtime (starting a streaming handler).
//!
//! The wake-up is a write to an eventfd the loop watches (`loop.add_reader`): a runtime
//! thread never waits for the GIL, which the loop's thread holds whenever it runs Python.
//! Loops without `add_reader` (Windows' proactor) are woken with
//! `loop.call_soon_threadsafe`, which takes the GIL.

use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use muxwire::Status;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat};

use crate::errors::status_err;

/// A finished call, waiting to settle its future on the loop.
pub(crate) enum Outcome {
    /// A unary call's reply.
    Reply(Result<Bytes, Status>),
    /// A call with no reply body (notify).
    Done(Result<(), Status>),
    /// A round-trip time (ping).
    Elapsed(Result<Duration, Status>),
    /// A stream's next message (`None` at its end).
    Next(Option<Result<Bytes, Status>>),
    /// A Python object made on the loop (a connected client).
    Made(Result<Make, Status>),
}

/// Makes the Python object an [`Outcome::Made`] settles its future with.
pub(crate) type Make = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A runtime future polled on the loop's thread, and the asyncio future its outcome
/// settles.
pub(crate) struct Polled {
    /// The work, until it finishes or is cancelled (only the loop's thread locks it).
    work: Mutex<Option<Work>>,
    future: Py<PyAny>,
    bridge: Py<LoopBridge>,
    /// True while it waits in the bridge's queue (a second wake-up adds nothing).
    queued: AtomicBool,
}

/// The work behind an asyncio call.
type Work = Pin<Box<dyn Future<Output = Outcome> + Send>>;

impl Wake for Polled {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            LoopBridge::queue(&self.bridge, Item::Poll(self.clone()));
        }
    }
}

impl Polled {
    /// Polls the work once (on the loop's thread, with the GIL); its outcome if it
    /// finished.
    fn poll_work(self: &Arc<Self>) -> Option<Outcome> {
        self.queued.store(false, Ordering::Release);
        let mut slot = self.work.lock().unwrap_or_else(|e| e.into_inner());
        let work = slot.as_mut()?; // cancelled
        let waker = Waker::from(self.clone());
        let polled = {
            let _runtime = crate::runtime::enter();
            work.as_mut().poll(&mut Context::from_waker(&waker))
        };
        match polled {
            Poll::Ready(outcome) => {
                slot.take();
                Some(outcome)
            }
            Poll::Pending => None,
        }
    }

    /// Polls the work the runtime woke; settles the future if it finished.
    fn poll(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        match self.poll_work() {
            Some(outcome) => settle(py, self.future.bind(py), outcome),
            None => Ok(()),
        }
    }

    /// Drops the work (cancelling what it does on the wire).
    fn cancel(&self) {
        let work = self.work.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(work);
    }
}

/// What the bridge does on the loop.
enum Item {
    /// Poll a future the runtime woke.
    Poll(Arc<Polled>),
    /// `callable(make(py))`.
    Call(Arc<Py<PyAny>>, Make),
}

/// Work queued for the loop, and whether a drain is already scheduled.
#[derive(Default)]
struct Queue {
    ready: Vec<Item>,
    scheduled: bool,
}

/// Settles asyncio futures of one event loop with outcomes from runtime threads.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct LoopBridge {
    event_loop: Py<PyAny>,
    call_soon_threadsafe: Py<PyAny>,
    queue: Mutex<Queue>,
    /// The eventfd the loop watches, if it could be made.
    wake_fd: Option<OwnedFd>,
    /// True once the loop watches `wake_fd` (set by `_wake_by_fd`).
    by_fd: AtomicBool,
}

/// A non-blocking eventfd, or `None` if the system refuses one.
fn eventfd() -> Option<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor that
    // nothing else owns.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
        (fd >= 0).then(|| OwnedFd::from_raw_fd(fd))
    }
}

/// Adds one to the eventfd's counter (it cannot overflow in practice: the loop resets it).
fn signal(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live local buffer to a descriptor this bridge owns.
    #[allow(unsafe_code)]
    unsafe {
        libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len());
    }
}

/// Resets the eventfd's counter (nothing happens if it is zero).
fn reset(fd: &OwnedFd) {
    let mut buf = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live local buffer from a descriptor this
    // bridge owns.
    #[allow(unsafe_code)]
    unsafe {
        libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
    }
}

impl LoopBridge {
    /// Calls `callable(make(py))` on the loop (queued from any thread, without the GIL).
    pub(crate) fn call_soon(bridge: &Py<LoopBridge>, callable: Arc<Py<PyAny>>, make: Make) {
        LoopBridge::queue(bridge, Item::Call(callable, make));
    }

    fn queue(bridge: &Py<LoopBridge>, item: Item) {
        let this = bridge.get();
        let wake = {
            let mut q = this.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.ready.push(item);
            !std::mem::replace(&mut q.scheduled, true)
        };
        if !wake {
            return;
        }
        match &this.wake_fd {
            Some(fd) if this.by_fd.load(Ordering::Acquire) => signal(fd),
            _ => Python::attach(|py| {
                if let Err(err) = this.call_soon_threadsafe.call1(py, (bridge.clone_ref(py),)) {
                    // The loop is closed: nobody can await these futures any more.
                    let mut q = this.queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.ready.clear();
                    q.scheduled = false;
                    crate::log::warn(format!(
                        "an asyncio call finished after its event loop closed: {err}"
                    ));
                }
            }),
        }
    }
}

#[pymethods]
impl LoopBridge {
    /// A bridge to `event_loop`.
    #[new]
    fn new(event_loop: Bound<'_, PyAny>) -> PyResult<LoopBridge> {
        let call_soon_threadsafe = event_loop.getattr("call_soon_threadsafe")?.unbind();
        Ok(LoopBridge {
            event_loop: event_loop.unbind(),
            call_soon_threadsafe,
            queue: Mutex::default(),
            wake_fd: eventfd(),
            by_fd: AtomicBool::new(false),
        })
    }

    /// The eventfd to watch with `loop.add_reader(fd, bridge)`, or -1 if there is none.
    fn fileno(&self) -> i32 {
        self.wake_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Wakes the loop through the eventfd from now on (the loop watches it).
    fn _wake_by_fd(&self) {
        self.by_fd.store(self.wake_fd.is_some(), Ordering::Release);
    }

    /// The event loop this bridge settles futures on.
    #[getter]
    fn event_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    /// Settles every queued future (run on the loop when woken).
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(fd) = &self.wake_fd {
            // Before the queue is taken: a wake-up for anything queued later stays pending.
            reset(fd);
        }
        let ready = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.scheduled = false;
            std::mem::take(&mut q.ready)
        };
        // Every future is settled even if one fails; the first failure is raised.
        let mut first_error = None;
        for item in ready {
            let done = match item {
                Item::Poll(polled) => polled.poll(py),
                Item::Call(callable, make) => {
                    make(py).and_then(|made| callable.call1(py, (made,)).map(drop))
                }
            };
            if let Err(err) = done {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Sets `future`'s result or exception, unless it is already done (cancelled): tried
/// first, since that is the common case, and checked only if it fails.
fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    let result: Result<Bound<'_, PyAny>, Status> = match outcome {
        Outcome::Reply(r) => r.map(|b| PyBytes::new(py, &b).into_any()),
        Outcome::Done(r) => r.map(|()| py.None().into_bound(py)),
        Outcome::Elapsed(r) => r.map(|d| PyFloat::new(py, d.as_secs_f64()).into_any()),
        Outcome::Next(None) => Ok(py.None().into_bound(py)),
        Outcome::Next(Some(r)) => r.map(|b| PyBytes::new(py, &b).into_any()),
        Outcome::Made(r) => match r {
            Ok(make) => Ok(make(py)?.into_bound(py)),
            Err(status) => Err(status),
        },
    };
    let set = match result {
        Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,)),
        Err(status) => {
            let err = status_err(py, status);
            future.call_method1(pyo3::intern!(py, "set_exception"), (err.into_value(py),))
        }
    };
    match set {
        Ok(_) => Ok(()),
        // Cancelled while the call finished: nobody waits for the outcome.
        Err(_)
            if future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()? =>
        {
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// Cancels an asyncio call on the wire when cancelled or dropped before it finished.
#[pyclass(frozen, module = "muxwire._muxwire")]
pub(crate) struct CallGuard {
    polled: Arc<Polled>,
}

#[pymethods]
impl CallGuard {
    /// Cancels the call (nothing happens if it already finished).
    fn cancel(&self) {
        self.polled.cancel();
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.polled.cancel();
    }
}

impl CallGuard {
    /// Starts `work` (polled on the loop's thread, with the GIL, first on the loop's next
    /// pass) and settles `future` with its outcome on `bridge`'s loop; the guard cancels
    /// it.
    pub(crate) fn start<F>(bridge: Py<LoopBridge>, future: Py<PyAny>, work: F) -> CallGuard
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let polled = Arc::new(Polled {
            work: Mutex::new(Some(Box::pin(work))),
            future,
            bridge,
            queued: AtomicBool::new(false),
        });
        // Polled first on the loop's next pass, with every other call made on this one:
        // the connection's task is woken once for all of them (not once a call, each
        // wake-up a switch to a runtime thread), and a task that sends in a loop lets the
        // others run between its sends.
        polled.wake_by_ref();
        CallGuard { polled }
    }
}
