//! Handlers that panic. Their panics would count in the panic hook another test installs
//! to prove the runtime itself never panics, so they run in their own test binary.

use std::time::Duration;

use bytes::Bytes;
use muxwire::{
    CallOptions, Client, Context, Inbound, Options, Outbound, Router, Server, StatusCode,
};

fn unix_url(name: &str) -> String {
    format!(
        "unix:///tmp/muxwire-test-{}-{name}.sock",
        std::process::id()
    )
}

/// A handler that panics (sync, async on its first poll or later, streaming, one-way)
/// fails only its own call, with INTERNAL; the connection and its other calls go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_only_its_own_call() {
    fn bug() -> bool {
        // Keeps the compiler from seeing the handlers below as never returning.
        std::hint::black_box(true)
    }
    let router = Router::new()
        .unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
        .unary_sync("sync", |_ctx: &Context, req: Bytes| {
            if bug() {
                panic!("sync handler bug");
            }
            Ok(req)
        })
        .unary("first-poll", |_ctx: Context, req: Bytes| async move {
            if bug() {
                panic!("async handler bug before any await");
            }
            Ok(req)
        })
        .unary("later", |_ctx: Context, req: Bytes| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if bug() {
                panic!("async handler bug after an await");
            }
            Ok(req)
        })
        .streaming(
            "stream",
            |_ctx: Context, mut inbound: Inbound, _outbound: Outbound| async move {
                let _ = inbound.next().await;
                if bug() {
                    panic!("streaming handler bug");
                }
                Ok(())
            },
        );
    for url in ["tcp://127.0.0.1:0".to_string(), unix_url("handler-panics")] {
        let server = Server::new(router.clone(), Options::default())
            .bind(&url)
            .await
            .unwrap();
        let client = Client::connect(&server.local_endpoint().to_string())
            .await
            .unwrap();
        // Calls in flight on the same connection while handlers panic.
        let slow = {
            let c = client.clone();
            tokio::spawn(async move { c.call("later", Bytes::from_static(b"x")).await })
        };
        let echoes: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.call("echo", Bytes::from(vec![i; 10])).await })
            })
            .collect();
        for method in ["sync", "first-poll"] {
            let e = client.call(method, Bytes::new()).await.unwrap_err();
            assert_eq!(e.code, StatusCode::INTERNAL, "{method}: {e}");
            assert!(e.message.contains("panicked"), "{method}: {e}");
            assert!(
                !e.message.contains("bug"),
                "the panic's text stays on the server"
            );
        }
        let e = slow.await.unwrap().unwrap_err();
        assert_eq!(e.code, StatusCode::INTERNAL, "{e}");
        let (mut sink, mut stream) = client
            .open_stream("stream", &CallOptions::default())
            .await
            .unwrap();
        sink.send(Bytes::from_static(b"one")).await.unwrap();
        let mut ended = None;
        while let Some(m) = stream.next().await {
            if let Err(e) = m {
                ended = Some(e);
                break;
            }
        }
        assert_eq!(ended.map(|e| e.code), Some(StatusCode::INTERNAL));
        // One-way calls to panicking handlers vanish as one-way calls do.
        for method in ["sync", "first-poll", "later"] {
            client.notify(method, Bytes::new()).await.unwrap();
        }
        for (i, t) in echoes.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), vec![i as u8; 10]);
        }
        assert_eq!(
            client
                .call("echo", Bytes::from_static(b"still"))
                .await
                .unwrap(),
            "still"
        );
        let stats = client.stats();
        assert_eq!(
            (stats.connections, stats.reconnects),
            (1, 0),
            "one connection all along"
        );
        let failed = server.stats().calls_failed[StatusCode::INTERNAL.0 as usize];
        assert!(failed >= 4, "the server counts the failed calls: {failed}");
        server.shutdown(Duration::from_secs(1)).await;
    }
}
