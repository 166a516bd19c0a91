//! Landing: a large DATA chunk that continues a message being put together is read from
//! the socket straight into the end of that message's buffer, so that large messages
//! arrive without being copied. The core still sees the whole frame, in place.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use muxwire_core::wire::{Flags, FrameType};
use tokio::io::AsyncReadExt;

use super::Driver;
use crate::stats::Stats;

impl Driver {
    /// If `rbuf` starts with a large DATA chunk that continues a message being put together,
    /// starts reading the rest of that frame straight into the message's buffer.
    pub(super) fn try_land(&mut self, rbuf: &mut BytesMut) -> Option<Landing> {
        let h = muxwire_core::wire::decode_header(rbuf)?;
        let head_len = muxwire_core::wire::HEADER_LEN + h.meta_len as usize;
        let crc = if h.flags.contains(Flags::CRC) { 4 } else { 0 };
        let frame_len = h.frame_len();
        let body_len = (h.payload_len as usize).checked_sub(h.meta_len as usize + crc)?;
        if h.ty != FrameType::DATA
            || !h.flags.contains(Flags::MESSAGE)
            || head_len > LAND_HEAD_MAX
            || body_len < LAND_MIN
            || h.payload_len > self.opts.max_frame_size
            || rbuf.len() >= frame_len
        {
            return None;
        }
        let stream = h.stream_id.0;
        let inc = self.incoming_mut(stream)?;
        let (len, cap) = inc.assembling.as_ref().map(|b| (b.len(), b.capacity()))?;
        // The head must land on message bytes, and the frame must fit without growing.
        if len < head_len || cap < len - head_len + frame_len {
            return None;
        }
        let mut buf = inc.assembling.take()?;
        let start = len - head_len;
        let mut saved = [0u8; LAND_HEAD_MAX];
        saved[..head_len].copy_from_slice(&buf[start..]);
        buf.truncate(start);
        // What already arrived of the frame (at most one read) is copied; the rest is not.
        buf.extend_from_slice(rbuf);
        rbuf.clear();
        Some(Landing {
            stream,
            buf,
            start,
            frame_len,
            head_len,
            body_len,
            saved,
        })
    }

    /// Gives up on landing a frame: what arrived of it goes back to the read buffer and the
    /// connection sees it the usual way; the message's buffer is as it was before.
    pub(super) fn unland(&mut self, landing: Landing, rbuf: &mut BytesMut) {
        rbuf.extend_from_slice(&landing.buf[landing.start..]);
        let stream = landing.stream;
        let buf = landing.finish(false);
        if let Some(inc) = self.incoming_mut(stream) {
            inc.assembling = Some(buf);
        }
        self.input(rbuf);
    }

    /// The landing frame has been read whole: the connection processes it in place, and
    /// its body stays where it is as the next piece of the message.
    pub(super) fn land(&mut self, landing: Landing, rbuf: &mut BytesMut) {
        let now = self.now();
        let stream = landing.stream;
        self.grow_storage();
        let consumed = self.conn.handle_input(now, landing.frame());
        if consumed.ok() != Some(landing.frame_len) {
            // Not taken (no room for its events yet, or the connection failed).
            self.unland(landing, rbuf);
            return;
        }
        let body_len = landing.body_len;
        let before = landing.start + landing.head_len;
        let buf = landing.finish(true);
        match self.incoming_mut(stream) {
            Some(inc) => inc.assembling = Some(buf),
            // The call ended meanwhile (cancelled): the message goes nowhere.
            None => drop(buf),
        }
        self.landed = Some((stream, body_len));
        self.events(&Bytes::new());
        if self.landed.take().is_none() {
            Stats::add(&self.stats.bytes_in_place, body_len as u64);
        } else {
            // The connection did not deliver the chunk (the stream was already over for
            // it): the buffer holds only what it held before.
            if let Some(buf) = self
                .incoming_mut(stream)
                .and_then(|inc| inc.assembling.as_mut())
            {
                buf.truncate(before);
            }
        }
    }
}

/// A large DATA chunk being read from the socket straight into the buffer of the message it
/// continues, so that the message is put together without copying it. The frame's head
/// (header and metadata) lands on the last bytes of the message so far, which are kept
/// aside and put back once the connection has processed the frame; the body then follows
/// the message's earlier bytes exactly.
pub(super) struct Landing {
    stream: u32,
    buf: Vec<u8>,
    /// Where the frame starts in `buf`.
    start: usize,
    frame_len: usize,
    head_len: usize,
    body_len: usize,
    /// The message bytes the frame's head covers.
    saved: [u8; LAND_HEAD_MAX],
}

/// Chunks with a body at least this large are read straight into their message's buffer.
const LAND_MIN: usize = 64 * 1024;

/// Frame heads (header and metadata) at most this large can land.
const LAND_HEAD_MAX: usize = 64;

impl Landing {
    /// Bytes of the frame still to read.
    pub(super) fn remaining(&self) -> usize {
        self.start + self.frame_len - self.buf.len()
    }

    /// The whole frame, once read.
    fn frame(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.frame_len]
    }

    /// Puts the covered message bytes back and returns the buffer: with the body appended
    /// (`keep`, once the whole frame is in), or as it was before the frame (any part of
    /// which may have arrived).
    fn finish(mut self, keep: bool) -> Vec<u8> {
        let end = self.start + self.head_len;
        if keep {
            self.buf[self.start..end].copy_from_slice(&self.saved[..self.head_len]);
            self.buf.truncate(end + self.body_len);
        } else {
            self.buf.truncate(self.start);
            self.buf.extend_from_slice(&self.saved[..self.head_len]);
        }
        self.buf
    }
}

/// Reads into the landing frame's buffer (no further than its end) if one is landing, else
/// into the read buffer (with `peek`, no more than a frame head).
pub(super) async fn read_some(
    read: &mut Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    rbuf: &mut BytesMut,
    landing: &mut Option<Landing>,
    peek: bool,
) -> std::io::Result<usize> {
    use bytes::BufMut;
    match landing {
        Some(l) => {
            let n = l.remaining();
            read.read_buf(&mut (&mut l.buf).limit(n)).await
        }
        None if peek => read.read_buf(&mut rbuf.limit(LAND_HEAD_MAX)).await,
        None => read.read_buf(rbuf).await,
    }
}
