//! Flow control (PROTOCOL.md section 14): the blocked check every send goes through, and
//! the WINDOW frames that give credit back to the peer.

use super::control::Control;
use super::links::Queue;
use super::streams::{Role, Storage, StreamState};
use super::{Connection, Error, Phase};
use crate::wire::StreamId;

/// Control queue slots a window update leaves free, for CANCELs and answers to PINGs.
const WINDOW_RESERVE: usize = 4;

impl<S: Storage> Connection<S> {
    /// The application consumed `n` bytes of messages received on `stream` (use the
    /// stream of a one-way call, or any closed stream, to return connection credit only).
    /// Queues WINDOW frames once half a window has been consumed.
    pub fn consume(&mut self, stream: StreamId, n: usize) {
        self.recv_conn.consumed(n);
        let half = self.cfg.settings.initial_stream_window / 2;
        // One lookup in the common case: the stream's update is due only now and then.
        let due = match self.table.get_mut(stream.0) {
            Some(s) if s.receiving() => {
                s.recv.consumed(n);
                s.recv.due(half)
            }
            _ => false,
        };
        self.queue_conn_window();
        if due {
            self.queue_stream_window(stream.0);
        }
    }

    /// Returns connection credit only, for `n` bytes the application holds for a stream
    /// whose own credit it returns later with [`Connection::consume_stream`] (a message
    /// still being assembled must not hold the connection's credit: streams that each
    /// wait for the rest of a message could otherwise exhaust it together, and wait for
    /// ever).
    pub fn consume_connection(&mut self, n: usize) {
        self.recv_conn.consumed(n);
        self.queue_conn_window();
    }

    /// Returns `stream`'s credit only, for bytes whose connection credit
    /// [`Connection::consume_connection`] already returned. Nothing happens if the
    /// stream is no longer receiving.
    pub fn consume_stream(&mut self, stream: StreamId, n: usize) {
        let half = self.cfg.settings.initial_stream_window / 2;
        let due = match self.table.get_mut(stream.0) {
            Some(s) if s.receiving() => {
                s.recv.consumed(n);
                s.recv.due(half)
            }
            _ => false,
        };
        if due {
            self.queue_stream_window(stream.0);
        }
    }

    /// Queues a connection WINDOW once half the window is consumed, or defers it.
    #[inline]
    pub(super) fn queue_conn_window(&mut self) {
        if !self
            .recv_conn
            .due(self.cfg.settings.initial_connection_window / 2)
        {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            return;
        }
        let increment = self.recv_conn.release();
        let _ = self.control.push(Control::Window {
            stream: 0,
            increment,
        });
    }

    /// Queues a stream's WINDOW once half its window is consumed, or defers it.
    #[inline]
    pub(super) fn queue_stream_window(&mut self, id: u32) {
        let half = self.cfg.settings.initial_stream_window / 2;
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        if !s.receiving() || !s.recv.due(half) {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            self.table.push_back(Queue::Windows, id);
            return;
        }
        let increment = s.recv.release();
        let _ = self.control.push(Control::Window {
            stream: id,
            increment,
        });
    }

    /// Queues the window updates deferred by a full control queue, as room allows.
    pub(super) fn release_deferred_windows(&mut self) {
        self.windows_deferred = false;
        self.queue_conn_window();
        // Oldest first; a lack of room ends it (the rest stay queued).
        while !self.windows_deferred {
            if self.control.free() <= WINDOW_RESERVE {
                self.windows_deferred = self.table.queued(Queue::Windows) > 0;
                return;
            }
            let Some(id) = self.table.pop_front(Queue::Windows) else {
                return;
            };
            self.queue_stream_window(id);
        }
    }

    /// May a message of `len` bytes be sent on `stream` now? `Ok(available)`, the bytes
    /// both windows allow (at least `len`), if so. If not, `Err(Error::Blocked {
    /// available })`, and the stream (or the connection) is marked exactly as by a
    /// refused send, so [`super::Event::WindowOpened`] follows when credit arrives: no
    /// need to send into an empty buffer to wait for credit. Stream 0 asks about a new
    /// call's first message (the connection window and the peer's initial stream
    /// window). A stream that cannot send at all gives `UnknownStream` or `InvalidState`;
    /// a closed connection `Closed`.
    pub fn check_send(&mut self, stream: StreamId, len: usize) -> Result<u64, Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let (id, credit) = if stream.is_connection() {
            (None, i64::from(self.peer.initial_stream_window))
        } else {
            let s = self.table.get(stream.0).ok_or(Error::UnknownStream)?;
            let can_send = match s.role {
                Role::Caller => s.state == StreamState::Open,
                Role::Callee => matches!(
                    s.state,
                    StreamState::Open | StreamState::HalfClosedRemote | StreamState::CancelReceived
                ),
            };
            if !can_send {
                return Err(Error::InvalidState);
            }
            (Some(stream.0), s.send.credit())
        };
        self.check_credit(id, credit, len)?;
        Ok(self.send_conn.credit().min(credit).max(0) as u64)
    }

    /// The one blocked check of every send: `len` message bytes fit the connection window
    /// and `stream_credit` (the stream's window, or a new call's initial window)? If not,
    /// marks who waits for credit (the stream `id`, else the connection) so that
    /// [`super::Event::WindowOpened`] follows when it arrives.
    pub(super) fn check_credit(
        &mut self,
        id: Option<u32>,
        stream_credit: i64,
        len: usize,
    ) -> Result<(), Error> {
        let len = len as i64;
        let conn = self.send_conn.credit();
        let available = conn.min(stream_credit);
        if len <= available {
            return Ok(());
        }
        match id.and_then(|id| self.table.get_mut(id)) {
            Some(s) => {
                s.send.block();
                if len > conn {
                    self.send_conn.block();
                }
            }
            None => self.send_conn.block(),
        }
        Err(Error::Blocked {
            available: available.max(0) as u64,
        })
    }
}
