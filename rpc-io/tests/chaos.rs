//! A seeded mix of everything at once over one real connection with small windows: unary
//! calls small and large, streams, one-way calls, deadlines, calls abandoned half way.
//! Afterwards nothing may be left in flight on either side and the connection still works.

mod common;

use std::time::Duration;

use bytes::Bytes;
use muxwire::{
    CallOptions, Client, Codec, Context, Inbound, Options, Outbound, Router, Server, Status,
};

fn router() -> Router {
    Router::new()
        .unary_sync("echo", |_ctx: &Context, req: Bytes| Ok(req))
        .unary("slow", |ctx: Context, req: Bytes| async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(u64::from(req.first().copied().unwrap_or(1) % 20))) => Ok(req),
                _ = ctx.cancelled() => Err(Status::cancelled("gave up")),
            }
        })
        .streaming("echo.stream", |_ctx: Context, mut inbound: Inbound, out: Outbound| async move {
            while let Some(m) = inbound.next().await {
                out.send(m?).await?;
            }
            Ok(())
        })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn worker(client: Client, seed: u64) {
    let mut rng = Rng(seed | 1);
    for _ in 0..60 {
        let size = match rng.next() % 4 {
            0 => 0,
            1 => (rng.next() % 200) as usize,
            2 => (rng.next() % 20_000) as usize,
            _ => (rng.next() % 300_000) as usize,
        };
        let body = Bytes::from(vec![(rng.next() % 251) as u8; size]);
        match rng.next() % 7 {
            0 | 1 => {
                let r = client.call("echo", body.clone()).await.unwrap();
                assert_eq!(r, body);
            }
            2 => {
                // Abandoned half way: the future is dropped, the call cancelled on the wire.
                let _ = tokio::time::timeout(
                    Duration::from_micros(rng.next() % 2_000),
                    client.call("echo", body),
                )
                .await;
            }
            3 => {
                let opts = CallOptions {
                    timeout: Some(Duration::from_millis(1 + rng.next() % 15)),
                    ..Default::default()
                };
                match client.call_with("slow", body, &opts).await {
                    Ok(_) => {}
                    Err(e) => assert!(matches!(e.code.0, 1 | 4), "slow call ended with {e}"),
                }
            }
            4 => {
                let _ = client.notify("echo", body).await;
            }
            5 => {
                let opts = CallOptions {
                    compression: Some(Codec::Zstd),
                    ..Default::default()
                };
                let r = client.call_with("echo", body.clone(), &opts).await.unwrap();
                assert_eq!(r, body);
            }
            _ => {
                let (mut sink, mut stream) = client
                    .open_stream("echo.stream", &CallOptions::default())
                    .await
                    .unwrap();
                let n = rng.next() % 5;
                for _ in 0..n {
                    sink.send(body.clone()).await.unwrap();
                }
                if rng.next() % 3 == 0 {
                    // Walk away from the stream without finishing it.
                    drop(stream);
                    continue;
                }
                sink.finish().unwrap();
                let mut got = 0;
                while let Some(m) = stream.next().await {
                    assert_eq!(m.unwrap(), body);
                    got += 1;
                }
                assert_eq!(got, n);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_at_once_leaves_nothing_behind() {
    let small = {
        let mut o = Options::default();
        o.initial_stream_window = 65_536;
        o.initial_connection_window = 262_144;
        o.accept_codecs = vec![Codec::Lz4, Codec::Zstd];
        o
    };
    let server = Server::new(router(), small.clone())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect_with(&server.local_endpoint().to_string(), small, None)
        .await
        .unwrap();
    let tasks: Vec<_> = (1..=8u64)
        .map(|seed| tokio::spawn(worker(client.clone(), seed * 7919)))
        .collect();
    for t in tasks {
        common::within("a worker to finish (stalled?)", t)
            .await
            .unwrap();
    }
    common::wait_until("no call left in flight on either side", || {
        server.stats().in_flight == 0 && client.stats().in_flight == 0
    })
    .await;
    let (c, sv) = (client.stats(), server.stats());
    let alive = client.call("echo", Bytes::from_static(b"alive")).await;
    server.shutdown(Duration::from_secs(1)).await;
    assert_eq!(c.in_flight, 0, "client: {c:?}");
    assert_eq!(sv.in_flight, 0, "server: {sv:?}");
    assert_eq!(alive.unwrap(), Bytes::from_static(b"alive"));
}
