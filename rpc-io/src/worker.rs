//! Handlers that run on worker threads, never on a connection's task, and answer through a
//! [`Responder`] that may complete from any thread, now or later. This is the seam foreign
//! code (a C callback, a Python function) is served through: however long it takes, the
//! connection keeps reading, writing and serving its other calls.
//!
//! The pool is bounded both ways: at most `Options::worker_threads` threads (started when
//! first needed) and at most `Options::worker_queue` calls waiting for one. A call that
//! finds the queue full is refused with RESOURCE_EXHAUSTED, marked safe to retry, and the
//! message names the option.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::handler::{BoxFuture, CancelState, Context, UnaryHandler};
use crate::Status;

/// A unary handler run on the worker pool. It gets the call's context and request and a
/// [`Responder`]; it may answer before returning or keep the responder and answer later
/// from any thread.
pub trait WorkerHandler: Send + Sync + 'static {
    /// Handles one call.
    fn call(&self, ctx: Context, request: Bytes, responder: Responder);
}

impl<F> WorkerHandler for F
where
    F: Fn(Context, Bytes, Responder) + Send + Sync + 'static,
{
    fn call(&self, ctx: Context, request: Bytes, responder: Responder) {
        self(ctx, request, responder)
    }
}

/// Answers one call, once, from any thread. Dropping it unanswered ends the call with
/// INTERNAL ("... dropped its responder without answering"), so a call is never left
/// waiting.
pub struct Responder {
    tx: oneshot::Sender<Result<Bytes, Status>>,
    ctx_cancel: Arc<CancelState>,
}

impl Responder {
    /// Replies with `body`. Fails with CANCELLED if the call is gone (the caller
    /// cancelled, its deadline passed or the connection closed); nothing was sent then.
    pub fn reply(self, body: Bytes) -> Result<(), Status> {
        self.finish(Ok(body))
    }

    /// Ends the call with `status`. Fails with CANCELLED if the call is already gone.
    pub fn fail(self, status: Status) -> Result<(), Status> {
        self.finish(Err(status))
    }

    /// Ends the call with `outcome` (a reply or a status).
    pub fn finish(self, outcome: Result<Bytes, Status>) -> Result<(), Status> {
        // Sent even to a cancelled call: its handler's future ends with it and frees the
        // call's state; the connection discards the answer.
        let cancelled = self.ctx_cancel.is_cancelled();
        if self.tx.send(outcome).is_err() || cancelled {
            return Err(Status::cancelled("the call ended before it was answered"));
        }
        Ok(())
    }

    /// True once the caller cancelled, the deadline passed or the connection died: the
    /// answer would be thrown away, so long work may stop early.
    pub fn is_cancelled(&self) -> bool {
        self.tx.is_closed() || self.ctx_cancel.is_cancelled()
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// One call waiting for a worker thread.
pub(crate) struct Job {
    handler: Arc<dyn WorkerHandler>,
    ctx: Context,
    request: Bytes,
    responder: Responder,
}

/// Work a pool thread runs.
pub(crate) trait Work: Send + 'static {
    /// Does the work (on a pool thread).
    fn run(self);
}

impl Work for Job {
    fn run(self) {
        if self.responder.is_cancelled() {
            // Nobody waits for the answer any more: skip the work.
            return;
        }
        let method = self.ctx.method().to_string();
        let Job {
            handler,
            ctx,
            request,
            responder,
        } = self;
        // A panic drops the responder inside the handler (or here), which ends the call;
        // the status says the handler panicked rather than that it forgot to answer.
        if let Err(status) = crate::panics::catch(method.as_bytes(), move || {
            handler.call(ctx, request, responder)
        }) {
            tracing::debug!(%method, %status, "worker handler panicked");
        }
    }
}

struct Queue<J> {
    jobs: VecDeque<J>,
    /// Threads started so far, and those waiting for a job.
    threads: usize,
    idle: usize,
    /// Set when the pool is dropped: threads finish the queue and exit.
    closed: bool,
}

impl<J> Default for Queue<J> {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
            closed: false,
        }
    }
}

/// A bounded pool of worker threads shared by a server's (or a client's) worker handlers.
/// Dropping it lets its threads finish the calls already queued and exit.
pub(crate) struct WorkerPool<J: Work = Job> {
    shared: Arc<Shared<J>>,
}

/// What the pool's threads share with it.
struct Shared<J> {
    queue: Mutex<Queue<J>>,
    ready: Condvar,
    max_threads: usize,
    max_queued: usize,
}

impl<J> Shared<J> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<J>> {
        // Jobs run outside the lock, so a poisoned lock still holds a consistent queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<J: Work> WorkerPool<J> {
    /// A pool of at most `max_threads` threads (at least 1) and `max_queued` waiting calls.
    pub(crate) fn new(max_threads: usize, max_queued: usize) -> Arc<WorkerPool<J>> {
        Arc::new(WorkerPool {
            shared: Arc::new(Shared {
                queue: Mutex::default(),
                ready: Condvar::new(),
                max_threads: max_threads.max(1),
                max_queued,
            }),
        })
    }

    /// Queues `job` for a worker, starting a thread if none is idle and the bound allows.
    fn submit(&self, job: J) -> Result<(), (Box<J>, Status)> {
        let shared = &self.shared;
        let mut q = shared.lock();
        if q.jobs.len() >= shared.max_queued {
            let status = Status::resource_exhausted(format!(
                "worker queue full: {} calls wait for a worker thread \
                 (Options::worker_queue)",
                shared.max_queued
            ))
            .with_retry_safe(true);
            return Err((Box::new(job), status));
        }
        q.jobs.push_back(job);
        if q.idle == 0 && q.threads < shared.max_threads {
            let n = q.threads;
            let for_thread = shared.clone();
            let started = std::thread::Builder::new()
                .name(format!("muxwire-worker-{n}"))
                .spawn(move || worker_loop(&for_thread));
            match started {
                Ok(_) => q.threads += 1,
                // The calls queued still run on the threads there are.
                Err(e) if q.threads > 0 => tracing::warn!(%e, "cannot start a worker thread"),
                Err(e) => {
                    let job = q.jobs.pop_back().expect("just queued");
                    let status =
                        Status::resource_exhausted(format!("cannot start a worker thread: {e}"))
                            .with_retry_safe(true);
                    return Err((Box::new(job), status));
                }
            }
        } else {
            shared.ready.notify_one();
        }
        Ok(())
    }
}

impl<J: Work> Drop for WorkerPool<J> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// A worker thread: runs queued calls until the pool is dropped and its queue is empty.
fn worker_loop<J: Work>(shared: &Shared<J>) {
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.closed {
                    q.threads -= 1;
                    return;
                }
                q.idle += 1;
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                q.idle -= 1;
            }
        };
        job.run();
    }
}

/// A [`WorkerHandler`] bound to a pool: the unary handler the router registers for it.
pub(crate) struct OnWorkers {
    pub(crate) handler: Arc<dyn WorkerHandler>,
    pub(crate) pool: Arc<WorkerPool>,
}

impl UnaryHandler for OnWorkers {
    fn call(&self, ctx: Context, request: Bytes) -> BoxFuture<Result<Bytes, Status>> {
        let (tx, rx) = oneshot::channel();
        let method = ctx.method.clone();
        let responder = Responder {
            tx,
            ctx_cancel: ctx.cancel.clone(),
        };
        let job = Job {
            handler: self.handler.clone(),
            ctx,
            request,
            responder,
        };
        if let Err((job, status)) = self.pool.submit(job) {
            drop(job);
            return Box::pin(std::future::ready(Err(status)));
        }
        Box::pin(async move {
            // Dropped when the call is cancelled: the responder then sees it.
            rx.await.unwrap_or_else(|_| {
                Err(Status::internal(format!(
                    "the handler for {:?} ended without answering (it dropped its \
                     responder, or panicked)",
                    String::from_utf8_lossy(&method)
                )))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test work: runs a closure, then reports on a channel.
    struct Task(Box<dyn FnOnce() + Send>, std::sync::mpsc::Sender<()>);

    impl Work for Task {
        fn run(self) {
            (self.0)();
            let _ = self.1.send(());
        }
    }

    #[test]
    fn threads_start_on_demand_up_to_the_bound_and_exit_with_the_pool() {
        let pool = WorkerPool::<Task>::new(2, 100);
        let shared = pool.shared.clone();
        assert_eq!(shared.lock().threads, 0, "no thread before the first call");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let gate = Arc::new(std::sync::Barrier::new(3));
        for _ in 0..2 {
            let g = gate.clone();
            let task = Task(
                Box::new(move || {
                    g.wait();
                }),
                done_tx.clone(),
            );
            pool.submit(task).map_err(|(_, s)| s).unwrap();
        }
        // Both run at once: the barrier needs both pool threads and this one.
        gate.wait();
        for _ in 0..5 {
            pool.submit(Task(Box::new(|| {}), done_tx.clone()))
                .map_err(|(_, s)| s)
                .unwrap();
        }
        for _ in 0..7 {
            done_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
        }
        assert_eq!(shared.lock().threads, 2, "never more than the bound");
        drop(pool);
        for _ in 0..1000 {
            if shared.lock().threads == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("worker threads outlived their pool");
    }

    #[test]
    fn a_full_queue_is_refused_naming_its_option() {
        let pool = WorkerPool::<Task>::new(1, 1);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let busy = Task(
            Box::new(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            }),
            done_tx.clone(),
        );
        pool.submit(busy).map_err(|(_, s)| s).unwrap();
        started_rx.recv().unwrap();
        pool.submit(Task(Box::new(|| {}), done_tx.clone()))
            .map_err(|(_, s)| s)
            .unwrap();
        let (_, status) = pool
            .submit(Task(Box::new(|| {}), done_tx.clone()))
            .expect_err("the queue is full");
        assert_eq!(
            status.code,
            muxwire_core::wire::StatusCode::RESOURCE_EXHAUSTED
        );
        assert!(status.retry_safe && status.message.contains("worker_queue"));
        release_tx.send(()).unwrap();
        for _ in 0..2 {
            done_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
        }
    }
}
