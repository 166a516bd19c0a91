//! The frame decoder on arbitrary bytes: see `muxwire_fuzz::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muxwire_fuzz::frames::check(data));
