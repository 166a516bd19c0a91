//! Stream endings and the events they owe the application.

use super::control::{Control, Reason};
use super::links::Queue;
use super::streams::{Notice, Role, Storage, StreamState};
use super::{Connection, Event, FailReason, Phase};
use crate::wire::{ErrorCode, StatusCode, StreamId};

impl<S: Storage> Connection<S> {
    /// The next event, or `None`. Poll until `None` after every input or command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(ev) = self.events.pop() {
            if ev.has_payload() {
                self.payload_events -= 1;
            }
            return Some(ev);
        }
        if self.table.queued(Queue::Notices) > 0 {
            if let Some(ev) = self.take_notice() {
                return Some(ev);
            }
        }
        if self.phase == Phase::Closed && !self.close_reported {
            self.close_reported = true;
            return self.close.map(Event::Closed);
        }
        None
    }

    /// A limit broken by a message on `id`: the callee answers STATUS, the caller cancels.
    pub(super) fn stream_limit_error(&mut self, id: u32, reason: Reason) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        let code = StatusCode::RESOURCE_EXHAUSTED;
        match s.role {
            Role::Callee => {
                s.state = if s.state == StreamState::HalfClosedRemote {
                    StreamState::Closing
                } else {
                    StreamState::StatusSent
                };
                s.notice = Some(Notice::Aborted(code));
                let _ = self.control.push(Control::Status {
                    stream: id,
                    code,
                    refused: false,
                    reason,
                    slot: true,
                });
            }
            Role::Caller => {
                s.state = StreamState::CancelSent;
                s.reported = true;
                s.notice = Some(Notice::Failed(code, FailReason::LimitExceeded));
                let _ = self.control.push(Control::Cancel {
                    stream: id,
                    code,
                    reason,
                });
            }
        }
        s.terminal_queued = true;
        self.table.push_back(Queue::Notices, id);
        self.clear_deadline(id);
    }

    /// Both terminal frames are settled: free the slot, unless our own terminal frame is
    /// still queued (then the slot waits in `Closing` until it is written).
    pub(super) fn settle(&mut self, id: u32) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        if s.terminal_queued {
            s.state = StreamState::Closing;
        } else {
            self.remove_stream(id);
        }
    }

    pub(super) fn terminal_written(&mut self, id: u32) {
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        s.terminal_queued = false;
        if s.state == StreamState::Closing {
            self.remove_stream(id);
        }
    }

    pub(super) fn remove_stream(&mut self, id: u32) {
        // A stream that still owes the application its ending, while the event queue is
        // full (its caller polls late), stays (Closing, nothing queued) until
        // `take_notice` hands that ending out and removes it: every call ends with a
        // definite event.
        if self.events.free() == 0 {
            if let Some(s) = self.table.get_mut(id).filter(|s| s.notice.is_some()) {
                s.state = StreamState::Closing;
                s.terminal_queued = false;
                return;
            }
        }
        let Some(s) = self.table.remove(id) else {
            return;
        };
        if let Some(n) = s.notice {
            let ev = notice_event(id, s.role, n);
            if self.events.push(ev).is_ok() && ev.has_payload() {
                self.payload_events += 1;
            }
        }
        match s.role {
            Role::Caller => self.local_open -= 1,
            Role::Callee => self.peer_open -= 1,
        }
        if self.streams_blocked && self.phase != Phase::Closed {
            self.streams_blocked = false;
            self.push_event(Event::StreamsAvailable);
        }
        if self.goaway_received
            && self.table.len() == 0
            && self.phase != Phase::Closed
            && !self.goaway_sent
        {
            self.close_now(ErrorCode::NO_ERROR, true, None, "peer drained");
        }
    }

    /// The event owed by the stream at the front of the notice queue (out of line: it
    /// would cost `poll_event`'s common path registers).
    #[inline(never)]
    pub(super) fn take_notice(&mut self) -> Option<Event> {
        let closed = self.phase == Phase::Closed;
        let (id, role, n) = loop {
            let id = self.table.pop_front(Queue::Notices)?;
            if let Some(s) = self.table.get_mut(id) {
                if let Some(n) = s.notice.take() {
                    break (id, s.role, n);
                }
            }
        };
        if closed && n == Notice::Closed {
            let _ = self.table.remove(id);
        } else if self
            .table
            .get(id)
            .is_some_and(|s| s.state == StreamState::Closing && !s.terminal_queued)
        {
            // Its removal waited for this event (see `remove_stream`).
            self.remove_stream(id);
        }
        Some(notice_event(id, role, n))
    }

    pub(super) fn push_event(&mut self, ev: Event) {
        // handle_input keeps room for what one frame produces; commands produce at most
        // two events each, so a full queue here means the caller is not polling.
        if self.events.push(ev).is_ok() && ev.has_payload() {
            self.payload_events += 1;
        }
    }
}

pub(super) fn notice_event(id: u32, role: Role, n: Notice) -> Event {
    let stream = StreamId(id);
    match n {
        Notice::Closed if role == Role::Callee => Event::Cancelled {
            stream,
            code: StatusCode::UNAVAILABLE,
        },
        Notice::Failed(code, reason) => Event::CallFailed {
            stream,
            code,
            reason,
        },
        Notice::Deadline => Event::DeadlineExceeded { stream },
        Notice::Aborted(code) => Event::CallAborted { stream, code },
        Notice::Closed => Event::CallFailed {
            stream,
            code: StatusCode::UNAVAILABLE,
            reason: FailReason::ConnectionClosed,
        },
    }
}
