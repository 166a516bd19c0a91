//! Timers (as quinn-proto's `TimerTable`): the handshake, frame, ping, keepalive and idle
//! timeouts and the earliest call deadline, derived in one place ([`Connection::timers`])
//! that both `poll_timeout` and `handle_timeout` read. Call deadlines wait in a queue
//! sorted by time, so expiring them touches only the streams that expire.

use super::control::{Control, Reason};
use super::links::Queue;
use super::streams::{Notice, Role, Storage, StreamState};
use super::{Connection, FailReason, Phase};
use crate::time::{Duration, Instant};
use crate::wire::{ErrorCode, Rule, StatusCode};

/// The connection's timers, in the order `handle_timeout` acts on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The peer's preface and HELLO must arrive in time.
    Handshake = 0,
    /// A frame that started to arrive must complete in time.
    Frame = 1,
    /// Our PING must be answered in time.
    Ping = 2,
    /// Send a PING after this much silence.
    Keepalive = 3,
    /// Close a connection without streams after this much silence.
    Idle = 4,
    /// The earliest call deadline.
    Deadline = 5,
}

const TIMERS: usize = 6;

/// When each timer fires, if it is armed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; TIMERS],
}

impl TimerTable {
    fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }

    /// True if timer `t` is armed and due at `now`.
    pub(crate) fn expired(&self, t: Timer, now: Instant) -> bool {
        self.at[t as usize].is_some_and(|at| now >= at)
    }

    /// The earliest armed timer.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

/// Deadlines expired per `handle_timeout` call; the rest follow at once.
const EXPIRE_BATCH: usize = 16;

impl<S: Storage> Connection<S> {
    /// The timer table for the connection's current state.
    pub(crate) fn timers(&self) -> TimerTable {
        let mut t = TimerTable::default();
        if self.phase == Phase::Closed {
            return t;
        }
        if !self.peer_hello {
            t.set(Timer::Handshake, self.started + self.cfg.handshake_timeout);
        }
        if let Some(since) = self.partial_since.filter(|_| !self.input_held) {
            t.set(Timer::Frame, since + self.cfg.frame_timeout);
        }
        if let Some((_, sent)) = self.ping {
            t.set(Timer::Ping, sent + self.cfg.ping_timeout);
        } else if let Some(interval) = self.cfg.keepalive_interval {
            if self.peer_hello {
                t.set(Timer::Keepalive, self.last_recv + interval);
            }
        }
        let idle = self.cfg.settings.idle_timeout_ms;
        if idle > 0 && self.table.len() == 0 {
            let idle = Duration::from_millis(u64::from(idle));
            t.set(Timer::Idle, self.last_recv + idle);
        }
        if let Some(d) = self
            .table
            .front(Queue::Deadlines)
            .and_then(|s| s.deadline())
        {
            t.set(Timer::Deadline, d);
        }
        t
    }

    /// Advances timers to `now`. Idempotent; extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.timers();
        let timeout = |name| Rule::TimedOut(name);
        if t.expired(Timer::Handshake, now) {
            return self.fail_local(ErrorCode::TIMEOUT, timeout("handshake_timeout"));
        }
        if t.expired(Timer::Frame, now) {
            return self.fail_local(ErrorCode::TIMEOUT, timeout("frame_timeout"));
        }
        if t.expired(Timer::Ping, now) {
            return self.fail_local(ErrorCode::TIMEOUT, timeout("ping_timeout"));
        }
        if t.expired(Timer::Keepalive, now) {
            let _ = self.ping(now);
        }
        if t.expired(Timer::Idle, now) {
            self.queue_goaway(ErrorCode::NO_ERROR, Reason::Text("idle_timeout"));
            self.close_now(ErrorCode::NO_ERROR, false, None, "idle timeout");
            return;
        }
        if t.expired(Timer::Deadline, now) {
            self.expire_deadlines(now);
        }
    }

    /// When `handle_timeout` should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers().next()
    }

    /// Arms the deadline of stream `id` (already in the table).
    pub(super) fn set_deadline(&mut self, id: u32, at: Option<Instant>) {
        if let Some(at) = at {
            if let Some(s) = self.table.get_mut(id) {
                s.set_deadline(Some(at));
            }
            // A stream is queued once, at the place of its current deadline.
            self.table.unlink(Queue::Deadlines, id);
            self.table.insert_deadline(id, at);
        }
    }

    /// Disarms the deadline of stream `id`.
    pub(super) fn clear_deadline(&mut self, id: u32) {
        if let Some(s) = self.table.get_mut(id) {
            s.set_deadline(None);
        }
        self.table.unlink(Queue::Deadlines, id);
    }

    /// Ends the calls whose deadline is due, earliest first, as control queue room allows
    /// (a stream left over stays due, so `poll_timeout` asks to be called again at once).
    pub(super) fn expire_deadlines(&mut self, now: Instant) {
        let room = self.control.free().saturating_sub(4).min(EXPIRE_BATCH);
        for _ in 0..room {
            let due = self
                .table
                .front(Queue::Deadlines)
                .is_some_and(|s| s.deadline().is_some_and(|d| d <= now));
            if !due {
                break;
            }
            let Some(id) = self.table.pop_front(Queue::Deadlines) else {
                break;
            };
            self.expire(id);
        }
    }

    /// The deadline of stream `id` passed: the caller cancels, the callee answers.
    fn expire(&mut self, id: u32) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        s.set_deadline(None);
        let code = StatusCode::DEADLINE_EXCEEDED;
        let reason = Reason::Text("deadline exceeded");
        let c = match s.role {
            Role::Caller => {
                s.state = StreamState::CancelSent;
                s.reported = true;
                s.out_chain = None;
                s.notice = Some(Notice::Failed(code, FailReason::Deadline));
                Control::Cancel {
                    stream: id,
                    code,
                    reason,
                }
            }
            Role::Callee => {
                s.state = match s.state {
                    StreamState::Open => StreamState::StatusSent,
                    _ => StreamState::Closing,
                };
                s.notice = Some(Notice::Deadline);
                Control::Status {
                    stream: id,
                    code,
                    refused: false,
                    reason,
                    slot: true,
                }
            }
        };
        s.terminal_queued = true;
        self.table.push_back(Queue::Notices, id);
        let _ = self.control.push(c);
    }
}
