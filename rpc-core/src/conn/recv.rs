//! Receiving: bytes in, frames decoded and applied (PROTOCOL.md sections 7, 8 and 17).

use super::control::{Control, Reason};
use super::links::Queue;
use super::streams::{Notice, Role, Storage, Stream, StreamState};
use super::window::{RecvWindow, SendWindow};
use super::{Connection, Error, Event, FailReason, Message, Payload, Phase};
use crate::time::{Duration, Instant};
use crate::wire::{
    self, Codec, Decoded, ErrorCode, Flags, Frame, FrameError, FrameType, Rule, Settings,
    StatusCode, StreamId, Tag, PREFACE, VERSION,
};

impl<S: Storage> Connection<S> {
    /// Hands in bytes received from the peer. Processes every whole frame at the front of
    /// `input` and returns how many bytes it consumed; the caller keeps the rest and
    /// appends to it. Stops early (consuming less) when the event queue needs polling.
    ///
    /// A protocol violation by the peer closes the connection: the GOAWAY naming it is
    /// queued for `poll_transmit`, every open call fails, [`Event::Closed`] follows, and
    /// [`Connection::close_reason`] names the code and the rule. Later calls return
    /// [`Error::Closed`].
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, Error> {
        if self.payload_events > 0 {
            return Err(Error::EventsPending);
        }
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let mut pos = 0;
        while self.preface_matched < PREFACE.len() {
            let Some(&b) = input.get(pos) else {
                return Ok(pos);
            };
            if b != PREFACE[self.preface_matched] {
                self.fail(now, FrameError::handshake(Rule::BadPreface));
                return Ok(pos);
            }
            self.preface_matched += 1;
            pos += 1;
        }
        let mut took_frame = false;
        self.awaits_room = false;
        while self.phase != Phase::Closed {
            // Room for what one frame can produce (a stream slot included, when the
            // caller grows its storage).
            if self.events.free() < 4 || self.control.free() < 3 || self.wants_storage() {
                self.awaits_room = pos < input.len();
                break;
            }
            let rest = &input[pos..];
            match wire::decode(rest, self.cfg.settings.max_frame_size) {
                Err(e) => {
                    self.fail(now, e);
                    break;
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Ok(Decoded::Frame { frame, len }) => {
                    self.last_recv = now;
                    self.frames_received += 1;
                    if let Err(e) = self.on_frame(now, &frame, input) {
                        self.fail(now, e);
                        pos += len;
                        break;
                    }
                    pos += len;
                    took_frame = true;
                }
            }
        }
        self.time_partial_frame(now, pos < input.len(), took_frame);
        Ok(pos)
    }

    /// Arms the frame-completion timer from the first byte of the frame that is still
    /// incomplete (PROTOCOL.md section 15.2): a frame that started in this input starts
    /// its clock now; one still incomplete from an earlier input keeps its start. Bytes
    /// left over only because the queues were full are whole frames: no clock runs.
    fn time_partial_frame(&mut self, now: Instant, left_over: bool, took_frame: bool) {
        self.partial_since = if !left_over || self.awaits_room || self.phase == Phase::Closed {
            None
        } else if took_frame {
            Some(now)
        } else {
            Some(self.partial_since.unwrap_or(now))
        };
    }

    pub(super) fn on_frame(
        &mut self,
        now: Instant,
        f: &Frame<'_>,
        input: &[u8],
    ) -> Result<(), FrameError> {
        use ErrorCode as E;
        if self
            .cfg
            .settings
            .features
            .contains(wire::Features::CRC_REQUESTED)
        {
            if f.crc().is_some() {
                self.sticky_crc = true;
            } else if self.sticky_crc {
                return Err(FrameError::new(E::CRC_ERROR, Rule::CrcMissing));
            }
        }
        if !self.peer_hello {
            if f.ty() != FrameType::HELLO {
                return Err(FrameError::handshake(Rule::ExpectedHello));
            }
            return self.on_hello(f);
        }
        // Connection flow control covers every message byte, even of ignored frames.
        let flow = f.flow_len() as u64;
        if flow > 0 {
            self.recv_conn.receive(flow as usize)?;
            if f.flags()
                .codec()
                .is_some_and(|c| !self.cfg.settings.accepts_codec(c))
            {
                return Err(FrameError::new(E::COMPRESSION_ERROR, Rule::CodecNotOffered));
            }
        }
        match f.ty() {
            FrameType::HELLO => Err(FrameError::handshake(Rule::RepeatedHello)),
            FrameType::CALL => self.on_call(now, f, input),
            FrameType::DATA => self.on_data(now, f, input),
            FrameType::STATUS => self.on_status(f, input),
            FrameType::CANCEL => self.on_cancel(now, f),
            FrameType::WINDOW => self.on_window(now, f),
            FrameType::PING => self.on_ping(now, f),
            FrameType::GOAWAY => {
                self.on_goaway(f);
                Ok(())
            }
            _ => self.spend_control(now),
        }
    }

    pub(super) fn on_hello(&mut self, f: &Frame<'_>) -> Result<(), FrameError> {
        let peer = Settings::from_hello(f.arg(), &f.metadata());
        let version = VERSION.min(peer.max_version);
        if version < peer.min_version.max(VERSION) {
            return Err(FrameError::new(
                ErrorCode::VERSION_ERROR,
                Rule::NoCommonVersion,
            ));
        }
        let initial = Settings::INITIAL;
        self.send_conn.shift(
            i64::from(peer.initial_connection_window)
                - i64::from(initial.initial_connection_window),
        );
        let delta =
            i64::from(peer.initial_stream_window) - i64::from(initial.initial_stream_window);
        // The peer's windows may be larger than the initial ones every send was held to:
        // one WindowOpened for the connection tells the caller to retry every blocked send.
        let mut blocked = self.send_conn.take_blocked();
        for s in self.table.iter_mut() {
            s.send.shift(delta);
            blocked |= s.send.take_blocked();
        }
        if peer.features.contains(wire::Features::CRC_REQUESTED) {
            self.crc_out = true;
        }
        self.peer = peer;
        self.peer_hello = true;
        self.phase = Phase::Open;
        self.push_event(Event::Connected);
        if blocked {
            self.push_event(Event::WindowOpened {
                stream: StreamId::CONNECTION,
            });
        }
        Ok(())
    }

    pub(super) fn on_call(
        &mut self,
        now: Instant,
        f: &Frame<'_>,
        input: &[u8],
    ) -> Result<(), FrameError> {
        let id = f.stream_id();
        if id.opener() == Some(self.cfg.side) {
            return Err(FrameError::protocol(Rule::WrongParity));
        }
        self.calls_received += 1;
        let flags = f.flags();
        let flow = f.flow_len();
        let one_way = flags.contains(Flags::NO_REPLY);
        let limits = self.cfg.settings;
        let meta = f.metadata();
        if self.table.contains(id.0) {
            return Err(FrameError::stream_state(Rule::DuplicateStream));
        }
        if one_way {
            let fits = flow as u64 <= u64::from(limits.max_message_size)
                && meta.as_bytes().len() <= limits.max_metadata_size as usize;
            if self.goaway_sent || self.goaway_received || !fits {
                self.consume(StreamId::CONNECTION, flow);
                return Ok(());
            }
            self.push_call_event(f, input, None);
            return Ok(());
        }
        let refuse = |reason| Control::Status {
            stream: id.0,
            code: StatusCode::UNAVAILABLE,
            refused: true,
            reason,
            slot: false,
        };
        let error = |reason| Control::Status {
            stream: id.0,
            code: StatusCode::RESOURCE_EXHAUSTED,
            refused: false,
            reason,
            slot: false,
        };
        let rejection = if self.goaway_sent {
            Some(refuse(Reason::Text("draining")))
        } else if self.goaway_received {
            // The peer sent GOAWAY and then opened a call (section 15.3 forbids it).
            Some(refuse(Reason::Text(
                "call opened after the caller's own GOAWAY",
            )))
        } else if self.peer_open >= limits.max_concurrent_streams {
            Some(refuse(Reason::Limit(
                "max_concurrent_streams",
                u64::from(limits.max_concurrent_streams),
            )))
        } else if self.table.len() >= self.table.capacity() {
            Some(refuse(Reason::Limit(
                "stream storage",
                self.table.capacity() as u64,
            )))
        } else if meta.as_bytes().len() > limits.max_metadata_size as usize {
            Some(error(Reason::Limit(
                "max_metadata_size",
                u64::from(limits.max_metadata_size),
            )))
        } else if flow as u64 > u64::from(limits.max_message_size) {
            Some(error(Reason::Limit(
                "max_message_size",
                u64::from(limits.max_message_size),
            )))
        } else {
            None
        };
        if let Some(c) = rejection {
            self.consume(StreamId::CONNECTION, flow);
            self.refusals.remember(id.0);
            if !self.control_budget.spend(now) {
                return Err(FrameError::budget("control_budget"));
            }
            let _ = self.control.push(c);
            return Ok(());
        }
        if flow as u64 > u64::from(limits.initial_stream_window) {
            return Err(FrameError::credit_exceeded());
        }
        let end = flags.contains(Flags::END_STREAM);
        let state = if end {
            StreamState::HalfClosedRemote
        } else {
            StreamState::Open
        };
        let mut s = Stream::new(id.0, Role::Callee, state);
        s.send = SendWindow::new(self.peer.initial_stream_window);
        s.recv = RecvWindow::new(limits.initial_stream_window - flow as u32);
        if flags.contains(Flags::MORE) {
            s.in_chain = flags.codec();
            s.in_msg_len = flow as u32;
        }
        let deadline = meta.deadline_us().map(Duration::from_micros);
        let _ = self.table.insert(s);
        self.refusals.forget(id.0);
        self.set_deadline(id.0, deadline.map(|d| now + d));
        self.peer_open += 1;
        self.push_call_event(f, input, deadline);
        Ok(())
    }

    pub(super) fn push_call_event(
        &mut self,
        f: &Frame<'_>,
        input: &[u8],
        deadline: Option<Duration>,
    ) {
        let meta = f.metadata();
        let method = meta
            .get(Tag::METHOD)
            .map_or(Payload::default(), |m| range(input, m));
        let flags = f.flags();
        self.push_event(Event::Call {
            stream: f.stream_id(),
            method,
            metadata: range(input, meta.as_bytes()),
            deadline,
            one_way: flags.contains(Flags::NO_REPLY),
            end_stream: flags.contains(Flags::END_STREAM),
            message: message_of(f, input),
        });
    }

    pub(super) fn on_data(
        &mut self,
        now: Instant,
        f: &Frame<'_>,
        input: &[u8],
    ) -> Result<(), FrameError> {
        let id = f.stream_id();
        let flow = f.flow_len();
        let flags = f.flags();
        let end = flags.contains(Flags::END_STREAM);
        let state_error = Err(FrameError::not_allowed(FrameType::DATA));
        let Some(s) = self.table.get(id.0).copied() else {
            if id.opener() == Some(self.cfg.side) {
                return state_error;
            }
            // Ignored, its credit returned. Late DATA of a call refused lately is what a
            // caller sends before it sees the refusal (section 14.2); any other is a
            // frame that costs work and no credit, and counts (section 16).
            self.consume(StreamId::CONNECTION, flow);
            if !self.refusals.excuse(id.0, end) {
                self.spend_control(now)?;
            }
            return Ok(());
        };
        let deliver = match (s.role, s.state) {
            (Role::Caller, _) if end => return state_error,
            (Role::Caller, StreamState::Open | StreamState::HalfClosedLocal) => true,
            (Role::Caller, StreamState::CancelSent) => false,
            (Role::Callee, StreamState::Open) => true,
            (Role::Callee, StreamState::StatusSent) => false,
            _ => return state_error,
        };
        s.recv.check(flow)?;
        if !deliver {
            self.consume(StreamId::CONNECTION, flow);
            if end {
                // The caller's terminal frame after our STATUS: the stream is closed.
                self.settle(id.0);
            } else if let Some(st) = self.table.get_mut(id.0) {
                st.recv.receive(flow)?;
            }
            return Ok(());
        }
        let message = f.has_message();
        if let Some(codec) = s.in_chain {
            if !message {
                return state_error;
            }
            if flags.codec() != Some(codec) {
                return Err(FrameError::protocol(Rule::CodecChanged));
            }
        }
        let max = u64::from(self.cfg.settings.max_message_size);
        let total = u64::from(s.in_msg_len) + flow as u64;
        let more = flags.contains(Flags::MORE);
        {
            let st = self.table.get_mut(id.0).expect("looked up above");
            st.recv.receive(flow)?;
            st.in_msg_len = if more {
                total.min(u64::from(u32::MAX)) as u32
            } else {
                0
            };
            st.in_chain = if more { flags.codec() } else { None };
            if end {
                st.state = StreamState::HalfClosedRemote;
            }
        }
        if message && total > max {
            self.consume(StreamId::CONNECTION, flow);
            self.stream_limit_error(id.0, Reason::Limit("max_message_size", max));
            return Ok(());
        }
        let ev = match message_of(f, input) {
            Some(message) => Event::Message {
                stream: id,
                message,
                end_stream: end,
            },
            None => Event::HalfClosed { stream: id },
        };
        self.push_event(ev);
        Ok(())
    }

    pub(super) fn on_status(&mut self, f: &Frame<'_>, input: &[u8]) -> Result<(), FrameError> {
        let id = f.stream_id();
        let state_error = Err(FrameError::not_allowed(FrameType::STATUS));
        let Some(s) = self.table.get(id.0).copied() else {
            return state_error;
        };
        // A STATUS may end an incomplete chunk chain (the partial message is discarded),
        // but then it cannot carry a message of its own (PROTOCOL.md section 8.4).
        let chain_with_message = s.in_chain.is_some() && f.has_message();
        if s.role != Role::Caller || chain_with_message || s.state == StreamState::Closing {
            return state_error;
        }
        let flow = f.flow_len();
        s.recv.check(flow)?;
        let too_big = flow as u64 > u64::from(self.cfg.settings.max_message_size)
            || f.metadata().as_bytes().len() > self.cfg.settings.max_metadata_size as usize;
        if !s.reported {
            if too_big {
                self.consume(StreamId::CONNECTION, flow);
                self.push_event(Event::CallFailed {
                    stream: id,
                    code: StatusCode::RESOURCE_EXHAUSTED,
                    reason: FailReason::LimitExceeded,
                });
            } else {
                self.push_event(Event::Status {
                    stream: id,
                    code: f.status(),
                    refused: f.flags().contains(Flags::REFUSED),
                    metadata: range(input, f.metadata().as_bytes()),
                    message: message_of(f, input),
                });
            }
        } else {
            self.consume(StreamId::CONNECTION, flow);
        }
        if s.state == StreamState::Open {
            // Early STATUS: half-close at once (CANCEL if a chunk chain is open).
            let c = if s.out_chain.is_some() {
                Control::Cancel {
                    stream: id.0,
                    code: StatusCode::CANCELLED,
                    reason: Reason::None,
                }
            } else {
                Control::AutoEnd { stream: id.0 }
            };
            let _ = self.control.push(c);
            if let Some(st) = self.table.get_mut(id.0) {
                st.state = StreamState::Closing;
                st.reported = true;
                st.terminal_queued = true;
            }
            self.clear_deadline(id.0);
            return Ok(());
        }
        if let Some(st) = self.table.get_mut(id.0) {
            st.reported = true;
        }
        self.settle(id.0);
        Ok(())
    }

    pub(super) fn on_cancel(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        if !self.cancels.spend(now) {
            return Err(FrameError::budget("cancel_budget"));
        }
        let id = f.stream_id();
        let state_error = Err(FrameError::not_allowed(FrameType::CANCEL));
        let Some(s) = self.table.get(id.0).copied() else {
            if id.opener() == Some(self.cfg.side) {
                return state_error;
            }
            // A refused caller's CANCEL ends what it may still send late.
            self.refusals.forget(id.0);
            return Ok(());
        };
        if s.role != Role::Callee {
            return state_error;
        }
        match s.state {
            StreamState::Open | StreamState::HalfClosedRemote => {
                if let Some(st) = self.table.get_mut(id.0) {
                    st.state = StreamState::CancelReceived;
                    st.in_chain = None;
                }
                self.push_event(Event::Cancelled {
                    stream: id,
                    code: f.status(),
                });
                Ok(())
            }
            StreamState::StatusSent => {
                self.settle(id.0);
                Ok(())
            }
            StreamState::Closing => Ok(()),
            _ => state_error,
        }
    }

    pub(super) fn on_window(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        let inc = f.arg();
        if inc < 1024 {
            self.spend_control(now)?;
        }
        let id = f.stream_id();
        let opened = if id.is_connection() {
            self.send_conn.grow(inc)?
        } else if let Some(s) = self.table.get_mut(id.0) {
            s.send.grow(inc)?
        } else {
            // Ignored: counted once against the control budget (section 16), and a tiny
            // increment already was.
            return if inc < 1024 {
                Ok(())
            } else {
                self.spend_control(now)
            };
        };
        if opened {
            self.push_event(Event::WindowOpened { stream: id });
        }
        Ok(())
    }

    pub(super) fn on_ping(&mut self, now: Instant, f: &Frame<'_>) -> Result<(), FrameError> {
        if f.flags().contains(Flags::ACK) {
            if let Some((op, sent)) = self.ping {
                if op == f.arg() {
                    self.ping = None;
                    self.push_event(Event::Pong {
                        rtt: now.saturating_since(sent),
                    });
                }
            }
            return Ok(());
        }
        self.spend_control(now)?;
        let acks = self.control.iter().filter(|c| c.is_ack()).count();
        if acks >= self.cfg.ack_queue {
            return Err(FrameError::budget("ack_queue"));
        }
        let _ = self.control.push(Control::PingAck(f.arg()));
        Ok(())
    }

    pub(super) fn on_goaway(&mut self, f: &Frame<'_>) {
        let accepted = f.accepted_calls();
        self.goaway_received = true;
        self.push_event(Event::GoAway {
            code: f.error_code(),
            accepted_calls: accepted,
        });
        // Every call the peer never processed fails. No call opens after a GOAWAY, so a
        // later GOAWAY can only fail more calls if it accepted fewer: otherwise no scan.
        let scan = if accepted < self.peer_accepted {
            self.table.capacity()
        } else {
            0
        };
        self.peer_accepted = self.peer_accepted.min(accepted);
        for i in 0..scan {
            let Some(id) = self.table.id_at(i) else {
                continue;
            };
            let Some(s) = self.table.get_mut(id) else {
                continue;
            };
            if s.role == Role::Caller && s.seq > accepted && !s.reported {
                s.reported = true;
                let reason = FailReason::NotProcessed;
                s.notice = Some(Notice::Failed(StatusCode::UNAVAILABLE, reason));
                self.table.push_back(Queue::Notices, id);
            }
        }
        if f.error_code() != ErrorCode::NO_ERROR {
            self.close_now(f.error_code(), true, None, "peer sent GOAWAY");
        } else if self.table.len() == 0 {
            self.close_now(ErrorCode::NO_ERROR, true, None, "peer drained");
        }
    }

    pub(super) fn spend_control(&mut self, now: Instant) -> Result<(), FrameError> {
        if self.control_budget.spend(now) {
            Ok(())
        } else {
            Err(FrameError::budget("control_budget"))
        }
    }
}

/// The range of `part` (a sub-slice of `input`) within `input`.
pub(super) fn range(input: &[u8], part: &[u8]) -> Payload {
    let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
    Payload {
        start: start as u32,
        len: part.len() as u32,
    }
}

pub(super) fn message_of(f: &Frame<'_>, input: &[u8]) -> Option<Message> {
    if !f.has_message() {
        return None;
    }
    Some(Message {
        data: range(input, f.body()),
        codec: f.flags().codec().unwrap_or(Codec::Identity),
        more: f.flags().contains(Flags::MORE),
    })
}
