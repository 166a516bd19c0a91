//! The interop matrix runner (tests/interop/matrix.py) fails when a pair fails: checked
//! with a server broken on purpose beside the Rust implementation.

use std::path::Path;
use std::process::Command;

#[test]
fn the_matrix_passes_rust_with_rust_and_fails_a_broken_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let muxwire = env!("CARGO_BIN_EXE_muxwire");
    let matrix = root.join("tests/interop/matrix.py");
    let out = Command::new("python3")
        .arg(&matrix)
        .args(["--muxwire", muxwire])
        .current_dir(&root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("rust tcp            7/7"), "{text}");
    assert!(text.contains("rust unix           7/7"), "{text}");

    let broken = format!(
        "python3 {}",
        root.join("tests/conformance/broken_server.py").display()
    );
    let client = format!("{muxwire} interop-client {{url}}");
    let out = Command::new("python3")
        .arg(&matrix)
        .args([
            "--muxwire",
            muxwire,
            "--impl",
            "rust",
            "--with",
            "broken",
            &broken,
            &client,
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL unary: the echo differs"), "{text}");
    assert!(text.contains("interop: FAILED"), "{text}");
}
