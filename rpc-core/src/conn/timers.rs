//! Timers: the handshake, frame, ping, keepalive and idle timeouts and call deadlines.

use super::control::{Control, Reason};
use super::streams::{Notice, Role, Storage, StreamState};
use super::{Connection, FailReason, Phase};
use crate::time::{Duration, Instant};
use crate::wire::{ErrorCode, Rule, StatusCode};

impl<S: Storage> Connection<S> {
    /// Advances timers to `now`. Idempotent; extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if !self.peer_hello && now >= self.started + self.cfg.handshake_timeout {
            return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("handshake_timeout"));
        }
        if let Some(since) = self.partial_since {
            if now >= since + self.cfg.frame_timeout {
                return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("frame_timeout"));
            }
        }
        if let Some((_, sent)) = self.ping {
            if now >= sent + self.cfg.ping_timeout {
                return self.fail_local(ErrorCode::TIMEOUT, Rule::TimedOut("ping_timeout"));
            }
        }
        if let Some(interval) = self.cfg.keepalive_interval {
            if self.ping.is_none() && self.peer_hello && now >= self.last_recv + interval {
                let _ = self.ping(now);
            }
        }
        let idle = self.cfg.settings.idle_timeout_ms;
        if idle > 0
            && self.table.len() == 0
            && now >= self.last_recv + Duration::from_millis(u64::from(idle))
        {
            self.queue_goaway(ErrorCode::NO_ERROR, Reason::Text("idle_timeout"));
            self.close_now(ErrorCode::NO_ERROR, false, None, "idle timeout");
            return;
        }
        if self.next_deadline.is_some_and(|d| now >= d) {
            self.expire_deadlines(now);
        }
    }

    /// When `handle_timeout` should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut consider = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if !self.peer_hello {
            consider(self.started + self.cfg.handshake_timeout);
        }
        if let Some(since) = self.partial_since {
            consider(since + self.cfg.frame_timeout);
        }
        if let Some((_, sent)) = self.ping {
            consider(sent + self.cfg.ping_timeout);
        } else if let Some(interval) = self.cfg.keepalive_interval {
            if self.peer_hello {
                consider(self.last_recv + interval);
            }
        }
        let idle = self.cfg.settings.idle_timeout_ms;
        if idle > 0 && self.table.len() == 0 {
            consider(self.last_recv + Duration::from_millis(u64::from(idle)));
        }
        if let Some(d) = self.next_deadline {
            consider(d);
        }
        t
    }

    pub(super) fn expire_deadlines(&mut self, now: Instant) {
        let mut next: Option<Instant> = None;
        let mut queued = 0;
        let room = self.control.free().saturating_sub(4);
        let mut expired = [0u32; 16];
        for s in self.table.iter() {
            match s.deadline {
                Some(d) if d <= now && queued < room.min(expired.len()) => {
                    expired[queued] = s.id;
                    queued += 1;
                }
                Some(d) => next = Some(next.map_or(d, |n| n.min(d))),
                None => {}
            }
        }
        for &id in &expired[..queued] {
            let Some(s) = self.table.get_mut(id) else {
                continue;
            };
            s.deadline = None;
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
            self.pending_notices += 1;
            let _ = self.control.push(c);
        }
        // Streams left over for lack of queue room are retried at once.
        if queued == room.min(expired.len()) && queued > 0 {
            next = Some(now);
        }
        self.next_deadline = next;
    }
}
