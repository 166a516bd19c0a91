//! The application's view of its calls: which are open, and how each one ended. Checks
//! that every call ends, that a call made here ends exactly once, and that events only
//! name calls the application knows.

use std::collections::BTreeSet;

use muxwire_core::conn::Event;
use muxwire_core::wire::{Side, StreamId};

/// Calls as the application sees them.
#[derive(Debug)]
pub struct Ledger {
    side: Side,
    /// Calls made here that have not ended (no STATUS, failure or cancel yet).
    mine: BTreeSet<u32>,
    /// Calls served here that have not ended (no STATUS sent, no stop signal yet).
    theirs: BTreeSet<u32>,
    /// Every call ever served here: late stop signals may still name them.
    served: BTreeSet<u32>,
    /// Ids the application has met, newest last (for stream selectors).
    recent: Vec<u32>,
    closed: bool,
}

const RECENT: usize = 32;

impl Ledger {
    /// An empty ledger for an endpoint on `side`.
    pub fn new(side: Side) -> Ledger {
        Ledger {
            side,
            mine: BTreeSet::new(),
            theirs: BTreeSet::new(),
            served: BTreeSet::new(),
            recent: Vec::new(),
            closed: false,
        }
    }

    /// Calls the application still considers open.
    pub fn open(&self) -> usize {
        self.mine.len() + self.theirs.len()
    }

    /// The `i`-th of the recently met ids (modulo their number), if any.
    pub fn recent(&self, i: usize) -> Option<u32> {
        (!self.recent.is_empty()).then(|| self.recent[i % self.recent.len()])
    }

    fn meet(&mut self, id: u32) {
        self.recent.retain(|&x| x != id);
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push(id);
    }

    /// `open_call` succeeded with stream `id`.
    pub fn opened(&mut self, id: StreamId, one_way: bool) {
        assert_eq!(
            id.opener(),
            Some(self.side),
            "call {id:?} opened with the peer's parity"
        );
        let id = id.0;
        assert!(
            !self.mine.contains(&id) && !self.theirs.contains(&id),
            "open_call reused stream {id}, still open"
        );
        if !one_way {
            self.mine.insert(id);
        }
        self.meet(id);
    }

    /// `send_status` succeeded on `id`: the served call is over for the application.
    pub fn status_sent(&mut self, id: u32) {
        assert!(
            self.served.contains(&id),
            "STATUS sent on {id}, never served"
        );
        self.theirs.remove(&id);
    }

    /// `cancel` succeeded on `id`: its outcome is known.
    pub fn cancelled(&mut self, id: u32) {
        self.mine.remove(&id);
    }

    /// Applies one event.
    pub fn event(&mut self, ev: &Event) {
        assert!(!self.closed, "event after Closed: {ev:?}");
        let id = ev.stream().0;
        match *ev {
            Event::Call {
                stream, one_way, ..
            } => {
                assert_eq!(
                    stream.opener(),
                    Some(self.side.peer()),
                    "call on {id} with this side's parity"
                );
                assert!(
                    !self.theirs.contains(&id) && !self.mine.contains(&id),
                    "call on {id}, still open"
                );
                if !one_way {
                    self.theirs.insert(id);
                    self.served.insert(id);
                }
                self.meet(id);
            }
            Event::Message { .. } => assert!(
                self.mine.contains(&id) || self.theirs.contains(&id),
                "message on {id}, not open"
            ),
            Event::HalfClosed { .. } => {
                assert!(self.theirs.contains(&id), "half-close on {id}, not served")
            }
            Event::Status { .. } | Event::CallFailed { .. } => {
                assert!(self.mine.remove(&id), "second ending of call {id}: {ev:?}")
            }
            Event::Cancelled { .. }
            | Event::DeadlineExceeded { .. }
            | Event::CallAborted { .. } => {
                assert!(
                    self.served.contains(&id),
                    "stop signal for {id}, never served"
                );
                self.theirs.remove(&id);
            }
            Event::Closed(_) => self.closed = true,
            _ => {}
        }
    }

    /// After the connection closed and every event was polled: every call ended.
    pub fn check_all_ended(&self) {
        assert!(self.closed, "no Closed event");
        assert!(
            self.mine.is_empty(),
            "calls made here never ended: {:?}",
            self.mine
        );
        assert!(
            self.theirs.is_empty(),
            "served calls never ended: {:?}",
            self.theirs
        );
    }
}
