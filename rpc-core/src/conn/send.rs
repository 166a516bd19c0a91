//! Sending: the application's commands and the frames they write.

use super::control::{Control, Reason};
use super::streams::{Role, Storage, Stream, StreamState};
use super::window::{RecvWindow, SendWindow};
use super::{Body, CallSpec, Connection, Entries, Error, Outgoing, Phase, Sent, StatusSpec};
use crate::time::Instant;
use crate::wire::{
    self, Codec, ErrorCode, Flags, FrameEncoder, FrameType, Side, StatusCode, StreamId, Tag,
    CRC_LEN, HEADER_LEN, MIN_CHUNK, PREFACE,
};

impl<S: Storage> Connection<S> {
    /// Writes queued frames (the preface and HELLO first) into `out` and returns how many
    /// bytes it wrote; 0 when nothing is queued. Fails only if `out` cannot hold even the
    /// next frame.
    pub fn poll_transmit(&mut self, _now: Instant, out: &mut [u8]) -> Result<usize, Error> {
        let mut pos = 0;
        if !self.hello_sent {
            pos = self.write_hello(out)?;
        }
        'drain: loop {
            while let Some(&c) = self.control.front() {
                match c.encode(&mut out[pos..], self.crc_out) {
                    Ok(n) => pos += n,
                    Err(wire::EncodeError::BufferTooSmall { needed }) if pos == 0 => {
                        return Err(Error::BufferTooSmall { needed });
                    }
                    Err(_) => break 'drain,
                }
                self.control.pop();
                if let Some(id) = c.terminal_of() {
                    self.terminal_written(id);
                }
            }
            if !self.windows_deferred {
                break;
            }
            // Room again: queue what was deferred and write it in this same call.
            self.release_deferred_windows();
            if self.control.front().is_none() {
                break;
            }
        }
        if self.goaway_sent && self.table.len() == 0 && self.control.len() == 0 {
            self.close_now(ErrorCode::NO_ERROR, false, None, "drained");
        }
        Ok(pos)
    }

    /// Opens a call (or sends a one-way call) and writes its CALL frame into `out`.
    #[inline]
    pub fn open_call(
        &mut self,
        now: Instant,
        spec: &CallSpec<'_>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.open_call_with(now, spec, Entries::Pairs(spec.entries), out)
    }

    /// [`Connection::open_call`] with `entries` as the call's metadata in place of
    /// `spec.entries` (which is ignored): for callers that hold their metadata as a
    /// pre-encoded block ([`Entries::Encoded`]).
    pub fn open_call_with(
        &mut self,
        now: Instant,
        spec: &CallSpec<'_>,
        entries: Entries<'_>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.check_open()?;
        if self.goaway_sent || self.goaway_received {
            return Err(Error::NotAccepting);
        }
        if spec.method.is_empty() {
            return Err(Error::InvalidArgument("empty method"));
        }
        let msg = spec.message;
        if spec.one_way && !(spec.end_stream && msg.is_some_and(|m| !m.more)) {
            return Err(Error::InvalidArgument(
                "a one-way call is a single frame with a message",
            ));
        }
        if let Some(m) = msg {
            self.check_outgoing(&m, spec.end_stream, None)?;
        }
        if !spec.one_way {
            if self.local_open >= self.peer.max_concurrent_streams {
                self.streams_blocked = true;
                return Err(Error::StreamLimit);
            }
            if self.table.len() >= self.table.capacity() {
                self.streams_blocked = true;
                return Err(Error::StorageFull);
            }
        }
        let body_len = msg.map_or(0, |m| m.body.len());
        let stream_credit = if spec.one_way {
            i64::MAX
        } else {
            i64::from(self.peer.initial_stream_window)
        };
        self.check_credit(None, stream_credit, body_len)?;
        let id = self.free_local_id().ok_or(Error::StorageFull)?;
        let mut flags = Flags::NONE;
        if spec.end_stream {
            flags |= Flags::END_STREAM;
        }
        if spec.one_way {
            flags |= Flags::NO_REPLY;
        }
        let sent = self.write_frame(out, FrameType::CALL, id, 0, flags, msg, |enc| {
            enc.tlv(Tag::METHOD, spec.method.as_bytes())?;
            if let Some(d) = spec.deadline {
                enc.tlv_u64(Tag::DEADLINE, d.as_micros())?;
            }
            entries.write(enc)
        })?;
        if sent.head_len - HEADER_LEN > self.peer.max_metadata_size as usize {
            return Err(Error::TooLarge);
        }
        // Committed: update state.
        self.hello_sent = true;
        self.calls_sent += 1;
        self.send_conn.spend(body_len);
        self.next_id = id.wrapping_add(2);
        if !spec.one_way {
            let state = if spec.end_stream {
                StreamState::HalfClosedLocal
            } else {
                StreamState::Open
            };
            let mut s = Stream::new(id, Role::Caller, state);
            s.send = SendWindow::new(self.peer.initial_stream_window);
            s.send.spend(body_len);
            s.recv = RecvWindow::new(self.cfg.settings.initial_stream_window);
            s.seq = self.calls_sent;
            s.out_chain = msg.filter(|m| m.more).map(|m| m.codec);
            // Cannot fail: capacity was checked above.
            let _ = self.table.insert(s);
            self.set_deadline(id, spec.deadline.map(|d| now + d));
            self.local_open += 1;
        }
        Ok(sent)
    }

    /// Sends a message (or chunk) and/or the caller's half-close on an open stream.
    pub fn send_message(
        &mut self,
        _now: Instant,
        stream: StreamId,
        message: Option<Outgoing<'_>>,
        end_stream: bool,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        self.check_open()?;
        let s = *self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        match (s.role, s.state) {
            (Role::Caller, StreamState::Open) => {}
            (Role::Callee, StreamState::Open | StreamState::HalfClosedRemote) if !end_stream => {}
            (Role::Callee, StreamState::Open | StreamState::HalfClosedRemote) => {
                return Err(Error::WrongRole)
            }
            _ => return Err(Error::InvalidState),
        }
        if message.is_none() && !end_stream {
            return Err(Error::InvalidArgument("nothing to send"));
        }
        if let Some(chain) = s.out_chain {
            if message.is_none_or(|m| m.codec != chain) {
                return Err(Error::InvalidArgument(
                    "a chunked message must continue with its codec",
                ));
            }
        }
        if let Some(m) = message {
            self.check_outgoing(&m, end_stream, Some(&s))?;
        }
        let len = message.map_or(0, |m| m.body.len());
        self.check_credit(Some(stream.0), s.send.credit(), len)?;
        let flags = if end_stream {
            Flags::END_STREAM
        } else {
            Flags::NONE
        };
        let sent =
            self.write_frame(
                out,
                FrameType::DATA,
                stream.0,
                0,
                flags,
                message,
                |_| Ok(()),
            )?;
        self.hello_sent = true;
        self.send_conn.spend(len);
        if let Some(st) = self.table.get_mut(stream.0) {
            st.send.spend(len);
            st.out_chain = message.filter(|m| m.more).map(|m| m.codec);
            if end_stream {
                st.state = StreamState::HalfClosedLocal;
            }
        }
        Ok(sent)
    }

    /// Ends a call this endpoint serves with STATUS (and an optional final message).
    /// The same as [`Connection::send_status_spec`] with the arguments as a
    /// [`StatusSpec`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn send_status(
        &mut self,
        now: Instant,
        stream: StreamId,
        code: StatusCode,
        reason: Option<&str>,
        entries: &[(&str, &[u8])],
        message: Option<Outgoing<'_>>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        let status = StatusSpec {
            code,
            reason,
            entries: Entries::Pairs(entries),
            details: None,
            message,
        };
        self.send_status_spec(now, stream, &status, out)
    }

    /// Ends a call this endpoint serves with the STATUS `status` describes (and its
    /// optional final message).
    pub fn send_status_spec(
        &mut self,
        _now: Instant,
        stream: StreamId,
        status: &StatusSpec<'_>,
        out: &mut [u8],
    ) -> Result<Sent, Error> {
        let StatusSpec {
            code,
            reason,
            entries,
            details,
            message,
        } = *status;
        self.check_open()?;
        let s = *self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        if s.role != Role::Callee {
            return Err(Error::WrongRole);
        }
        let closes = match s.state {
            StreamState::Open => false,
            StreamState::HalfClosedRemote | StreamState::CancelReceived => true,
            _ => return Err(Error::InvalidState),
        };
        if s.out_chain.is_some() && message.is_some() {
            return Err(Error::InvalidArgument(
                "a STATUS that ends a chunked message cannot carry a message",
            ));
        }
        if let Some(m) = message {
            if m.more {
                return Err(Error::InvalidArgument("a STATUS message cannot be chunked"));
            }
            self.check_outgoing(&m, true, Some(&s))?;
        }
        let len = message.map_or(0, |m| m.body.len());
        self.check_credit(Some(stream.0), s.send.credit(), len)?;
        let sent = self.write_frame(
            out,
            FrameType::STATUS,
            stream.0,
            code.0,
            Flags::NONE,
            message,
            |enc| {
                if let Some(r) = reason {
                    enc.tlv(Tag::REASON, r.as_bytes())?;
                }
                if let Some(d) = details {
                    enc.tlv(Tag::DETAILS, d)?;
                }
                entries.write(enc)
            },
        )?;
        if sent.head_len - HEADER_LEN > self.peer.max_metadata_size as usize {
            return Err(Error::TooLarge);
        }
        self.hello_sent = true;
        self.send_conn.spend(len);
        if closes {
            self.remove_stream(stream.0);
        } else if let Some(st) = self.table.get_mut(stream.0) {
            st.state = StreamState::StatusSent;
            self.clear_deadline(stream.0);
        }
        Ok(sent)
    }

    /// Cancels a call this endpoint made: queues CANCEL with `code` (normally CANCELLED).
    /// The call's outcome is `code` from now on; its id stays reserved until the callee's
    /// STATUS arrives.
    pub fn cancel(
        &mut self,
        _now: Instant,
        stream: StreamId,
        code: StatusCode,
    ) -> Result<(), Error> {
        self.check_open()?;
        if code == StatusCode::OK {
            return Err(Error::InvalidArgument("CANCEL needs a non-OK status"));
        }
        let s = self.table.get(stream.0).ok_or(Error::UnknownStream)?;
        if s.role != Role::Caller {
            return Err(Error::WrongRole);
        }
        if !matches!(s.state, StreamState::Open | StreamState::HalfClosedLocal) {
            return Err(Error::InvalidState);
        }
        self.control
            .push(Control::Cancel {
                stream: stream.0,
                code,
                reason: Reason::None,
            })
            .map_err(|_| Error::QueueFull)?;
        if let Some(st) = self.table.get_mut(stream.0) {
            st.state = StreamState::CancelSent;
            st.reported = true;
            st.out_chain = None;
            st.terminal_queued = true;
        }
        self.clear_deadline(stream.0);
        Ok(())
    }

    /// Queues a PING; its answer arrives as [`super::Event::Pong`].
    pub fn ping(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        if self.ping.is_some() {
            return Err(Error::InvalidState);
        }
        self.ping_counter = self.ping_counter.wrapping_add(1);
        let op = self.ping_counter;
        self.control
            .push(Control::Ping(op))
            .map_err(|_| Error::QueueFull)?;
        self.ping = Some((op, now));
        Ok(())
    }

    pub(super) fn free_local_id(&self) -> Option<u32> {
        let mut id = self.next_id;
        for _ in 0..=self.table.capacity() {
            if id == 0 || id == 1 && self.cfg.side == Side::Acceptor {
                id = match self.cfg.side {
                    Side::Connector => 1,
                    Side::Acceptor => 2,
                };
            }
            if !self.table.contains(id) {
                return Some(id);
            }
            id = id.wrapping_add(2);
        }
        None
    }

    pub(super) fn check_open(&self) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(super) fn check_outgoing(
        &self,
        m: &Outgoing<'_>,
        end_stream: bool,
        s: Option<&Stream>,
    ) -> Result<(), Error> {
        if m.more && end_stream {
            return Err(Error::InvalidArgument(
                "a chunk with more cannot end the stream",
            ));
        }
        if m.more && m.body.len() < MIN_CHUNK {
            return Err(Error::InvalidArgument(
                "chunks with more carry at least 1024 bytes",
            ));
        }
        if m.codec != Codec::Identity && (!self.peer_hello || !self.peer.accepts_codec(m.codec)) {
            return Err(Error::InvalidArgument("codec not offered by the peer"));
        }
        // A whole message must fit the peer's MAX_MESSAGE_SIZE (chunked ones are checked
        // by the receiver as they add up).
        let whole = !m.more && s.is_none_or(|s| s.out_chain.is_none());
        if whole && m.body.len() as u64 > u64::from(self.peer.max_message_size) {
            return Err(Error::TooLarge);
        }
        // The whole frame must fit the peer's MAX_FRAME_SIZE; split larger messages.
        if m.body.len() + CRC_LEN > self.peer.max_frame_size as usize {
            return Err(Error::InvalidArgument(
                "body larger than the peer's max_frame_size: send chunks",
            ));
        }
        Ok(())
    }

    pub(super) fn write_hello(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let need = PREFACE.len() + HEADER_LEN;
        if out.len() < need {
            return Err(Error::BufferTooSmall { needed: need + 128 });
        }
        out[..PREFACE.len()].copy_from_slice(&PREFACE);
        let flags = if self.crc_out {
            Flags::CRC
        } else {
            Flags::NONE
        };
        let n = self
            .cfg
            .settings
            .encode_hello(&mut out[PREFACE.len()..], self.cfg.agent_str(), flags)
            .map_err(|e| offset_error(e, PREFACE.len()))?;
        self.hello_sent = true;
        Ok(PREFACE.len() + n)
    }

    /// Writes the preface and HELLO (if not yet sent) and one frame into `out`. Does not
    /// change state: the caller commits after checking the result.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_frame(
        &mut self,
        out: &mut [u8],
        ty: FrameType,
        stream: u32,
        arg: u32,
        mut flags: Flags,
        message: Option<Outgoing<'_>>,
        meta: impl FnOnce(&mut FrameEncoder<'_>) -> Result<(), wire::EncodeError>,
    ) -> Result<Sent, Error> {
        let was_sent = self.hello_sent;
        let start = if was_sent { 0 } else { self.write_hello(out)? };
        self.hello_sent = was_sent;
        let frame_out = &mut out[start..];
        let at = |e| offset_error(e, start);
        let mut enc = FrameEncoder::new(frame_out, ty, stream, arg).map_err(at)?;
        meta(&mut enc).map_err(at)?;
        if let Some(m) = message {
            flags |= Flags::MESSAGE;
            flags = flags.with_codec(m.codec);
            if m.more {
                flags |= Flags::MORE;
            }
        }
        if self.crc_out {
            flags |= Flags::CRC;
        }
        let (len, head_len) = match message.map(|m| m.body) {
            Some(Body::External(n)) => {
                let head = enc.finish_head(flags, n).map_err(at)?;
                (head, head)
            }
            Some(Body::Inline(b)) => {
                let meta_len = enc.meta_len();
                let n = enc.finish_with_body(flags, b).map_err(at)?;
                (n, HEADER_LEN + meta_len)
            }
            None => {
                let meta_len = enc.meta_len();
                (enc.finish(flags).map_err(at)?, HEADER_LEN + meta_len)
            }
        };
        // The whole payload must fit the peer's MAX_FRAME_SIZE (or the initial value).
        let body_len = message.map_or(0, |m| m.body.len());
        let crc = if self.crc_out { CRC_LEN } else { 0 };
        let payload = head_len - HEADER_LEN + body_len + crc;
        if payload > self.peer.max_frame_size as usize {
            return Err(Error::InvalidArgument(
                "frame exceeds the peer's max_frame_size: send the message in chunks",
            ));
        }
        let external = matches!(message.map(|m| m.body), Some(Body::External(_)));
        Ok(Sent {
            stream: StreamId(stream),
            len: start + len,
            crc: external && self.crc_out,
            head_len,
        })
    }
}

/// An encoder's error for a frame written `offset` bytes into the caller's buffer: the
/// size it needs counts from the start of that buffer, not of the frame.
fn offset_error(e: wire::EncodeError, offset: usize) -> Error {
    match e {
        wire::EncodeError::BufferTooSmall { needed } => Error::BufferTooSmall {
            needed: offset + needed,
        },
        e => e.into(),
    }
}
