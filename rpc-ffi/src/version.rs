//! The library's version, to compare with the header's `MUXWIRE_VERSION_*` macros.

use std::ffi::c_char;

/// The library's version as "MAJOR.MINOR.PATCH" (static, never NULL). A program built
/// against one header can compare it with `MUXWIRE_VERSION_STRING` at run time.
#[no_mangle]
pub extern "C" fn muxwire_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH`, to compare
/// with `MUXWIRE_VERSION_NUMBER`.
#[no_mangle]
pub extern "C" fn muxwire_version_number() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 10_000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}
