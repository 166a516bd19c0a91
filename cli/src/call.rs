//! `muxwire call` and `muxwire list`.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use muxwire::{CallOptions, Client, Status, StatusCode};

use crate::exit;
use crate::hex::hex;

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
    /// Print every frame sent (>) and received (<) on stderr, annotated.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    tuning: crate::tuning::Tuning,
}

/// The message a verb sends: an argument, `-d`, a file or stdin.
#[derive(Args)]
pub(crate) struct Payload {
    /// The message (UTF-8); see also -d, --file and --stdin.
    data: Option<String>,
    /// The message, grpcurl style: text, `@FILE` to read a file, or `-` for stdin.
    #[arg(short = 'd', long = "data", value_name = "DATA|@FILE|-", conflicts_with_all = ["data", "file", "stdin"])]
    data_flag: Option<String>,
    /// Read the message from this file.
    #[arg(long, conflicts_with_all = ["data", "stdin"])]
    file: Option<std::path::PathBuf>,
    /// Read the message from standard input.
    #[arg(long, conflicts_with = "data")]
    stdin: bool,
}

#[derive(Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    /// The method to call.
    method: String,
    #[command(flatten)]
    payload: Payload,
    /// Metadata entries, key=value.
    #[arg(short, long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Print the reply as hex (the same as --format hex).
    #[arg(long)]
    hex: bool,
    /// How to print each outcome: the reply's bytes, hex, or a JSON object per call
    /// (status, code, message, reply as text and hex, latency).
    #[arg(long, value_enum, default_value = "raw")]
    format: Format,
    /// Make the call this many times, one after another.
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Wait this long between calls, ms.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
}

/// How `call` prints outcomes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The reply's bytes as they are.
    Raw,
    /// The reply as lower-case hex.
    Hex,
    /// One JSON object per call.
    Json,
}

/// Arguments of `muxwire notify`.
#[derive(Args)]
pub(crate) struct NotifyArgs {
    #[command(flatten)]
    target: Target,
    /// The method to notify.
    method: String,
    #[command(flatten)]
    payload: Payload,
    /// Send the message this many times.
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Wait this long between messages, ms.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
}

/// Arguments of `muxwire stream`.
#[derive(Args)]
pub(crate) struct StreamArgs {
    #[command(flatten)]
    target: Target,
    /// The streaming method to call.
    method: String,
    /// Read the messages from this file instead of stdin: one message per line.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Print replies as hex.
    #[arg(long)]
    hex: bool,
}

/// Arguments of `muxwire ping`.
#[derive(Args)]
pub(crate) struct PingArgs {
    #[command(flatten)]
    target: Target,
    /// PINGs to send.
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// Wait this long between PINGs, ms.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
}

/// Arguments of `muxwire list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    target: Target,
}

/// Arguments of `muxwire describe`.
#[derive(Args)]
pub(crate) struct DescribeArgs {
    #[command(flatten)]
    target: Target,
    /// Only this method.
    method: Option<String>,
    /// Print the server's JSON as it came.
    #[arg(long)]
    json: bool,
}

/// The exit status for a call that ended with `s` (printed on stderr).
pub(crate) fn fail(s: &Status) -> i32 {
    eprintln!("muxwire: {} ({}): {}", s.code.name(), s.code.0, s.message);
    exit::status(s.code)
}

impl Target {
    /// Checks the URL before anything runs (a malformed one is a usage error), and the
    /// TLS files it names (one that cannot be used fails the command).
    fn check(&self) -> Result<(), i32> {
        self.url
            .parse::<muxwire::Endpoint>()
            .map(drop)
            .map_err(|e| {
                eprintln!("muxwire: {}", e.0);
                exit::USAGE
            })?;
        self.tuning.client_options().map(drop).map_err(|e| {
            eprintln!("muxwire: {e}");
            exit::FAILED
        })
    }

    /// The client's options (their TLS files were checked by `check`).
    fn client_options(&self) -> Result<muxwire::Options, Status> {
        self.tuning
            .client_options()
            .map_err(Status::invalid_argument)
    }

    /// Connects, then runs `then` on the client: the whole within `--timeout-ms`, the
    /// connection and its handshake within `--connect-timeout-ms`.
    async fn run<T, F>(&self, then: impl FnOnce(Client) -> F) -> Result<T, Status>
    where
        F: std::future::Future<Output = Result<T, Status>>,
    {
        let connect_within = Duration::from_millis(self.connect_timeout_ms);
        let work = async {
            let client = match tokio::time::timeout(
                connect_within,
                connect(&self.url, self.client_options()?, self.verbose),
            )
            .await
            {
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
async fn connect(url: &str, opts: muxwire::Options, verbose: bool) -> Result<Client, Status> {
    let sockets = muxwire::Tls::new(&opts);
    let transport: std::sync::Arc<dyn muxwire::Transport> = if verbose {
        std::sync::Arc::new(crate::trace::Traced(sockets))
    } else {
        std::sync::Arc::new(sockets)
    };
    let client = Client::connect_via(transport, url, opts, None).await?;
    client.ping().await?;
    Ok(client)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A message over `limit` bytes, as an error the user can act on.
fn too_large(what: &str, size: u64, limit: u64) -> i32 {
    eprintln!(
        "muxwire: {what} is {size} bytes, over the {limit}-byte message limit \
         (--max-message-size; the server's own limit applies too)"
    );
    exit::USAGE
}

/// Reads standard input, at most `limit` bytes.
fn read_stdin(limit: u64) -> Result<Vec<u8>, i32> {
    let mut v = Vec::new();
    std::io::stdin()
        .take(limit + 1)
        .read_to_end(&mut v)
        .map_err(|e| {
            eprintln!("muxwire: cannot read stdin: {e}");
            exit::FAILED
        })?;
    if v.len() as u64 > limit {
        return Err(too_large("stdin", v.len() as u64, limit));
    }
    Ok(v)
}

/// Reads file `f`, after checking its size against `limit` (a huge file is refused
/// before a byte of it is read).
fn read_file(f: &std::path::Path, limit: u64) -> Result<Vec<u8>, i32> {
    let failed = |e: std::io::Error| {
        eprintln!("muxwire: cannot read {}: {e}", f.display());
        exit::FAILED
    };
    let size = std::fs::metadata(f).map_err(failed)?.len();
    if size > limit {
        return Err(too_large(&f.display().to_string(), size, limit));
    }
    std::fs::read(f).map_err(failed)
}

impl Payload {
    /// The message: the argument, `-d`, a file or stdin (empty if none is given), at
    /// most `limit` bytes.
    fn read(&self, limit: u64) -> Result<Vec<u8>, i32> {
        match (&self.data, &self.data_flag, &self.file, self.stdin) {
            (Some(d), _, _, _) => Ok(d.clone().into_bytes()),
            (_, Some(d), _, _) if d == "-" => read_stdin(limit),
            (_, Some(d), _, _) => match d.strip_prefix('@') {
                Some(f) => read_file(std::path::Path::new(f), limit),
                None => Ok(d.clone().into_bytes()),
            },
            (_, _, Some(f), _) => read_file(f, limit),
            (_, _, _, true) => read_stdin(limit),
            _ => Ok(Vec::new()),
        }
    }
}

pub(crate) fn run(args: CallArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let limit = u64::from(args.target.tuning.options().max_message_size);
    let body = match args.payload.read(limit) {
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
    let format = if args.hex { Format::Hex } else { args.format };
    let (method, count) = (args.method.clone(), args.count.max(1));
    let interval = Duration::from_millis(args.interval_ms);
    let body = Bytes::from(body);
    let calls = |client: Client| async move {
        let mut first_failure = None;
        for i in 0..count {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let t = std::time::Instant::now();
            let r = client.call_with(&method, body.clone(), &opts).await;
            print_outcome(format, &r, t.elapsed());
            if let Err(e) = r {
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    };
    match runtime().block_on(args.target.run(calls)) {
        Ok(()) => exit::OK,
        // In JSON every outcome is printed already; otherwise the status goes to stderr.
        Err(e) if format == Format::Json => exit::status(e.code),
        Err(e) => fail(&e),
    }
}

/// Prints one call's outcome as `format` says (a failure only in JSON: otherwise the
/// caller reports it on stderr).
fn print_outcome(format: Format, r: &Result<Bytes, Status>, took: Duration) {
    let mut out = std::io::stdout();
    match (format, r) {
        (Format::Json, r) => {
            let v = match r {
                Ok(reply) => serde_json::json!({
                    "status": "OK", "code": 0, "reply": std::str::from_utf8(reply).ok(),
                    "reply_hex": hex(reply), "latency_us": took.as_secs_f64() * 1e6,
                }),
                Err(e) => serde_json::json!({
                    "status": e.code.name(), "code": e.code.0, "message": e.message,
                    "details_hex": e.details.as_deref().map(hex),
                    "retry_safe": e.retry_safe, "latency_us": took.as_secs_f64() * 1e6,
                }),
            };
            let _ = writeln!(out, "{v}");
        }
        (_, Err(_)) => {}
        (Format::Hex, Ok(reply)) => {
            let _ = writeln!(out, "{}", hex(reply));
        }
        (Format::Raw, Ok(reply)) => {
            let _ = out.write_all(reply);
            if !reply.ends_with(b"\n") && std::io::IsTerminal::is_terminal(&out) {
                let _ = writeln!(out);
            }
        }
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

pub(crate) fn describe(args: DescribeArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let which = Bytes::from(args.method.clone().unwrap_or_default());
    let describe =
        |client: Client| async move { client.call(muxwire::DESCRIBE_METHOD, which).await };
    let reply = match runtime().block_on(args.target.run(describe)) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if args.json {
        println!("{}", String::from_utf8_lossy(&reply));
        return exit::OK;
    }
    let doc: serde_json::Value = match serde_json::from_slice(&reply) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("muxwire: the server's description is not JSON: {e}");
            return exit::FAILED;
        }
    };
    let text = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or("").to_string();
    for m in doc["methods"].as_array().into_iter().flatten() {
        println!("{} ({})", text(m, "name"), text(m, "kind"));
        if m.get("description").is_some() {
            println!("    {}", text(m, "description"));
            println!(
                "    request: {}; reply: {}",
                text(m, "request"),
                text(m, "reply")
            );
        }
    }
    exit::OK
}

pub(crate) fn notify(args: NotifyArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let limit = u64::from(args.target.tuning.options().max_message_size);
    let body = match args.payload.read(limit) {
        Ok(b) => Bytes::from(b),
        Err(code) => return code,
    };
    let (method, count) = (args.method.clone(), args.count);
    let interval = Duration::from_millis(args.interval_ms);
    let send = |client: Client| async move {
        for i in 0..count {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            // Confirmed: a message the connection could not send is reported, not lost.
            client.notify_confirmed(&method, body.clone()).await?;
        }
        Ok(())
    };
    match runtime().block_on(args.target.run(send)) {
        Ok(()) => exit::OK,
        Err(e) => fail(&e),
    }
}

pub(crate) fn ping(args: PingArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let (count, url) = (args.count, args.target.url.clone());
    let interval = Duration::from_millis(args.interval_ms);
    let pings = |client: Client| async move {
        for i in 0..count {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let rtt = client.ping().await?;
            println!("PING {url}: {:.1} us", rtt.as_secs_f64() * 1e6);
        }
        Ok(())
    };
    match runtime().block_on(args.target.run(pings)) {
        Ok(()) => exit::OK,
        Err(e) => fail(&e),
    }
}

pub(crate) fn stream(args: StreamArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let input = match &args.file {
        Some(f) => match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("muxwire: cannot read {}: {e}", f.display());
                return exit::FAILED;
            }
        },
        None => match read_stdin(u64::MAX - 1) {
            Ok(b) => b,
            Err(code) => return code,
        },
    };
    let messages: Vec<Bytes> = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(Bytes::copy_from_slice)
        .collect();
    let (method, as_hex, timeout) = (args.method.clone(), args.hex, args.target.timeout_ms);
    let run = |client: Client| async move {
        let opts = CallOptions {
            timeout: timeout.map(Duration::from_millis),
            ..CallOptions::default()
        };
        let (mut sink, mut replies) = client.open_stream(&method, &opts).await?;
        // Send and receive at once: a server that answers as it reads must not wait for
        // us to finish sending.
        let send = async move {
            for m in messages {
                sink.send(m).await?;
            }
            sink.finish()
        };
        let print = async move {
            let mut out = std::io::stdout();
            while let Some(m) = replies.next().await {
                let m = m?;
                if as_hex {
                    let _ = writeln!(out, "{}", hex(&m));
                } else {
                    let _ = out.write_all(&m);
                    let _ = writeln!(out);
                }
            }
            Ok::<(), Status>(())
        };
        let (sent, printed) = tokio::join!(send, print);
        printed?;
        sent
    };
    match runtime().block_on(args.target.run(run)) {
        Ok(()) => exit::OK,
        Err(e) => fail(&e),
    }
}

pub(crate) fn stats(args: ListArgs) -> i32 {
    if let Err(code) = args.target.check() {
        return code;
    }
    let get = |client: Client| async move { client.call("metrics", Bytes::new()).await };
    match runtime().block_on(args.target.run(get)) {
        Ok(text) => {
            let _ = std::io::stdout().write_all(&text);
            exit::OK
        }
        Err(e) => fail(&e),
    }
}
