//! A `Connection` fed peer bytes and application commands: see `muxwire_fuzz::session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muxwire_fuzz::session::run(data));
