//! Keeping a client's pool slots connected: one keeper task per slot waits for its
//! connection to end and reconnects with backoff, or, after an idle close, waits for a
//! call to want a connection.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use muxwire_core::wire::{ErrorCode, Side};

use super::Inner;
use crate::driver;
use crate::handle::Handle;
use crate::stats::Stats;
use crate::Options;

/// One connection of the pool, as its keeper and the callers see it.
pub(super) struct PoolSlot {
    pub(super) handle: Mutex<Option<Handle>>,
    /// Woken when the slot's connection completes its handshake, or its attempt fails.
    pub(super) ready: tokio::sync::Notify,
    /// `EAGER`, or `IDLE` after its connection closed for idleness (it reconnects when a
    /// call wants it), or `WAKING` while that reconnect is under way.
    pub(super) lazy: AtomicU8,
    /// Wakes the keeper of an `IDLE` slot.
    pub(super) wake: Arc<tokio::sync::Notify>,
    /// Connection attempts that failed (no connection, or none that completed its
    /// handshake), so that a call waiting for the next attempt knows it is over.
    pub(super) failures: AtomicU64,
}

/// `PoolSlot::lazy`: the slot keeps itself connected.
pub(super) const EAGER: u8 = 0;
/// `PoolSlot::lazy`: the slot waits for a call before it reconnects.
pub(super) const IDLE: u8 = 1;
/// `PoolSlot::lazy`: a call woke the slot; its reconnect is under way.
pub(super) const WAKING: u8 = 2;

impl PoolSlot {
    pub(super) fn new() -> PoolSlot {
        PoolSlot {
            handle: Mutex::new(None),
            ready: tokio::sync::Notify::new(),
            lazy: AtomicU8::new(EAGER),
            wake: Arc::new(tokio::sync::Notify::new()),
            failures: AtomicU64::new(0),
        }
    }

    /// The slot's connection, if its handshake is complete and it has not ended.
    pub(super) fn live(&self) -> Option<Handle> {
        self.handle
            .lock()
            .expect("lock")
            .as_ref()
            .filter(|h| h.is_live())
            .cloned()
    }
}

/// Keeps pool slot `i` connected: waits for its connection to end, then reconnects with
/// exponential backoff and jitter (never zero), until the client is closed or dropped.
pub(super) async fn keeper(inner: std::sync::Weak<Inner>, i: usize) {
    let mut attempt: u32 = 0;
    let mut rng = seed();
    loop {
        let Some(this) = inner.upgrade() else { return };
        if this.shutdown.load(Ordering::Acquire) {
            return;
        }
        let current = this.slots[i].handle.lock().expect("lock").clone();
        if let Some(h) = current {
            drop(this);
            // The handshake completes, or the connection ends first (both set `ready`):
            // only then is the slot Ready, so that fail-fast calls do not wait on it.
            h.ready.wait().await;
            let Some(this) = inner.upgrade() else { return };
            this.slots[i].lazy.store(EAGER, Ordering::Release);
            if h.peer_max_frame.load(Ordering::Acquire) == 0 {
                // Ended before its handshake: the attempt failed.
                this.slots[i].failures.fetch_add(1, Ordering::AcqRel);
            }
            this.publish_state();
            this.slots[i].ready.notify_waiters();
            drop(this);
            h.closed.wait().await;
            let Some(this) = inner.upgrade() else { return };
            *this.slots[i].handle.lock().expect("lock") = None;
            if this.shutdown.load(Ordering::Acquire) {
                return;
            }
            let handshaken = h.peer_max_frame.load(Ordering::Acquire) > 0;
            if handshaken && h.idled_out.load(Ordering::Acquire) {
                // Closed for idleness: reconnect when a call wants a connection.
                this.slots[i].lazy.store(IDLE, Ordering::Release);
                this.publish_state();
                let wake = this.slots[i].wake.clone();
                drop(this);
                wake.notified().await;
                attempt = 0;
                continue;
            }
            this.publish_state();
            // Only a connection whose handshake completed ends the run of failures. One
            // that ended before it (a listener that accepts and closes: a proxy with no
            // backend, a port taken by another service) counts as a failed attempt, so
            // the reconnects back off instead of storming; so does one the server
            // refused as over a limit (GOAWAY ENHANCE_YOUR_CALM).
            let calm = h.peer_goaway.load(Ordering::Acquire) == ErrorCode::ENHANCE_YOUR_CALM.0;
            if handshaken && !calm {
                attempt = 0;
                continue;
            }
            tracing::debug!(endpoint = %this.endpoint, attempt, calm, "connection ended before its handshake or refused");
            let delay = backoff(&this.opts, attempt, &mut rng);
            drop(this);
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
            continue;
        }
        match this.transport.connect(&this.endpoint).await {
            Ok(io) => {
                let (h, _) = driver::spawn(
                    io,
                    Side::Connector,
                    this.opts.clone(),
                    this.stats.clone(),
                    this.router.clone(),
                    None,
                );
                *this.slots[i].handle.lock().expect("lock") = Some(h);
                if attempt > 0 || this.stats.connections.load(Ordering::Relaxed) > 1 {
                    Stats::add(&this.stats.reconnects, 1);
                }
                this.publish_state();
                continue;
            }
            Err(e) => {
                tracing::debug!(endpoint = %this.endpoint, %e, attempt, "connect failed");
                // A call that woke this slot stops waiting: the attempt failed.
                this.slots[i].lazy.store(EAGER, Ordering::Release);
                this.slots[i].failures.fetch_add(1, Ordering::AcqRel);
                this.slots[i].ready.notify_waiters();
                this.publish_state();
            }
        }
        let delay = backoff(&this.opts, attempt, &mut rng);
        drop(this);
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    t | 1
}

/// `base * 2^attempt`, capped, then a uniform jitter in [d/2, d]; at least 1 ms.
pub(crate) fn backoff(opts: &Options, attempt: u32, rng: &mut u64) -> Duration {
    let base = opts.reconnect_base.max(Duration::from_millis(1));
    let d = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(opts.reconnect_max.max(base));
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let half = d / 2;
    let jitter = *rng % (half.as_micros().max(1) as u64 + 1);
    (half + Duration::from_micros(jitter)).max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_never_zero() {
        let opts = Options {
            reconnect_base: Duration::from_millis(10),
            reconnect_max: Duration::from_millis(500),
            ..Options::default()
        };
        let mut rng = 12345;
        let mut last_cap = Duration::ZERO;
        for attempt in 0..20 {
            let d = backoff(&opts, attempt, &mut rng);
            assert!(d >= Duration::from_millis(1));
            assert!(d <= Duration::from_millis(500));
            let cap = Duration::from_millis(10)
                .saturating_mul(1 << attempt.min(16))
                .min(Duration::from_millis(500));
            assert!(d >= cap / 2 && d <= cap, "{attempt}: {d:?}");
            assert!(cap >= last_cap);
            last_cap = cap;
        }
        let zero = Options {
            reconnect_base: Duration::ZERO,
            ..Options::default()
        };
        assert!(backoff(&zero, 0, &mut rng) >= Duration::from_millis(1));
    }
}
