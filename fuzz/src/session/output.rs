//! Everything the connection writes, checked as a peer would read it: the preface, then
//! valid frames only, HELLO first and once, each within the peer's MAX_FRAME_SIZE.

use muxwire_core::wire::{
    self, Decoded, Flags, FrameType, Settings, Side, MAX_MAX_FRAME_SIZE, PREFACE,
};

/// The byte stream written so far.
#[derive(Debug)]
pub struct Output {
    side: Side,
    advertised: Settings,
    preface: usize,
    frames: u64,
    message_bytes: u64,
    /// The Argument of the last PING (not an ACK) written, for scripts to answer.
    pub last_ping: Option<u32>,
}

impl Output {
    /// A checker for an endpoint on `side` advertising `advertised`.
    pub fn new(side: Side, advertised: Settings) -> Output {
        Output {
            side,
            advertised,
            preface: 0,
            frames: 0,
            message_bytes: 0,
            last_ping: None,
        }
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flow-controlled (message) bytes written so far.
    pub fn message_bytes(&self) -> u64 {
        self.message_bytes
    }

    /// Checks one write: it must hold whole frames (after the preface, for the first).
    /// `peer_max` is the peer's MAX_FRAME_SIZE when the bytes were written.
    pub fn write(&mut self, mut bytes: &[u8], peer_max: u32) {
        if self.preface < PREFACE.len() {
            let n = (PREFACE.len() - self.preface).min(bytes.len());
            assert_eq!(
                bytes[..n],
                PREFACE[self.preface..self.preface + n],
                "output does not start with the preface"
            );
            self.preface += n;
            bytes = &bytes[n..];
        }
        // Each frame takes at least a header, so this is bounded.
        for _ in 0..=bytes.len() / 16 {
            if bytes.is_empty() {
                return;
            }
            let (frame, len) = match wire::decode(bytes, MAX_MAX_FRAME_SIZE) {
                Ok(Decoded::Frame { frame, len }) => (frame, len),
                Ok(Decoded::Incomplete { needed }) => {
                    panic!("a write ends inside a frame ({needed} bytes missing)")
                }
                Err(e) => panic!("the connection wrote an invalid frame: {e}"),
            };
            let h = frame.header();
            assert!(
                h.payload_len <= peer_max,
                "frame over the peer's MAX_FRAME_SIZE"
            );
            assert_eq!(
                frame.ty() == FrameType::HELLO,
                self.frames == 0,
                "HELLO must be the first frame and only it"
            );
            match frame.ty() {
                FrameType::HELLO => {
                    let sent = Settings::from_hello(frame.arg(), &frame.metadata());
                    assert_eq!(
                        sent, self.advertised,
                        "HELLO differs from the configuration"
                    );
                }
                FrameType::CALL => assert_eq!(
                    frame.stream_id().opener(),
                    Some(self.side),
                    "CALL on an id of the peer's parity"
                ),
                FrameType::PING if !frame.flags().contains(Flags::ACK) => {
                    self.last_ping = Some(frame.arg());
                }
                _ => {}
            }
            self.frames += 1;
            self.message_bytes += frame.flow_len() as u64;
            bytes = &bytes[len..];
        }
        assert!(bytes.is_empty(), "more frames than bytes allow");
    }
}
