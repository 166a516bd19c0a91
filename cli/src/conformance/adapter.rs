//! The adapter protocol's transport (spec/CONFORMANCE.md section 1): one JSON object per
//! message, after its length as a u32 LE, over a testee process's stdin and stdout; and
//! the runner's handle on that process, which restarts it after a crash or a hang.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The largest message either side may send.
pub(crate) const MAX_MESSAGE: usize = 16 << 20;

/// The exit status of a testee that supports nothing.
const UNSUPPORTED_EXIT: i32 = 127;

/// Writes `v` as one message.
pub(crate) fn write_message(w: &mut impl Write, v: &Value) -> io::Result<()> {
    let text = serde_json::to_vec(v)?;
    if text.len() > MAX_MESSAGE {
        return Err(io::Error::other(format!(
            "message of {} bytes exceeds the adapter limit of {MAX_MESSAGE}",
            text.len()
        )));
    }
    w.write_all(&(text.len() as u32).to_le_bytes())?;
    w.write_all(&text)?;
    w.flush()
}

/// Reads one message; `None` at a clean end of input (before a length).
pub(crate) fn read_message(r: &mut impl Read) -> io::Result<Option<Value>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::other(format!(
            "message length {len} exceeds the adapter limit of {MAX_MESSAGE}"
        )));
    }
    let mut text = vec![0u8; len];
    r.read_exact(&mut text)?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| io::Error::other(format!("message is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(io::Error::other("message is not a JSON object"));
    }
    Ok(Some(v))
}

/// What came of one request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Done; the answer's fields.
    Ok(Value),
    /// The testee does not implement the operation.
    Unsupported(String),
    /// The request failed: the testee said so, crashed, hung or answered nonsense.
    Failed(String),
}

/// A running testee process.
struct Running {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    /// Messages read from its stdout by a reader thread (so that waits can time out).
    answers: mpsc::Receiver<io::Result<Option<Value>>>,
}

/// The runner's handle on a testee command: started on first use and again after a
/// failure, so one bad vector does not take the rest down with it.
pub(crate) struct Testee {
    cmd: Vec<String>,
    answer_timeout: Duration,
    running: Option<Running>,
    /// The name its `hello` gave.
    pub(crate) name: String,
    /// The operations its `hello` listed.
    pub(crate) supports: Vec<String>,
    /// It exited with status 127 before answering: it supports nothing.
    pub(crate) supports_nothing: bool,
    /// The exit status of the last process that failed, if it had ended.
    last_exit: Option<i32>,
}

impl Testee {
    /// A testee run as `cmd` (program and arguments), each answer awaited at most
    /// `answer_timeout`.
    pub(crate) fn new(cmd: Vec<String>, answer_timeout: Duration) -> Testee {
        Testee {
            cmd,
            answer_timeout,
            running: None,
            name: String::new(),
            supports: Vec::new(),
            supports_nothing: false,
            last_exit: None,
        }
    }

    /// Starts the process and greets it, unless it runs already. An error says why it
    /// cannot be run.
    pub(crate) fn start(&mut self) -> Result<(), String> {
        if self.running.is_some() {
            return Ok(());
        }
        let (program, args) = self.cmd.split_first().ok_or("no testee command")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start testee {program:?}: {e}"))?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || loop {
            let m = read_message(&mut stdout);
            let end = !matches!(m, Ok(Some(_)));
            if tx.send(m).is_err() || end {
                return;
            }
        });
        self.running = Some(Running {
            child,
            stdin,
            answers,
        });
        match self.exchange(&json!({"op": "hello", "protocol": 1})) {
            Answer::Ok(hello) => {
                self.name = hello["name"].as_str().unwrap_or("unnamed").to_string();
                self.supports = hello["supports"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(())
            }
            Answer::Unsupported(why) | Answer::Failed(why) => {
                if self.running.is_some() {
                    self.last_exit = self.exit_status();
                }
                if self.last_exit == Some(UNSUPPORTED_EXIT) {
                    self.supports_nothing = true;
                    self.supports.clear();
                }
                self.stop();
                Err(format!("testee hello failed: {why}"))
            }
        }
    }

    /// Whether the testee's `hello` listed `op`.
    pub(crate) fn supports(&self, op: &str) -> bool {
        self.supports.iter().any(|s| s == op)
    }

    /// Sends `req` and waits for its answer, starting the testee first if needed. After
    /// a failure of the process itself the testee is stopped (and restarted next time).
    pub(crate) fn request(&mut self, req: &Value) -> Answer {
        if let Err(why) = self.start() {
            return Answer::Failed(why);
        }
        self.exchange(req)
    }

    fn exchange(&mut self, req: &Value) -> Answer {
        let Some(run) = self.running.as_mut() else {
            return Answer::Failed("testee not running".into());
        };
        let op = req["op"].as_str().unwrap_or("?").to_string();
        if let Err(e) = write_message(&mut run.stdin, req) {
            return self.broken(format!("writing the {op} request: {e}"));
        }
        let answer = match run.answers.recv_timeout(self.answer_timeout) {
            Ok(Ok(Some(a))) => a,
            Ok(Ok(None)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return self.broken(format!("testee closed its output before answering {op}"))
            }
            Ok(Err(e)) => return self.broken(format!("reading the {op} answer: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return self.broken(format!(
                    "no answer to {op} within {} ms",
                    self.answer_timeout.as_millis()
                ))
            }
        };
        if let Some(why) = answer.get("unsupported") {
            return Answer::Unsupported(why.as_str().unwrap_or("unsupported").to_string());
        }
        match answer.get("ok").and_then(Value::as_bool) {
            Some(true) => Answer::Ok(answer),
            Some(false) => Answer::Failed(format!(
                "testee failed {op}: {}",
                answer["error"].as_str().unwrap_or("(no error text)")
            )),
            None => Answer::Failed(format!("answer to {op} has neither ok nor unsupported")),
        }
    }

    /// The process failed: stop it (with its exit status in the reason).
    fn broken(&mut self, why: String) -> Answer {
        let status = self.exit_status();
        self.last_exit = status;
        self.stop();
        match status {
            Some(code) => Answer::Failed(format!("{why} (testee exited with status {code})")),
            None => Answer::Failed(why),
        }
    }

    /// The exit status, if the process has ended (waiting briefly for it to do so).
    fn exit_status(&mut self) -> Option<i32> {
        let run = self.running.as_mut()?;
        for _ in 0..50 {
            if let Ok(Some(s)) = run.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Kills and reaps the process, if it runs.
    pub(crate) fn stop(&mut self) {
        if let Some(mut run) = self.running.take() {
            let _ = run.child.kill();
            let _ = run.child.wait();
        }
    }
}

impl Drop for Testee {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_limits_hold() {
        let mut buf = Vec::new();
        write_message(&mut buf, &json!({"op": "hello", "n": 1})).unwrap();
        write_message(&mut buf, &json!({"ok": true})).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_message(&mut r).unwrap(),
            Some(json!({"op": "hello", "n": 1}))
        );
        assert_eq!(read_message(&mut r).unwrap(), Some(json!({"ok": true})));
        assert_eq!(read_message(&mut r).unwrap(), None);
        // A length over the limit is refused before anything is allocated for it.
        let mut r = &((MAX_MESSAGE as u32) + 1).to_le_bytes()[..];
        assert!(read_message(&mut r)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        // A truncated body, and a body that is not an object, are errors.
        let mut r = &[5u8, 0, 0, 0, b'{'][..];
        assert!(read_message(&mut r).is_err());
        let mut r = &[1u8, 0, 0, 0, b'7'][..];
        assert!(read_message(&mut r).is_err());
    }
}
