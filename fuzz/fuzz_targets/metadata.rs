//! The metadata iterator and accessors on arbitrary blocks: see `muxwire_fuzz::metadata`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muxwire_fuzz::metadata::check(data));
