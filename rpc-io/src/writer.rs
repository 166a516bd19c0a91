//! A connection's writer: the driver hands it encoded frames through the [`Outbox`], and
//! the writer task sends everything queued with vectored writes. When it falls behind
//! (many small frames queued), it gathers runs of small frames into larger pieces so each
//! write carries more; large bodies are always written from their own buffers.

use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::stats::Stats;
use crate::transport::WriteHalf;

/// Bodies at least this large are written from their own buffer (no copy): the driver
/// queues them as they are, and the writer never gathers them.
pub(crate) const ZERO_COPY_MIN: usize = 4_096;

/// How long a closed connection's writer may take to write what was queued before the
/// close (the final GOAWAY); a peer that does not read it by then is cut off.
pub(crate) const FINAL_WRITE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The most bytes a connection holds encoded and not yet written (spec section 16,
/// `outbound_limit`).
pub(crate) const OUTBOX_MAX: usize = 8 << 20;

/// Frames this runtime sends carry at most this many message bytes (less when the peer's
/// max_frame_size is smaller); larger messages go in chunks.
pub(crate) const FRAME_CAP: usize = 256 * 1024;

/// Unwritten bytes past which the connection takes no new work until the writer catches
/// up: what one more step may still add (a frame of `FRAME_CAP` with up to 64 KiB of
/// metadata, and the control frames of one flush) then stays within `OUTBOX_MAX`.
pub(crate) const OUTBOX_FULL: usize = OUTBOX_MAX - 512 * 1024;

/// While a server's connections together hold `ServerOutbound::limit` unwritten bytes, a
/// connection that holds this much of them takes no new work either (spec section 16,
/// `server_outbound_limit`): peers that do not read keep 1 MiB each, not 8, and
/// connections with little unwritten (well-behaved peers) go on.
pub(crate) const OUTBOX_SHARE: usize = 1 << 20;

/// Unwritten bytes over all of a server's connections, and the bound past which the
/// connections holding the most of them wait (see `OUTBOX_SHARE`).
#[derive(Debug)]
pub(crate) struct ServerOutbound {
    queued: AtomicUsize,
    limit: usize,
}

impl ServerOutbound {
    /// Nothing unwritten yet; `limit` bytes at most before the large holders wait.
    pub(crate) fn new(limit: usize) -> ServerOutbound {
        ServerOutbound {
            queued: AtomicUsize::new(0),
            limit,
        }
    }

    /// Bytes unwritten now over all connections.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// Frames waiting for the writer. The driver appends and the writer swaps the whole
/// queue out, so both vectors keep their capacity and steady traffic allocates nothing.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: std::sync::Mutex<Vec<Bytes>>,
    notify: Notify,
    closed: AtomicBool,
    /// Bytes handed to the writer and not yet written.
    queued: AtomicUsize,
    /// Woken when `queued` falls below `OUTBOX_FULL` or `OUTBOX_SHARE` again.
    pub(crate) drained: Notify,
    /// A server's count over all its connections (none for clients).
    pub(crate) server: Option<std::sync::Arc<ServerOutbound>>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // What was never written leaves the server's count with the connection.
        self.forget_unwritten();
    }
}

impl Outbox {
    /// An empty queue, counted in `server`'s total if there is one.
    pub(crate) fn new(server: Option<std::sync::Arc<ServerOutbound>>) -> Outbox {
        let mut o = Outbox::default();
        o.server = server;
        o
    }

    /// Queues `batch` for the writer; returns the bytes now waiting.
    pub(crate) fn push(&self, batch: &mut Vec<Bytes>) -> usize {
        let n: usize = batch.iter().map(Bytes::len).sum();
        let queued = self.queued.fetch_add(n, Ordering::AcqRel) + n;
        if let Some(s) = &self.server {
            s.queued.fetch_add(n, Ordering::AcqRel);
        }
        self.queue.lock().expect("outbox").append(batch);
        self.notify.notify_one();
        queued
    }

    /// True while the writer has so much to write that the connection should stop taking
    /// new work from the application (its input is still read).
    pub(crate) fn is_full(&self) -> bool {
        self.is_full_with(0)
    }

    /// `is_full` with `more` bytes encoded and not yet handed over: its own bound, or a
    /// large share of a server's total past the server's bound.
    pub(crate) fn is_full_with(&self, more: usize) -> bool {
        let q = self.queued() + more;
        q >= OUTBOX_FULL
            || q >= OUTBOX_SHARE
                && self
                    .server
                    .as_ref()
                    .is_some_and(|s| s.queued() + more >= s.limit)
    }

    /// Bytes handed to the writer and not yet written.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// The writer wrote `n` bytes.
    fn written(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if let Some(s) = &self.server {
            s.queued.fetch_sub(n, Ordering::AcqRel);
        }
        let after = before - n;
        let crossed = |mark: usize| before >= mark && after < mark;
        if crossed(OUTBOX_FULL) || crossed(OUTBOX_SHARE) {
            // notify_one keeps the wakeup if the driver is not waiting yet.
            self.drained.notify_one();
        }
    }

    /// Nothing more will be written: the bytes still queued count no more.
    fn forget_unwritten(&self) {
        let left = self.queued.swap(0, Ordering::AcqRel);
        if let Some(s) = &self.server {
            s.queued.fetch_sub(left, Ordering::AcqRel);
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn take(&self, into: &mut Vec<Bytes>) {
        std::mem::swap(&mut *self.queue.lock().expect("outbox"), into);
    }
}

/// The writer task: waits for frames, takes everything queued meanwhile, and writes it
/// all with vectored writes.
pub(crate) async fn write_loop(
    mut w: WriteHalf,
    outbox: Arc<Outbox>,
    delay: std::time::Duration,
    stats: Arc<Stats>,
) {
    let mut pending: Vec<Bytes> = Vec::new();
    let mut stage = Vec::new();
    loop {
        outbox.notify.notified().await;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        outbox.take(&mut pending);
        let n: usize = pending.iter().map(Bytes::len).sum();
        if write_all(&mut w, &mut pending, &mut stage, &stats)
            .await
            .is_err()
        {
            break;
        }
        outbox.written(n);
        if outbox.closed.load(Ordering::Acquire) {
            // Whatever was queued before the close is written, then the socket closes.
            outbox.take(&mut pending);
            let _ = write_all(&mut w, &mut pending, &mut stage, &stats).await;
            break;
        }
    }
    // Nothing more will be written: never leave the connection waiting for room.
    outbox.forget_unwritten();
    outbox.drained.notify_one();
    let _ = w.shutdown().await;
}

/// Buffers per vectored write.
const IOVECS: usize = 64;

/// More queued buffers than this mean the writer is behind: small ones are then copied
/// together into larger pieces, so that each write carries more.
const GATHER_AT: usize = 128;

/// Bytes gathered for one write at most.
const GATHER_MAX: usize = 64 * 1024;

/// Writes `bufs` in order with vectored writes; `stage` is scratch room for gathering.
async fn write_all(
    w: &mut WriteHalf,
    bufs: &mut Vec<Bytes>,
    stage: &mut Vec<u8>,
    stats: &Stats,
) -> std::io::Result<()> {
    let mut start = 0;
    while start < bufs.len() {
        let gather = bufs.len() - start > GATHER_AT;
        let mut n = write_some(w, &bufs[start..], gather, stage).await?;
        Stats::add(&stats.write_syscalls, 1);
        Stats::add(&stats.bytes_out, n as u64);
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let b = &mut bufs[start];
            if n >= b.len() {
                n -= b.len();
                start += 1;
            } else {
                b.advance(n);
                n = 0;
            }
        }
    }
    bufs.clear();
    Ok(())
}

/// One vectored write of the first buffers of `bufs`; with `gather`, runs of small
/// buffers are copied into `stage` and written as one slice each.
async fn write_some(
    w: &mut WriteHalf,
    bufs: &[Bytes],
    gather: bool,
    stage: &mut Vec<u8>,
) -> std::io::Result<usize> {
    // Where each slice comes from: a buffer of `bufs`, or a range of `stage`.
    enum Piece {
        Buf(usize),
        Staged(usize, usize),
    }
    let mut pieces: [Piece; IOVECS] = std::array::from_fn(|_| Piece::Buf(0));
    let mut count = 0;
    stage.clear();
    let mut i = 0;
    while i < bufs.len() && count < IOVECS {
        let small = |b: &Bytes| b.len() < ZERO_COPY_MIN;
        if gather && small(&bufs[i]) && stage.len() < GATHER_MAX {
            let from = stage.len();
            while i < bufs.len() && small(&bufs[i]) && stage.len() < GATHER_MAX {
                stage.extend_from_slice(&bufs[i]);
                i += 1;
            }
            pieces[count] = Piece::Staged(from, stage.len());
        } else {
            pieces[count] = Piece::Buf(i);
            i += 1;
        }
        count += 1;
    }
    let mut slices = [IoSlice::new(&[]); IOVECS];
    for (slot, piece) in slices.iter_mut().zip(&pieces[..count]) {
        *slot = match *piece {
            Piece::Buf(i) => IoSlice::new(&bufs[i]),
            Piece::Staged(a, b) => IoSlice::new(&stage[a..b]),
        };
    }
    poll_write_vectored(w, &slices[..count]).await
}

async fn poll_write_vectored(w: &mut WriteHalf, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| w.as_mut().poll_write_vectored(cx, slices)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Buffers of mixed sizes (small ones to gather, large ones written from their own
    /// buffer), each filled with its index so that order and boundaries show.
    fn buffers(count: usize, seed: u64) -> Vec<Bytes> {
        let mut x = seed;
        (0..count)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = match (x >> 33) % 10 {
                    0 => ZERO_COPY_MIN + (x >> 40) as usize % 20_000,
                    1 => 0,
                    _ => 1 + (x >> 40) as usize % 300,
                };
                Bytes::from(vec![i as u8; len])
            })
            .collect()
    }

    /// Writes `bufs` through a pipe that takes at most `pipe` bytes at a time (so writes
    /// end part-way through buffers and gathered pieces) and returns what arrived.
    async fn through_pipe(mut bufs: Vec<Bytes>, pipe: usize) -> (Vec<u8>, Stats) {
        let (a, mut b) = tokio::io::duplex(pipe);
        let mut w: WriteHalf = Box::pin(a);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        let stats = Stats::default();
        let mut stage = Vec::new();
        write_all(&mut w, &mut bufs, &mut stage, &stats)
            .await
            .unwrap();
        assert!(bufs.is_empty());
        w.shutdown().await.unwrap();
        drop(w);
        (reader.await.unwrap(), stats)
    }

    #[tokio::test]
    async fn gathered_writes_keep_every_byte_in_order() {
        for (count, seed, pipe) in [(5, 1, 64), (200, 2, 64), (1000, 3, 1 << 20), (3000, 4, 777)] {
            let bufs = buffers(count, seed);
            let expect: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let (got, stats) = through_pipe(bufs, pipe).await;
            assert_eq!(got.len(), expect.len(), "count {count} pipe {pipe}");
            assert!(got == expect, "bytes differ: count {count} pipe {pipe}");
            assert_eq!(stats.bytes_out.load(Ordering::Relaxed), expect.len() as u64);
        }
    }

    #[tokio::test]
    async fn a_writer_that_is_behind_writes_small_frames_in_few_writes() {
        let small: Vec<Bytes> = (0..4096).map(|_| Bytes::from(vec![1u8; 90])).collect();
        let (got, stats) = through_pipe(small, 8 << 20).await;
        assert_eq!(got.len(), 4096 * 90);
        let writes = stats.write_syscalls.load(Ordering::Relaxed);
        // 4096 frames at 64 per vectored write would take 64 writes; gathered, one per
        // GATHER_MAX bytes (the last frame of each piece may run past it).
        let gathered = (4096 * 90usize).div_ceil(GATHER_MAX) as u64;
        assert!(writes <= gathered + 1, "{writes} writes, not {gathered}");
        // A short queue (a writer that keeps up) is written as it is, frame by frame.
        let few: Vec<Bytes> = (0..100).map(|_| Bytes::from(vec![1u8; 90])).collect();
        let (_, stats) = through_pipe(few, 8 << 20).await;
        assert_eq!(stats.write_syscalls.load(Ordering::Relaxed), 2);
    }
}
