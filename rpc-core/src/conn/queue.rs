//! Intrusive FIFO and sorted queues through the stream table (the pattern of h2's
//! `store::Queue`): each stream's slot holds its links, so a queue costs no storage and
//! every operation touches only the stream and its two neighbours, whatever the number
//! of slots. Links are stream ids, which stay valid when the table moves an entry.

use super::links::Queue;
use super::streams::{Storage, Stream, Table};
use crate::time::Instant;

impl<S: Storage> Table<S> {
    /// True if stream `id` is in queue `q`.
    #[cfg(test)]
    pub(crate) fn is_queued(&self, q: Queue, id: u32) -> bool {
        self.get(id).is_some_and(|s| s.queued & q.bit() != 0)
    }

    /// Streams in queue `q`.
    #[inline]
    pub(crate) fn queued(&self, q: Queue) -> usize {
        self.heads.len[q as usize] as usize
    }

    /// The stream at the front of queue `q`.
    #[inline]
    pub(crate) fn front(&self, q: Queue) -> Option<&Stream> {
        match self.heads.head[q as usize] {
            0 => None,
            id => self.get(id),
        }
    }

    /// Appends stream `id` to queue `q`; nothing if it is absent or already queued.
    pub(crate) fn push_back(&mut self, q: Queue, id: u32) {
        let tail = self.heads.tail[q as usize];
        self.link_after(q, id, tail);
    }

    /// Puts stream `id` into the deadline queue in deadline order (after equal ones).
    /// Walks back from the latest deadline, so calls that share a timeout insert in O(1).
    pub(crate) fn insert_deadline(&mut self, id: u32, at: Instant) {
        let mut after = self.heads.tail[Queue::Deadlines as usize];
        while after != 0 {
            let Some(s) = self.get(after) else { break };
            if s.deadline().is_some_and(|d| d <= at) {
                break;
            }
            after = s.links.prev[Queue::Deadlines.link()];
        }
        self.link_after(Queue::Deadlines, id, after);
    }

    /// Links `id` into `q` right after stream `after` (0: at the front), taking it out
    /// of the queue that shares its links first.
    fn link_after(&mut self, q: Queue, id: u32, after: u32) {
        let Some(s) = self.get(id) else { return };
        if s.queued & q.bit() != 0 {
            return;
        }
        if let Some(other) = q.sibling() {
            if s.queued & other.bit() != 0 {
                self.unlink(other, id);
            }
        }
        let l = q.link();
        let next = match after {
            0 => self.heads.head[q as usize],
            a => self.get(a).map_or(0, |s| s.links.next[l]),
        };
        let Some(s) = self.get_mut(id) else { return };
        s.queued |= q.bit();
        s.links.prev[l] = after;
        s.links.next[l] = next;
        self.set_next(q, after, id);
        self.set_prev(q, next, id);
        self.heads.len[q as usize] += 1;
    }

    /// Takes stream `id` out of queue `q`, if it is in it.
    pub(crate) fn unlink(&mut self, q: Queue, id: u32) {
        let l = q.link();
        let Some(s) = self.get_mut(id) else { return };
        if s.queued & q.bit() == 0 {
            return;
        }
        s.queued &= !q.bit();
        let (prev, next) = (s.links.prev[l], s.links.next[l]);
        s.links.prev[l] = 0;
        s.links.next[l] = 0;
        self.set_next(q, prev, next);
        self.set_prev(q, next, prev);
        self.heads.len[q as usize] -= 1;
    }

    /// Takes the front stream out of queue `q` and returns its id.
    pub(crate) fn pop_front(&mut self, q: Queue) -> Option<u32> {
        let id = self.heads.head[q as usize];
        if id == 0 {
            return None;
        }
        self.unlink(q, id);
        Some(id)
    }

    /// Takes stream `id` out of every queue (before it leaves the table). Kept out of
    /// line: streams normally leave the table in no queue.
    #[cold]
    #[inline(never)]
    pub(crate) fn unlink_all(&mut self, id: u32) {
        for q in [Queue::Notices, Queue::Windows, Queue::Deadlines] {
            self.unlink(q, id);
        }
    }

    /// `prev`'s successor becomes `id` (the queue head if `prev` is 0).
    fn set_next(&mut self, q: Queue, prev: u32, id: u32) {
        match prev {
            0 => self.heads.head[q as usize] = id,
            p => {
                if let Some(s) = self.get_mut(p) {
                    s.links.next[q.link()] = id;
                }
            }
        }
    }

    /// `next`'s predecessor becomes `id` (the queue tail if `next` is 0).
    fn set_prev(&mut self, q: Queue, next: u32, id: u32) {
        match next {
            0 => self.heads.tail[q as usize] = id,
            n => {
                if let Some(s) = self.get_mut(n) {
                    s.links.prev[q.link()] = id;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::links::Queue;
    use super::super::streams::{Role, Stream, StreamSlot, StreamState, Table};
    use crate::time::Instant;

    fn table(slots: &mut [StreamSlot]) -> Table<&mut [StreamSlot]> {
        let mut t = Table::new(slots);
        for id in 1..=9 {
            t.insert(Stream::new(id, Role::Caller, StreamState::Open))
                .unwrap();
        }
        t
    }

    fn drain(t: &mut Table<&mut [StreamSlot]>, q: Queue) -> [u32; 9] {
        let mut out = [0; 9];
        let mut n = 0;
        while let Some(id) = t.pop_front(q) {
            out[n] = id;
            n += 1;
        }
        out
    }

    #[test]
    fn fifo_unlink_and_remove() {
        let mut slots = [StreamSlot::EMPTY; 16];
        let mut t = table(&mut slots);
        for id in [3, 1, 4, 5, 9, 2, 6] {
            t.push_back(Queue::Notices, id);
        }
        t.push_back(Queue::Notices, 4); // already queued: no change
        t.unlink(Queue::Notices, 4);
        t.unlink(Queue::Notices, 3);
        t.remove(6);
        assert_eq!(t.queued(Queue::Notices), 4);
        assert!(!t.is_queued(Queue::Windows, 1));
        assert_eq!(drain(&mut t, Queue::Notices), [1, 5, 9, 2, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn notices_and_windows_share_links() {
        let mut slots = [StreamSlot::EMPTY; 16];
        let mut t = table(&mut slots);
        for id in [1, 2, 3] {
            t.push_back(Queue::Windows, id);
        }
        t.push_back(Queue::Notices, 2); // leaves the window queue
        t.push_back(Queue::Notices, 4);
        assert!(!t.is_queued(Queue::Windows, 2));
        assert_eq!((t.queued(Queue::Windows), t.queued(Queue::Notices)), (2, 2));
        assert_eq!(drain(&mut t, Queue::Windows), [1, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(drain(&mut t, Queue::Notices), [2, 4, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn deadlines_sorted_and_stable() {
        let mut slots = [StreamSlot::EMPTY; 16];
        let mut t = table(&mut slots);
        for (id, at) in [(1, 50), (2, 10), (3, 50), (4, 30), (5, 5), (6, 60)] {
            t.get_mut(id).unwrap().set_deadline(Some(Instant(at)));
            t.insert_deadline(id, Instant(at));
        }
        t.remove(4);
        assert_eq!(t.front(Queue::Deadlines).map(|s| s.id), Some(5));
        assert_eq!(drain(&mut t, Queue::Deadlines), [5, 2, 1, 3, 6, 0, 0, 0, 0]);
    }
}

#[cfg(test)]
mod table_tests {
    use super::super::streams::{Role, Stream, StreamSlot, StreamState, Table};

    /// Random inserts and removes (a fixed LCG) on tables of every small size: every
    /// stream stays findable after backward-shift deletion, and no removed one is found.
    #[test]
    fn insert_remove_find_agree() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |n: u32| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            ((seed >> 33) as u32) % n
        };
        for cap in 1..=13 {
            let mut slots = [StreamSlot::EMPTY; 13];
            let mut t = Table::new(&mut slots[..cap]);
            let mut live = [false; 64];
            for _ in 0..2_000 {
                let id = 1 + rand(63);
                if live[id as usize] {
                    assert!(t.remove(id).is_some());
                    live[id as usize] = false;
                } else if t
                    .insert(Stream::new(id, Role::Callee, StreamState::Open))
                    .is_ok()
                {
                    live[id as usize] = true;
                }
                for (i, &l) in live.iter().enumerate().skip(1) {
                    assert_eq!(t.contains(i as u32), l, "cap {cap} id {i}");
                }
                assert_eq!(t.len(), live.iter().filter(|&&l| l).count());
            }
        }
    }
}
