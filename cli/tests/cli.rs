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

/// Starts `cmd` (a `muxwire serve` with its arguments, environment and stderr set); the
/// process, the URL its banner names and the banner itself.
fn spawn_serve(cmd: &mut Command) -> (Child, String, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("tcp://") || w.starts_with("unix://"))
        .unwrap_or_else(|| panic!("no URL in the banner {banner:?}"))
        .to_string();
    (child, url, banner)
}

/// `muxwire serve` on a TCP port with `extra` flags; the process and its URL.
fn serve_with(extra: &[&str]) -> (Child, String) {
    let mut cmd = bin();
    cmd.args(["serve", "tcp://127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::null());
    let (child, url, _) = spawn_serve(&mut cmd);
    (child, url)
}

fn serve() -> Serving {
    let (child, url) = serve_with(&[]);
    Serving(child, url)
}

/// The lines `child` writes to stderr (piped), as they come.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    rx
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
    assert_eq!(
        out.status.code(),
        Some(64 + 12),
        "unknown method: 64 + UNIMPLEMENTED"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNIMPLEMENTED"));

    let out = bin()
        .args(["call", &s.1, "delay", "1000", "--timeout-ms", "50"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 4), "64 + DEADLINE_EXCEEDED");
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEADLINE_EXCEEDED"));

    // A status the server sends is never confused with a usage error.
    let out = bin()
        .args(["call", &s.1, "delay", "not a number"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 3), "64 + INVALID_ARGUMENT");

    let out = bin().args(["call", "http://x:1", "echo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "bad URL");
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcp://host:port"));

    let out = bin()
        .args(["call", "tcp://127.0.0.1:1", "echo"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64 + 14),
        "connection refused: 64 + UNAVAILABLE"
    );
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
    assert_eq!(out.status.code(), Some(3), "invalid input");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROTOCOL_ERROR"));

    // Flags and codes are named; 0x prefixes are fine; odd digits are named as such.
    let out = bin()
        .args([
            "decode",
            "0x0a00000002030800 0x01000000 00000000 10000400 6563686f 6869",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("END_STREAM|MESSAGE"), "{text}");
    let out = bin().args(["decode", "abc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("odd number of hex digits (3)"));
    let out = bin()
        .args(["decode", "--file", "/nonexistent/frames.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/frames.bin"));
}

/// A listener that accepts connections and never says a word.
fn silent_listener() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", l.local_addr().unwrap());
    (l, url)
}

#[test]
fn timeouts_bound_the_whole_command_connecting_included() {
    let (_listener, url) = silent_listener();
    // The call's timeout covers the handshake that never comes: the call's status.
    let out = bin()
        .args(["call", &url, "echo", "x", "--timeout-ms", "300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 4), "64 + DEADLINE_EXCEEDED");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout-ms"));
    // The connect timeout alone: UNAVAILABLE, naming the flag.
    let out = bin()
        .args(["list", &url, "--connect-timeout-ms", "300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 14), "64 + UNAVAILABLE");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connect-timeout-ms"));
}

#[test]
fn serve_refuses_to_replace_a_file_or_a_live_server() {
    let dir = std::env::temp_dir().join(format!("muxwire-cli-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.txt");
    std::fs::write(&file, b"keep me").unwrap();
    let out = bin()
        .args(["serve", &format!("unix://{}", file.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    let sock = format!("unix://{}", dir.join("s.sock").display());
    let (mut live, _, _) = spawn_serve(bin().args(["serve", &sock]).stderr(Stdio::null()));
    let out = bin().args(["serve", &sock]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"));
    let out = bin()
        .args(["call", &sock, "echo", "still"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"still", "the first server still serves");
    let _ = live.kill();
    let _ = live.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends signal number `sig` to `child` (with kill(1): no unsafe code in this crate).
fn signal(child: &Child, sig: i32) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// A `delay` call of `ms` started on `client`, returned once the server has it: an echo
/// sent after it on the same connection has come back, and frames on one connection
/// arrive in order.
async fn call_in_flight(
    client: &muxwire::Client,
    ms: &'static str,
) -> tokio::task::JoinHandle<Result<bytes::Bytes, muxwire::Status>> {
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.call("delay", bytes::Bytes::from_static(ms.as_bytes()))
            .await
    });
    // The spawned call is queued before the echo only once it has run: yield until the
    // client's stats show it started.
    while client.stats().calls_started == 0 {
        tokio::task::yield_now().await;
    }
    client
        .call("echo", bytes::Bytes::from_static(b"sync"))
        .await
        .unwrap();
    call
}

/// Waits for `child` to exit, at most a minute (a hang fails the test, not CI).
fn exit_code(mut child: Child) -> Option<i32> {
    for _ in 0..6_000 {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("serve did not exit within a minute");
}

#[test]
fn sigterm_drains_calls_in_flight_and_a_second_signal_stops_at_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // One signal: the call in flight finishes OK and serve exits 0.
    let (server, url) = serve_with(&["--grace-ms", "60000"]);
    let client = rt.block_on(muxwire::Client::connect(&url)).unwrap();
    let call = rt.block_on(call_in_flight(&client, "300"));
    signal(&server, 15);
    assert_eq!(&rt.block_on(call).unwrap().unwrap()[..], b"300");
    assert_eq!(exit_code(server), Some(0), "a completed drain");

    // A second signal during the drain: serve stops at once, exit 1, the call is cut.
    let (server, url) = serve_with(&["--grace-ms", "60000"]);
    let client = rt.block_on(muxwire::Client::connect(&url)).unwrap();
    let call = rt.block_on(call_in_flight(&client, "60000"));
    signal(&server, 15);
    // The drain has begun once new calls are refused.
    rt.block_on(async {
        while client.call("echo", bytes::Bytes::new()).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    signal(&server, 2);
    assert_eq!(exit_code(server), Some(1), "stopped before the drain ended");
    assert!(rt.block_on(call).unwrap().is_err(), "the call was cut");
}

#[test]
fn notify_ping_and_grpcurl_style_data() {
    let s = serve();
    // -d: text, @file and - (stdin).
    let file = std::env::temp_dir().join(format!("muxwire-cli-d-{}", std::process::id()));
    std::fs::write(&file, b"from a file").unwrap();
    let out = bin()
        .args(["call", &s.1, "echo", "-d", &format!("@{}", file.display())])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"from a file");
    let _ = std::fs::remove_file(&file);
    let mut child = bin()
        .args(["call", &s.1, "echo", "-d", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, b"from stdin");
    let out = bin()
        .args(["call", &s.1, "echo", "-d", "@/nonexistent/body"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/body"));

    // notify: five one-way messages, each confirmed as sent; the server counts them.
    let out = bin()
        .args(["notify", &s.1, "sink", "-d", "abc", "--count", "5"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counted = String::new();
    for _ in 0..6_000 {
        let out = bin().args(["call", &s.1, "count"]).output().unwrap();
        counted = String::from_utf8_lossy(&out.stdout).to_string();
        if counted.starts_with("5 15") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(counted.starts_with("5 15"), "count says {counted:?}");

    // ping: one line per round trip.
    let out = bin().args(["ping", &s.1, "--count", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("PING ")).count(),
        3,
        "{text}"
    );
}

#[test]
fn serve_limits_are_flags_and_the_banner_says_them() {
    let flags = ["--max-message-size", "1024", "--crc"];
    let mut cmd = bin();
    cmd.args(["serve", "tcp://127.0.0.1:0"])
        .args(flags)
        .stderr(Stdio::null());
    let (mut child, url, banner) = spawn_serve(&mut cmd);
    assert!(banner.contains("max message 1024 bytes"), "{banner}");
    let big = "x".repeat(2_000);
    let out = bin().args(["call", &url, "echo", &big]).output().unwrap();
    assert_eq!(out.status.code(), Some(64 + 8), "64 + RESOURCE_EXHAUSTED");
    let out = bin()
        .args([
            "call",
            &url,
            "echo",
            "small",
            "--compression",
            "zstd",
            "--crc",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"small");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bench_cleans_up_its_sockets_and_reports_a_failed_results_write() {
    let child = bin()
        .args([
            "bench",
            "--quick",
            "--transport",
            "unix",
            "--runtime",
            "current",
            "--json",
            "/nonexistent/dir/results.json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a results file it cannot write");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/results.json"));
    let prefix = format!("muxwire-bench-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "sockets left behind: {left:?}");
    let out = bin()
        .args(["bench", "--transport", "bogus"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad flag value is a usage error"
    );
}

#[test]
fn a_file_over_the_message_limit_is_refused_before_it_is_read() {
    // A sparse file: 8 GiB on paper, nothing on disk; reading it whole would take minutes
    // and all the memory.
    let path = std::env::temp_dir().join(format!("muxwire-cli-huge-{}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(8 << 30).unwrap();
    let out = bin()
        .args(["call", "tcp://127.0.0.1:1", "echo", "--file"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("8589934592 bytes") && err.contains("--max-message-size"),
        "{err}"
    );
}

#[test]
fn logs_go_to_stderr_without_colour_when_it_is_not_a_terminal() {
    let mut cmd = bin();
    cmd.args(["serve", "tcp://127.0.0.1:0"])
        .env("MUXWIRE_LOG", "warn")
        .stderr(Stdio::piped());
    let (mut child, url, _) = spawn_serve(&mut cmd);
    let rx = stderr_lines(&mut child);
    // A one-way message to a method nobody serves is dropped with a warning.
    let out = bin()
        .args(["notify", &url, "no.such.method", "-d", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let warning = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server logged the drop");
        if line.contains("one-way message dropped") {
            break line;
        }
    };
    assert!(warning.contains("no.such.method"), "{warning}");
    assert!(!warning.contains('\u{1b}'), "colour codes in {warning:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn load_counts_every_call_honours_the_rate_and_reports_failures() {
    let s = serve();
    let out = bin()
        .args(["load", &s.1, "echo", "-c", "8", "-n", "500", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["calls"], 500);
    assert_eq!(r["outcomes"]["OK"], 500);
    assert!(r["latency_us"]["p99"].as_f64().unwrap() >= r["latency_us"]["p50"].as_f64().unwrap());

    // 100 calls/s for 300 ms: calls start at i / 100 s, so at most 30 fit, however fast
    // the machine.
    let out = bin()
        .args([
            "load",
            &s.1,
            "echo",
            "-c",
            "4",
            "--rps",
            "100",
            "--duration-ms",
            "300",
            "--json",
        ])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["calls"].as_u64().unwrap() <= 30, "{r}");

    let out = bin()
        .args(["load", &s.1, "no.such.method", "-n", "20", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "failed calls fail the run");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["outcomes"]["UNIMPLEMENTED"], 20);
}

#[test]
fn stream_sends_each_line_and_prints_each_reply() {
    let s = serve();
    use std::io::Write;
    let mut child = bin()
        .args(["stream", &s.1, "echo.stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a\nbb\n\nccc\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"a\nbb\nccc\n");
    let mut child = bin()
        .args(["stream", &s.1, "no.such.stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"x\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(64 + 12));
}

#[test]
fn call_formats_repeats_and_serve_answers_canned_replies_and_metadata() {
    let s = serve();
    let out = bin()
        .args([
            "call", &s.1, "echo", "hi", "--format", "json", "--count", "3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| l["status"] == "OK" && l["reply"] == "hi" && l["reply_hex"] == "6869"));
    let out = bin()
        .args(["call", &s.1, "nope", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 12));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["code"].as_u64()),
        (Some("UNIMPLEMENTED"), Some(12))
    );
    // Metadata goes end to end.
    let out = bin()
        .args([
            "call",
            &s.1,
            "echo.metadata",
            "-m",
            "trace-id=42",
            "-m",
            "user=ada",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"trace-id=42\nuser=ada\n");

    // A canned reply.
    let (mut child, url) = serve_with(&["--reply", "always this"]);
    let out = bin()
        .args(["call", &url, "echo", "anything"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"always this");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn verbose_shows_every_frame_both_ways() {
    let s = serve();
    let out = bin()
        .args(["call", &s.1, "echo", "hello", "-v"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hello");
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "> PREFACE",
        "< HELLO",
        "> CALL     stream=1",
        "\"echo\"",
        "< STATUS   stream=1",
        "arg=0 OK",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
}

/// `GET path` on `addr`; the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_are_served_to_prometheus_and_to_muxwire_stats() {
    let mut cmd = bin();
    cmd.args(["serve", "tcp://127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .stderr(Stdio::null());
    let (child, url, line) = spawn_serve(&mut cmd);
    let metrics = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
        .to_string();
    let out = bin().args(["call", &url, "echo", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = bin().args(["call", &url, "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64 + 12));

    let page = http_get(&metrics, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("Content-Type: text/plain; version=0.0.4"),
        "{page}"
    );
    let value = |name: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{page}"))
            .parse()
            .unwrap()
    };
    assert!(value("muxwire_calls_ok_total") >= 1);
    assert!(value("muxwire_calls_failed_total{code=\"UNIMPLEMENTED\"}") >= 1);
    // Per method: counts by status and a latency histogram; unregistered names pooled.
    assert_eq!(
        value("muxwire_method_calls_handled_total{method=\"echo\",code=\"OK\"}"),
        1
    );
    assert_eq!(
        value("muxwire_method_calls_handled_total{method=\"(unknown)\",code=\"UNIMPLEMENTED\"}"),
        1
    );
    assert_eq!(
        value("muxwire_method_latency_seconds_bucket{method=\"echo\",le=\"+Inf\"}"),
        1
    );
    assert!(http_get(&metrics, "/other").starts_with("HTTP/1.1 404"));

    let out = bin().args(["stats", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("# TYPE muxwire_calls_ok_total counter"));
    signal(&child, 15);
    assert_eq!(
        exit_code(child),
        Some(0),
        "the drain still works with metrics on"
    );
}

#[test]
fn at_info_the_server_logs_each_connection_and_each_failed_call_with_method_and_peer() {
    let mut cmd = bin();
    cmd.args(["serve", "tcp://127.0.0.1:0"])
        .env("MUXWIRE_LOG", "info")
        .stderr(Stdio::piped());
    let (mut child, url, _) = spawn_serve(&mut cmd);
    let rx = stderr_lines(&mut child);
    let out = bin()
        .args(["call", &url, "no.such.method"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64 + 12));
    let (mut accepted, mut failed) = (false, false);
    while !(accepted && failed) {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server logged the connection and the failed call");
        accepted |= line.contains("connection accepted");
        // The failed call's line names its method, and (its connection's span) the peer.
        failed |= line.contains("call failed")
            && line.contains("UNIMPLEMENTED")
            && line.contains("method=no.such.method")
            && line.contains("conn{peer=127.0.0.1:");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn describe_prints_each_method_with_its_kind_and_text() {
    let server = serve();
    let url = server.1.clone();
    let out = bin().args(["describe", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("echo.stream (streaming)"), "{text}");
    assert!(
        text.contains("request: milliseconds as text; reply: the request"),
        "{text}"
    );
    assert!(text.contains("muxwire.describe (unary)"), "{text}");
    let out = bin()
        .args(["describe", &url, "echo", "--json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        json.starts_with("{\"methods\":[{\"name\":\"echo\""),
        "{json}"
    );
    let out = bin().args(["describe", &url, "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64 + 5), "NOT_FOUND");
}
