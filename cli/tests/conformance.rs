//! `muxwire conformance adapter` judged by testees whose results are known in advance: the
//! reference testee passes everything, and a testee broken on purpose
//! (tests/conformance/broken_testee.py) fails exactly the vectors its faults touch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const MUXWIRE: &str = env!("CARGO_BIN_EXE_muxwire");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vectors(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("spec/vectors").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs the adapter runner with `extra` arguments against `testee`; its output and the
/// JSON report.
fn adapter(extra: &[&str], testee: &[&str]) -> (Output, Value) {
    let dir = tempdir();
    let json = dir.join("report.json");
    let out = Command::new(MUXWIRE)
        .current_dir(root())
        .args(["conformance", "adapter", "--json"])
        .arg(&json)
        .args(extra)
        .arg("--")
        .args(testee)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "muxwire-conformance-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The ids with result `result` in a JSON report.
fn ids(report: &Value, result: &str) -> BTreeSet<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == result)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn vector_count() -> usize {
    let frames = vectors("frames.json")["numberOfTests"].as_u64().unwrap();
    let sessions = vectors("sessions.json")["numberOfSessions"]
        .as_u64()
        .unwrap();
    (frames + sessions) as usize
}

#[test]
fn the_reference_testee_passes_every_vector() {
    let (out, report) = adapter(&[], &[MUXWIRE, "conformance", "testee"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids(&report, "pass").len(), vector_count(), "{report}");
    assert_eq!(
        report["testee"],
        concat!("muxwire-core ", env!("CARGO_PKG_VERSION"))
    );
}

/// Every run of a session: its steps followed by each alternative (or alone).
fn runs(session: &Value) -> Vec<Vec<Value>> {
    let steps = session["steps"].as_array().unwrap().clone();
    match session.get("alternatives").and_then(Value::as_array) {
        None => vec![steps],
        Some(alts) => alts
            .iter()
            .map(|a| {
                let mut all = steps.clone();
                all.extend(a.as_array().unwrap().iter().cloned());
                all
            })
            .collect(),
    }
}

/// Whether a run meets one of the broken testee's session faults: an `events` step that
/// lists `half_closed`, or a command expected to be rejected as `blocked`.
fn touched(run: &[Value]) -> bool {
    run.iter().any(|step| {
        let lists_half_closed = step["events"]
            .as_array()
            .is_some_and(|es| es.iter().any(|e| e["event"] == "half_closed"));
        lists_half_closed || step["expect"]["error"] == "blocked"
    })
}

/// The vectors the broken testee must fail, worked out from the vectors alone.
fn broken_testee_failures() -> BTreeSet<String> {
    let mut want = BTreeSet::new();
    for group in vectors("frames.json")["testGroups"].as_array().unwrap() {
        for case in group["tests"].as_array().unwrap() {
            let id = format!("F{}", case["tcId"]);
            let window = case["expect"]["type"] == 6;
            // The empty input hangs it; the one-byte input 0d crashes it.
            let fatal = case["input"] == "" || case["input"] == "0d";
            if window || fatal {
                want.insert(id);
            }
        }
    }
    for s in vectors("sessions.json")["sessions"].as_array().unwrap() {
        // A session fails only if every one of its alternatives meets a fault.
        if runs(s).iter().all(|r| touched(r)) {
            want.insert(format!("S{}", s["sId"]));
        }
    }
    want
}

#[test]
fn a_broken_testee_fails_exactly_the_vectors_it_should_and_the_failure_list_stays_fresh() {
    let broken = [
        "python3",
        root()
            .join("tests/conformance/broken_testee.py")
            .to_str()
            .unwrap(),
        MUXWIRE,
    ]
    .map(str::to_string);
    let broken: Vec<&str> = broken.iter().map(String::as_str).collect();
    let timeout = ["--answer-timeout-ms", "3000"];
    let want = broken_testee_failures();
    assert!(
        want.len() >= 8,
        "the faults touch too few vectors: {want:?}"
    );

    let (out, report) = adapter(&timeout, &broken);
    assert_eq!(out.status.code(), Some(1), "unlisted failures fail the run");
    assert_eq!(ids(&report, "fail"), want);
    assert_eq!(report["testee"], "broken-on-purpose");
    let reasons: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(reasons
        .iter()
        .any(|r| r.contains("no answer to decode within 3000 ms")));
    assert!(reasons.iter().any(|r| r.contains("exited with status 3")));
    // The vectors after a crash or a hang pass: the testee was restarted.
    assert_eq!(ids(&report, "pass").len(), vector_count() - want.len());

    // Listed, the same failures are expected; the JUnit report skips them.
    let dir = tempdir();
    let list = dir.join("known-failures");
    let text: String = want
        .iter()
        .map(|id| format!("{id}  # on purpose\n"))
        .collect();
    std::fs::write(&list, format!("# the broken testee\n{text}")).unwrap();
    let junit = dir.join("junit.xml");
    let mut args = vec!["--failures", list.to_str().unwrap(), "--junit"];
    args.push(junit.to_str().unwrap());
    args.extend(timeout);
    let (out, report) = adapter(&args, &broken);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids(&report, "expected-fail"), want);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<skipped message=\"expected-fail:"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    // A listed vector that passes fails the run, so the list cannot go stale.
    std::fs::write(&list, format!("{text}F1\n")).unwrap();
    let (out, report) = adapter(&args, &broken);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        ids(&report, "unexpected-pass"),
        BTreeSet::from(["F1".to_string()])
    );
}

#[test]
fn a_testee_that_supports_nothing_or_cannot_start_is_reported_as_such() {
    let (out, report) = adapter(&["--only", "F1,S1"], &["sh", "-c", "exit 127"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ids(&report, "unsupported"),
        BTreeSet::from(["F1".to_string(), "S1".to_string()])
    );
    let (out, _) = adapter(&[], &["/nonexistent/testee"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot start testee"));
    let (out, _) = adapter(&["--only", "F99999"], &[MUXWIRE, "conformance", "testee"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("F99999"));
}

/// A child process that prints its URL on its first line; killed when dropped.
struct Server(std::process::Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(cmd: &mut Command) -> Server {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("tcp://") || w.starts_with("unix://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Server(child, url)
}

/// Runs `conformance live` against `url`; its exit status and JSON report.
fn live(url: &str, extra: &[&str]) -> (Output, Value) {
    let json = tempdir().join("live.json");
    let out = Command::new(MUXWIRE)
        .args(["conformance", "live", url, "--json"])
        .arg(&json)
        .args(extra)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

#[test]
fn the_reference_server_passes_every_live_scenario_over_tcp_and_unix_sockets() {
    let sock = tempdir().join("live.sock");
    let unix = format!("unix://{}", sock.display());
    for url in ["tcp://127.0.0.1:0", unix.as_str()] {
        let server = start(Command::new(MUXWIRE).args(["serve", url]));
        let (out, report) = live(&server.1, &[]);
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ids(&report, "pass").len(), 16, "{report}");
    }
}

#[test]
fn a_broken_server_fails_every_live_scenario_it_gets_wrong() {
    let script = root().join("tests/conformance/broken_server.py");
    let server = start(Command::new("python3").arg(script));
    let (out, report) = live(&server.1, &["--timeout-ms", "2000"]);
    assert_eq!(out.status.code(), Some(1));
    // It handshakes and answers PINGs; everything else it gets wrong.
    let pass = BTreeSet::from(["L1".to_string(), "L9".to_string()]);
    assert_eq!(ids(&report, "pass"), pass, "{report}");
    assert_eq!(ids(&report, "fail").len(), 14);
    // A server that is not there: the run cannot be made.
    drop(server);
    let (out, _) = live("tcp://127.0.0.1:1", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect"));
}

/// Runs `conformance live --listen` with `client` (its `{url}` filled in per scenario);
/// its exit status and JSON report.
fn live_client(listen: &str, client: &[&str], extra: &[&str]) -> (Output, Value) {
    let json = tempdir().join("client.json");
    let out = Command::new(MUXWIRE)
        .args(["conformance", "live", "--listen", listen, "--json"])
        .arg(&json)
        .args(extra)
        .arg("--")
        .args(client)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

#[test]
fn the_reference_client_passes_every_client_scenario_over_tcp_and_unix_sockets() {
    let sock = tempdir().join("client.sock");
    let unix = format!("unix://{}", sock.display());
    for listen in ["tcp://127.0.0.1:0", unix.as_str()] {
        let (out, report) = live_client(listen, &[MUXWIRE, "call", "{url}", "echo", "hi"], &[]);
        assert!(
            out.status.success(),
            "{listen}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ids(&report, "pass").len(), 6, "{report}");
    }
    // Each scenario's Unix socket is removed after it.
    let left: Vec<_> = std::fs::read_dir(sock.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("client.sock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_broken_client_fails_exactly_the_client_scenarios_it_gets_wrong() {
    let script = root().join("tests/conformance/broken_client.py");
    let client = ["python3", script.to_str().unwrap(), "{url}"];
    let (out, report) = live_client("tcp://127.0.0.1:0", &client, &["--timeout-ms", "2000"]);
    assert_eq!(out.status.code(), Some(1));
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(ids(&report, "pass"), set(&["C1", "C2", "C6"]), "{report}");
    assert_eq!(ids(&report, "fail"), set(&["C3", "C4", "C5"]), "{report}");
    // A client command that cannot start fails each scenario, and says why.
    let (out, report) = live_client(
        "tcp://127.0.0.1:0",
        &["/nonexistent/client"],
        &["--only", "C1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(report["results"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot start client"));
}
