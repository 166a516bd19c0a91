//! Flow control: giving credit back to the peer with WINDOW (PROTOCOL.md section 14).

use super::control::Control;
use super::streams::{Role, Storage, Stream, StreamState};
use super::Connection;
use crate::wire::{self, StreamId};

/// Control queue slots a window update leaves free, for CANCELs and answers to PINGs.
const WINDOW_RESERVE: usize = 4;

impl<S: Storage> Connection<S> {
    /// The application consumed `n` bytes of messages received on `stream` (use the
    /// stream of a one-way call, or any closed stream, to return connection credit only).
    /// Queues WINDOW frames once half a window has been consumed.
    pub fn consume(&mut self, stream: StreamId, n: usize) {
        let n = n as u64;
        self.recv_conn_unacked += n;
        if let Some(s) = self.table.get_mut(stream.0) {
            if receiving(s) {
                s.recv_unacked = s.recv_unacked.saturating_add(n as u32);
            }
        }
        self.queue_conn_window();
        self.queue_stream_window(stream.0);
    }

    /// Queues a connection WINDOW once half the window is consumed, or defers it.
    pub(super) fn queue_conn_window(&mut self) {
        let conn_window = u64::from(self.cfg.settings.initial_connection_window);
        if self.recv_conn_unacked < conn_window / 2 {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            return;
        }
        let inc = self.recv_conn_unacked.min(u64::from(wire::MAX_WINDOW)) as u32;
        if self
            .control
            .push(Control::Window {
                stream: 0,
                increment: inc,
            })
            .is_ok()
        {
            self.recv_conn_unacked -= u64::from(inc);
            self.recv_conn_window += u64::from(inc);
        }
    }

    /// Queues a stream's WINDOW once half its window is consumed, or defers it.
    pub(super) fn queue_stream_window(&mut self, id: u32) {
        let half = self.cfg.settings.initial_stream_window / 2;
        let Some(s) = self.table.get_mut(id) else {
            return;
        };
        if !receiving(s) || s.recv_unacked < half {
            return;
        }
        if self.control.free() <= WINDOW_RESERVE {
            self.windows_deferred = true;
            return;
        }
        let inc = s.recv_unacked;
        s.recv_unacked = 0;
        s.recv_window = s.recv_window.saturating_add(inc);
        let _ = self.control.push(Control::Window {
            stream: id,
            increment: inc,
        });
    }

    /// Queues the window updates deferred by a full control queue, as room allows.
    pub(super) fn release_deferred_windows(&mut self) {
        self.windows_deferred = false;
        self.queue_conn_window();
        let half = self.cfg.settings.initial_stream_window / 2;
        // Each update queued takes its stream out of the search; a lack of room ends it.
        while !self.windows_deferred {
            let Some(id) = self
                .table
                .iter()
                .find(|s| receiving(s) && s.recv_unacked >= half)
                .map(|s| s.id)
            else {
                return;
            };
            self.queue_stream_window(id);
        }
    }
}

/// Whether a stream still receives messages (and so earns window updates).
pub(super) fn receiving(s: &Stream) -> bool {
    match s.role {
        Role::Caller => !matches!(s.state, StreamState::CancelSent | StreamState::Closing),
        Role::Callee => s.state == StreamState::Open,
    }
}
