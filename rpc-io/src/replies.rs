//! The outcomes of a connection's calls: the one completion mechanism, with a variant per
//! kind of caller. A call is the hot path of a client, and a channel per call costs an
//! allocation and a handful of atomic operations on both sides. Instead each call takes a
//! slot in this table when it is queued (under the command queue's lock, which it takes
//! anyway) and says how its outcome is to be handed over ([`Completion`]): a task that
//! polls the slot and is woken, or a callback. The connection fills the slots with outcomes
//! (many per lock). Slots are reused, so steady traffic allocates nothing.

use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::status::Status;

/// End of the free list.
const NONE: u32 = u32::MAX;

/// A function that takes a call's outcome, once.
pub(crate) type Callback = Box<dyn FnOnce(Result<Bytes, Status>) + Send + 'static>;

/// How a call's caller learns its outcome.
pub(crate) enum Completion {
    /// A task polls the slot ([`Replies::poll`]) and is woken when the outcome is in.
    Wake(Waker),
    /// A function takes the outcome; the connection runs it off its own task.
    Callback(Callback),
}

/// An outcome ready to be handed over, taken out of the table so that the hand-over runs
/// outside its lock.
pub(crate) enum Ready {
    /// Wake the task that will take the outcome from its slot.
    Wake(Waker),
    /// Call the callback with the outcome.
    Run(Callback, Result<Bytes, Status>),
}

enum Slot {
    /// Unused; the next free slot.
    Free(u32),
    /// The call is under way; its caller waits for the outcome.
    Waiting(Completion),
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
    /// A slot for a new call whose outcome goes to `to`.
    pub(crate) fn insert(&mut self, to: Completion) -> u32 {
        let slot = Slot::Waiting(to);
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

    /// Records call `i`'s outcome; returns how to hand it over, if someone waits for it.
    /// Filling a slot twice keeps the first outcome.
    pub(crate) fn complete(&mut self, i: u32, result: Result<Bytes, Status>) -> Option<Ready> {
        let slot = self.slots.get_mut(i as usize)?;
        match std::mem::replace(slot, Slot::Abandoned) {
            Slot::Waiting(Completion::Wake(w)) => {
                *slot = Slot::Done(result);
                Some(Ready::Wake(w))
            }
            Slot::Waiting(Completion::Callback(f)) => {
                self.release(i);
                Some(Ready::Run(f, result))
            }
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
            Slot::Waiting(Completion::Wake(mut w)) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
                *slot = Slot::Waiting(Completion::Wake(w));
                Poll::Pending
            }
            // Nobody polls a callback's slot; the callback gets the outcome.
            waiting @ Slot::Waiting(Completion::Callback(_)) => {
                *slot = waiting;
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
    /// the hand-overs of their outcomes.
    pub(crate) fn fail_all(&mut self, status: &Status) -> Vec<Ready> {
        let mut ready = Vec::new();
        for i in 0..self.slots.len() as u32 {
            if matches!(self.slots[i as usize], Slot::Waiting(_) | Slot::Abandoned) {
                ready.extend(self.complete(i, Err(status.clone())));
            }
        }
        ready
    }
}

/// Outcomes for callbacks, taken out of the table.
pub(crate) type Runs = Vec<(Callback, Result<Bytes, Status>)>;

/// Sorts `ready` outcomes into the tasks to wake and the callbacks to run.
pub(crate) fn sort(ready: Ready, wakers: &mut Vec<Waker>, runs: &mut Runs) {
    match ready {
        Ready::Wake(w) => wakers.push(w),
        Ready::Run(f, result) => runs.push((f, result)),
    }
}

/// Wakes `wakers` and runs `runs` (see [`run_callbacks`]): every hand-over of outcomes
/// ends so, once the table's lock is released.
pub(crate) fn hand_over(wakers: impl Iterator<Item = Waker>, runs: Runs) {
    wakers.for_each(Waker::wake);
    run_callbacks(runs);
}

/// Runs callbacks with their outcomes on one task of the current runtime (a callback may
/// be slow, so never on the connection's own task), each guarded so that one that panics
/// does not lose the others. Outside a runtime (a connection torn down as its runtime
/// shuts down) they run here.
pub(crate) fn run_callbacks(runs: Runs) {
    if runs.is_empty() {
        return;
    }
    let run = move || {
        for (f, result) in runs {
            let call = std::panic::AssertUnwindSafe(move || f(result));
            if std::panic::catch_unwind(call).is_err() {
                tracing::error!("a call's completion callback panicked");
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn(async move { run() })),
        Err(_) => run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muxwire_core::wire::StatusCode;
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
        let a = r.insert(Completion::Wake(w.clone()));
        let b = r.insert(Completion::Wake(w.clone()));
        assert_ne!(a, b);
        assert!(r.poll(a, &cx).is_pending());
        let Some(Ready::Wake(wake)) = r.complete(a, Ok(Bytes::from_static(b"x"))) else {
            panic!("a waiting task is woken");
        };
        wake.wake();
        assert!(
            r.complete(a, Ok(Bytes::new())).is_none(),
            "the first outcome stays"
        );
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert_eq!(r.poll(a, &cx), Poll::Ready(Ok(Bytes::from_static(b"x"))));
        // The freed slot is taken next.
        assert_eq!(r.insert(Completion::Wake(w.clone())), a);
        let ready = r.fail_all(&Status::unavailable("gone"));
        assert_eq!(ready.len(), 2);
        cx = Context::from_waker(&w);
        assert!(matches!(r.poll(b, &cx), Poll::Ready(Err(_))));
    }

    #[test]
    fn an_abandoned_call_frees_its_slot_when_the_outcome_comes() {
        let (_, w) = waker();
        let mut r = Replies::default();
        let a = r.insert(Completion::Wake(w.clone()));
        assert!(r.abandon(a), "still under way: cancel it");
        assert!(r.complete(a, Ok(Bytes::new())).is_none());
        assert_eq!(r.insert(Completion::Wake(w.clone())), a);
        r.complete(a, Ok(Bytes::new()));
        assert!(!r.abandon(a), "done: nothing to cancel");
        assert_eq!(r.insert(Completion::Wake(w.clone())), a);
    }

    #[test]
    fn a_callback_takes_its_outcome_and_frees_its_slot() {
        let (_, w) = waker();
        let mut r = Replies::default();
        let got = Arc::new(std::sync::Mutex::new(None));
        let sink = got.clone();
        let a = r.insert(Completion::Callback(Box::new(move |out| {
            *sink.lock().unwrap() = Some(out);
        })));
        let cx = Context::from_waker(&w);
        assert!(
            r.poll(a, &cx).is_pending(),
            "nobody takes a callback's outcome"
        );
        let Some(Ready::Run(f, out)) = r.complete(a, Ok(Bytes::from_static(b"y"))) else {
            panic!("a callback gets its outcome");
        };
        f(out);
        assert_eq!(*got.lock().unwrap(), Some(Ok(Bytes::from_static(b"y"))));
        // The slot is free at once, and failing the rest finds nothing.
        assert_eq!(r.insert(Completion::Wake(w.clone())), a);
        assert_eq!(r.fail_all(&Status::unavailable("gone")).len(), 1);
    }

    #[test]
    fn failing_all_reaches_callbacks_and_abandoned_slots() {
        let (_, w) = waker();
        let mut r = Replies::default();
        let cb = r.insert(Completion::Callback(Box::new(|_| {})));
        let gone = r.insert(Completion::Wake(w.clone()));
        assert!(r.abandon(gone));
        let ready = r.fail_all(&Status::unavailable("gone"));
        assert_eq!(ready.len(), 1, "only the callback waits");
        assert!(matches!(&ready[0], Ready::Run(_, Err(s)) if s.code == StatusCode::UNAVAILABLE));
        // Both slots are free again.
        let (x, y) = (
            r.insert(Completion::Wake(w.clone())),
            r.insert(Completion::Wake(w.clone())),
        );
        assert!([x, y].contains(&cb) && [x, y].contains(&gone));
    }
}
