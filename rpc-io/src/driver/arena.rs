//! The write arena: frames are encoded into one large buffer, and runs of them are cut
//! off and queued for the writer as single pieces; large bodies are queued from their own
//! buffers (no copy). Every frame the driver sends goes through `write_with` or `flush`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use muxwire_core::conn::{Body, Connection, Error as CoreError, Outgoing, Sent, StreamSlot};
use muxwire_core::time::Instant as CoreInstant;
use muxwire_core::wire::Codec;

use super::Driver;
use crate::recycle::Recycler;
use crate::stats::Stats;
use crate::status::Status;
use crate::writer::{Outbox, ZERO_COPY_MIN};

/// Frames are encoded into a buffer of this size (a new one, or a recycled one, when less
/// than a frame's worth is left) once the connection carries calls...
const ARENA_SIZE: usize = 256 * 1024;

/// ...and into one of this size while it carries only control frames (its HELLO, PING
/// ACKs), so that an idle connection holds little (spec section 16, `idle memory`).
const SMALL_ARENA: usize = 4 * 1024;

/// Room asked for the connection's own frames; one that needs more asks again with its size.
const CONTROL_ROOM: usize = 1024;

/// Where frames are encoded, and what is encoded but not yet handed to the writer.
pub(super) struct WriteArena {
    /// Frames are encoded at its front; the rest is scratch.
    buf: BytesMut,
    /// Bytes of frames at the front of `buf`, not yet queued for the writer (see `cut`).
    encoded: usize,
    /// Earlier arenas, reused once their frames are written.
    bufs: Recycler,
    /// Pieces queued for the writer at the next flush.
    batch: Vec<Bytes>,
    /// Bytes encoded since the last hand-over to the writer.
    pub(super) unflushed: usize,
    /// The writer's queue.
    pub(super) outbox: Arc<Outbox>,
    /// True once frames of calls were encoded here: new buffers are `ARENA_SIZE` until
    /// the connection is trimmed.
    pub(super) big: bool,
}

impl WriteArena {
    /// An empty arena that hands its frames to `outbox`.
    pub(super) fn new(outbox: Arc<Outbox>) -> WriteArena {
        WriteArena {
            buf: BytesMut::new(),
            encoded: 0,
            bufs: Recycler::default(),
            batch: Vec::new(),
            unflushed: 0,
            outbox,
            big: false,
        }
    }

    /// Lets go of the arena's buffers (the connection is idle and everything encoded was
    /// handed to the writer): the next frame starts a small one.
    pub(super) fn trim(&mut self) {
        self.cut();
        self.buf = BytesMut::new();
        self.bufs = Recycler::default();
        self.batch = Vec::new();
        self.big = false;
    }

    /// True while the bytes encoded and not yet written (queued for the writer, or still
    /// in the arena) reach the connection's bound less one frame's worth: messages then
    /// wait for the socket, and what is unwritten never passes `OUTBOX_MAX`.
    pub(super) fn is_full(&self) -> bool {
        self.outbox.is_full_with(self.unflushed)
    }

    /// Makes sure the write arena has `need` bytes to write into after the frames encoded
    /// so far (the rest of it is scratch).
    fn room(&mut self, need: usize) {
        if self.buf.len() - self.encoded < need {
            self.cut();
            self.big |= need > SMALL_ARENA / 2;
            let room = need.max(if self.big { ARENA_SIZE } else { SMALL_ARENA });
            self.buf.clear();
            self.bufs.renew(&mut self.buf, room);
            self.buf.resize(room, 0);
        }
    }

    /// Queues the frames encoded at the front of the arena for the writer, as one piece:
    /// a run of small frames costs one reference count and one `iovec`, not one per frame.
    fn cut(&mut self) {
        if self.encoded > 0 {
            let run = self.buf.split_to(self.encoded).freeze();
            self.batch.push(run);
            self.encoded = 0;
        }
    }
}

impl Driver {
    /// Runs a core command that writes one frame, handing it the write arena, and queues
    /// the written bytes (and an external body plus CRC trailer) for the writer.
    pub(super) fn write_with<F>(
        &mut self,
        f: F,
        now: CoreInstant,
        body: Option<&Bytes>,
    ) -> Result<Sent, CoreError>
    where
        F: FnOnce(
            &mut Connection<Box<[StreamSlot]>>,
            CoreInstant,
            &mut [u8],
        ) -> Result<Sent, CoreError>,
    {
        self.grow_storage();
        let need =
            64 * 1024 + body.map_or(0, |b| if b.len() < ZERO_COPY_MIN { b.len() } else { 0 });
        self.out.room(need);
        let start = self.out.encoded;
        let sent = f(&mut self.conn, now, &mut self.out.buf[start..])?;
        self.out.encoded += sent.len;
        self.out.unflushed +=
            sent.len + body.map_or(0, |b| if b.len() >= ZERO_COPY_MIN { b.len() } else { 0 });
        // A large body goes out as it is, after its frame's head (and before its CRC).
        if let Some(b) = body.filter(|b| b.len() >= ZERO_COPY_MIN) {
            let trailer = sent.crc.then(|| {
                let head = &self.out.buf[start + sent.len - sent.head_len..start + sent.len];
                muxwire_core::wire::crc_trailer(head, b)
            });
            self.out.cut();
            self.out.batch.push(b.clone());
            if let Some(t) = trailer {
                self.out.batch.push(Bytes::copy_from_slice(&t));
            }
        }
        self.tally.frame_out();
        Ok(sent)
    }

    /// Writes everything the connection queued and hands the batch to the writer.
    pub(super) fn flush(&mut self) {
        let mut need = CONTROL_ROOM;
        loop {
            self.out.room(need);
            let start = self.out.encoded;
            match self
                .conn
                .poll_transmit(self.now(), &mut self.out.buf[start..])
            {
                Ok(0) => break,
                Ok(n) => {
                    self.out.encoded += n;
                    need = CONTROL_ROOM;
                }
                // A larger frame than the room asked for: ask again with its size.
                Err(CoreError::BufferTooSmall { needed }) if needed > need => need = needed,
                Err(_) => break,
            }
        }
        self.out.cut();
        self.out.unflushed = 0;
        // Counted before the peer can see these frames.
        self.tally.publish(&self.stats);
        if !self.out.batch.is_empty() {
            let queued = self.out.outbox.push(&mut self.out.batch);
            Stats::peak(&self.stats.write_queue_peak, queued as u64);
            if let Some(s) = &self.out.outbox.server {
                Stats::peak(&self.stats.server_write_queue_peak, s.queued() as u64);
            }
        }
    }
}

/// A body as the core encodes it: inline when small, else written from its own buffer.
pub(super) fn body_of(b: &Bytes) -> Body<'_> {
    if b.len() >= ZERO_COPY_MIN {
        Body::External(b.len())
    } else {
        Body::Inline(b)
    }
}

/// A whole message (no chunk follows) compressed with `codec`.
pub(super) fn outgoing(b: &Bytes, codec: Codec) -> Outgoing<'_> {
    Outgoing {
        body: body_of(b),
        codec,
        more: false,
    }
}

/// The status of a call whose frame the core refused to write.
pub(super) fn core_error_status(e: CoreError) -> Status {
    match e {
        CoreError::TooLarge => Status::resource_exhausted(
            "message exceeds the peer's max_message_size or max_metadata_size",
        ),
        CoreError::NotAccepting => Status::refused("connection is draining"),
        CoreError::Closed => Status::unavailable("connection closed"),
        CoreError::InvalidArgument(what) => Status::invalid_argument(what),
        other => Status::internal(other.to_string()),
    }
}
