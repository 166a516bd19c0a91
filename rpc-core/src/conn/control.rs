//! Frames the connection generates itself, queued until `poll_transmit` writes them.

use core::fmt::{self, Write};

use crate::wire::{EncodeError, ErrorCode, Flags, FrameEncoder, FrameType, Rule, StatusCode, Tag};

/// The REASON text of a generated frame, formatted only when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    None,
    Text(&'static str),
    /// A limit and its value: `"max_message_size 4194304 exceeded"`.
    Limit(&'static str, u64),
    Rule(Rule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    PingAck(u32),
    Ping(u32),
    Window {
        stream: u32,
        increment: u32,
    },
    /// A STATUS this endpoint decided on; `slot` if a stream slot waits for it.
    Status {
        stream: u32,
        code: StatusCode,
        refused: bool,
        reason: Reason,
        slot: bool,
    },
    Cancel {
        stream: u32,
        code: StatusCode,
        reason: Reason,
    },
    /// The caller's automatic half-close after an early STATUS.
    AutoEnd {
        stream: u32,
    },
    GoAway {
        code: ErrorCode,
        accepted: u64,
        reason: Reason,
    },
}

impl Control {
    /// The stream whose terminal frame this is, if any.
    pub(crate) fn terminal_of(&self) -> Option<u32> {
        match *self {
            Control::Status {
                stream, slot: true, ..
            } => Some(stream),
            Control::Cancel { stream, .. } | Control::AutoEnd { stream } => Some(stream),
            _ => None,
        }
    }

    pub(crate) fn is_ack(&self) -> bool {
        matches!(self, Control::PingAck(_))
    }

    /// Writes the frame into `out`; returns its length.
    pub(crate) fn encode(&self, out: &mut [u8], crc: bool) -> Result<usize, EncodeError> {
        let extra = if crc { Flags::CRC } else { Flags::NONE };
        let mut text = TextBuf::new();
        match *self {
            Control::PingAck(op) => {
                FrameEncoder::new(out, FrameType::PING, 0u32, op)?.finish(Flags::ACK | extra)
            }
            Control::Ping(op) => FrameEncoder::new(out, FrameType::PING, 0u32, op)?.finish(extra),
            Control::Window { stream, increment } => {
                FrameEncoder::new(out, FrameType::WINDOW, stream, increment)?.finish(extra)
            }
            Control::Status {
                stream,
                code,
                refused,
                reason,
                ..
            } => {
                let mut enc = FrameEncoder::new(out, FrameType::STATUS, stream, code.0)?;
                if text.write(reason) {
                    enc.tlv(Tag::REASON, text.as_bytes())?;
                }
                let flags = if refused { Flags::REFUSED } else { Flags::NONE };
                enc.finish(flags | extra)
            }
            Control::Cancel {
                stream,
                code,
                reason,
            } => {
                let mut enc = FrameEncoder::new(out, FrameType::CANCEL, stream, code.0)?;
                if text.write(reason) {
                    enc.tlv(Tag::REASON, text.as_bytes())?;
                }
                enc.finish(extra)
            }
            Control::AutoEnd { stream } => FrameEncoder::new(out, FrameType::DATA, stream, 0)?
                .finish(Flags::END_STREAM | extra),
            Control::GoAway {
                code,
                accepted,
                reason,
            } => {
                let mut enc = FrameEncoder::new(out, FrameType::GOAWAY, 0u32, code.0)?;
                if text.write(reason) {
                    enc.tlv(Tag::REASON, text.as_bytes())?;
                }
                enc.finish_with_body(extra, &accepted.to_le_bytes())
            }
        }
    }
}

/// A fixed buffer for REASON text; longer text is cut at a character boundary.
struct TextBuf {
    buf: [u8; 120],
    len: usize,
}

impl TextBuf {
    const fn new() -> TextBuf {
        TextBuf {
            buf: [0; 120],
            len: 0,
        }
    }

    /// Formats `reason`; false if there is no text.
    fn write(&mut self, reason: Reason) -> bool {
        let _ = match reason {
            Reason::None => return false,
            Reason::Text(t) => self.write_str(t),
            Reason::Limit(name, value) => write!(self, "{name} {value} exceeded"),
            Reason::Rule(rule) => write!(self, "{rule}"),
        };
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Write for TextBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
