//! A byte budget for what an application may queue on a connection before it has been
//! written: `reserve` waits while the budget is spent, and the permit gives its bytes back
//! when the frame is written (or dropped). The uncontended path is one atomic add.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::Status;

/// Bytes an application may have queued on one stream before `send` waits for the
/// connection to write them; also what one-way calls may have queued on one connection
/// before `notify` waits for it to encode them (see `commands`).
pub(crate) const QUEUE_BUDGET: usize = 4 << 20;

pub(crate) struct Budget {
    used: AtomicUsize,
    waiting: AtomicUsize,
    notify: Notify,
}

/// Bytes reserved in a [`Budget`], returned on drop.
pub(crate) struct Permit {
    budget: Arc<Budget>,
    n: usize,
}

impl Budget {
    pub(crate) fn new() -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            notify: Notify::new(),
        })
    }

    /// Reserves room for `len` bytes (at least 1, at most the whole budget, so that one
    /// large message always fits once the queue is empty).
    pub(crate) async fn reserve(self: &Arc<Budget>, len: usize) -> Result<Permit, Status> {
        let n = len.clamp(1, QUEUE_BUDGET);
        // Give the connection's tasks a turn now and then (tokio's cooperative budget), so
        // that a producer that never waits still leaves room for them to write.
        tokio::task::consume_budget().await;
        loop {
            let used = self.used.load(Ordering::Acquire);
            if used + n <= QUEUE_BUDGET {
                if self
                    .used
                    .compare_exchange_weak(used, used + n, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Permit {
                        budget: self.clone(),
                        n,
                    });
                }
                continue;
            }
            // Register before re-checking, so a release in between is not missed.
            let notified = self.notify.notified();
            self.waiting.fetch_add(1, Ordering::AcqRel);
            if self.used.load(Ordering::Acquire) + n > QUEUE_BUDGET {
                notified.await;
            }
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.n, Ordering::AcqRel);
        if self.budget.waiting.load(Ordering::Acquire) > 0 {
            self.budget.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_while_spent_and_wakes_on_release() {
        let b = Budget::new();
        let big = b.reserve(QUEUE_BUDGET).await.unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.reserve(10).await.map(|p| p.n) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "reserve waited while the budget was spent"
        );
        drop(big);
        assert_eq!(waiter.await.unwrap().unwrap(), 10);
        assert_eq!(
            b.reserve(usize::MAX).await.unwrap().n,
            QUEUE_BUDGET,
            "oversized asks fit alone"
        );
    }
}
