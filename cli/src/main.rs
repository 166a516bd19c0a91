//! `muxwire`: serve, call, list, decode and benchmark muxwire endpoints.
//!
//! Exit codes: 0 success; 1 the call failed with a status (printed on stderr); 2 bad usage
//! or a bad URL; 3 the endpoint is unreachable (UNAVAILABLE); 4 unknown method
//! (UNIMPLEMENTED); 5 the input to `decode` is not valid muxwire.

mod alloc;
mod bench;
mod call;
mod conformance;
mod decode;
mod demo;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "muxwire", version, about = "muxwire: multiplexed binary RPC")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the built-in handlers (echo, sink, delay, count, echo.stream) on URL.
    Serve {
        /// tcp://host:port or unix:///path
        url: String,
    },
    /// Call METHOD on URL and print the reply (or the status).
    Call(call::CallArgs),
    /// List the methods URL serves.
    List {
        /// tcp://host:port or unix:///path
        url: String,
    },
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
    BenchServer(bench::ServerArgs),
    #[command(hide = true)]
    BenchClient(bench::ClientArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MUXWIRE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Serve { url } => serve::run(&url),
        Cmd::Call(args) => call::run(args),
        Cmd::List { url } => call::list(&url),
        Cmd::Decode(args) => decode::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Demo => demo::run(),
        Cmd::Conformance(cmd) => conformance::run(cmd),
        Cmd::BenchServer(args) => bench::server(args),
        Cmd::BenchClient(args) => bench::client(args),
    };
    std::process::exit(code);
}
