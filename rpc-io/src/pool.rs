//! Reused buffers for large received messages. A message that arrives in chunks is put
//! together in one buffer; handing a fresh multi-megabyte buffer to every such message
//! makes the allocator map and unmap memory each time, and the page faults on every first
//! touch cost more than the copy itself (two 4 MiB calls in flight ran at half the speed of
//! one). Instead the buffer goes back to a small process-wide pool when the application
//! drops the last `Bytes` that refers to it.

use std::sync::Mutex;

use bytes::Bytes;

/// Buffers smaller than this are left to the allocator.
const POOL_MIN: usize = 256 * 1024;

/// Bytes of capacity the pool keeps at most (what an idle process holds for reuse).
const POOL_MAX_BYTES: usize = 64 << 20;

/// Buffers the pool keeps at most.
const POOL_MAX_BUFFERS: usize = 16;

struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

/// An empty buffer with room for at least `room` bytes: a pooled one if one is large
/// enough (the smallest such), else a new one.
pub(crate) fn take(room: usize) -> Vec<u8> {
    if room >= POOL_MIN {
        if let Ok(mut p) = POOL.lock() {
            let best = p
                .free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= room)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let buf = p.free.swap_remove(i);
                p.bytes -= buf.capacity();
                return buf;
            }
        }
    }
    Vec::with_capacity(room)
}

/// The message in `buf` as `Bytes`; a large buffer returns to the pool when the last
/// `Bytes` referring to it is dropped.
pub(crate) fn freeze(buf: Vec<u8>) -> Bytes {
    if buf.capacity() >= POOL_MIN {
        Bytes::from_owner(Pooled(buf))
    } else {
        Bytes::from(buf)
    }
}

/// A buffer on loan to the application.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        let cap = buf.capacity();
        if let Ok(mut p) = POOL.lock() {
            if p.free.len() < POOL_MAX_BUFFERS && p.bytes + cap <= POOL_MAX_BYTES {
                buf.clear();
                p.bytes += cap;
                p.free.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, so that nothing else fills the pool meanwhile.
    #[test]
    fn large_buffers_come_back_when_the_last_reference_drops_and_the_pool_is_bounded() {
        let mut buf = take(POOL_MIN * 3);
        buf.extend_from_slice(&vec![9u8; POOL_MIN * 2]);
        let ptr = buf.as_ptr();
        let message = freeze(buf);
        assert_eq!(message.len(), POOL_MIN * 2);
        assert!(message.iter().all(|&b| b == 9));
        let part = message.slice(10..20);
        drop(message);
        let pooled = |ptr| POOL.lock().unwrap().free.iter().any(|b| b.as_ptr() == ptr);
        assert!(!pooled(ptr), "still referenced by a slice");
        drop(part);
        assert!(pooled(ptr), "returned once the last reference dropped");
        let again = take(POOL_MIN * 3);
        assert!(again.is_empty() && again.capacity() >= POOL_MIN * 3);
        // Small buffers are not pooled.
        let small = freeze(vec![1u8; 100]);
        drop(small);
        assert!(POOL
            .lock()
            .unwrap()
            .free
            .iter()
            .all(|b| b.capacity() >= POOL_MIN));
        let held: Vec<Bytes> = (0..POOL_MAX_BUFFERS * 2)
            .map(|_| freeze(take(POOL_MIN)))
            .collect();
        drop(held);
        let p = POOL.lock().unwrap();
        assert!(p.free.len() <= POOL_MAX_BUFFERS);
        assert!(p.bytes <= POOL_MAX_BYTES);
        assert_eq!(p.bytes, p.free.iter().map(Vec::capacity).sum::<usize>());
    }
}
