//! The checks behind the cargo-fuzz targets of `fuzz_targets/`: each target hands its
//! input to one function here, which panics on the first broken invariant (libFuzzer then
//! saves the input as a crash).
//!
//! - [`frames::check`]: the frame decoder, differentially: a decoded frame re-encodes to
//!   the same bytes, its prefixes are incomplete by the right amount, a larger
//!   MAX_FRAME_SIZE never changes a success.
//! - [`metadata::check`]: the TLV iterator and the metadata accessors on arbitrary blocks,
//!   against the encoder and the frame decoder's validation.
//! - [`session::run`]: a `Connection` driven by a script of peer bytes and application
//!   commands, with its outputs, events and call endings checked after every step.

pub mod frames;
pub mod metadata;
pub mod reader;
pub mod session;
