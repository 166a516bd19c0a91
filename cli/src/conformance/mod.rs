//! `muxwire conformance`: runs the spec's vectors through an implementation in any
//! language over the adapter protocol (spec/CONFORMANCE.md), and the reference testee.

mod adapter;
mod frames;
mod hex;
mod report;
mod sessions;
mod testee;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use adapter::Testee;
use report::{Outcome, Record};

/// `muxwire conformance ...`.
#[derive(Subcommand)]
pub(crate) enum ConformanceCmd {
    /// Run every frame and session vector through a testee program (CMD ...) that speaks
    /// the adapter protocol of spec/CONFORMANCE.md on its stdin and stdout.
    Adapter(AdapterArgs),
    /// Be the reference testee (the Rust core) on stdin and stdout.
    Testee,
}

/// Arguments of `muxwire conformance adapter`.
#[derive(Args)]
pub(crate) struct AdapterArgs {
    /// The folder with frames.json and sessions.json.
    #[arg(long, default_value = "spec/vectors")]
    vectors: PathBuf,
    /// Known failures: vector ids (F<tcId>, S<sId>) one per line; `#` comments.
    #[arg(long)]
    failures: Option<PathBuf>,
    /// Run only these vectors (comma-separated ids, e.g. F1,S20).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// How long to wait for each answer of the testee.
    #[arg(long, default_value_t = 10_000)]
    answer_timeout_ms: u64,
    /// Print every vector's result, not only those that did not pass.
    #[arg(long, short)]
    verbose: bool,
    /// The testee: a program and its arguments (after `--`).
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

/// Runs a `conformance` subcommand; the exit status.
pub(crate) fn run(cmd: ConformanceCmd) -> i32 {
    match cmd {
        ConformanceCmd::Testee => testee::run(),
        ConformanceCmd::Adapter(args) => match adapter_run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("muxwire conformance: {e}");
                2
            }
        },
    }
}

fn load(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn adapter_run(args: &AdapterArgs) -> Result<i32, String> {
    let frames = load(&args.vectors.join("frames.json"))?;
    let sessions = load(&args.vectors.join("sessions.json"))?;
    let known = match &args.failures {
        Some(p) => report::parse_failure_list(
            &std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        )
        .map_err(|e| format!("{}: {e}", p.display()))?,
        None => BTreeSet::new(),
    };
    let only: BTreeSet<&str> = args.only.iter().map(String::as_str).collect();
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
    let name = testee.name.clone();
    let mut records = Vec::new();
    let mut note = |r: Record| {
        if args.verbose || r.verdict != report::Verdict::Pass {
            eprintln!(
                "{:<6} {:<15} {}  {}",
                r.id,
                r.verdict.name(),
                r.comment,
                r.reason
            );
        }
        records.push(r);
    };
    for group in frames["testGroups"].as_array().into_iter().flatten() {
        let max = group["max_frame_size"].as_u64().unwrap_or(16_384);
        for case in group["tests"].as_array().into_iter().flatten() {
            let id = format!("F{}", case["tcId"]);
            if !wanted(&id) {
                continue;
            }
            let outcome = if testee.supports_nothing {
                Outcome::Unsupported("the testee supports nothing".into())
            } else {
                frames::run(&mut testee, case, max)
            };
            let comment = case["comment"].as_str().unwrap_or("");
            note(Record::new(id, comment, outcome, &known));
        }
    }
    for session in sessions["sessions"].as_array().into_iter().flatten() {
        let id = format!("S{}", session["sId"]);
        if !wanted(&id) {
            continue;
        }
        let outcome = if testee.supports_nothing {
            Outcome::Unsupported("the testee supports nothing".into())
        } else {
            sessions::run(&mut testee, session)
        };
        let comment = session["comment"].as_str().unwrap_or("");
        note(Record::new(id, comment, outcome, &known));
    }
    testee.stop();
    if let Some(unknown) = only.iter().find(|id| !records.iter().any(|r| r.id == **id)) {
        return Err(format!("--only names {unknown}, which no vector has"));
    }
    println!("{}: {}", display_name(&name), report::summary(&records));
    if let Some(p) = &args.junit {
        std::fs::write(p, report::junit_report(&name, &records))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report::json_report(&name, &records))
            .map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(i32::from(records.iter().any(|r| r.verdict.is_unexpected())))
}

fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "testee"
    } else {
        name
    }
}
