//! The peer's connection window, as the bytes the connection consumed grant it: what it
//! writes must never carry more message bytes than that (PROTOCOL.md section 14).

use muxwire_core::wire::{self, Decoded, FrameType, Settings, MAX_MAX_FRAME_SIZE, PREFACE};

/// Credit the peer granted through the input the connection took.
#[derive(Debug)]
pub struct PeerCredit {
    preface: usize,
    /// The peer's initial connection window (the initial value until its HELLO).
    initial: u64,
    /// WINDOW increments for the connection.
    increments: u64,
}

impl PeerCredit {
    /// Before any input.
    pub fn new() -> PeerCredit {
        PeerCredit {
            preface: 0,
            initial: u64::from(Settings::INITIAL.initial_connection_window),
            increments: 0,
        }
    }

    /// Message bytes the connection may have sent so far.
    pub fn window(&self) -> u64 {
        self.initial + self.increments
    }

    /// Reads bytes `handle_input` reported consuming: the preface, then whole frames.
    /// Over-counts credit for a frame the connection rejected, never under-counts.
    pub fn consumed(&mut self, mut bytes: &[u8]) {
        let skip = (PREFACE.len() - self.preface).min(bytes.len());
        self.preface += skip;
        bytes = &bytes[skip..];
        // Every frame takes at least its 16-byte header.
        for _ in 0..=bytes.len() / 16 {
            let Ok(Decoded::Frame { frame, len }) = wire::decode(bytes, MAX_MAX_FRAME_SIZE) else {
                return;
            };
            match frame.ty() {
                FrameType::HELLO => {
                    let s = Settings::from_hello(frame.arg(), &frame.metadata());
                    self.initial = u64::from(s.initial_connection_window);
                }
                FrameType::WINDOW if frame.stream_id().is_connection() => {
                    self.increments += u64::from(frame.arg());
                }
                _ => {}
            }
            bytes = &bytes[len..];
        }
    }
}

impl Default for PeerCredit {
    fn default() -> PeerCredit {
        PeerCredit::new()
    }
}
