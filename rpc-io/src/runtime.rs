//! The runtime connections run on, made explicit for hosts that have none of their own (a
//! C program, synchronous Python): [`Runtime`] owns one, [`RuntimeHandle`] names one, and
//! the blocking entry points wait on the calling thread while the work runs there.
//!
//! Blocking is refused, with FAILED_PRECONDITION, on a thread that is itself running an
//! async runtime: waiting there could stall or deadlock the very tasks that would finish
//! the work (tokio would panic instead).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::Status;

/// A multi-thread runtime owned by the library user. Dropping it stops its threads (and
/// with them every connection made on it).
pub struct Runtime {
    rt: tokio::runtime::Runtime,
}

impl Runtime {
    /// A runtime with `threads` worker threads (0: one per core), named `muxwire-rt-N`.
    pub fn new(threads: usize) -> Result<Runtime, Status> {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 0 {
            b.worker_threads(threads);
        }
        let rt = b
            .thread_name_fn(|| {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("muxwire-rt-{n}")
            })
            .enable_all()
            .build()
            .map_err(|e| Status::resource_exhausted(format!("cannot start a runtime: {e}")))?;
        Ok(Runtime { rt })
    }

    /// A handle to this runtime, to run work on it from anywhere.
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle(self.rt.handle().clone())
    }

    /// Runs `fut` on this runtime and waits for it on the calling thread (see
    /// [`RuntimeHandle::block_on`]).
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, Status>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().block_on(fut)
    }

    /// Stops the runtime, waiting up to `timeout` for its tasks to notice; connections
    /// still open are cut.
    pub fn shutdown(self, timeout: Duration) {
        self.rt.shutdown_timeout(timeout);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Names a runtime: one the library owns ([`Runtime::handle`]) or the caller's own
/// ([`RuntimeHandle::current`]). Cheap to clone.
#[derive(Clone)]
pub struct RuntimeHandle(tokio::runtime::Handle);

impl RuntimeHandle {
    /// The runtime of the calling task, if the caller runs on one.
    pub fn current() -> Option<RuntimeHandle> {
        tokio::runtime::Handle::try_current()
            .ok()
            .map(RuntimeHandle)
    }

    /// Starts `fut` on this runtime; it runs to completion whether or not anyone waits.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(fut));
    }

    /// Runs `fut` on this runtime and returns its output to an async caller on any
    /// runtime (or none): connections and servers made inside `fut` live on this one.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, Status>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(fut).await.map_err(join_error)
    }

    /// Runs `fut` on this runtime and waits for it on the calling thread. Fails with
    /// FAILED_PRECONDITION when called from a thread that runs an async runtime, and with
    /// UNAVAILABLE if the runtime shuts down first.
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, Status>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        refuse_inside_runtime()?;
        let task = self.0.spawn(fut);
        futures_block_on(task).map_err(join_error)
    }

    /// Polls `fut` on the calling thread, with this runtime's IO and timers available,
    /// for up to `timeout`; `None` if it is not done by then. The runtime's own threads
    /// drive that IO and those timers, so it must be a multi-thread runtime (as
    /// [`Runtime::new`] makes) or a current-thread one that another thread is running. `fut` stays valid and can
    /// be waited for again, so a host can check for its own interruptions (Ctrl-C in
    /// Python) between waits, and drop `fut` to cancel the work. Fails with
    /// FAILED_PRECONDITION on a thread that runs an async runtime.
    pub fn wait_for<F>(
        &self,
        fut: Pin<&mut F>,
        timeout: Duration,
    ) -> Result<Option<F::Output>, Status>
    where
        F: Future + ?Sized,
    {
        refuse_inside_runtime()?;
        let _guard = self.0.enter();
        Ok(futures_block_on(async {
            tokio::time::timeout(timeout, fut).await.ok()
        }))
    }
}

impl std::fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RuntimeHandle")
            .field(&self.0.runtime_flavor())
            .finish()
    }
}

fn refuse_inside_runtime() -> Result<(), Status> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Status::failed_precondition(
            "a blocking muxwire call was made on a thread that runs an async runtime; \
             it would stall the tasks it waits for: use the async API there, or call from \
             another thread",
        ));
    }
    Ok(())
}

fn join_error(e: tokio::task::JoinError) -> Status {
    if e.is_panic() {
        Status::internal("the task panicked")
    } else {
        Status::unavailable("the runtime shut down before the work finished")
    }
}

/// Waits for `fut` on this thread, parking between polls (no runtime needed: the work
/// itself runs on the runtime's threads, or `fut` entered one).
fn futures_block_on<F: Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_on_the_runtime_and_returns() {
        let rt = Runtime::new(1).unwrap();
        let name = rt
            .block_on(async { std::thread::current().name().map(str::to_string) })
            .unwrap();
        assert!(name.unwrap_or_default().starts_with("muxwire-rt-"));
    }

    #[test]
    fn blocking_inside_a_runtime_is_refused_not_a_panic() {
        let rt = Runtime::new(1).unwrap();
        let h = rt.handle();
        let inner = rt.block_on(async move { h.block_on(async { 1 }) }).unwrap();
        let e = inner.unwrap_err();
        assert_eq!(e.code, crate::StatusCode::FAILED_PRECONDITION);
        assert!(e.message.contains("async API"), "{e}");
    }

    #[test]
    fn wait_for_times_out_and_can_wait_again() {
        let rt = Runtime::new(1).unwrap();
        let h = rt.handle();
        let mut fut = std::pin::pin!(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            7
        });
        // Not done after a very short wait; done on a later one.
        let first = h.wait_for(fut.as_mut(), Duration::ZERO).unwrap();
        assert_eq!(first, None);
        let mut got = None;
        for _ in 0..1000 {
            if let Some(v) = h.wait_for(fut.as_mut(), Duration::from_millis(10)).unwrap() {
                got = Some(v);
                break;
            }
        }
        assert_eq!(got, Some(7));
    }

    #[test]
    fn a_panicking_task_is_an_internal_status() {
        let rt = Runtime::new(1).unwrap();
        let e = rt
            .block_on(async {
                panic!("boom");
            })
            .unwrap_err();
        assert_eq!(e.code, crate::StatusCode::INTERNAL);
    }
}
