//! `muxwire serve`: the built-in handlers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Context, Inbound, MethodInfo, Outbound, Router, Server, Status};

/// Counters behind the `count` method.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) messages: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// echo, echo.metadata, sink, delay, count, echo.stream, stats (allocations of this
/// process).
pub(crate) fn router(counters: Arc<Counters>) -> Router {
    with_reply(counters, None)
}

/// The same, with `echo` answering `canned` (if given) whatever it receives.
pub(crate) fn with_reply(counters: Arc<Counters>, canned: Option<Bytes>) -> Router {
    let (c1, c2) = (counters.clone(), counters);
    Router::new()
        .unary_sync("echo", move |_ctx: &Context, req: Bytes| {
            Ok(canned.clone().unwrap_or(req))
        })
        .unary_sync("metrics", |ctx: &Context, _req: Bytes| {
            // The server's counters (every connection's), in the Prometheus text format.
            Ok(Bytes::from(ctx.peer().stats().prometheus()))
        })
        .unary_sync("echo.metadata", |ctx: &Context, _req: Bytes| {
            // One `key=value` line per entry, in the order received (values as sent;
            // bytes that are not UTF-8 are replaced).
            let mut out = String::new();
            for (k, v) in ctx.metadata() {
                out.push_str(k);
                out.push('=');
                out.push_str(&String::from_utf8_lossy(v));
                out.push('\n');
            }
            Ok(Bytes::from(out))
        })
        .unary_sync("sink", move |_ctx: &Context, req: Bytes| {
            c1.messages.fetch_add(1, Relaxed);
            c1.bytes.fetch_add(req.len() as u64, Relaxed);
            Ok(Bytes::new())
        })
        .unary("delay", |ctx: Context, req: Bytes| async move {
            let ms: u64 = String::from_utf8_lossy(&req)
                .trim()
                .parse()
                .map_err(|_| Status::invalid_argument("delay takes a number of milliseconds"))?;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(req),
                _ = ctx.cancelled() => Err(Status::cancelled("cancelled while sleeping")),
            }
        })
        .unary_sync("count", move |_ctx: &Context, _req: Bytes| {
            let s = format!("{} {}", c2.messages.load(Relaxed), c2.bytes.load(Relaxed));
            Ok(Bytes::from(s))
        })
        .unary_sync("stats", |_ctx: &Context, _req: Bytes| {
            Ok(Bytes::from(crate::alloc::count().to_string()))
        })
        .streaming(
            "echo.stream",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                while let Some(m) = inbound.next().await {
                    outbound.send(m?).await?;
                }
                Ok(())
            },
        )
        .describe(
            "echo",
            MethodInfo::new("Answers the request (or --reply)", "bytes", "bytes"),
        )
        .describe(
            "echo.metadata",
            MethodInfo::new(
                "The request's metadata, one key=value per line",
                "any",
                "text",
            ),
        )
        .describe(
            "sink",
            MethodInfo::new("Counts messages and bytes (see count)", "bytes", "empty"),
        )
        .describe(
            "delay",
            MethodInfo::new(
                "Answers after the given time unless cancelled",
                "milliseconds as text",
                "the request",
            ),
        )
        .describe(
            "count",
            MethodInfo::new(
                "Messages and bytes sink has received",
                "empty",
                "\"MESSAGES BYTES\"",
            ),
        )
        .describe(
            "stats",
            MethodInfo::new(
                "Heap allocations by this process so far",
                "empty",
                "decimal text",
            ),
        )
        .describe(
            "metrics",
            MethodInfo::new(
                "The server's counters",
                "empty",
                "Prometheus text format 0.0.4",
            ),
        )
        .describe(
            "echo.stream",
            MethodInfo::new(
                "Sends each message back as it arrives",
                "stream of bytes",
                "stream of bytes",
            ),
        )
}

/// Arguments of `muxwire serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// tcp://host:port or unix:///path (a Unix path is taken over only from a server that
    /// is gone: never a file, never a live server's socket).
    url: String,
    /// On SIGINT or SIGTERM, how long calls in flight may take to finish before the rest
    /// are cut; a second signal stops at once.
    #[arg(long, default_value_t = 5_000)]
    grace_ms: u64,
    /// Also answer HTTP GET /metrics on this address (host:port) with the server's
    /// counters in the Prometheus text format.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<String>,
    /// Make `echo` answer this instead of the request (`@FILE` reads a file).
    #[arg(long, value_name = "DATA|@FILE")]
    reply: Option<String>,
    #[command(flatten)]
    tuning: crate::tuning::Tuning,
}

/// SIGINT and SIGTERM (the signals Ctrl-C, `kill`, systemd and docker send), watched
/// from before the server starts until it ends, so that none is missed in between.
pub(crate) struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn new() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next one's name.
    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

pub(crate) fn run(args: ServeArgs) -> i32 {
    if let Err(e) = args.url.parse::<muxwire::Endpoint>() {
        eprintln!("muxwire serve: {}", e.0);
        return crate::exit::USAGE;
    }
    let canned = match args.reply.as_deref().map(|r| match r.strip_prefix('@') {
        Some(f) => std::fs::read(f).map_err(|e| format!("cannot read {f}: {e}")),
        None => Ok(r.as_bytes().to_vec()),
    }) {
        None => None,
        Some(Ok(b)) => Some(Bytes::from(b)),
        Some(Err(e)) => {
            eprintln!("muxwire serve: --reply: {e}");
            return crate::exit::FAILED;
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut signals = match StopSignals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("muxwire serve: cannot watch for signals: {e}");
                return crate::exit::FAILED;
            }
        };
        let mut opts = match args.tuning.server_options() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("muxwire serve: {e}");
                return crate::exit::FAILED;
            }
        };
        // Operators read calls per method and their latencies (`--metrics`, `stats`).
        opts.method_metrics = true;
        let limits = format!(
            "max message {} bytes, {} calls at once per connection",
            opts.max_message_size, opts.max_concurrent_streams
        );
        let server = match Server::new(with_reply(Arc::default(), canned), opts)
            .bind(&args.url)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("muxwire serve: {e}");
                return crate::exit::FAILED;
            }
        };
        let server = Arc::new(server);
        let metrics = match &args.metrics {
            None => None,
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    let at = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    Some((crate::metrics_http::spawn(l, server.clone()), at))
                }
                Err(e) => {
                    eprintln!("muxwire serve: --metrics {addr}: {e}");
                    return crate::exit::FAILED;
                }
            },
        };
        let metrics_note = metrics
            .as_ref()
            .map(|(_, at)| format!("; metrics on http://{at}/metrics"))
            .unwrap_or_default();
        println!(
            "muxwire serving on {} (methods: echo, echo.metadata, sink, delay, count, stats, \
             metrics, echo.stream, muxwire.list, muxwire.describe; {limits}){metrics_note}; SIGINT or SIGTERM \
             drains",
            server.local_endpoint()
        );
        let first = signals.next().await;
        let grace = Duration::from_millis(args.grace_ms);
        eprintln!(
            "muxwire serve: {first}: draining (up to {} ms); a second signal stops at once",
            args.grace_ms
        );
        if let Some((task, _)) = metrics {
            task.abort();
            let _ = task.await;
        }
        let Ok(server) = Arc::try_unwrap(server) else {
            eprintln!("muxwire serve: the server is still shared; stopping without a drain");
            return crate::exit::FAILED;
        };
        tokio::select! {
            () = server.shutdown(grace) => {
                eprintln!("muxwire serve: drained");
                crate::exit::OK
            }
            second = signals.next() => {
                eprintln!("muxwire serve: {second}: stopping before the drain ended");
                crate::exit::FAILED
            }
        }
    })
}
