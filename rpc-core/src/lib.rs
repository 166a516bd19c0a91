//! # muxwire-core
//!
//! The muxwire protocol (its specification is the [`spec`] module) as a sans-IO library: bytes go in, frames
//! and bytes come out. No sockets, no threads, no clocks, no heap.
//!
//! This crate is `#![no_std]`, never allocates and contains no `unsafe` code. Every decoded
//! frame borrows from the caller's buffer; every encoded frame is written into a caller's
//! buffer.
//!
//! ## Decoding
//!
//! [`wire::decode`] looks at the front of a receive buffer and returns one of three
//! outcomes, in the manner of `httparse`:
//!
//! 1. [`wire::Decoded::Frame`]: a complete, validated frame and how many bytes it used;
//! 2. [`wire::Decoded::Incomplete`]: more bytes are needed (not an error);
//! 3. `Err(`[`wire::FrameError`]`)`: the bytes break the protocol; the error carries the
//!    connection error code to send in GOAWAY and the rule that was broken.
//!
//! ```
//! use muxwire_core::wire::{self, Decoded, FrameType};
//!
//! // A unary CALL to "echo" carrying the request "hi".
//! let mut buf = [0u8; 64];
//! let mut enc = wire::FrameEncoder::new(&mut buf, FrameType::CALL, 1, 0).unwrap();
//! enc.tlv(wire::Tag::METHOD, b"echo").unwrap();
//! let flags = wire::Flags::END_STREAM | wire::Flags::MESSAGE;
//! let n = enc.finish_with_body(flags, b"hi").unwrap();
//!
//! match wire::decode(&buf[..n], wire::MIN_MAX_FRAME_SIZE).unwrap() {
//!     Decoded::Frame { frame, len } => {
//!         assert_eq!(len, n);
//!         assert_eq!(frame.metadata().method(), Some("echo"));
//!         assert_eq!(frame.body(), b"hi");
//!     }
//!     Decoded::Incomplete { .. } => unreachable!(),
//! }
//! ```
//!
//! ## Encoding
//!
//! [`wire::FrameEncoder`] writes the 16-byte header and the metadata into a caller buffer.
//! The body can then be appended in place ([`wire::FrameEncoder::finish_with_body`]) or
//! left where it is for a vectored write ([`wire::FrameEncoder::finish_head`], with
//! [`wire::crc_trailer`] when a CRC is wanted), so payloads are never copied.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![warn(clippy::alloc_instead_of_core, clippy::std_instead_of_core)]

/// The protocol specification, `spec/PROTOCOL.md` of the muxwire repository, shipped
/// with the crate so that the documentation's references to its sections resolve.
#[doc = include_str!("../PROTOCOL.md")]
pub mod spec {}

pub mod conn;
pub mod time;
pub mod wire;
