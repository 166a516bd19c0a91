//! The flow-control windows (PROTOCOL.md section 14): one send-credit type and one
//! receive-window type, each used for the connection and for every stream.

use crate::wire::{self, FrameError};

/// Bytes this endpoint may still send (the peer's window), for the connection or one
/// stream, and whether a sender was turned away for lack of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow {
    /// Within `-2^31 .. 2^31`: a window is at most 2^31 - 1 and a smaller HELLO value
    /// can only take it below zero by the initial window.
    credit: i32,
    /// A send was refused; report [`super::Event::WindowOpened`] when credit arrives.
    blocked: bool,
}

impl SendWindow {
    #[inline]
    pub(crate) const fn new(initial: u32) -> SendWindow {
        // A window is at most 2^31 - 1; larger values cannot come from valid settings.
        let credit = if initial > i32::MAX as u32 {
            i32::MAX
        } else {
            initial as i32
        };
        SendWindow {
            credit,
            blocked: false,
        }
    }

    /// The credit, negative if a smaller HELLO window undercut bytes already sent.
    #[inline]
    pub(crate) const fn credit(&self) -> i64 {
        self.credit as i64
    }

    /// Bytes that may be sent now.
    #[inline]
    pub(crate) const fn available(&self) -> u64 {
        if self.credit < 0 {
            0
        } else {
            self.credit as u64
        }
    }

    /// Spends `n` bytes of credit, which the caller checked against [`Self::credit`]
    /// (so `n` is below 2^31 and the result is not below zero).
    #[inline]
    pub(crate) fn spend(&mut self, n: usize) {
        debug_assert!(n as i64 <= self.credit());
        self.credit = self.credit.wrapping_sub(n as i32);
    }

    /// Moves the window by `delta` (the peer's HELLO changed the initial value).
    #[inline]
    pub(crate) fn shift(&mut self, delta: i64) {
        self.credit = clamp(self.credit() + delta);
    }

    /// Adds a WINDOW increment. True if a blocked sender should now be told.
    #[inline]
    pub(crate) fn grow(&mut self, inc: u32) -> Result<bool, FrameError> {
        let credit = self.credit() + i64::from(inc);
        if credit > i64::from(wire::MAX_WINDOW) {
            return Err(FrameError::window_overflow());
        }
        self.credit = clamp(credit);
        Ok(self.take_blocked())
    }

    /// Marks a refused send.
    #[inline]
    pub(crate) fn block(&mut self) {
        self.blocked = true;
    }

    /// Clears the blocked mark; true if it was set.
    #[inline]
    pub(crate) fn take_blocked(&mut self) -> bool {
        core::mem::replace(&mut self.blocked, false)
    }
}

#[inline]
const fn clamp(v: i64) -> i32 {
    if v > i32::MAX as i64 {
        i32::MAX
    } else if v < i32::MIN as i64 {
        i32::MIN
    } else {
        v as i32
    }
}

/// Bytes the peer may still send this endpoint, for the connection or one stream, and
/// the bytes the application consumed that have not been given back with WINDOW yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    window: u32,
    unacked: u32,
}

impl RecvWindow {
    #[inline]
    pub(crate) const fn new(initial: u32) -> RecvWindow {
        RecvWindow {
            window: initial,
            unacked: 0,
        }
    }

    /// Takes `n` received bytes out of the window; a FLOW_CONTROL_ERROR if they exceed it.
    #[inline]
    pub(crate) fn receive(&mut self, n: usize) -> Result<(), FrameError> {
        self.check(n)?;
        self.window -= n as u32;
        Ok(())
    }

    /// Checks that `n` received bytes fit the window without taking them.
    #[inline]
    pub(crate) const fn check(&self, n: usize) -> Result<(), FrameError> {
        if n as u64 > self.window as u64 {
            Err(FrameError::credit_exceeded())
        } else {
            Ok(())
        }
    }

    /// The application consumed `n` bytes.
    #[inline]
    pub(crate) fn consumed(&mut self, n: usize) {
        self.unacked = self.unacked.saturating_add(n.min(u32::MAX as usize) as u32);
    }

    /// True once at least `threshold` consumed bytes wait to be given back.
    #[inline]
    pub(crate) const fn due(&self, threshold: u32) -> bool {
        self.unacked >= threshold && self.unacked > 0
    }

    /// Gives the consumed bytes back: the WINDOW increment to send.
    #[inline]
    pub(crate) fn release(&mut self) -> u32 {
        let inc = self.unacked.min(wire::MAX_WINDOW);
        self.unacked -= inc;
        self.window = self.window.saturating_add(inc);
        inc
    }
}
