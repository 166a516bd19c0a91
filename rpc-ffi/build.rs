//! For an installed shared library (`make install` sets MUXWIRE_SONAME=1), a soname
//! carrying the ABI version, as distributions expect: `libmuxwire.so.0` while the version
//! is 0.x, `.so.MAJOR` after 1.0. Plain cargo builds have none, so a program linked
//! against target/*/libmuxwire.so finds it under that name.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MUXWIRE_SONAME");
    let wanted = std::env::var("MUXWIRE_SONAME").is_ok_and(|v| !v.is_empty() && v != "0");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if wanted && linux {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmuxwire.so.{major}");
    }
}
