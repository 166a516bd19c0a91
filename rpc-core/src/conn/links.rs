//! The links of the stream queues, kept inside each stream's slot so that queues need no
//! storage of their own (see `queue.rs` for the operations).

/// The work queues that run through the stream table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// Streams owing the application an event (a stream `Notice`), oldest first.
    Notices = 0,
    /// Streams whose WINDOW update waits for room in the control queue, oldest first.
    Windows = 1,
    /// Streams with a deadline, earliest deadline first.
    Deadlines = 2,
}

/// How many queues there are.
pub(crate) const QUEUES: usize = 3;

/// How many link pairs a stream has: the notice and window queues share one, since a
/// stream that owes the application its ending no longer earns window updates.
pub(crate) const LINKS: usize = 2;

impl Queue {
    /// The queue's bit in a stream's `queued` byte.
    #[inline]
    pub(crate) const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Which of the stream's link pairs the queue uses.
    #[inline]
    pub(crate) const fn link(self) -> usize {
        match self {
            Queue::Notices | Queue::Windows => 0,
            Queue::Deadlines => 1,
        }
    }

    /// The queue that shares this one's links: a stream joining one leaves the other.
    #[inline]
    pub(crate) const fn sibling(self) -> Option<Queue> {
        match self {
            Queue::Notices => Some(Queue::Windows),
            Queue::Windows => Some(Queue::Notices),
            Queue::Deadlines => None,
        }
    }
}

/// One stream's place in its queues ([`Queue::link`] says which pair a queue uses): the
/// ids of its neighbours (0, never a stream id, for none). Membership is a bit in the stream's `queued` byte ([`Queue::bit`]), since
/// a lone member has no neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Links {
    pub(crate) prev: [u32; LINKS],
    pub(crate) next: [u32; LINKS],
}

/// The two ends and the length of each queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Heads {
    pub(crate) head: [u32; QUEUES],
    pub(crate) tail: [u32; QUEUES],
    pub(crate) len: [u32; QUEUES],
}

impl Links {
    pub(crate) const NONE: Links = Links {
        prev: [0; LINKS],
        next: [0; LINKS],
    };
}

impl Heads {
    pub(crate) const EMPTY: Heads = Heads {
        head: [0; QUEUES],
        tail: [0; QUEUES],
        len: [0; QUEUES],
    };
}
