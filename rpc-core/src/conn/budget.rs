//! Rate budgets (PROTOCOL.md section 16): at most `limit` events per one-second window.

use crate::time::{Duration, Instant};

/// Counts events in fixed one-second windows; the spec allows fixed or sliding windows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    limit: u32,
    count: u32,
    window_start: Instant,
}

const WINDOW: Duration = Duration::from_secs(1);

impl Budget {
    pub(crate) const fn new(limit: u32) -> Budget {
        Budget {
            limit,
            count: 0,
            window_start: Instant::ZERO,
        }
    }

    /// Records one event at `now`; false if that exceeds the budget.
    pub(crate) fn spend(&mut self, now: Instant) -> bool {
        if now.saturating_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.limit
    }
}
