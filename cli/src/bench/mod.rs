//! `muxwire bench`: server and client as separate processes pinned to different cores,
//! workloads W1-W4 (DESIGN.md) over TCP and Unix sockets, on tokio's current-thread and
//! multi-thread schedulers, for muxwire and for a raw socket echo written with the same
//! runtime (the floor), all in one run.

mod mux;
mod raw;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Shorter runs (seconds instead of tens of seconds).
    #[arg(long)]
    quick: bool,
    /// tcp, unix, tls (muxwire over TLS beside the plain TCP floor), both (tcp and unix)
    /// or all three.
    #[arg(long, default_value = "all", value_parser = ["tcp", "unix", "tls", "both", "all"])]
    transport: String,
    /// The tokio scheduler both processes run: current (current-thread), multi
    /// (multi-thread, as `#[tokio::main]`, a C host or a Python host runs it) or both.
    #[arg(long, default_value = "both", value_parser = ["current", "multi", "both"])]
    runtime: String,
    /// Worker threads of the multi-thread scheduler (each process is pinned to one core).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl BenchArgs {
    /// The settings `muxwire demo` uses.
    pub(crate) fn quick() -> BenchArgs {
        BenchArgs {
            quick: true,
            transport: "both".into(),
            runtime: "multi".into(),
            workers: 1,
            json: None,
        }
    }
}

/// Which tokio scheduler a bench process runs.
#[derive(Args, Clone, Copy)]
pub(crate) struct RuntimeArgs {
    /// current or multi.
    #[arg(long, default_value = "current", value_parser = parse_flavor)]
    runtime: Flavor,
    /// Worker threads when `--runtime multi`.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// A tokio scheduler.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    /// `new_current_thread`: every task on the thread that runs `block_on`.
    Current,
    /// `new_multi_thread`: worker threads with work stealing.
    Multi,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Current => "current",
            Flavor::Multi => "multi",
        }
    }
}

fn parse_flavor(s: &str) -> Result<Flavor, String> {
    match s {
        "current" => Ok(Flavor::Current),
        "multi" => Ok(Flavor::Multi),
        _ => Err(format!("unknown runtime {s:?} (current or multi)")),
    }
}

impl RuntimeArgs {
    /// Builds the runtime this process runs its side on.
    fn build(self) -> tokio::runtime::Runtime {
        let mut b = match self.runtime {
            Flavor::Current => tokio::runtime::Builder::new_current_thread(),
            Flavor::Multi => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(self.workers.max(1));
                b
            }
        };
        b.enable_all().build().expect("runtime")
    }
}

#[derive(Args)]
pub(crate) struct ServerArgs {
    /// mux or raw.
    #[arg(long)]
    mode: String,
    #[command(flatten)]
    rt: RuntimeArgs,
    /// Pin to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    url: String,
}

#[derive(Args)]
pub(crate) struct ClientArgs {
    /// mux or raw.
    #[arg(long)]
    mode: String,
    /// W1, W2, W3, W3p, W4 or W4b.
    #[arg(long)]
    workload: String,
    #[command(flatten)]
    rt: RuntimeArgs,
    #[arg(long)]
    quick: bool,
    /// Pin to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    url: String,
}

/// Pins this process to one CPU when the machine has more than one.
fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it; sched_setaffinity
    // reads it. No memory is shared.
    #[allow(unsafe_code)]
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub(crate) fn server(args: ServerArgs) -> i32 {
    pin(args.cpu);
    let rt = args.rt.build();
    rt.block_on(async move {
        match args.mode.as_str() {
            "raw" => raw::serve(&args.url).await,
            _ => mux::serve(&args.url).await,
        }
    })
}

pub(crate) fn client(args: ClientArgs) -> i32 {
    pin(args.cpu);
    let rt = args.rt.build();
    let result = rt.block_on(async move {
        match args.mode.as_str() {
            "raw" => raw::workload(&args.workload, &args.url, args.quick).await,
            _ if args.workload == "W2x3" => {
                let urls: Vec<&str> = args.url.split(',').collect();
                mux::balanced_w2(&urls, args.quick).await
            }
            _ => mux::workload(&args.workload, &args.url, args.quick).await,
        }
    });
    match result {
        Ok(v) => {
            println!("{v}");
            0
        }
        Err(e) => {
            eprintln!("bench client: {e}");
            1
        }
    }
}

struct ServerProc(Child);

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(mode: &str, url: &str, rt: RuntimeArgs) -> Result<(ServerProc, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let workers = rt.workers.to_string();
    let mut child = Command::new(exe)
        .args(["bench-server", "--mode", mode, "--cpu", "0"])
        .args(["--runtime", rt.runtime.name(), "--workers", &workers, url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the bench server: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line.trim().to_string();
    if url.is_empty() {
        return Err("bench server did not start".into());
    }
    Ok((ServerProc(child), url))
}

fn run_client(
    mode: &str,
    workload: &str,
    url: &str,
    quick: bool,
    rt: RuntimeArgs,
) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let workers = rt.workers.to_string();
    let mut args = vec![
        "bench-client",
        "--mode",
        mode,
        "--workload",
        workload,
        "--cpu",
        "1",
        "--runtime",
        rt.runtime.name(),
        "--workers",
        &workers,
    ];
    if quick {
        args.push("--quick");
    }
    args.push(url);
    let out = Command::new(exe)
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{mode} {workload} client failed"));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bad client output: {e}"))
}

const WORKLOADS: [(&str, &str, &str, bool); 6] = [
    (
        "W1",
        "1 call in flight, 64 B echo: p50 latency (us)",
        "p50_us",
        false,
    ),
    (
        "W2",
        "128 calls in flight, 64 B echo (calls/s)",
        "calls_per_s",
        true,
    ),
    (
        "W3",
        "4 MiB echo, 1 call in flight (MB/s)",
        "mb_per_s",
        true,
    ),
    (
        "W3p",
        "4 MiB echo, 2 calls in flight (MB/s)",
        "mb_per_s",
        true,
    ),
    ("W4", "one-way 64 B messages (msgs/s)", "msgs_per_s", true),
    (
        "W4b",
        "one-way 64 B messages, notify_batch of 64 (msgs/s)",
        "msgs_per_s",
        true,
    ),
];

pub(crate) fn run(args: BenchArgs) -> i32 {
    let transports: Vec<&str> = match args.transport.as_str() {
        "tcp" => vec!["tcp"],
        "unix" => vec!["unix"],
        "tls" => vec!["tls"],
        "both" => vec!["tcp", "unix"],
        _ => vec!["tcp", "unix", "tls"],
    };
    let flavors: Vec<Flavor> = match args.runtime.as_str() {
        "current" => vec![Flavor::Current],
        "multi" => vec![Flavor::Multi],
        _ => vec![Flavor::Current, Flavor::Multi],
    };
    let mut results = serde_json::Map::new();
    for flavor in &flavors {
        let rt = RuntimeArgs {
            runtime: *flavor,
            workers: args.workers,
        };
        for t in &transports {
            for mode in ["raw", "mux"] {
                let socket = SocketFile(
                    std::env::temp_dir()
                        .join(format!("muxwire-bench-{}-{mode}.sock", std::process::id())),
                );
                let url = match (*t, mode) {
                    // The floor of TLS is the plain TCP one: what encryption costs shows
                    // against it (and against muxwire over TCP, below the table).
                    ("tcp", _) | ("tls", "raw") => "tcp://127.0.0.1:0".to_string(),
                    ("tls", _) => "tls://127.0.0.1:0".to_string(),
                    _ => format!("unix://{}", socket.0.display()),
                };
                let (server, url) = match start_server(mode, &url, rt) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                };
                for (w, _, _, _) in WORKLOADS {
                    match run_client(mode, w, &url, args.quick, rt) {
                        Ok(v) => {
                            results.insert(format!("{}/{t}/{mode}/{w}", flavor.name()), v);
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            return 1;
                        }
                    }
                }
                drop(server);
                drop(socket);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    if transports.contains(&"tcp") {
        for flavor in &flavors {
            let rt = RuntimeArgs {
                runtime: *flavor,
                workers: args.workers,
            };
            match balanced(rt, args.quick) {
                Ok(v) => {
                    results.insert(format!("{}/tcp/mux/W2x3", flavor.name()), v);
                }
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            }
        }
    }
    print_table(&results, &transports, &flavors, args.workers);
    let doc = json!({
        "machine": { "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()) },
        "quick": args.quick,
        "multi_thread_workers": args.workers,
        "results": results,
    });
    let Some(path) = &args.json else {
        return crate::exit::OK;
    };
    match std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json")) {
        Ok(()) => {
            println!("results written to {}", path.display());
            crate::exit::OK
        }
        Err(e) => {
            eprintln!("muxwire bench: cannot write {}: {e}", path.display());
            crate::exit::FAILED
        }
    }
}

/// W2 with three muxwire servers (all on the server's core) behind one `Balanced` client.
fn balanced(rt: RuntimeArgs, quick: bool) -> Result<Value, String> {
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let (s, url) = start_server("mux", "tcp://127.0.0.1:0", rt)?;
        servers.push(s);
        urls.push(url);
    }
    run_client("mux", "W2x3", &urls.join(","), quick, rt)
}

/// A Unix socket path the bench servers listen on, removed when dropped (the servers are
/// killed, so they cannot remove it themselves).
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn print_table(
    results: &serde_json::Map<String, Value>,
    transports: &[&str],
    flavors: &[Flavor],
    workers: usize,
) {
    let get = |key: String, field: &str| results.get(&key).and_then(|v| v[field].as_f64());
    println!();
    println!("| workload | transport | runtime | raw floor | muxwire | muxwire / raw |");
    println!("|---|---|---|---|---|---|");
    for (w, label, key, higher_better) in WORKLOADS {
        for t in transports {
            for flavor in flavors {
                let rt = flavor.name();
                let raw = get(format!("{rt}/{t}/raw/{w}"), key);
                let mux = get(format!("{rt}/{t}/mux/{w}"), key);
                let (Some(raw), Some(mux)) = (raw, mux) else {
                    continue;
                };
                let ratio = if higher_better { mux / raw } else { raw / mux };
                let m = &results[&format!("{rt}/{t}/mux/{w}")];
                let extra = match w {
                    "W1" => {
                        let r99 = get(format!("{rt}/{t}/raw/{w}"), "p99_us").unwrap_or(0.0);
                        let m99 = m["p99_us"].as_f64().unwrap_or(0.0);
                        format!(" (p99 raw {r99:.1} / mux {m99:.1})")
                    }
                    "W2" => match (
                        m["server_allocs_per_call"].as_f64(),
                        m["client_allocs_per_call"].as_f64(),
                        m["client_writev"].as_f64(),
                        m["calls"].as_f64(),
                    ) {
                        (Some(s), Some(c), Some(wv), Some(n)) => format!(
                            " (allocations per call: server {s:.2}, client {c:.2}; \
                             calls per client writev {:.1})",
                            n / wv.max(1.0)
                        ),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                println!(
                    "| {w} {label} | {t} | {rt} | {} | {}{extra} | {ratio:.2}x |",
                    fmt(raw),
                    fmt(mux)
                );
            }
        }
    }
    println!(
        "\n(ratios above 1.0x beat the raw floor; W1 compares latency, so raw/mux; the tls \
         rows' floor is the plain TCP one)"
    );
    if transports.contains(&"tls") && transports.contains(&"tcp") {
        for flavor in flavors {
            let rt = flavor.name();
            for (w, _, key, higher_better) in WORKLOADS {
                let tcp = get(format!("{rt}/tcp/mux/{w}"), key);
                let tls = get(format!("{rt}/tls/mux/{w}"), key);
                if let (Some(tcp), Some(tls)) = (tcp, tls) {
                    let ratio = if higher_better { tls / tcp } else { tcp / tls };
                    println!("{w} {rt}: muxwire over TLS / over plain TCP = {ratio:.2}x");
                }
            }
        }
    }
    for flavor in flavors {
        let rt = flavor.name();
        let one = get(format!("{rt}/tcp/mux/W2"), "calls_per_s");
        let three = get(format!("{rt}/tcp/mux/W2x3"), "calls_per_s");
        if let (Some(one), Some(three)) = (one, three) {
            println!(
                "W2 over tcp, {rt}: three servers behind one Balanced client (power of two \
                 choices, servers sharing one core) {} calls/s = {:.2}x one server",
                fmt(three),
                three / one
            );
        }
    }
    if flavors.len() == 2 {
        for t in transports {
            let cur = get(format!("current/{t}/mux/W2"), "calls_per_s");
            let multi = get(format!("multi/{t}/mux/W2"), "calls_per_s");
            if let (Some(c), Some(m)) = (cur, multi) {
                println!(
                    "W2 over {t}: multi-thread ({workers} worker) / current-thread = {:.2}x",
                    m / c
                );
            }
        }
    }
}

fn fmt(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

/// Percentile of sorted microsecond samples.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}
