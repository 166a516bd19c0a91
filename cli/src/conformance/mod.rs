//! `muxwire conformance`: runs the spec's vectors through an implementation in any
//! language over the adapter protocol, or plays live scenarios against a running server
//! (spec/CONFORMANCE.md), and is the reference testee.

mod adapter;
mod frames;
mod live;
mod report;
mod sessions;
mod testee;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use adapter::Testee;
use report::{Outcome, Record, Verdict};

/// `muxwire conformance ...`.
#[derive(Subcommand)]
pub(crate) enum ConformanceCmd {
    /// Run every frame and session vector through a testee program (CMD ...) that speaks
    /// the adapter protocol of spec/CONFORMANCE.md on its stdin and stdout.
    Adapter(AdapterArgs),
    /// Play the live scenarios against a running server at URL (it serves the test
    /// methods of spec/CONFORMANCE.md section 4, as `muxwire serve` does).
    Live(LiveArgs),
    /// Be the reference testee (the Rust core) on stdin and stdout.
    Testee,
}

/// What every run reports, and how.
#[derive(Args)]
pub(crate) struct Reporting {
    /// Known failures: ids (F<tcId>, S<sId>, L<n>, C<n>) one per line; `#` comments.
    #[arg(long)]
    failures: Option<PathBuf>,
    /// Run only these (comma-separated ids, e.g. F1,S20,L3).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print every result, not only those that did not pass.
    #[arg(long, short)]
    verbose: bool,
}

/// Arguments of `muxwire conformance adapter`.
#[derive(Args)]
pub(crate) struct AdapterArgs {
    /// The folder with frames.json and sessions.json.
    #[arg(long, default_value = "spec/vectors")]
    vectors: PathBuf,
    /// How long to wait for each answer of the testee.
    #[arg(long, default_value_t = 10_000)]
    answer_timeout_ms: u64,
    #[command(flatten)]
    reporting: Reporting,
    /// The testee: a program and its arguments (after `--`).
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

/// Arguments of `muxwire conformance live`.
#[derive(Args)]
pub(crate) struct LiveArgs {
    /// The server: tcp://host:port or unix:///path (with --listen: where to listen).
    url: String,
    /// Judge a client instead: listen on URL (a fresh listener per scenario: port 0 gives
    /// a new port, a Unix path gets `-C<n>` appended) and run the client command (after
    /// `--`) once per scenario; `{url}` in its arguments becomes that listener's URL. It
    /// must make one unary call to `echo` and exit 0 if and only if the call succeeded.
    #[arg(long, requires = "cmd")]
    listen: bool,
    /// The client command, with --listen.
    #[arg(last = true)]
    cmd: Vec<String>,
    /// How long to wait for each expected frame.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    #[command(flatten)]
    reporting: Reporting,
}

/// Runs a `conformance` subcommand; the exit status.
pub(crate) fn run(cmd: ConformanceCmd) -> i32 {
    let result = match cmd {
        ConformanceCmd::Testee => return testee::run(),
        ConformanceCmd::Adapter(args) => adapter_run(&args),
        ConformanceCmd::Live(args) => live_run(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("muxwire conformance: {e}");
        2
    })
}

fn load(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

impl Reporting {
    fn known(&self) -> Result<BTreeSet<String>, String> {
        let Some(p) = &self.failures else {
            return Ok(BTreeSet::new());
        };
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        report::parse_failure_list(&text).map_err(|e| format!("{}: {e}", p.display()))
    }

    fn only(&self) -> BTreeSet<&str> {
        self.only.iter().map(String::as_str).collect()
    }

    /// Prints a record as it comes (unless it passed and the run is not verbose).
    fn print(&self, r: &Record) {
        if self.verbose || r.verdict != Verdict::Pass {
            eprintln!(
                "{:<6} {:<15} {}  {}",
                r.id,
                r.verdict.name(),
                r.comment,
                r.reason
            );
        }
    }

    /// The summary and the report files; the exit status.
    fn finish(&self, name: &str, records: &[Record]) -> Result<i32, String> {
        if let Some(unknown) = self
            .only
            .iter()
            .find(|id| !records.iter().any(|r| &r.id == *id))
        {
            return Err(format!("--only names {unknown}, which nothing has"));
        }
        let name = if name.is_empty() { "testee" } else { name };
        println!("{name}: {}", report::summary(records));
        if let Some(p) = &self.junit {
            std::fs::write(p, report::junit_report(name, records))
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        if let Some(p) = &self.json {
            let text = serde_json::to_string_pretty(&report::json_report(name, records))
                .map_err(|e| e.to_string())?;
            std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        Ok(i32::from(records.iter().any(|r| r.verdict.is_unexpected())))
    }
}

fn adapter_run(args: &AdapterArgs) -> Result<i32, String> {
    let rep = &args.reporting;
    let frames = load(&args.vectors.join("frames.json"))?;
    let sessions = load(&args.vectors.join("sessions.json"))?;
    let (known, only) = (rep.known()?, rep.only());
    let wanted = |id: &str| only.is_empty() || only.contains(id);
    let mut testee = Testee::new(
        args.cmd.clone(),
        Duration::from_millis(args.answer_timeout_ms),
    );
    if let Err(e) = testee.start() {
        if !testee.supports_nothing {
            return Err(e);
        }
        eprintln!("muxwire conformance: the testee supports nothing (exit status 127)");
    }
    let mut records = Vec::new();
    let mut note = |r: Record| {
        rep.print(&r);
        records.push(r);
    };
    let nothing = || Outcome::Unsupported("the testee supports nothing".into());
    for group in frames["testGroups"].as_array().into_iter().flatten() {
        let max = group["max_frame_size"].as_u64().unwrap_or(16_384);
        for case in group["tests"].as_array().into_iter().flatten() {
            let id = format!("F{}", case["tcId"]);
            if wanted(&id) {
                let outcome = if testee.supports_nothing {
                    nothing()
                } else {
                    frames::run(&mut testee, case, max)
                };
                let comment = case["comment"].as_str().unwrap_or("");
                note(Record::new(id, comment, outcome, &known));
            }
        }
    }
    for session in sessions["sessions"].as_array().into_iter().flatten() {
        let id = format!("S{}", session["sId"]);
        if wanted(&id) {
            let outcome = if testee.supports_nothing {
                nothing()
            } else {
                sessions::run(&mut testee, session)
            };
            let comment = session["comment"].as_str().unwrap_or("");
            note(Record::new(id, comment, outcome, &known));
        }
    }
    testee.stop();
    rep.finish(&testee.name, &records)
}

fn live_run(args: &LiveArgs) -> Result<i32, String> {
    let rep = &args.reporting;
    let (known, only) = (rep.known()?, rep.only());
    let mut records = Vec::new();
    let note = |r: Record| {
        rep.print(&r);
        records.push(r);
    };
    let patience = Duration::from_millis(args.timeout_ms);
    let name = if args.listen {
        live::run_client(&args.url, &args.cmd, patience, &only, &known, note)?;
        format!("client {}", args.cmd.join(" "))
    } else {
        live::run(&args.url, patience, &only, &known, note)?;
        args.url.clone()
    };
    rep.finish(&name, &records)
}
