//! `muxwire call` and `muxwire list`.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use muxwire::{CallOptions, Client, Status, StatusCode};

#[derive(Args)]
pub(crate) struct CallArgs {
    /// tcp://host:port or unix:///path
    url: String,
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
    /// Give up after this many milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Metadata entries, key=value.
    #[arg(short, long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Print the reply as hex.
    #[arg(long)]
    hex: bool,
}

/// The process exit code for a failed call.
pub(crate) fn exit_code(s: &Status) -> i32 {
    match s.code {
        StatusCode::INVALID_ARGUMENT => 2,
        StatusCode::UNAVAILABLE => 3,
        StatusCode::UNIMPLEMENTED => 4,
        _ => 1,
    }
}

fn fail(s: &Status) -> i32 {
    eprintln!("muxwire: {} ({}): {}", s.code.name(), s.code.0, s.message);
    exit_code(s)
}

pub(crate) fn run(args: CallArgs) -> i32 {
    let body = match (&args.data, &args.file, args.stdin) {
        (Some(d), _, _) => d.clone().into_bytes(),
        (_, Some(f), _) => match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("muxwire: cannot read {}: {e}", f.display());
                return 2;
            }
        },
        (_, _, true) => {
            let mut v = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut v) {
                eprintln!("muxwire: cannot read stdin: {e}");
                return 2;
            }
            v
        }
        _ => Vec::new(),
    };
    let mut opts = CallOptions {
        timeout: args.timeout_ms.map(Duration::from_millis),
        ..CallOptions::default()
    };
    for m in &args.meta {
        let Some((k, v)) = m.split_once('=') else {
            eprintln!("muxwire: metadata {m:?} is not key=value");
            return 2;
        };
        opts.metadata
            .push((k.to_string(), Bytes::from(v.to_string())));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = match Client::connect(&args.url).await {
            Ok(c) => c,
            Err(e) => return fail(&e),
        };
        let r = client
            .call_with(&args.method, Bytes::from(body), &opts)
            .await;
        client.close().await;
        match r {
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
                0
            }
            Err(e) => fail(&e),
        }
    })
}

pub(crate) fn list(url: &str) -> i32 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = match Client::connect(url).await {
            Ok(c) => c,
            Err(e) => return fail(&e),
        };
        let r = client.list().await;
        client.close().await;
        match r {
            Ok(names) => {
                for n in names {
                    println!("{n}");
                }
                0
            }
            Err(e) => fail(&e),
        }
    })
}
