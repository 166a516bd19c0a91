//! `muxwire`: serve, call, list, decode and benchmark muxwire endpoints, and test other
//! implementations for conformance.
//!
//! Exit statuses (see `exit.rs`): 0 success; 1 the command failed for a reason of its own
//! (a file, a listen address, a forced stop); 2 bad usage; 3 `decode` input that is not
//! valid muxwire; 64 + the status code when a call ends with a status (68
//! DEADLINE_EXCEEDED, 76 UNIMPLEMENTED, 78 UNAVAILABLE, ...). `conformance` exits 1 on
//! unexpected results and 2 when it cannot run.

mod alloc;
mod bench;
mod call;
mod conformance;
mod decode;
mod demo;
mod exit;
mod hex;
mod interop;
mod load;
mod metrics_http;
mod serve;
mod trace;
mod tuning;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "muxwire",
    version,
    about = "muxwire: multiplexed binary RPC",
    after_help = "Logging: MUXWIRE_LOG (or RUST_LOG) sets what goes to stderr, e.g. \
                  MUXWIRE_LOG=info or MUXWIRE_LOG=muxwire=debug; warnings by default.\n\
                  Exit statuses: 0 ok, 1 failed, 2 bad usage, 3 invalid decode input, \
                  64 + status code when a call ends with a status."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the built-in handlers (echo, sink, delay, count, stats, echo.stream) on URL;
    /// SIGINT or SIGTERM drains, a second one stops at once.
    Serve(serve::ServeArgs),
    /// Call METHOD on URL and print the reply (or the status).
    Call(call::CallArgs),
    /// List the methods URL serves.
    List(call::ListArgs),
    /// Describe the methods URL serves (kind, what they do, request and reply types).
    Describe(call::DescribeArgs),
    /// Send one-way messages to METHOD on URL (each confirmed as sent).
    Notify(call::NotifyArgs),
    /// Measure round trips to URL with PING.
    Ping(call::PingArgs),
    /// A streaming call: each line of stdin (or --file) is a message; replies are printed
    /// one per line.
    Stream(call::StreamArgs),
    /// Print the counters of a `muxwire serve` at URL (its `metrics` method), in the
    /// Prometheus text format.
    Stats(call::ListArgs),
    /// Load URL with concurrent calls to METHOD and report latency and throughput.
    Load(load::LoadArgs),
    /// Decode frames (hex arguments, or binary/hex from --file or stdin) and annotate them.
    Decode(decode::DecodeArgs),
    /// Run the benchmark: muxwire and a raw socket floor, W1-W4, TCP and Unix sockets.
    Bench(bench::BenchArgs),
    /// Start a server, make calls of every kind, run a short benchmark.
    Demo,
    /// Test an implementation against the spec's vectors (spec/CONFORMANCE.md).
    #[command(subcommand)]
    Conformance(conformance::ConformanceCmd),
    #[command(hide = true)]
    InteropServer(interop::InteropArgs),
    #[command(hide = true)]
    InteropClient(interop::InteropArgs),
    #[command(hide = true)]
    BenchServer(bench::ServerArgs),
    #[command(hide = true)]
    BenchClient(bench::ClientArgs),
}

fn main() {
    // MUXWIRE_LOG, else RUST_LOG, picks what is logged (e.g. `info`, `muxwire=debug`);
    // warnings and errors by default. Colour only on a terminal.
    let filter = ["MUXWIRE_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Serve(args) => serve::run(args),
        Cmd::Call(args) => call::run(args),
        Cmd::List(args) => call::list(args),
        Cmd::Describe(args) => call::describe(args),
        Cmd::Notify(args) => call::notify(args),
        Cmd::Ping(args) => call::ping(args),
        Cmd::Load(args) => load::run(args),
        Cmd::Stream(args) => call::stream(args),
        Cmd::Stats(args) => call::stats(args),
        Cmd::Decode(args) => decode::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Demo => demo::run(),
        Cmd::Conformance(cmd) => conformance::run(cmd),
        Cmd::InteropServer(args) => interop::server(args),
        Cmd::InteropClient(args) => interop::client(args),
        Cmd::BenchServer(args) => bench::server(args),
        Cmd::BenchClient(args) => bench::client(args),
    };
    std::process::exit(code);
}
