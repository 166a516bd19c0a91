//! Closing and draining the connection (PROTOCOL.md section 15).

use super::control::{Control, Reason};
use super::links::Queue;
use super::streams::{Notice, Role, Storage};
use super::{CloseReason, Connection, Error, Phase};
use crate::time::Instant;
use crate::wire::{ErrorCode, FrameError, Rule};

impl<S: Storage> Connection<S> {
    /// The peer closed the transport (or it broke). Every open call ends.
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        let clean = self.goaway_received && self.table.len() == 0;
        let detail = if clean {
            "closed by peer"
        } else {
            "transport closed"
        };
        self.close_now(ErrorCode::NO_ERROR, true, None, detail);
    }

    /// Starts a graceful drain: GOAWAY(NO_ERROR); calls in flight finish, new ones are
    /// refused; the connection closes when no stream is left.
    pub fn drain(&mut self, _now: Instant) -> Result<(), Error> {
        self.check_open()?;
        if !self.goaway_sent {
            self.queue_goaway(ErrorCode::NO_ERROR, Reason::Text("draining"));
        }
        Ok(())
    }

    /// Closes now with `code`: GOAWAY is queued and every open call ends.
    pub fn close(&mut self, _now: Instant, code: ErrorCode, reason: &'static str) {
        if self.phase == Phase::Closed {
            return;
        }
        self.queue_goaway(code, Reason::Text(reason));
        self.close_now(code, false, None, reason);
    }

    /// Closes now with `code`, the GOAWAY's REASON naming a local limit and its value
    /// (`"max_connections 10000 exceeded"`): for limits the runtime keeps above one
    /// connection (its connection count, server-wide budgets).
    pub fn close_over_limit(
        &mut self,
        _now: Instant,
        code: ErrorCode,
        limit: &'static str,
        value: u64,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        self.queue_goaway(code, Reason::Limit(limit, value));
        self.close_now(code, false, None, limit);
    }

    pub(super) fn queue_goaway(&mut self, code: ErrorCode, reason: Reason) {
        self.goaway_sent = true;
        let c = Control::GoAway {
            code,
            accepted: self.calls_received,
            reason,
        };
        if self.control.push(c).is_err() {
            // Make room: a closing connection needs its GOAWAY more than anything queued.
            let _ = self.control.pop();
            let _ = self.control.push(c);
        }
    }

    /// A protocol violation by the peer.
    pub(super) fn fail(&mut self, _now: Instant, e: FrameError) {
        self.queue_goaway(e.code, Reason::Rule(e.rule));
        self.close_now(
            e.code,
            false,
            Some(e.rule),
            "protocol violation by the peer",
        );
    }

    pub(super) fn fail_local(&mut self, code: ErrorCode, rule: Rule) {
        self.queue_goaway(code, Reason::Rule(rule));
        self.close_now(code, false, Some(rule), "timeout");
    }

    pub(super) fn close_now(
        &mut self,
        code: ErrorCode,
        by_peer: bool,
        rule: Option<Rule>,
        detail: &'static str,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.close = Some(CloseReason {
            code,
            by_peer,
            rule,
            detail,
        });
        // Every stream is reported, once: the only scan of the table, at the end.
        for i in 0..self.table.capacity() {
            let Some(id) = self.table.id_at(i) else {
                continue;
            };
            let Some(s) = self.table.get_mut(id) else {
                continue;
            };
            // A caller whose outcome is already known gets no second report.
            let known = s.role == Role::Caller && s.reported;
            if s.notice.is_none() && !known {
                s.notice = Some(Notice::Closed);
                self.table.push_back(Queue::Notices, id);
            }
        }
    }
}
