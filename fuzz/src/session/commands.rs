//! The application's commands, as a script asks for them, with their results checked.

use muxwire_core::conn::{
    Body, CallSpec, Connection, Entries, Error, Outgoing, Sent, StatusSpec, StreamSlot,
};
use muxwire_core::time::Duration;
use muxwire_core::wire::{self, Codec, EntryBlock, ErrorCode, StatusCode};

use super::script::Step;
use super::{check_written, Harness, BODY, CANARY};

/// Bytes a command's buffer holds beyond its body: far more than the preface, a HELLO
/// and the largest header and metadata a step writes.
const HEAD_ROOM: usize = 2048;

const ENTRIES: &[(&str, &[u8])] = &[("k", b"v"), ("trace-id", b"0123456789abcdef")];

/// A message of `len` filler bytes (`u16::MAX`: none), copied or sent by the caller.
fn message(len: u16, more: bool, external: bool, lz4: bool) -> Option<Outgoing<'static>> {
    if len == u16::MAX {
        return None;
    }
    let len = usize::from(len);
    Some(Outgoing {
        body: if external {
            Body::External(len)
        } else {
            Body::Inline(&BODY[..len])
        },
        codec: if lz4 { Codec::Lz4 } else { Codec::Identity },
        more,
    })
}

impl Harness {
    /// Runs a command step; `closed` tells whether the connection was closed before it.
    pub(super) fn command(&mut self, step: Step<'_>, closed: bool) {
        if let Step::Consume { sel, mode, n } = step {
            // No result to check: credit given back on a closed or unknown stream is
            // ignored.
            let stream = self.stream(sel);
            let n = n as usize;
            match mode % 3 {
                0 => self.conn.consume(stream, n),
                1 => self.conn.consume_connection(n),
                _ => self.conn.consume_stream(stream, n),
            }
            return;
        }
        let before = (self.conn.open_streams(), self.conn.queue_depths());
        let result = self.command_result(step);
        match result {
            Ok(()) => assert!(!closed, "{step:?} succeeded on a closed connection"),
            Err(e) => {
                if closed {
                    assert_eq!(e, Error::Closed, "{step:?} on a closed connection");
                }
                let after = (self.conn.open_streams(), self.conn.queue_depths());
                assert_eq!(
                    before, after,
                    "{step:?} failed with {e:?} but changed state"
                );
            }
        }
    }

    fn command_result(&mut self, step: Step<'_>) -> Result<(), Error> {
        let now = self.now;
        match step {
            Step::Call {
                flags,
                body,
                deadline_us,
            } => {
                let bit = |n: u8| flags & (1 << n) != 0;
                let spec = CallSpec {
                    method: if bit(7) { "" } else { "m" },
                    deadline: deadline_us.map(|d| Duration::from_micros(u64::from(d))),
                    entries: if bit(5) { ENTRIES } else { &[] },
                    one_way: bit(1),
                    end_stream: bit(0),
                    message: message(body, bit(3), bit(4), bit(6)),
                };
                let sent = self.with_out(spec.message, |c, out| c.open_call(now, &spec, out))?;
                self.ledger.opened(sent.stream, spec.one_way);
            }
            Step::Send { sel, flags, body } => {
                let bit = |n: u8| flags & (1 << n) != 0;
                let stream = self.stream(sel);
                let msg = bit(1)
                    .then(|| message(body, bit(2), bit(3), bit(4)))
                    .flatten();
                self.with_out(msg, |c, out| c.send_message(now, stream, msg, bit(0), out))?;
            }
            Step::Status {
                sel,
                code,
                flags,
                body,
            } => {
                let bit = |n: u8| flags & (1 << n) != 0;
                let stream = self.stream(sel);
                let mut block = [0u8; 64];
                let mut eb = EntryBlock::new(&mut block);
                eb.push("k", b"v").expect("fits");
                let encoded = eb.as_bytes().to_vec();
                let spec = StatusSpec {
                    code: StatusCode(u32::from(code % 17)),
                    reason: bit(1).then_some("reason"),
                    entries: match (bit(3), bit(5)) {
                        (true, _) => Entries::Pairs(ENTRIES),
                        (false, true) => Entries::Encoded(&encoded),
                        _ => Entries::NONE,
                    },
                    details: bit(2).then_some(b"details".as_slice()),
                    message: bit(0)
                        .then(|| message(body, false, bit(4), bit(6)))
                        .flatten(),
                };
                self.with_out(spec.message, |c, out| {
                    c.send_status_spec(now, stream, &spec, out)
                })?;
                self.ledger.status_sent(stream.0);
            }
            Step::Cancel { sel, code } => {
                let stream = self.stream(sel);
                self.conn
                    .cancel(now, stream, StatusCode(u32::from(code % 17)))?;
                self.ledger.cancelled(stream.0);
            }
            Step::Ping => self.conn.ping(now)?,
            Step::Drain => self.conn.drain(now)?,
            Step::Close(code) => {
                if self.conn.is_closed() {
                    return Err(Error::Closed);
                }
                self.conn
                    .close(now, ErrorCode(u32::from(code % 13)), "closed by script");
                assert!(self.conn.is_closed());
            }
            Step::CheckSend { sel, len } => {
                let stream = self.stream(sel);
                let available = self.conn.check_send(stream, len as usize)?;
                assert!(
                    available >= u64::from(len),
                    "check_send: {available} < {len}"
                );
            }
            _ => unreachable!("not a command: {step:?}"),
        }
        Ok(())
    }

    /// Runs a command that writes `message` into an output buffer, checks what it wrote
    /// and passes it on as a transport would: for an external body, the body and (if
    /// asked for) the CRC trailer after the frame's head.
    fn with_out(
        &mut self,
        message: Option<Outgoing<'_>>,
        f: impl FnOnce(&mut Connection<Vec<StreamSlot>>, &mut [u8]) -> Result<Sent, Error>,
    ) -> Result<Sent, Error> {
        let external = external(message);
        // Room for the preface, HELLO, header and metadata, and the body: no more, so
        // that a step costs what its frame does.
        let inline = match message.map(|m| m.body) {
            Some(Body::Inline(b)) => b.len(),
            _ => 0,
        };
        let room = (HEAD_ROOM + inline).min(self.frame_buf.len());
        let out = &mut self.frame_buf[..room];
        out.fill(CANARY);
        let sent = f(&mut self.conn, out)?;
        check_written(out, sent.len);
        assert!(sent.head_len <= sent.len, "{sent:?}");
        let peer_max = self.conn.peer_settings().max_frame_size;
        let mut bytes = self.frame_buf[..sent.len].to_vec();
        match external {
            Some(n) => {
                let head = &bytes[sent.len - sent.head_len..];
                let trailer = wire::crc_trailer(head, &BODY[..n]);
                bytes.extend_from_slice(&BODY[..n]);
                if sent.crc {
                    bytes.extend_from_slice(&trailer);
                }
            }
            None => assert!(!sent.crc, "a trailer asked for after an inline body"),
        }
        self.out.write(&bytes, peer_max);
        Ok(sent)
    }
}

/// The length of an external body, if `m` has one.
fn external(m: Option<Outgoing<'_>>) -> Option<usize> {
    match m?.body {
        Body::External(n) => Some(n),
        Body::Inline(_) => None,
    }
}
