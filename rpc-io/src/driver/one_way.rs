//! One-way calls this side serves (PROTOCOL.md section 5.2): at most
//! `Options::max_one_way_handlers` async handlers run at once per connection. A message
//! past that waits for a slot, holding its connection credit, and a handler's credit comes
//! back only when it finishes, so the peer's one-way calls are bounded by the connection
//! window in bytes and by the slots (running and waiting) in number.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::handler::UnaryHandler;

/// A one-way message waiting for a handler slot, with what it needs to start.
pub(super) struct WaitingOneWay {
    pub(super) method: Bytes,
    pub(super) handler: Arc<dyn UnaryHandler>,
    pub(super) entries: Vec<(String, Bytes)>,
    pub(super) deadline: Option<tokio::time::Instant>,
    pub(super) req: Bytes,
    /// Connection credit the message holds (its bytes on the wire).
    pub(super) wire: usize,
}

/// The slots for one-way handlers on one connection.
pub(super) struct OneWaySlots {
    /// Handlers started and not finished.
    pub(super) running: usize,
    /// The most that run at once; as many more may wait.
    pub(super) max: usize,
    /// Messages waiting for a slot, oldest first.
    pub(super) waiting: VecDeque<WaitingOneWay>,
    /// Where finished handlers leave their slot and credit.
    pub(super) done: Arc<Finished>,
}

/// Slots and credit handed back by handlers that finished, for the driver to collect.
#[derive(Default)]
pub(super) struct Finished {
    slots: AtomicUsize,
    credit: AtomicUsize,
    /// Woken when a handler finishes.
    pub(super) notify: Notify,
}

/// Held by a running one-way handler's task: gives its slot and credit back when the
/// handler is done (or dropped, or panicked).
pub(super) struct SlotGuard {
    done: Arc<Finished>,
    wire: usize,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.done.credit.fetch_add(self.wire, Ordering::AcqRel);
        self.done.slots.fetch_add(1, Ordering::AcqRel);
        self.done.notify.notify_one();
    }
}

impl OneWaySlots {
    /// No handler running, at most `max` at once.
    pub(super) fn new(max: usize) -> OneWaySlots {
        OneWaySlots {
            running: 0,
            max: max.max(1),
            waiting: VecDeque::new(),
            done: Arc::default(),
        }
    }

    /// True if a handler may start now.
    pub(super) fn has_room(&self) -> bool {
        self.running < self.max
    }

    /// True when the waiting room is full too: the connection stops reading.
    pub(super) fn is_full(&self) -> bool {
        self.waiting.len() >= self.max
    }

    /// Takes a slot for a handler whose message holds `wire` bytes of credit.
    pub(super) fn take(&mut self, wire: usize) -> SlotGuard {
        self.running += 1;
        SlotGuard {
            done: self.done.clone(),
            wire,
        }
    }

    /// Collects what finished handlers gave back: returns the credit to hand back.
    pub(super) fn collect(&mut self) -> usize {
        let slots = self.done.slots.swap(0, Ordering::AcqRel);
        self.running -= slots.min(self.running);
        self.done.credit.swap(0, Ordering::AcqRel)
    }
}
