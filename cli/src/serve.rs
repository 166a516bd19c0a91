//! `muxwire serve`: the built-in handlers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Context, Inbound, Options, Outbound, Router, Server, Status};

/// Counters behind the `count` method.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) messages: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// echo, sink, delay, count, echo.stream, stats (allocations of this process).
pub(crate) fn router(counters: Arc<Counters>) -> Router {
    let (c1, c2) = (counters.clone(), counters);
    Router::new()
        .unary_sync("echo", |_ctx: &Context, req: Bytes| Ok(req))
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
}

pub(crate) fn run(url: &str) -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = match Server::new(router(Arc::default()), Options::default()).bind(url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("muxwire serve: {e}");
                return crate::call::exit_code(&e);
            }
        };
        println!("muxwire serving on {} (methods: echo, sink, delay, count, stats, echo.stream, muxwire.list); Ctrl-C stops", server.local_endpoint());
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("draining...");
        server.shutdown(Duration::from_secs(5)).await;
        0
    })
}
