//! The calls this endpoint refused lately (PROTOCOL.md section 14.2), so that DATA their
//! callers sent before they saw the refusal is not counted against `control_budget`,
//! while every other DATA for a stream that is not open is (section 16).
//!
//! The excuse is bounded twice, so that refusing a call never buys a peer an unbounded
//! stream of free frames: only the [`REMEMBERED`] latest refusals are remembered, and each
//! excuses at most [`LATE_FRAMES`] frames (a caller stops sending once it sees the
//! refusal; its END_STREAM or CANCEL, which follow, end the excuse).

/// Refusals remembered at once; an older one is forgotten when a new one comes.
pub(crate) const REMEMBERED: usize = 32;

/// DATA frames one refusal excuses at most.
pub(crate) const LATE_FRAMES: u16 = 64;

#[derive(Debug, Clone, Copy)]
struct Refused {
    /// The refused stream (0: an empty entry; DATA is never on stream 0).
    stream: u32,
    /// Frames it still excuses.
    left: u16,
}

/// The latest refusals, oldest overwritten first.
#[derive(Debug, Clone)]
pub(crate) struct Refusals {
    entries: [Refused; REMEMBERED],
    next: usize,
    /// Entries in use: with none (no refusal lately, the usual case) nothing is scanned.
    held: usize,
}

impl Refusals {
    pub(crate) const fn new() -> Refusals {
        Refusals {
            entries: [Refused { stream: 0, left: 0 }; REMEMBERED],
            next: 0,
            held: 0,
        }
    }

    /// Remembers that the call on `stream` was refused.
    pub(crate) fn remember(&mut self, stream: u32) {
        self.forget(stream);
        if self.entries[self.next].stream != 0 {
            self.held -= 1;
        }
        self.entries[self.next] = Refused {
            stream,
            left: LATE_FRAMES,
        };
        self.held += 1;
        self.next = (self.next + 1) % REMEMBERED;
    }

    /// Forgets a refusal of `stream` (a new call opened it, or its caller ended it).
    pub(crate) fn forget(&mut self, stream: u32) {
        if self.held == 0 {
            return;
        }
        for e in self.entries.iter_mut().filter(|e| e.stream == stream) {
            e.stream = 0;
            self.held -= 1;
        }
    }

    /// True if a DATA frame on `stream`, which is not open, is late DATA of a refused call
    /// (not to be counted); spends one frame of its excuse. `end`: the frame ends the
    /// caller's side, after which no more is excused.
    pub(crate) fn excuse(&mut self, stream: u32, end: bool) -> bool {
        if self.held == 0 {
            return false;
        }
        let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.stream == stream && e.left > 0)
        else {
            return false;
        };
        e.left -= 1;
        if end || e.left == 0 {
            e.stream = 0;
            self.held -= 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_excuses_a_bounded_number_of_frames_until_the_caller_ends() {
        let mut r = Refusals::new();
        assert!(!r.excuse(1, false), "never refused");
        r.remember(1);
        for _ in 0..LATE_FRAMES {
            assert!(r.excuse(1, false));
        }
        assert!(!r.excuse(1, false), "the excuse is spent");
        r.remember(3);
        assert!(r.excuse(3, true), "the END_STREAM itself is excused");
        assert!(!r.excuse(3, false), "nothing after it");
    }

    #[test]
    fn only_the_latest_refusals_are_remembered() {
        let mut r = Refusals::new();
        for i in 0..=REMEMBERED as u32 {
            r.remember(2 * i + 1);
        }
        assert!(!r.excuse(1, false), "the oldest was forgotten");
        assert!(r.excuse(3, false));
        r.forget(5);
        assert!(!r.excuse(5, false), "forgotten when the stream opens again");
        assert_eq!(r.held, REMEMBERED - 1, "the forgotten one is free");
    }
}
