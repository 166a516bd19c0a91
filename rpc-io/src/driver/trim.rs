//! Idle trimming: a connection that has been idle for a while lets go of what its busy
//! times left behind (large read and write buffers, stream slots, pooled states), so that
//! thousands of idle connections cost little (spec section 16, `idle memory`).

use muxwire_core::conn::StreamSlot;

use super::{Driver, FIRST_SLOTS};

impl Driver {
    /// True when the connection has nothing in flight: no stream open, no command,
    /// outcome, queued message, waiting call or running one-way handler.
    pub(super) fn is_idle(&self) -> bool {
        self.conn.open_streams() == 0
            && self.cmds.is_empty()
            && self.outcomes.is_empty()
            && self.queues.is_empty()
            && self.room_waiters.is_empty()
            && self.caller.waiting.is_empty()
            && self.one_way.running == 0
            && self.out.unflushed == 0
    }

    /// Lets go of the write arena, the stream slots beyond the first few and the spare
    /// capacity of the driver's maps and queues. The read buffer is the event loop's.
    pub(super) fn trim(&mut self) {
        if !self.is_idle() {
            return;
        }
        self.out.trim();
        if self.conn.storage_capacity() > FIRST_SLOTS {
            let small = vec![StreamSlot::EMPTY; FIRST_SLOTS].into_boxed_slice();
            let _ = self.conn.replace_storage(small);
        }
        self.callee.trim();
        self.caller.calls.shrink_to_fit();
        self.caller.tokens.shrink_to_fit();
        self.caller.early.shrink_to_fit();
        self.caller.waiting.shrink_to_fit();
        self.queues.shrink_to_fit();
        self.room_waiters.shrink_to_fit();
        self.cmds.shrink_to_fit();
        self.outcomes.shrink_to_fit();
        self.wakers.shrink_to_fit();
        self.pings.shrink_to_fit();
    }
}
