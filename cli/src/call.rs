//! `muxwire call` and `muxwire list`.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use muxwire::{CallOptions, Client, Status, StatusCode};

use crate::exit;

/// Where to connect and how long to wait: shared by `call` and `list`.
#[derive(Args)]
pub(crate) struct Target {
    /// tcp://host:port or unix:///path
    url: String,
    /// Give up connecting (and handshaking) after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    connect_timeout_ms: u64,
    /// An upper bound on the whole command, connecting included; also sent to the server
    /// as the call's deadline.
    #[arg(long)]
    timeout_ms: Option<u64>,
}

#[derive(Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    /// The method to call.
    method: String,
    /// The request (UTF-8); see also --file and --stdin.
    data: Option<String>,
    /// Read the request from this file.
    #[arg(long, conflicts_with_all = ["data", "stdin"])]
    file: Option<std::path::PathBuf>,
    /// Read the request from standard input.
    #[arg(long, conflicts_with = "data")]
    stdin: bool,
    /// Metadata entries, key=value.
    #[arg(short, long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Print the reply as hex.
    #[arg(long)]
    hex: bool,
}

/// Arguments of `muxwire list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    target: Target,
}

/// The exit status for a call that ended with `s` (printed on stderr).
pub(crate) fn fail(s: &Status) -> i32 {
    eprintln!("muxwire: {} ({}): {}", s.code.name(), s.code.0, s.message);
    exit::status(s.code)
}

impl Target {
    /// Checks the URL before anything runs: a malformed one is a usage error.
    fn check(&self) -> Result<(), i32> {
        self.url
            .parse::<muxwire::Endpoint>()
            .map(drop)
            .map_err(|e| {
                eprintln!("muxwire: {}", e.0);
                exit::USAGE
            })
    }

    /// Connects, then runs `then` on the client: the whole within `--timeout-ms`, the
    /// connection and its handshake within `--connect-timeout-ms`.
    async fn run<T, F>(&self, then: impl FnOnce(Client) -> F) -> Result<T, Status>
    where
        F: std::future::Future<Output = Result<T, Status>>,
    {
        let connect_within = Duration::from_millis(self.connect_timeout_ms);
        let work = async {
            let client = match tokio::time::timeout(connect_within, connect(&self.url)).await {
                Ok(c) => c?,
                Err(_) => {
                    return Err(Status::unavailable(format!(
                        "could not connect to {} within {} ms (--connect-timeout-ms)",
                        self.url, self.connect_timeout_ms
                    )))
                }
            };
            let closer = client.clone();
            let r = then(client).await;
            closer.close().await;
            r
        };
        match self.timeout_ms {
            None => work.await,
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms), work)
                .await
                .unwrap_or_else(|_| {
                    Err(Status::new(
                        StatusCode::DEADLINE_EXCEEDED,
                        format!("no answer within {ms} ms (--timeout-ms)"),
                    ))
                }),
        }
    }
}

/// A client whose connection has finished its handshake (a listener that never speaks
/// makes this wait, which the caller bounds).
async fn connect(url: &str) -> Result<Client, Status> {
    let client = Client::connect(url).await?;
    client.ping().await?;
    Ok(client)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The request: the argument, a file or stdin.
fn request(args: &CallArgs) -> Result<Vec<u8>, i32> {
    match (&args.data, &args.file, args.stdin) {
        (Some(d), _, _) => Ok(d.clone().into_bytes()),
        (_, Some(f), _) => std::fs::read(f).map_err(|e| {
            eprintln!("muxwire: cannot read {}: {e}", f.display());
            exit::FAILED
        }),
        (_, _, true) => {
            let mut v = Vec::new();
            std::io::stdin().read_to_end(&mut v).map_err(|e| {
                eprintln!("muxwire: cannot read stdin: {e}");
                exit::FAILED
            })?;
            Ok(v)
        }
        _ => Ok(Vec::new()),
    }
}

pub(crate) fn run(args: CallArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let body = match request(&args) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut opts = CallOptions {
        timeout: args.target.timeout_ms.map(Duration::from_millis),
        ..CallOptions::default()
    };
    for m in &args.meta {
        let Some((k, v)) = m.split_once('=') else {
            eprintln!("muxwire: metadata {m:?} is not key=value");
            return exit::USAGE;
        };
        opts.metadata
            .push((k.to_string(), Bytes::from(v.to_string())));
    }
    let method = args.method.clone();
    let call =
        |client: Client| async move { client.call_with(&method, Bytes::from(body), &opts).await };
    match runtime().block_on(args.target.run(call)) {
        Ok(reply) => {
            let mut out = std::io::stdout();
            if args.hex {
                let _ = writeln!(
                    out,
                    "{}",
                    reply.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
            } else {
                let _ = out.write_all(&reply);
                if !reply.ends_with(b"\n") && std::io::IsTerminal::is_terminal(&out) {
                    let _ = writeln!(out);
                }
            }
            exit::OK
        }
        Err(e) => fail(&e),
    }
}

pub(crate) fn list(args: ListArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let list = |client: Client| async move { client.list().await };
    match runtime().block_on(args.target.run(list)) {
        Ok(names) => {
            for n in names {
                println!("{n}");
            }
            exit::OK
        }
        Err(e) => fail(&e),
    }
}
