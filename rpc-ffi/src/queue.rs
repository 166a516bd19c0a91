//! `muxwire_queue`: completions of asynchronous calls, collected for a C event loop that
//! waits on a file descriptor (poll, epoll, libuv) or blocks on the queue itself.

use std::collections::VecDeque;
use std::ffi::{c_char, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use muxwire::Status;

use crate::args::{into_handle, obj, take_handle, Out};
use crate::boundary::{guard, guard_value};
use crate::entries::{muxwire_entry, OwnedEntries};
use crate::error::{c_string, Failure, Outcome};
use crate::outcome::split;
use crate::result::muxwire_result;

/// Default for calls in flight plus completions not yet taken, per queue.
const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// One finished call, as `muxwire_queue_next` hands it out.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_completion {
    /// The tag given when the call was started.
    pub tag: u64,
    /// `MUXWIRE_RESULT_OK` or the call's status code.
    pub status: muxwire_result,
    /// The reply (NULL unless OK); valid until the next `muxwire_queue_next` or
    /// `muxwire_queue_wait` on this queue, or its free.
    pub body: *const u8,
    /// The reply's length.
    pub body_len: usize,
    /// Why the call failed ("" when OK), NUL-terminated; valid as long as `body`.
    pub message: *const c_char,
    /// The failed call's status DETAILS (opaque bytes the handler attached), NULL when
    /// none; valid as long as `body`.
    pub details: *const u8,
    /// Their length.
    pub details_len: usize,
    /// The failed call's trailers (the entries its STATUS carried, in order), NULL when
    /// none; valid as long as `body`.
    pub trailers: *const muxwire_entry,
    /// How many.
    pub trailers_count: usize,
}

/// A finished call waiting to be taken.
struct Done {
    tag: u64,
    status: muxwire_result,
    body: Bytes,
    message: CString,
    details: Option<Bytes>,
    trailers: OwnedEntries,
}

struct State {
    ready: VecDeque<Done>,
    /// Calls started on this queue and not yet finished.
    pending: usize,
}

/// What the queue shares with the calls that complete into it.
pub(crate) struct QueueShared {
    state: Mutex<State>,
    changed: Condvar,
    capacity: usize,
    /// The pipe: one byte sits in it while completions are ready.
    read_end: OwnedFd,
    write_end: OwnedFd,
}

impl QueueShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves room for one more call, or RESOURCE_EXHAUSTED naming the capacity.
    pub(crate) fn reserve(&self) -> Outcome {
        let mut s = self.lock();
        if s.pending + s.ready.len() >= self.capacity {
            return Err(Failure::new(
                muxwire_result::ResourceExhausted,
                format!(
                    "completion queue full: {} calls in flight or not yet taken \
                     (capacity set by muxwire_queue_new)",
                    self.capacity
                ),
            ));
        }
        s.pending += 1;
        Ok(())
    }

    /// Adds the outcome of a reserved call.
    pub(crate) fn push(&self, tag: u64, outcome: Result<Bytes, Status>) {
        let s = split(outcome);
        let done = Done {
            tag,
            status: s.status,
            body: s.body,
            message: c_string(&s.message),
            details: s.details.filter(|d| !d.is_empty()),
            trailers: OwnedEntries::new(s.trailers),
        };
        let mut s = self.lock();
        s.pending = s.pending.saturating_sub(1);
        s.ready.push_back(done);
        if s.ready.len() == 1 {
            self.signal();
        }
        self.changed.notify_all();
    }

    /// Puts the one byte in the pipe (called with the state locked, queue now non-empty).
    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live local to our own open, non-blocking pipe.
        let _ = unsafe { libc::write(self.write_end.as_raw_fd(), (&raw const byte).cast(), 1) };
    }

    /// Takes the byte out of the pipe (called with the state locked, queue now empty).
    fn unsignal(&self) {
        let mut buf = [0u8; 16];
        loop {
            // SAFETY: reads into a live local buffer of its stated size from our own pipe.
            let n = unsafe {
                libc::read(
                    self.read_end.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
        }
    }

    /// The next ready completion, if any.
    fn pop(&self, state: &mut State) -> Option<Done> {
        let done = state.ready.pop_front()?;
        if state.ready.is_empty() {
            self.unsignal();
        }
        Some(done)
    }
}

/// A completion queue. Calls started with `muxwire_client_call_queued` finish into it;
/// take their outcomes with `muxwire_queue_next` (non-blocking) or `muxwire_queue_wait`.
/// Its file descriptor is readable exactly while completions are ready. One thread at a
/// time may take completions; any thread may start calls on it.
#[allow(non_camel_case_types)]
pub struct muxwire_queue {
    pub(crate) shared: Arc<QueueShared>,
    /// The completion last handed out; its pointers stay valid until the next one.
    current: Mutex<Option<Done>>,
}

/// Makes a completion queue holding at most `capacity` calls in flight plus completions
/// not yet taken (0: the default, 4096); starting a call beyond that fails with
/// RESOURCE_EXHAUSTED.
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn muxwire_queue_new(
    capacity: usize,
    out: *mut *mut muxwire_queue,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(out, "out")?;
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two descriptors into the live two-element array.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(Failure::new(
                muxwire_result::ResourceExhausted,
                format!(
                    "cannot make the completion queue's pipe: {}",
                    std::io::Error::last_os_error()
                ),
            ));
        }
        // SAFETY: both descriptors were just opened by pipe2 and belong to no one else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let shared = Arc::new(QueueShared {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                pending: 0,
            }),
            changed: Condvar::new(),
            capacity: if capacity == 0 {
                DEFAULT_QUEUE_CAPACITY
            } else {
                capacity
            },
            read_end,
            write_end,
        });
        let q = muxwire_queue {
            shared,
            current: Mutex::new(None),
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(into_handle(q)) };
        Ok(())
    })
}

/// The queue's file descriptor (-1 for NULL): readable while completions are ready. Wait
/// on it for readability only; never read, write or close it.
///
/// # Safety
/// `queue` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn muxwire_queue_fd(queue: *const muxwire_queue) -> i32 {
    guard_value(-1, || {
        // SAFETY: NULL or live, by the caller's contract.
        let q = unsafe { queue.as_ref() };
        q.map_or(-1, |q| q.shared.read_end.as_raw_fd())
    })
}

/// Hands out `done` through `out`, keeping it alive until the next one.
///
/// # Safety
/// `out` came from a checked pointer valid for writes.
unsafe fn hand_out(q: &muxwire_queue, done: Done, out: Out<muxwire_completion>) {
    let mut current = q.current.lock().unwrap_or_else(|e| e.into_inner());
    let done = current.insert(done);
    let (trailers, trailers_count) = done.trailers.as_c();
    let c = muxwire_completion {
        tag: done.tag,
        status: done.status,
        body: if done.status == muxwire_result::Ok {
            done.body.as_ptr()
        } else {
            std::ptr::null()
        },
        body_len: done.body.len(),
        message: done.message.as_ptr(),
        details: done
            .details
            .as_ref()
            .map_or(std::ptr::null(), |d| d.as_ptr()),
        details_len: done.details.as_ref().map_or(0, Bytes::len),
        trailers,
        trailers_count,
    };
    // SAFETY: forwarded contract.
    unsafe { out.write(c) };
}

/// Takes the next completion into `*out` without waiting; `MUXWIRE_RESULT_AGAIN` (and
/// `*out` untouched) if none is ready. The previous completion's pointers become invalid.
///
/// # Safety
/// `queue` is NULL or live; `out` is NULL or valid for writing a `muxwire_completion`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_queue_next(
    queue: *const muxwire_queue,
    out: *mut muxwire_completion,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let q = unsafe { obj(queue, "queue") }?;
        let out = Out::new(out, "out")?;
        let done = {
            let mut s = q.shared.lock();
            q.shared.pop(&mut s)
        };
        let done =
            done.ok_or_else(|| Failure::new(muxwire_result::Again, "no completion is ready"))?;
        // SAFETY: `out` checked; writable by the caller's contract.
        unsafe { hand_out(q, done, out) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds for the next completion and takes it into
/// `*out`; `MUXWIRE_RESULT_AGAIN` if none came in time. The previous completion's pointers
/// become invalid. Do not call it from a callback.
///
/// # Safety
/// `queue` is NULL or live; `out` is NULL or valid for writing a `muxwire_completion`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_queue_wait(
    queue: *const muxwire_queue,
    timeout_ms: u32,
    out: *mut muxwire_completion,
) -> muxwire_result {
    guard(|| {
        // SAFETY: NULL or live, by the caller's contract.
        let q = unsafe { obj(queue, "queue") }?;
        let out = Out::new(out, "out")?;
        let until = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let mut s = q.shared.lock();
        let done = loop {
            if let Some(d) = q.shared.pop(&mut s) {
                break d;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::new(
                    muxwire_result::Again,
                    format!("no completion within {timeout_ms} ms"),
                ));
            }
            s = q
                .shared
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(s);
        // SAFETY: `out` checked; writable by the caller's contract.
        unsafe { hand_out(q, done, out) };
        Ok(())
    })
}

/// Frees a queue. Calls still in flight on it finish and their outcomes are dropped (the
/// queue's memory goes once the last of them ends). NULL is accepted and does nothing.
///
/// # Safety
/// `queue` is NULL or a queue not freed before, no longer used by any thread.
#[no_mangle]
pub unsafe extern "C" fn muxwire_queue_free(queue: *mut muxwire_queue) {
    // SAFETY: NULL or from muxwire_queue_new, by the caller's contract.
    guard_value((), || drop(unsafe { take_handle(queue) }));
}
