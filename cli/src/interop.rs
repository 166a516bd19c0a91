//! The Rust side of the interop matrix (tests/interop/README.md): a server of the interop
//! service and a client that runs the seven checks against any server of it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use muxwire::{
    CallOptions, Client, Context, Inbound, Options, Outbound, Router, Server, Status, StatusCode,
};

/// Arguments of `muxwire interop-server` and `muxwire interop-client`.
#[derive(Args)]
pub(crate) struct InteropArgs {
    /// Where to listen (server) or connect (client).
    url: String,
}

/// How long any one wait of a check may take.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Counts {
    sunk: AtomicU64,
    started: AtomicU64,
    cancelled: AtomicU64,
}

fn server_router(counts: Arc<Counts>) -> Router {
    let (c1, c2, c3, c4, c5) = (
        counts.clone(),
        counts.clone(),
        counts.clone(),
        counts.clone(),
        counts,
    );
    Router::new()
        .unary_sync("echo", |_: &Context, req: Bytes| Ok(req))
        .streaming(
            "echo.stream",
            |_: Context, mut inbound: Inbound, outbound: Outbound| async move {
                while let Some(m) = inbound.next().await {
                    outbound.send(m?).await?;
                }
                Ok(())
            },
        )
        .unary_sync("sink", move |_: &Context, _req: Bytes| {
            c1.sunk.fetch_add(1, Relaxed);
            Ok(Bytes::new())
        })
        .unary_sync("count", move |_: &Context, _req: Bytes| {
            Ok(Bytes::from(c2.sunk.load(Relaxed).to_string()))
        })
        .unary("delay", move |ctx: Context, req: Bytes| {
            let counts = c3.clone();
            async move {
                counts.started.fetch_add(1, Relaxed);
                let ms: u64 = String::from_utf8_lossy(&req)
                    .trim()
                    .parse()
                    .map_err(|_| Status::invalid_argument("delay takes milliseconds"))?;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(req),
                    _ = ctx.cancelled() => {
                        counts.cancelled.fetch_add(1, Relaxed);
                        Err(Status::cancelled("cancelled"))
                    }
                }
            }
        })
        .unary_sync("started", move |_: &Context, _req: Bytes| {
            Ok(Bytes::from(c4.started.load(Relaxed).to_string()))
        })
        .unary_sync("cancelled", move |_: &Context, _req: Bytes| {
            Ok(Bytes::from(c5.cancelled.load(Relaxed).to_string()))
        })
        .unary_sync("fail", |_: &Context, req: Bytes| {
            Err(Status::invalid_argument("interop failure").with_details(req))
        })
        .unary("callback", |ctx: Context, req: Bytes| async move {
            ctx.peer().call("client.echo", req).await
        })
}

/// `muxwire interop-server URL`: serves until SIGTERM, SIGINT or the end of stdin.
pub(crate) fn server(args: InteropArgs) -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let code = rt.block_on(async {
        let router = server_router(Arc::default());
        let server = match Server::new(router, Options::default())
            .bind(&args.url)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("interop-server: {e}");
                return crate::exit::FAILED;
            }
        };
        println!("interop server (rust) on {}", server.local_endpoint());
        // Ends when stdin closes; what it reads is discarded.
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut chunk = [0u8; 4096];
            while matches!(std::io::Read::read(&mut std::io::stdin(), &mut chunk), Ok(n) if n > 0) {
            }
        });
        let mut signals = match crate::serve::StopSignals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("interop-server: cannot watch for signals: {e}");
                return crate::exit::FAILED;
            }
        };
        tokio::select! {
            _ = signals.next() => {}
            _ = stdin_closed => {}
        }
        server.shutdown(Duration::from_secs(1)).await;
        crate::exit::OK
    });
    // The thread still blocked reading stdin must not hold the exit up.
    rt.shutdown_background();
    code
}

/// The checks, in order.
const CHECKS: [&str; 7] = [
    "unary", "notify", "stream", "callback", "cancel", "deadline", "error",
];

/// `muxwire interop-client URL`: runs the checks; 0 if all pass.
pub(crate) fn client(args: InteropArgs) -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let router = Router::new().unary_sync("client.echo", |_: &Context, b: Bytes| Ok(b));
        let client = match Client::connect_with(&args.url, Options::default(), Some(router)).await {
            Ok(c) => c,
            Err(e) => {
                println!("FAIL connect: {e}");
                return crate::exit::FAILED;
            }
        };
        let mut all = true;
        for name in CHECKS {
            let r = match tokio::time::timeout(PATIENCE, check(&client, name)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no result within {PATIENCE:?}")),
            };
            match r {
                Ok(()) => println!("PASS {name}"),
                Err(why) => {
                    all = false;
                    println!("FAIL {name}: {why}");
                }
            }
        }
        client.close().await;
        if all {
            crate::exit::OK
        } else {
            crate::exit::FAILED
        }
    })
}

/// The number a counting method replies with.
async fn number(client: &Client, method: &str) -> Result<u64, String> {
    let r = client
        .call(method, Bytes::new())
        .await
        .map_err(|e| format!("{method}: {e}"))?;
    String::from_utf8_lossy(&r)
        .trim()
        .parse()
        .map_err(|_| format!("{method} replied {r:?}"))
}

/// Polls counting `method` until it reaches `target`.
async fn until_count(client: &Client, method: &str, target: u64) -> Result<(), String> {
    loop {
        if number(client, method).await? >= target {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn check(client: &Client, name: &str) -> Result<(), String> {
    let status = |e: Status| format!("{} ({}): {}", e.code.name(), e.code.0, e.message);
    match name {
        "unary" => {
            let body: Vec<u8> = (0..1000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            let r = client
                .call("echo", Bytes::from(body.clone()))
                .await
                .map_err(status)?;
            (r[..] == body[..])
                .then_some(())
                .ok_or("the echo differs".into())
        }
        "notify" => {
            let before = number(client, "count").await?;
            for _ in 0..3 {
                client
                    .notify("sink", Bytes::from_static(b"n"))
                    .await
                    .map_err(status)?;
            }
            until_count(client, "count", before + 3).await
        }
        "stream" => {
            let (mut sink, mut stream) = client
                .open_stream("echo.stream", &CallOptions::default())
                .await
                .map_err(status)?;
            for m in ["a", "bb", "ccc"] {
                sink.send(Bytes::from(m)).await.map_err(status)?;
            }
            sink.finish().map_err(status)?;
            let mut got = Vec::new();
            while let Some(m) = stream.next().await {
                got.push(String::from_utf8_lossy(&m.map_err(status)?).to_string());
            }
            (got == ["a", "bb", "ccc"])
                .then_some(())
                .ok_or(format!("got {got:?}"))
        }
        "callback" => {
            let r = client
                .call("callback", Bytes::from_static(b"ping"))
                .await
                .map_err(status)?;
            (&r[..] == b"ping")
                .then_some(())
                .ok_or(format!("got {r:?}"))
        }
        "cancel" => {
            let (before, begun) = (
                number(client, "cancelled").await?,
                number(client, "started").await?,
            );
            let c = client.clone();
            let call =
                tokio::spawn(async move { c.call("delay", Bytes::from_static(b"30000")).await });
            // Cancel only once the handler runs (README: a call cancelled while it waits
            // for a handler thread may never run one).
            until_count(client, "started", begun + 1).await?;
            call.abort();
            let _ = call.await;
            until_count(client, "cancelled", before + 1).await
        }
        "deadline" => {
            let opts = CallOptions::timeout(Duration::from_millis(200));
            match client
                .call_with("delay", Bytes::from_static(b"30000"), &opts)
                .await
            {
                Err(e) if e.code == StatusCode::DEADLINE_EXCEEDED => Ok(()),
                Err(e) => Err(status(e)),
                Ok(_) => Err("a 30 s call ended OK within a 200 ms timeout".into()),
            }
        }
        "error" => match client.call("fail", Bytes::from_static(b"why")).await {
            Err(e)
                if e.code == StatusCode::INVALID_ARGUMENT
                    && e.message == "interop failure"
                    && e.details.as_deref() == Some(&b"why"[..]) =>
            {
                Ok(())
            }
            Err(e) => Err(format!("{} details {:?}", status(e.clone()), e.details)),
            Ok(_) => Err("fail succeeded".into()),
        },
        other => Err(format!("unknown check {other}")),
    }
}
