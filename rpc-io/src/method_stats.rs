//! Per-method counters and latency histograms of the calls a server (or a client serving
//! calls back) handles, kept when `Options::method_metrics` is on. Each registered method
//! owns one [`MethodMetrics`], shared by every connection; calls to methods nobody
//! registered count under [`UNKNOWN_METHOD`], so the set of series stays bounded whatever
//! names peers send.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use muxwire_core::wire::StatusCode;

/// The name calls to unregistered methods are counted under.
pub const UNKNOWN_METHOD: &str = "(unknown)";

/// Upper bounds of the latency buckets, in microseconds (a last bucket takes the rest).
/// From 25 µs, a local call's round trip, to 10 s.
pub const LATENCY_BOUNDS_US: [u64; 18] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// The live counters of one method.
#[derive(Debug, Default)]
pub(crate) struct MethodMetrics {
    started: AtomicU64,
    ended: [AtomicU64; 17],
    /// Calls per latency bucket (`LATENCY_BOUNDS_US`, then one for anything longer).
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

impl MethodMetrics {
    /// A call to this method started.
    pub(crate) fn started(&self) {
        self.started.fetch_add(1, Relaxed);
    }

    /// A call to this method ended with `code` after `took` (`None` for a one-way call:
    /// counted, but not in the latency histogram, since nobody waited for it).
    pub(crate) fn ended(&self, code: StatusCode, took: Option<Duration>) {
        self.ended[code.effective().0 as usize].fetch_add(1, Relaxed);
        if let Some(took) = took {
            let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            let bucket = LATENCY_BOUNDS_US.partition_point(|&b| b < us);
            self.buckets[bucket].fetch_add(1, Relaxed);
            self.latency_sum_us.fetch_add(us, Relaxed);
        }
    }

    /// A copy of the counters, under `name`.
    pub(crate) fn snapshot(&self, name: &str) -> MethodSnapshot {
        MethodSnapshot {
            method: name.to_string(),
            started: self.started.load(Relaxed),
            ended: std::array::from_fn(|i| self.ended[i].load(Relaxed)),
            latency_buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            latency_sum_us: self.latency_sum_us.load(Relaxed),
        }
    }
}

/// A served call's method counters and when the call started.
pub(crate) struct CallTimer {
    metrics: Arc<MethodMetrics>,
    since: Instant,
}

impl CallTimer {
    /// Counts a call to the method of `metrics` as started, now.
    pub(crate) fn start(metrics: &Arc<MethodMetrics>) -> CallTimer {
        metrics.started();
        CallTimer {
            metrics: metrics.clone(),
            since: Instant::now(),
        }
    }

    /// Counts the call as ended with `code`, timed.
    pub(crate) fn end(self, code: StatusCode) {
        self.metrics.ended(code, Some(self.since.elapsed()));
    }
}

/// One method's counters at one moment (see [`crate::StatsSnapshot::methods`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodSnapshot {
    /// The method's name ([`UNKNOWN_METHOD`] for calls to unregistered methods).
    pub method: String,
    /// Calls started.
    pub started: u64,
    /// Calls ended, by status code (index = code; OK at 0).
    pub ended: [u64; 17],
    /// Calls that were answered, by latency bucket: entry `i` counts latencies up to
    /// `LATENCY_BOUNDS_US[i]` µs (and above the bound before it); the last entry counts
    /// the rest. One-way calls are not in it.
    pub latency_buckets: Vec<u64>,
    /// The sum of those latencies, in microseconds.
    pub latency_sum_us: u64,
}

impl MethodSnapshot {
    /// Calls in the latency histogram.
    pub fn latency_count(&self) -> u64 {
        self.latency_buckets.iter().sum()
    }

    /// An upper bound of the `q` quantile (0.0-1.0) of the latencies, in microseconds:
    /// the bound of the bucket it falls in (`None` with no calls, `u64::MAX` past the last
    /// bound).
    pub fn latency_quantile_us(&self, q: f64) -> Option<u64> {
        let n = self.latency_count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.latency_buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(LATENCY_BOUNDS_US.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_the_bucket_of_their_upper_bound() {
        let m = MethodMetrics::default();
        m.started();
        m.ended(StatusCode::OK, Some(Duration::from_micros(25)));
        m.ended(StatusCode::OK, Some(Duration::from_micros(26)));
        m.ended(StatusCode::UNAVAILABLE, Some(Duration::from_secs(60)));
        m.ended(StatusCode::INTERNAL, None);
        let s = m.snapshot("echo");
        assert_eq!(s.started, 1);
        assert_eq!((s.ended[0], s.ended[14], s.ended[13]), (2, 1, 1));
        assert_eq!(s.latency_buckets.len(), LATENCY_BOUNDS_US.len() + 1);
        assert_eq!(s.latency_buckets[0], 1, "25 us is within the first bound");
        assert_eq!(s.latency_buckets[1], 1, "26 us is in the next");
        assert_eq!(
            *s.latency_buckets.last().unwrap(),
            1,
            "60 s is past every bound"
        );
        assert_eq!(s.latency_count(), 3, "the one-way call is not timed");
        assert_eq!(s.latency_sum_us, 25 + 26 + 60_000_000);
        assert_eq!(s.latency_quantile_us(0.5), Some(50));
        assert_eq!(s.latency_quantile_us(0.0), Some(25));
        assert_eq!(s.latency_quantile_us(1.0), Some(u64::MAX));
        assert_eq!(MethodSnapshot::default().latency_quantile_us(0.5), None);
    }
}
