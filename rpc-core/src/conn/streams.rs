//! The stream table: caller-provided slots, indexed by stream id with open addressing
//! (linear probing, backward-shift deletion). Lookup, insert and remove are O(1) on
//! average and never allocate; a full table is an error, never a panic.

use crate::time::Instant;
use crate::wire::{Codec, StatusCode};

use super::event::FailReason;
use super::links::{Heads, Links};
use super::window::{RecvWindow, SendWindow};

/// A per-stream notice waiting to become an event. Kept on the stream so that any number
/// of streams can fail at once without overflowing the event queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    Failed(StatusCode, FailReason),
    Deadline,
    Aborted(StatusCode),
    Closed,
}

/// Which end of the call this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This endpoint opened the call.
    Caller,
    /// The peer opened the call.
    Callee,
}

/// The states of `spec/states.csv`, plus the internal `Closing` state of a stream whose
/// last frame is queued but not yet written (its id is not free until it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Caller: CALL sent without END_STREAM. Callee: CALL received without END_STREAM.
    Open,
    /// Caller: END_STREAM sent, waiting for STATUS.
    HalfClosedLocal,
    /// Caller: CANCEL sent (or queued), waiting for STATUS.
    CancelSent,
    /// Callee: END_STREAM received, STATUS owed.
    HalfClosedRemote,
    /// Callee: CANCEL received, STATUS owed.
    CancelReceived,
    /// Callee: STATUS sent before the caller's terminal frame.
    StatusSent,
    /// Both terminal frames are settled, but this endpoint's own terminal frame is still
    /// queued; the slot is freed when it is written.
    Closing,
}

/// The stored deadline of a stream without one.
const NO_DEADLINE: u64 = u64::MAX;

/// One stream's bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    pub(crate) id: u32,
    pub(crate) role: Role,
    pub(crate) state: StreamState,
    /// Bytes we may still send on this stream (the peer's window).
    pub(crate) send: SendWindow,
    /// Bytes the peer may still send us on this stream, and bytes to give back.
    pub(crate) recv: RecvWindow,
    /// Size of the incoming message so far (for MAX_MESSAGE_SIZE).
    pub(crate) in_msg_len: u32,
    /// Incoming chunk chain open, and its codec.
    pub(crate) in_chain: Option<Codec>,
    /// Outgoing chunk chain open, and its codec.
    pub(crate) out_chain: Option<Codec>,
    /// When the call's deadline passes (`NO_DEADLINE`: never).
    deadline_at: u64,
    /// Caller: the call's sequence number (for GOAWAY's Accepted Calls).
    pub(crate) seq: u64,
    /// The outcome was already reported to the application.
    pub(crate) reported: bool,
    /// This endpoint's terminal frame sits in the control queue.
    pub(crate) terminal_queued: bool,
    /// An event owed to the application about this stream.
    pub(crate) notice: Option<Notice>,
    /// Its place in the table's queues.
    pub(crate) links: Links,
    /// The queues it is in (one [`super::links::Queue::bit`] each).
    pub(crate) queued: u8,
}

impl Stream {
    pub(crate) const fn new(id: u32, role: Role, state: StreamState) -> Stream {
        Stream {
            id,
            role,
            state,
            send: SendWindow::new(0),
            recv: RecvWindow::new(0),
            in_msg_len: 0,
            in_chain: None,
            out_chain: None,
            deadline_at: NO_DEADLINE,
            seq: 0,
            reported: false,
            terminal_queued: false,
            notice: None,
            links: Links::NONE,
            queued: 0,
        }
    }

    /// When the call's deadline passes, if it has one.
    #[inline]
    pub(crate) const fn deadline(&self) -> Option<Instant> {
        if self.deadline_at == NO_DEADLINE {
            None
        } else {
            Some(Instant(self.deadline_at))
        }
    }

    /// Sets or clears the deadline (the caller keeps the deadline queue in step).
    #[inline]
    pub(crate) fn set_deadline(&mut self, at: Option<Instant>) {
        self.deadline_at = at.map_or(NO_DEADLINE, |t| t.0.min(NO_DEADLINE - 1));
    }

    /// Whether the stream still receives messages (and so earns window updates). A
    /// stream that owes the application its ending (a notice) is done receiving; this is
    /// also what lets the notice and window queues share their links.
    #[inline]
    pub(crate) fn receiving(&self) -> bool {
        if self.notice.is_some() {
            return false;
        }
        match self.role {
            Role::Caller => !matches!(self.state, StreamState::CancelSent | StreamState::Closing),
            Role::Callee => self.state == StreamState::Open,
        }
    }
}

/// What is left of a stream once it leaves the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Removed {
    pub(crate) role: Role,
    pub(crate) notice: Option<Notice>,
}

/// Storage for one stream. The caller provides a slice of these to the connection, e.g.
/// `[StreamSlot::EMPTY; 256]`; its length is the connection's stream capacity.
///
/// # Storage for bindings
///
/// The slot's layout is Rust's, not C's (it holds enums). A C caller sizes the storage
/// with [`SLOT_SIZE`] and [`SLOT_ALIGN`] (exported by the C ABI as functions or generated
/// header constants) and hands the wrapper `n * SLOT_SIZE` bytes aligned to
/// `SLOT_ALIGN`; the wrapper writes [`StreamSlot::EMPTY`] into each of the `n` slots
/// before it views them as `&mut [StreamSlot]` (the one `unsafe` step, in the wrapper,
/// never here). A wrapper with an allocator may instead own the slots
/// (`Box<[StreamSlot]>`, see [`Storage`]) and take only a count from C or Python.
#[derive(Debug, Clone, Copy)]
pub struct StreamSlot(pub(crate) Option<Stream>);

impl StreamSlot {
    /// An unused slot.
    pub const EMPTY: StreamSlot = StreamSlot(None);

    /// How many slots fit in `bytes` bytes of storage.
    pub const fn count_in(bytes: usize) -> usize {
        bytes / SLOT_SIZE
    }
}

/// The size of one [`StreamSlot`] in bytes, for callers that allocate slot storage
/// themselves (see "Storage for bindings" on [`StreamSlot`]). Fixed for a given build of
/// this crate; `tests/connection.rs` keeps it at most 80 on 64-bit targets (72 today).
pub const SLOT_SIZE: usize = core::mem::size_of::<StreamSlot>();

/// The alignment one [`StreamSlot`] needs.
pub const SLOT_ALIGN: usize = core::mem::align_of::<StreamSlot>();

impl Default for StreamSlot {
    fn default() -> StreamSlot {
        StreamSlot::EMPTY
    }
}

/// Stream storage: anything that lends out a slice of slots. A borrowed
/// `&mut [StreamSlot]` or an array works without `alloc`; a runtime can hand over a
/// `Box<[StreamSlot]>` or `Vec<StreamSlot>` so the connection owns its storage.
pub trait Storage: AsRef<[StreamSlot]> + AsMut<[StreamSlot]> {}

impl<T: AsRef<[StreamSlot]> + AsMut<[StreamSlot]>> Storage for T {}

pub(crate) struct Table<S: Storage> {
    slots: S,
    len: usize,
    /// The queues that run through the slots (see `queue.rs`).
    pub(crate) heads: Heads,
}

impl<S: Storage> Table<S> {
    pub(crate) fn new(mut slots: S) -> Table<S> {
        for s in slots.as_mut().iter_mut() {
            *s = StreamSlot::EMPTY;
        }
        Table {
            slots,
            len: 0,
            heads: Heads::EMPTY,
        }
    }

    #[inline]
    fn s(&self) -> &[StreamSlot] {
        self.slots.as_ref()
    }

    #[inline]
    fn m(&mut self) -> &mut [StreamSlot] {
        self.slots.as_mut()
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.s().len()
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Moves every stream into `slots` (links are by id, so they stay valid) and returns
    /// the old storage; gives `slots` back if it cannot hold them all.
    pub(crate) fn replace(&mut self, mut slots: S) -> Result<S, S> {
        if slots.as_ref().len() < self.len {
            return Err(slots);
        }
        for s in slots.as_mut().iter_mut() {
            *s = StreamSlot::EMPTY;
        }
        let old = core::mem::replace(&mut self.slots, slots);
        self.len = 0;
        for s in old.as_ref().iter().filter_map(|s| s.0) {
            // Fits: the new storage has room for every stream.
            let _ = self.insert(s);
        }
        Ok(old)
    }

    /// The slot a stream id hashes to: a multiplicative hash mapped onto the table by a
    /// multiply and shift (no division).
    #[inline]
    fn home(&self, id: u32) -> usize {
        let h = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        ((h * self.s().len() as u64) >> 32) as usize
    }

    #[inline]
    fn find(&self, id: u32) -> Option<usize> {
        let cap = self.s().len();
        if cap == 0 {
            return None;
        }
        let mut i = self.home(id);
        for _ in 0..cap {
            match &self.s()[i].0 {
                None => return None,
                Some(s) if s.id == id => return Some(i),
                Some(_) => i = step(i, cap),
            }
        }
        None
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&Stream> {
        self.find(id).and_then(|i| self.s()[i].0.as_ref())
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        let i = self.find(id)?;
        self.m()[i].0.as_mut()
    }

    #[inline]
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.find(id).is_some()
    }

    /// Inserts a stream whose id is not present; gives it back if the table is full.
    #[inline(always)]
    pub(crate) fn insert(&mut self, stream: Stream) -> Result<(), Stream> {
        let cap = self.s().len();
        if self.len >= cap {
            return Err(stream);
        }
        let mut i = self.home(stream.id);
        while self.s()[i].0.is_some() {
            i = step(i, cap);
        }
        self.m()[i].0 = Some(stream);
        self.len += 1;
        Ok(())
    }

    /// Removes the stream with `id` (backward-shift deletion keeps probes short) and
    /// returns what its owner still needs to know.
    #[inline]
    pub(crate) fn remove(&mut self, id: u32) -> Option<Removed> {
        let cap = self.s().len();
        let mut hole = self.find(id)?;
        if self.s()[hole].0.as_ref().is_some_and(|s| s.queued != 0) {
            self.unlink_all(id);
        }
        let removed = self.s()[hole].0.as_ref().map(|s| Removed {
            role: s.role,
            notice: s.notice,
        });
        self.m()[hole].0 = None;
        self.len -= 1;
        let mut i = step(hole, cap);
        // Look at ids only: copying whole streams while probing costs more than moving.
        while let Some(next) = self.s()[i].0.as_ref().map(|s| s.id) {
            let home = self.home(next);
            // Move `s` into the hole if its home is not in (hole, i] cyclically.
            if distance(home, hole, cap) < distance(home, i, cap) {
                let moved = self.m()[i].0.take();
                self.m()[hole].0 = moved;
                hole = i;
            }
            i = step(i, cap);
        }
        removed
    }

    /// The id of the stream in slot `i`, if any (slots do not move while the table is
    /// only read or its queues change, so an index loop may edit streams and queues).
    pub(crate) fn id_at(&self, i: usize) -> Option<u32> {
        self.s().get(i).and_then(|s| s.0.as_ref()).map(|s| s.id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Stream> + '_ {
        self.s().iter().filter_map(|s| s.0.as_ref())
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> + '_ {
        self.m().iter_mut().filter_map(|s| s.0.as_mut())
    }
}

/// The slot after `i` in a table of `cap` slots.
const fn step(i: usize, cap: usize) -> usize {
    if i + 1 == cap {
        0
    } else {
        i + 1
    }
}

/// How far slot `to` is past slot `from`, going forward around the table.
const fn distance(from: usize, to: usize, cap: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + cap - from
    }
}
