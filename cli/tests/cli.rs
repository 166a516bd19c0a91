//! The `muxwire` command end to end: exit codes and messages for the cases users hit.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_muxwire"))
}

struct Serving(Child, String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> Serving {
    let mut child = bin()
        .args(["serve", "tcp://127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("tcp://"))
        .unwrap()
        .to_string();
    Serving(child, url)
}

#[test]
fn call_list_and_errors() {
    let s = serve();
    let out = bin()
        .args(["call", &s.1, "echo", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"hello");

    let out = bin()
        .args(["call", &s.1, "echo", "--hex", "ab"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6162");

    let out = bin().args(["list", &s.1]).output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("echo") && listed.contains("muxwire.list"),
        "{listed}"
    );

    let out = bin().args(["call", &s.1, "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "unknown method");
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNIMPLEMENTED"));

    let out = bin()
        .args(["call", &s.1, "delay", "1000", "--timeout-ms", "50"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEADLINE_EXCEEDED"));

    let out = bin().args(["call", "http://x:1", "echo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "bad URL");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcp://host:port"));

    let out = bin()
        .args(["call", "tcp://127.0.0.1:1", "echo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "connection refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

#[test]
fn decode_annotates_and_rejects() {
    let out = bin()
        .args([
            "decode",
            "0a000000020308000100000000000000 10000400 6563686f 6869",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CALL") && text.contains("\"echo\""), "{text}");

    let out = bin()
        .args(["decode", "00000000000000000000000000000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROTOCOL_ERROR"));
}
