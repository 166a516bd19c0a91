//! The outcomes of a connection's unary calls. A unary call is the hot path of a client,
//! and a channel per call costs an allocation and a handful of atomic operations on both
//! sides. Instead each call takes a slot in this table when it is queued (under the
//! command queue's lock, which it takes anyway), the connection fills the slot with the
//! outcome (many per lock), and the caller takes it out when woken. Slots are reused, so
//! steady traffic allocates nothing.

use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::status::Status;

/// End of the free list.
const NONE: u32 = u32::MAX;

enum Slot {
    /// Unused; the next free slot.
    Free(u32),
    /// The call is under way; its caller waits to be woken.
    Waiting(Waker),
    /// The outcome, not yet taken.
    Done(Result<Bytes, Status>),
    /// The caller gave up (its future was dropped); freed when the outcome comes.
    Abandoned,
}

/// The slots of one connection's unary calls.
pub(crate) struct Replies {
    slots: Vec<Slot>,
    free: u32,
}

impl Default for Replies {
    fn default() -> Replies {
        Replies {
            slots: Vec::new(),
            free: NONE,
        }
    }
}

impl Replies {
    /// A slot for a new call whose caller `waker` wakes.
    pub(crate) fn insert(&mut self, waker: &Waker) -> u32 {
        let slot = Slot::Waiting(waker.clone());
        if self.free == NONE {
            self.slots.push(slot);
            return (self.slots.len() - 1) as u32;
        }
        let i = self.free;
        if let Slot::Free(next) = std::mem::replace(&mut self.slots[i as usize], slot) {
            self.free = next;
        }
        i
    }

    fn release(&mut self, i: u32) {
        self.slots[i as usize] = Slot::Free(self.free);
        self.free = i;
    }

    /// Records call `i`'s outcome; returns the waker of its caller, if one waits. Filling a
    /// slot twice keeps the first outcome.
    pub(crate) fn complete(&mut self, i: u32, result: Result<Bytes, Status>) -> Option<Waker> {
        let slot = self.slots.get_mut(i as usize)?;
        match std::mem::replace(slot, Slot::Done(result)) {
            Slot::Waiting(w) => Some(w),
            Slot::Abandoned => {
                self.release(i);
                None
            }
            earlier @ (Slot::Free(_) | Slot::Done(_)) => {
                *slot = earlier;
                None
            }
        }
    }

    /// Takes call `i`'s outcome (freeing the slot), or keeps `cx`'s waker for when it comes.
    pub(crate) fn poll(&mut self, i: u32, cx: &Context<'_>) -> Poll<Result<Bytes, Status>> {
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return Poll::Ready(Err(Status::internal("unknown reply slot")));
        };
        match std::mem::replace(slot, Slot::Abandoned) {
            Slot::Done(result) => {
                self.release(i);
                Poll::Ready(result)
            }
            Slot::Waiting(mut w) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
                *slot = Slot::Waiting(w);
                Poll::Pending
            }
            gone @ (Slot::Free(_) | Slot::Abandoned) => {
                *slot = gone;
                Poll::Ready(Err(Status::internal("reply slot already taken")))
            }
        }
    }

    /// The caller of call `i` stopped waiting. Returns true if the call was still under
    /// way (so it should be cancelled).
    pub(crate) fn abandon(&mut self, i: u32) -> bool {
        match self.slots.get(i as usize) {
            Some(Slot::Waiting(_)) => {
                self.slots[i as usize] = Slot::Abandoned;
                true
            }
            Some(Slot::Done(_)) => {
                self.release(i);
                false
            }
            _ => false,
        }
    }

    /// Ends every call still under way with `status` (the connection is gone); returns
    /// the wakers of their callers.
    pub(crate) fn fail_all(&mut self, status: &Status) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for i in 0..self.slots.len() as u32 {
            if let Some(w) = self.complete(i, Err(status.clone())) {
                wakers.push(w);
            }
        }
        wakers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn an_outcome_wakes_its_caller_once_and_the_slot_is_reused() {
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut r = Replies::default();
        let a = r.insert(&w);
        let b = r.insert(&w);
        assert_ne!(a, b);
        assert!(r.poll(a, &cx).is_pending());
        r.complete(a, Ok(Bytes::from_static(b"x"))).unwrap().wake();
        assert!(
            r.complete(a, Ok(Bytes::new())).is_none(),
            "the first outcome stays"
        );
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert_eq!(r.poll(a, &cx), Poll::Ready(Ok(Bytes::from_static(b"x"))));
        // The freed slot is taken next.
        assert_eq!(r.insert(&w), a);
        let wakers = r.fail_all(&Status::unavailable("gone"));
        assert_eq!(wakers.len(), 2);
        cx = Context::from_waker(&w);
        assert!(matches!(r.poll(b, &cx), Poll::Ready(Err(_))));
    }

    #[test]
    fn an_abandoned_call_frees_its_slot_when_the_outcome_comes() {
        let (_, w) = waker();
        let mut r = Replies::default();
        let a = r.insert(&w);
        assert!(r.abandon(a), "still under way: cancel it");
        assert!(r.complete(a, Ok(Bytes::new())).is_none());
        assert_eq!(r.insert(&w), a);
        r.complete(a, Ok(Bytes::new()));
        assert!(!r.abandon(a), "done: nothing to cancel");
        assert_eq!(r.insert(&w), a);
    }
}
