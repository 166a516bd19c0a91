//! Reuse of the connection's large read and write buffers. Frames are encoded into one
//! buffer and received messages are views of another; when either runs low, its earlier
//! frames or messages are usually still alive (queued for the writer, held by a caller),
//! so the buffer cannot simply be rewound and a new one is needed. Allocating each anew
//! maps fresh memory whose first touch page-faults (a few thousand calls fill one, so
//! that was a fault every few dozen calls). Instead the old buffer is retired here and
//! taken back once nothing refers to it any more.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Retired buffers kept at most; older ones are left to free themselves.
const KEEP: usize = 4;

/// Larger buffers (grown for a large frame) are not kept.
const KEEP_MAX_SIZE: usize = 1 << 20;

/// Buffers waiting for their last views to go.
#[derive(Default)]
pub(crate) struct Recycler {
    retired: VecDeque<BytesMut>,
    /// The size of the buffer in use, if it came from here and may be kept.
    in_use: usize,
}

impl Recycler {
    /// An empty buffer with room for at least `room` bytes: a retired one that nothing
    /// refers to any more, else a new one.
    fn fresh(&mut self, room: usize) -> BytesMut {
        let free = (0..self.retired.len()).find(|&i| self.retired[i].try_reclaim(room));
        let buf = match free.and_then(|i| self.retired.remove(i)) {
            Some(buf) => buf,
            None => BytesMut::with_capacity(room),
        };
        self.in_use = buf.capacity();
        buf
    }

    /// Makes room for `room` more bytes in `buf`: in place if nothing else refers to it,
    /// else by moving what it holds into a reclaimed or new buffer and retiring it.
    pub(crate) fn renew(&mut self, buf: &mut BytesMut, room: usize) {
        if buf.try_reclaim(room) {
            return;
        }
        let keep = (1..=KEEP_MAX_SIZE).contains(&self.in_use);
        let mut fresh = self.fresh(buf.len() + room);
        fresh.extend_from_slice(buf);
        let mut old = std::mem::replace(buf, fresh);
        if keep {
            old.clear();
            if self.retired.len() == KEEP {
                self.retired.pop_front();
            }
            self.retired.push_back(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_once_its_views_are_gone() {
        let mut r = Recycler::default();
        let mut buf = BytesMut::new();
        r.renew(&mut buf, 1024);
        let first = buf.as_ptr();
        buf.extend_from_slice(&[1; 1000]);
        let view = buf.split_to(900).freeze();
        r.renew(&mut buf, 1024);
        assert_eq!(&buf[..], &[1; 100], "the unread bytes move along");
        let second = buf.as_ptr();
        assert_ne!(first, second);
        // The first buffer is still viewed: renewing again needs a new one.
        let held = buf.split_to(100).freeze();
        r.renew(&mut buf, 1024);
        assert_ne!(buf.as_ptr(), second);
        // Once the view of the first is gone, it is reused.
        drop(view);
        buf.extend_from_slice(&[2; 1000]);
        let held_too = buf.split().freeze();
        r.renew(&mut buf, 512);
        assert_eq!(buf.as_ptr(), first);
        assert!(buf.is_empty() && buf.capacity() >= 512);
        // A buffer nothing else refers to makes room in place.
        drop((held, held_too));
        buf.extend_from_slice(&[3; 1000]);
        buf.clear();
        r.renew(&mut buf, 1024);
        assert_eq!(buf.as_ptr(), first);
    }

    #[test]
    fn large_buffers_are_not_kept() {
        let mut r = Recycler::default();
        let mut buf = BytesMut::new();
        r.renew(&mut buf, 4 << 20);
        let _view = buf.split().freeze();
        r.renew(&mut buf, 1024);
        assert!(r.retired.is_empty());
    }
}
