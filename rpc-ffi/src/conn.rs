//! `muxwire_conn`: the sans-IO connection for programs that own their sockets and event
//! loop. The object and its buffers; the entry points are in `conn_io` and `conn_calls`.

use muxwire_core::conn::{Config, Connection, Error, StreamSlot};
use muxwire_core::time::Instant;

use crate::error::Failure;
use crate::result::muxwire_result;

/// Most bytes fed and not yet processed a connection holds.
pub(crate) const MAX_BUFFERED_INPUT: usize = 32 << 20;
/// Most bytes written by commands and not yet transmitted a connection holds.
pub(crate) const MAX_PENDING_OUTPUT: usize = 32 << 20;

/// A sans-IO muxwire connection: bytes in (`muxwire_conn_feed`), events out
/// (`muxwire_conn_poll_event`), bytes to send out (`muxwire_conn_poll_transmit`), a timer
/// (`muxwire_conn_timeout`). It owns no socket, thread or clock: every function takes
/// the current time in microseconds from any fixed origin (a monotonic clock). One thread
/// at a time may use it.
#[allow(non_camel_case_types)]
pub struct muxwire_conn {
    pub(crate) conn: Connection<Box<[StreamSlot]>>,
    /// The time of the last call that gave one.
    pub(crate) now: Instant,
    /// Bytes fed. The last input handed to the core began at `base`; it consumed
    /// `consumed` bytes from there, which events may borrow; the rest waits.
    pub(crate) rx: Vec<u8>,
    pub(crate) base: usize,
    pub(crate) consumed: usize,
    /// Every event was taken since the last input, so no event refers to `rx` any more.
    pub(crate) drained: bool,
    /// Bytes to send: `tx[sent..]` is still pending.
    pub(crate) tx: Vec<u8>,
    pub(crate) sent: usize,
    /// The core's number for the last command error (`muxwire_conn_last_error_kind`).
    pub(crate) last_error_kind: u32,
}

impl muxwire_conn {
    /// A connection with `slots` stream slots.
    pub(crate) fn new(cfg: Config, slots: usize, now: Instant) -> muxwire_conn {
        let table: Box<[StreamSlot]> = (0..slots).map(|_| StreamSlot::default()).collect();
        muxwire_conn {
            conn: Connection::new(cfg, table, now),
            now,
            rx: Vec::new(),
            base: 0,
            consumed: 0,
            drained: true,
            tx: Vec::new(),
            sent: 0,
            last_error_kind: 0,
        }
    }

    /// Moves the clock (never backwards).
    pub(crate) fn at(&mut self, now_us: u64) -> Instant {
        if now_us > self.now.0 {
            self.now = Instant(now_us);
        }
        self.now
    }

    /// Runs a command that writes frames into the output buffer, growing it as needed.
    pub(crate) fn write_with<T>(
        &mut self,
        hint: usize,
        mut cmd: impl FnMut(
            &mut Connection<Box<[StreamSlot]>>,
            Instant,
            &mut [u8],
        ) -> Result<(T, usize), Error>,
    ) -> Result<T, Failure> {
        if self.tx.len() - self.sent > MAX_PENDING_OUTPUT {
            return Err(Failure::new(
                muxwire_result::ResourceExhausted,
                format!(
                    "{} bytes wait to be transmitted (bound {MAX_PENDING_OUTPUT}): send what \
                     muxwire_conn_poll_transmit returns first",
                    self.tx.len() - self.sent
                ),
            ));
        }
        self.compact_tx();
        let mut room = hint + 1024;
        loop {
            let start = self.tx.len();
            self.tx.resize(start + room, 0);
            let now = self.now;
            match cmd(&mut self.conn, now, &mut self.tx[start..]) {
                Ok((value, n)) => {
                    self.tx.truncate(start + n);
                    self.last_error_kind = 0;
                    return Ok(value);
                }
                Err(Error::BufferTooSmall { needed }) if needed > room => {
                    self.tx.truncate(start);
                    room = needed;
                }
                Err(e) => {
                    self.tx.truncate(start);
                    return Err(self.failure(e));
                }
            }
        }
    }

    /// Moves what the core has queued (control frames, the preface and HELLO) into the
    /// output buffer, up to its bound.
    pub(crate) fn transmit_more(&mut self) -> Result<(), Failure> {
        self.compact_tx();
        let mut room = 64 * 1024;
        while self.tx.len() <= MAX_PENDING_OUTPUT {
            let start = self.tx.len();
            self.tx.resize(start + room, 0);
            match self.conn.poll_transmit(self.now, &mut self.tx[start..]) {
                Ok(n) => {
                    self.tx.truncate(start + n);
                    if n == 0 {
                        break;
                    }
                }
                Err(Error::BufferTooSmall { needed }) if needed > room => {
                    self.tx.truncate(start);
                    room = needed;
                }
                Err(e) => {
                    self.tx.truncate(start);
                    return Err(self.failure(e));
                }
            }
        }
        Ok(())
    }

    /// Drops the transmitted prefix of the output buffer.
    pub(crate) fn compact_tx(&mut self) {
        if self.sent > 0 {
            self.tx.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// A core error as a result, remembered for `muxwire_conn_last_error_kind`.
    pub(crate) fn failure(&mut self, e: Error) -> Failure {
        self.last_error_kind = e.code();
        let code = match e {
            Error::UnknownStream => muxwire_result::NotFound,
            Error::InvalidState | Error::WrongRole | Error::EventsPending => {
                muxwire_result::FailedPrecondition
            }
            Error::Blocked { .. } | Error::StreamLimit | Error::QueueFull => muxwire_result::Again,
            Error::StorageFull | Error::TooLarge => muxwire_result::ResourceExhausted,
            Error::NotAccepting | Error::Closed => muxwire_result::Unavailable,
            Error::InvalidArgument(_) => muxwire_result::InvalidArgument,
            _ => muxwire_result::Internal,
        };
        let hint = match e {
            Error::Blocked { .. } => ": wait for MUXWIRE_EVENT_WINDOW_OPENED",
            Error::StreamLimit => ": wait for MUXWIRE_EVENT_STREAMS_AVAILABLE",
            Error::QueueFull => ": transmit what muxwire_conn_poll_transmit returns first",
            Error::EventsPending => ": poll every event first",
            _ => "",
        };
        Failure::new(code, format!("{e}{hint}"))
    }
}
