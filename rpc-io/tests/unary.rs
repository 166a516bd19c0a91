//! Unary calls over real sockets (loopback and Unix sockets only; every loop is bounded):
//! both transports, many callers, calls both ways, sync handlers, compression and CRC,
//! custom transports, and the errors a caller sees before anything is sent.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{echo_router, noise, serve, unix_url, GRACE};
use muxwire::{CallOptions, Client, Context, Options, Router, Server, Status, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_over_tcp_and_unix() {
    for url in ["tcp://127.0.0.1:0".to_string(), unix_url("unary")] {
        let server = serve(&url, echo_router(), Options::default()).await;
        let client = Client::connect(&server.local_endpoint().to_string())
            .await
            .unwrap();
        let r = client
            .call("echo", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(&r[..], b"hello");
        let e = client.call("fail", Bytes::new()).await.unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (StatusCode::NOT_FOUND, "no such thing")
        );
        let e = client.call("nope", Bytes::new()).await.unwrap_err();
        assert_eq!(e.code, StatusCode::UNIMPLEMENTED);
        assert!(e.message.contains("nope"));
        assert_eq!(
            client.list().await.unwrap(),
            vec![
                "count",
                "echo",
                "fail",
                "muxwire.describe",
                "muxwire.list",
                "slow",
                "sum"
            ]
        );
        // A ping is answered (how fast is a benchmark's question, not a test's).
        client.ping().await.expect("ping answered");
        client.close().await;
        server.shutdown(GRACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_thousands_of_calls() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..64u32 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..1000u32 {
                let body = format!("{t}:{i}:{}", "p".repeat((i % 200) as usize));
                let r = c.call("echo", Bytes::from(body.clone())).await.unwrap();
                assert_eq!(&r[..], body.as_bytes());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = client.stats();
    assert_eq!(s.calls_ok, 64_000);
    // How many writes these took depends on how the threads were scheduled; that writes
    // are coalesced at all is checked where the order is fixed, in
    // `a_burst_of_calls_leaves_in_few_writes`.
    assert!(s.write_syscalls > 0);
    server.shutdown(GRACE).await;
}

/// Frames from many callers leave in few writes. On a current-thread runtime the order is
/// fixed whatever the machine's load: 64 tasks spawned together all queue their call
/// before the connection's task (woken by the first of them) runs, so each burst needs a
/// few writes, not one per call.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_of_calls_leaves_in_few_writes() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    client.call("echo", Bytes::new()).await.unwrap();
    let (bursts, per_burst) = (10, 64);
    let before = client.stats().write_syscalls;
    for round in 0..bursts {
        let tasks: Vec<_> = (0..per_burst)
            .map(|i| {
                let c = client.clone();
                let body = Bytes::from(format!("{round}:{i}"));
                tokio::spawn(async move { (c.call("echo", body.clone()).await, body) })
            })
            .collect();
        for t in tasks {
            let (r, body) = t.await.unwrap();
            assert_eq!(r.unwrap(), body);
        }
    }
    let writes = client.stats().write_syscalls - before;
    let calls = bursts * per_burst;
    assert!(
        writes <= calls / 8,
        "{writes} writes for {calls} calls in bursts of {per_burst}: writes were not coalesced"
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_both_directions_at_once() {
    // The server answers "ask" by calling the client back on the same connection.
    let router = echo_router().unary("ask", |ctx: Context, req: Bytes| async move {
        let answer = ctx.peer().call("whoami", req).await?;
        Ok(answer)
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client_router = Router::new().unary("whoami", |_ctx: Context, req: Bytes| async move {
        let mut v = b"client saw ".to_vec();
        v.extend_from_slice(&req);
        Ok(Bytes::from(v))
    });
    let client = Client::connect_with(
        &server.local_endpoint().to_string(),
        Options::default(),
        Some(client_router),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let body = Bytes::from(format!("q{i}"));
            let (a, b) = tokio::join!(c.call("ask", body.clone()), c.call("echo", body.clone()));
            assert_eq!(a.unwrap(), Bytes::from(format!("client saw q{i}")));
            assert_eq!(b.unwrap(), body);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_handlers_answer_and_see_their_context() {
    let router = Router::new().unary_sync("who", |ctx: &Context, req: Bytes| {
        let tag = ctx.get("tag").cloned().unwrap_or_default();
        if req.is_empty() {
            return Err(Status::invalid_argument("empty"));
        }
        Ok(Bytes::from(format!(
            "{}:{}",
            ctx.method(),
            String::from_utf8_lossy(&tag)
        )))
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let opts = CallOptions {
        metadata: vec![("tag".into(), Bytes::from_static(b"t1"))],
        ..CallOptions::default()
    };
    assert_eq!(
        client
            .call_with("who", Bytes::from_static(b"x"), &opts)
            .await
            .unwrap(),
        Bytes::from_static(b"who:t1")
    );
    assert_eq!(
        client.call("who", Bytes::new()).await.unwrap_err().code,
        StatusCode::INVALID_ARGUMENT
    );
    client
        .notify("who", Bytes::from_static(b"x"))
        .await
        .unwrap();
    // A one-way call whose handler fails is counted as failed, never as in flight.
    client.notify("who", Bytes::new()).await.unwrap();
    // The list call travels behind the one-way calls on the same connection: its reply
    // comes after they were handled, and the server counts before it replies.
    assert!(client.list().await.unwrap().contains(&"who".to_string()));
    let s = server.stats();
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.calls_failed[StatusCode::INVALID_ARGUMENT.0 as usize], 2);
    server.shutdown(GRACE).await;
}

/// A sync handler answers a whole request inline (no stream state): compressed requests,
/// replies larger than a frame and than the caller's window, and its counters still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_handlers_take_compressed_requests_and_send_large_replies() {
    let router = Router::new().unary_sync("grow", |_ctx: &Context, req: Bytes| {
        let n: usize = String::from_utf8_lossy(&req[..req.len().min(16)])
            .trim_end_matches('z')
            .parse()
            .map_err(|_| Status::invalid_argument("not a size"))?;
        Ok(noise(n))
    });
    let opts = {
        let mut o = Options::default();
        o.compress_with = Some(muxwire::Codec::Lz4);
        o.compress_threshold = 64;
        o.initial_stream_window = 256 * 1024;
        o
    };
    let server = serve("tcp://127.0.0.1:0", router, opts.clone()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
        .await
        .unwrap();
    for n in [0usize, 10, 70_000, 1_000_000] {
        // Padded so that it is compressed on the way (the handler reads the number).
        let mut req = n.to_string().into_bytes();
        req.resize(4096, b'z');
        // A deadline only so that a stall fails the test instead of hanging it.
        let within = CallOptions::timeout(common::PATIENCE);
        let r = client.call_with("grow", Bytes::from(req), &within).await;
        assert_eq!(r.unwrap(), noise(n));
    }
    assert!(
        client.stats().bytes_out < 4 * 4096,
        "requests were compressed"
    );
    let e = client
        .call("grow", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    let s = server.stats();
    assert_eq!((s.calls_ok, s.in_flight), (4, 0));
    assert_eq!(s.calls_failed.iter().sum::<u64>(), 1);
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_crc_are_negotiated() {
    let opts = {
        let mut o = Options::default();
        o.compress_with = Some(muxwire::Codec::Zstd);
        o.crc = true;
        o.request_crc = true;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts.clone()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
        .await
        .unwrap();
    let body = Bytes::from(vec![b'z'; 200_000]);
    let r = client.call("echo", body.clone()).await.unwrap();
    assert_eq!(r, body);
    let s = client.stats();
    assert!(
        s.bytes_out < 50_000,
        "the request was compressed: {} bytes out",
        s.bytes_out
    );
    let lz4 = CallOptions {
        compression: Some(muxwire::Codec::Lz4),
        ..CallOptions::default()
    };
    assert_eq!(
        client.call_with("echo", body.clone(), &lz4).await.unwrap(),
        body
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_messages_larger_than_a_frame_are_chunked_with_their_codec() {
    // 1 MiB of words drawn at random from a small vocabulary: both codecs shrink it a few
    // times, and it still takes several 64 KiB frames.
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut seed = 7u32;
    let mut body = Vec::with_capacity(1 << 20);
    while body.len() < 1 << 20 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        body.extend_from_slice(words[(seed >> 16) as usize % words.len()].as_bytes());
        body.push(b' ');
    }
    let body = Bytes::from(body);
    for codec in [muxwire::Codec::Zstd, muxwire::Codec::Lz4] {
        let opts = {
            let mut o = Options::default();
            o.compress_with = Some(codec);
            o
        };
        let server = serve("tcp://127.0.0.1:0", echo_router(), opts.clone()).await;
        let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
            .await
            .unwrap();
        assert_eq!(
            client.call("echo", body.clone()).await.unwrap(),
            body,
            "{codec:?}"
        );
        // The writer counts its bytes after each write completes, which can be just
        // after the reply arrived: wait for the count to show the request.
        common::wait_until("the request's bytes counted", || {
            client.stats().bytes_out > 65_536
        })
        .await;
        let out = client.stats().bytes_out;
        assert!(
            out < 900_000 && out > 65_536,
            "{codec:?}: {out} bytes: compressed, yet several frames"
        );
        server.shutdown(GRACE).await;
    }
}

/// A handler's context names its method with the router's copy of the name, not a view
/// into the received frame: a view would keep every large request's frame (message and
/// all) alive for as long as the handler runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_do_not_hold_on_to_received_frames() {
    let names = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = names.clone();
    let router = Router::new().unary("big", move |ctx: Context, req: Bytes| {
        seen.lock()
            .unwrap()
            .push((ctx.method().as_ptr() as usize, ctx.get("k").cloned()));
        async move { Ok(Bytes::from(req.len().to_string())) }
    });
    let opts = {
        let mut o = Options::default();
        o.max_frame_size = 1 << 20;
        o
    };
    let server = serve("tcp://127.0.0.1:0", router, opts.clone()).await;
    let url = server.local_endpoint().to_string();
    let client = Client::connect_with(&url, opts, None).await.unwrap();
    for i in 0..3u8 {
        let call = CallOptions {
            metadata: vec![("k".to_string(), Bytes::from(vec![i; 3]))],
            ..CallOptions::default()
        };
        let reply = client
            .call_with("big", Bytes::from(vec![i; 512 * 1024]), &call)
            .await
            .unwrap();
        assert_eq!(reply, "524288");
    }
    let names = std::mem::take(&mut *names.lock().unwrap());
    assert_eq!(names.len(), 3);
    assert!(
        names.iter().all(|(p, _)| *p == names[0].0),
        "every call's context shares one copy of the name"
    );
    for (i, (_, v)) in names.iter().enumerate() {
        assert_eq!(v.as_deref(), Some(&[i as u8; 3][..]), "metadata intact");
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_transport_plugs_in() {
    use muxwire::{Acceptor, Endpoint, Io, IoFuture, Sockets, Transport};
    /// Counts connections and listeners, delegating to the built-in sockets.
    struct Counting(Arc<AtomicUsize>);
    impl Transport for Counting {
        fn connect(&self, ep: &Endpoint) -> IoFuture<'_, Io> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let ep = ep.clone();
            Box::pin(async move { Sockets::default().connect(&ep).await })
        }
        fn listen(&self, ep: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>> {
            self.0.fetch_add(100, Ordering::SeqCst);
            let ep = ep.clone();
            Box::pin(async move { Sockets::default().listen(&ep).await })
        }
    }
    let count = Arc::new(AtomicUsize::new(0));
    let transport = Counting(count.clone());
    let server = Server::new(echo_router(), Options::default())
        .bind_via(&transport, "tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect_via(
        Arc::new(Counting(count.clone())),
        &server.local_endpoint().to_string(),
        Options::default(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        client.call("echo", Bytes::from_static(b"x")).await.unwrap(),
        Bytes::from_static(b"x")
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        101,
        "one listener, one connection"
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_refused_connections_are_clear_errors() {
    let e = Client::connect("http://localhost:1").await.err().unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    assert!(e.message.contains("tcp://host:port"));
    let e = Client::connect("tcp://127.0.0.1:1").await.err().unwrap();
    assert_eq!(e.code, StatusCode::UNAVAILABLE);
    assert!(e.message.contains("cannot connect"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_peer_would_refuse_fail_before_connecting() {
    let bad = || {
        let mut o = Options::default();
        o.initial_connection_window = 65_536;
        o
    };
    let err = Server::new(echo_router(), bad())
        .bind("tcp://127.0.0.1:0")
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code, StatusCode::INVALID_ARGUMENT, "{err}");
    assert!(
        err.message.contains("initial_connection_window = 65536"),
        "{err}"
    );
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let url = server.local_endpoint().to_string();
    for opts in [bad(), {
        let mut o = Options::default();
        o.max_frame_size = 1_000;
        o
    }] {
        let err = Client::connect_with(&url, opts, None)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.code, StatusCode::INVALID_ARGUMENT, "{err}");
    }
    server.shutdown(GRACE).await;
}
