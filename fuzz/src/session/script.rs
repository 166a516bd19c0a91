//! The connection target's input format: a configuration header, then steps.
//!
//! Header (3 bytes, zero past the end of the input):
//!
//! | byte | bits |
//! |---|---|
//! | 0 | 0 acceptor side, 1 send CRC, 2 ask for CRC, 3 keepalive, 4 idle timeout, 5 minimum windows, 6 small message and metadata limits, 7 tiny budgets |
//! | 1 | low nibble: MAX_CONCURRENT_STREAMS (0 = 100), high nibble: slots (4 per step, at least 4) |
//! | 2 | 0 end with `close` (else the peer's EOF), 1 MAX_FRAME_SIZE 16 384, 2 no `poll_transmit` before the first step (a command writes the preface and HELLO) |
//!
//! Then steps until the input ends, each an opcode byte (taken modulo the number of
//! kinds) and its arguments; stream selectors (`sel`) below 0x80 are that stream id,
//! others pick one of the streams the application knows. `spec/../fuzz/seeds.py` writes
//! this format from the session vectors.
//!
//! | op | step | arguments |
//! |---|---|---|
//! | 0 | peer bytes | u16 length, bytes |
//! | 1 | advance the clock, fire due timers | u32 microseconds |
//! | 2 | `open_call` | u8 flags, u16 body length, u32 deadline (if flag 2) |
//! | 3 | `send_message` | sel, u8 flags, u16 body length |
//! | 4 | `send_status_spec` | sel, u8 code, u8 flags, u16 body length |
//! | 5 | `cancel` | sel, u8 code |
//! | 6 | `consume`, `consume_connection`, `consume_stream` | sel, u8 mode, u32 bytes |
//! | 7 | `ping` | |
//! | 8 | `drain` | |
//! | 9 | `close` | u8 error code |
//! | 10 | `handle_eof` | |
//! | 11 | one well-formed peer frame | u8 type, u8 flags, sel, u32 argument, u8 metadata, u16 body length |
//! | 12 | `check_send` | sel, u32 length |
//! | 13 | `poll_transmit` into a small buffer | u16 size |

use muxwire_core::conn::Config;
use muxwire_core::time::Duration;
use muxwire_core::wire::{Features, Side, MIN_MAX_FRAME_SIZE};

use crate::reader::Reader;

/// How the script ends the connection if it is still open after the last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The application closes it.
    Close,
    /// The peer closes the transport.
    Eof,
}

/// The connection a script runs against.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// The connection's configuration.
    pub config: Config,
    /// Stream slots it gets.
    pub slots: usize,
    /// How the script ends it.
    pub ending: Ending,
    /// Leave the preface and HELLO to the first step.
    pub lazy_hello: bool,
}

impl Setup {
    /// Reads the 3-byte header.
    pub fn read(r: &mut Reader<'_>) -> Setup {
        let (a, b, c) = (r.u8(), r.u8(), r.u8());
        let bit = |x: u8, n: u8| x & (1 << n) != 0;
        let side = if bit(a, 0) {
            Side::Acceptor
        } else {
            Side::Connector
        };
        let mut cfg = Config::new(side);
        cfg.send_crc = bit(a, 1);
        if bit(a, 2) {
            cfg.settings.features = Features::CRC_REQUESTED;
        }
        if bit(a, 3) {
            cfg.keepalive_interval = Some(Duration::from_secs(5));
        }
        if bit(a, 4) {
            cfg.settings.idle_timeout_ms = 30_000;
        }
        if bit(a, 5) {
            cfg.settings.initial_stream_window = 65_536;
            cfg.settings.initial_connection_window = 262_144;
        }
        if bit(a, 6) {
            cfg.settings.max_message_size = 4_096;
            cfg.settings.max_metadata_size = 256;
        }
        if bit(a, 7) {
            cfg.cancel_budget = 4;
            cfg.control_budget = 8;
            cfg.ack_queue = 2;
        }
        cfg.settings.max_concurrent_streams = match b & 15 {
            0 => 100,
            n => u32::from(n),
        };
        if bit(c, 1) {
            cfg.settings.max_frame_size = MIN_MAX_FRAME_SIZE;
        }
        Setup {
            config: cfg,
            slots: 4 * (1 + usize::from(b >> 4)),
            ending: if bit(c, 0) {
                Ending::Close
            } else {
                Ending::Eof
            },
            lazy_hello: bit(c, 2),
        }
    }
}

/// A stream named by a script: an id, or the n-th stream the application knows of.
#[derive(Debug, Clone, Copy)]
pub enum Sel {
    /// This stream id (0 to 127).
    Id(u32),
    /// Index into the known streams (modulo their number).
    Known(usize),
}

impl Sel {
    fn read(r: &mut Reader<'_>) -> Sel {
        let b = r.u8();
        if b < 0x80 {
            Sel::Id(u32::from(b))
        } else {
            Sel::Known(usize::from(b & 0x7F))
        }
    }
}

/// One step of a script.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Bytes from the peer.
    Recv(&'a [u8]),
    /// Time passes.
    Advance(u32),
    /// Open a call.
    Call {
        flags: u8,
        body: u16,
        deadline_us: Option<u32>,
    },
    /// A message and/or half-close.
    Send { sel: Sel, flags: u8, body: u16 },
    /// End a served call.
    Status {
        sel: Sel,
        code: u8,
        flags: u8,
        body: u16,
    },
    /// Cancel a call made here.
    Cancel { sel: Sel, code: u8 },
    /// Return credit.
    Consume { sel: Sel, mode: u8, n: u32 },
    /// Send a PING.
    Ping,
    /// Start a drain.
    Drain,
    /// Close with an error code.
    Close(u8),
    /// The peer closed the transport.
    Eof,
    /// One well-formed frame from the peer.
    PeerFrame {
        ty: u8,
        flags: u8,
        sel: Sel,
        arg: u32,
        meta: u8,
        body: u16,
    },
    /// Ask for credit.
    CheckSend { sel: Sel, len: u32 },
    /// Transmit into a buffer of this size.
    SmallTransmit(u16),
}

impl<'a> Step<'a> {
    /// Kinds of step: the opcode is taken modulo this.
    pub const KINDS: u8 = 14;

    /// The next step, `None` at the end of the input.
    pub fn read(r: &mut Reader<'a>) -> Option<Step<'a>> {
        if r.is_empty() {
            return None;
        }
        Some(match r.u8() % Self::KINDS {
            0 => {
                let n = usize::from(r.u16());
                Step::Recv(r.bytes(n))
            }
            1 => Step::Advance(r.u32()),
            2 => {
                let flags = r.u8();
                let body = r.u16();
                let deadline_us = (flags & 4 != 0).then(|| r.u32());
                Step::Call {
                    flags,
                    body,
                    deadline_us,
                }
            }
            3 => Step::Send {
                sel: Sel::read(r),
                flags: r.u8(),
                body: r.u16(),
            },
            4 => Step::Status {
                sel: Sel::read(r),
                code: r.u8(),
                flags: r.u8(),
                body: r.u16(),
            },
            5 => Step::Cancel {
                sel: Sel::read(r),
                code: r.u8(),
            },
            6 => Step::Consume {
                sel: Sel::read(r),
                mode: r.u8(),
                n: r.u32(),
            },
            7 => Step::Ping,
            8 => Step::Drain,
            9 => Step::Close(r.u8()),
            10 => Step::Eof,
            11 => Step::PeerFrame {
                ty: r.u8(),
                flags: r.u8(),
                sel: Sel::read(r),
                arg: r.u32(),
                meta: r.u8(),
                body: r.u16(),
            },
            12 => Step::CheckSend {
                sel: Sel::read(r),
                len: r.u32(),
            },
            _ => Step::SmallTransmit(r.u16()),
        })
    }
}
