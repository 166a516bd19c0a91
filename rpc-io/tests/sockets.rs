//! The runtime over real sockets (loopback and Unix sockets only; every loop is bounded).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{
    CallOptions, Client, Codec, Context, Inbound, Options, Outbound, Router, Running, Server,
    Status, StatusCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn echo_router() -> Router {
    Router::new()
        .unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
        .unary("fail", |_ctx: Context, _req: Bytes| async move {
            Err(Status::new(StatusCode::NOT_FOUND, "no such thing"))
        })
        .unary("slow", |ctx: Context, _req: Bytes| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Bytes::from(ctx.method().to_string()))
        })
        .streaming(
            "sum",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                let mut total = 0u64;
                while let Some(m) = inbound.next().await {
                    total += m?.len() as u64;
                }
                outbound.send(Bytes::from(total.to_string())).await?;
                Ok(())
            },
        )
        .streaming(
            "count",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                let n: usize = match inbound.next().await {
                    Some(Ok(m)) => String::from_utf8_lossy(&m).parse().unwrap_or(0),
                    _ => 0,
                };
                for i in 0..n {
                    outbound.send(Bytes::from(vec![b'x'; i])).await?;
                }
                Ok(())
            },
        )
}

async fn serve(url: &str, router: Router, opts: Options) -> Running {
    Server::new(router, opts).bind(url).await.expect("bind")
}

fn unix_url(name: &str) -> String {
    format!(
        "unix:///tmp/muxwire-test-{}-{name}.sock",
        std::process::id()
    )
}

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
            vec!["count", "echo", "fail", "muxwire.list", "slow", "sum"]
        );
        assert!(client.ping().await.unwrap() < Duration::from_secs(1));
        client.close().await;
        server.shutdown(Duration::from_secs(1)).await;
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
    assert!(
        s.write_syscalls < 64_000,
        "writes were coalesced: {} syscalls",
        s.write_syscalls
    );
    server.shutdown(Duration::from_secs(1)).await;
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
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_both_ways_and_large_messages() {
    let server = serve(&unix_url("stream"), echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // Client streaming: 100 messages, some larger than a frame (chunked).
    let (mut sink, mut stream) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    let mut expect = 0u64;
    for i in 0..100usize {
        let n = if i % 10 == 0 { 200_000 } else { i };
        expect += n as u64;
        sink.send(Bytes::from(vec![7u8; n])).await.unwrap();
    }
    sink.finish().unwrap();
    let total = stream.next().await.unwrap().unwrap();
    assert_eq!(total, Bytes::from(expect.to_string()));
    assert!(stream.next().await.is_none());
    // Server streaming.
    let (mut sink, mut stream) = client
        .open_stream("count", &CallOptions::default())
        .await
        .unwrap();
    sink.send(Bytes::from_static(b"50")).await.unwrap();
    sink.finish().unwrap();
    for i in 0..50 {
        assert_eq!(stream.next().await.unwrap().unwrap().len(), i);
    }
    assert!(stream.next().await.is_none());
    // A 3 MiB unary echo crosses many frames and window updates.
    let big = Bytes::from(
        (0..3 * 1024 * 1024)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_cancels_the_handler() {
    let seen = Arc::new(AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let (s2, st2) = (seen.clone(), started.clone());
    let router = Router::new().unary("wait", move |ctx: Context, _req: Bytes| {
        let (seen, started) = (s2.clone(), st2.clone());
        async move {
            started.notify_one();
            tokio::select! {
                _ = ctx.cancelled() => seen.store(true, Ordering::SeqCst),
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            Err(Status::cancelled("gave up"))
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let c = client.clone();
    let call = tokio::spawn(async move { c.call("wait", Bytes::new()).await });
    started.notified().await;
    call.abort();
    for _ in 0..200 {
        if seen.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen.load(Ordering::SeqCst),
        "the handler never saw the cancel"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_expires_on_the_server() {
    let saw = Arc::new(AtomicBool::new(false));
    let s2 = saw.clone();
    let router = Router::new().unary("sleepy", move |ctx: Context, _req: Bytes| {
        let saw = s2.clone();
        async move {
            assert!(ctx.remaining().unwrap() <= Duration::from_millis(100));
            ctx.cancelled().await;
            saw.store(true, Ordering::SeqCst);
            Ok(Bytes::new())
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let e = client
        .call_with(
            "sleepy",
            Bytes::new(),
            &CallOptions::timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::DEADLINE_EXCEEDED);
    for _ in 0..100 {
        if saw.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        saw.load(Ordering::SeqCst),
        "the server's deadline did not cancel the handler"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

/// Runs a server on its own runtime thread so that the test can kill it abruptly.
fn server_thread(
    url: String,
) -> (
    std::sync::mpsc::Receiver<String>,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (kill, killed) = tokio::sync::oneshot::channel::<()>();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let s = serve(&url, echo_router(), Options::default()).await;
            tx.send(s.local_endpoint().to_string()).unwrap();
            let _ = killed.await;
            std::mem::forget(s); // no graceful shutdown: the runtime dies with the sockets
        });
        // Dropping the runtime here cancels every task and closes every socket.
    });
    (rx, kill, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_pending_calls_and_the_client_reconnects() {
    let (rx, kill, t) = server_thread("tcp://127.0.0.1:0".into());
    let url = rx.recv().unwrap();
    let opts = {
        let mut o = Options::default();
        o.reconnect_base = Duration::from_millis(20);
        o.reconnect_max = Duration::from_millis(100);
        o
    };
    let client = Client::connect_with(&url, opts, None).await.unwrap();
    assert!(client.call("echo", Bytes::from_static(b"a")).await.is_ok());
    let pending: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call("slow", Bytes::new()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let killed_at = std::time::Instant::now();
    kill.send(()).unwrap();
    t.join().unwrap();
    for p in pending {
        let e = p.await.unwrap().unwrap_err();
        assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");
    }
    assert!(
        killed_at.elapsed() < Duration::from_secs(2),
        "pending calls failed promptly"
    );
    // The server comes back on the same address; the client reconnects by itself.
    let (rx, kill, t) = server_thread(url.clone());
    assert_eq!(rx.recv().unwrap(), url);
    let mut ok = false;
    for _ in 0..100 {
        if client.call("echo", Bytes::from_static(b"b")).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "client did not reconnect");
    assert!(client.stats().reconnects >= 1);
    kill.send(()).unwrap();
    t.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_get_resource_exhausted_naming_the_limit() {
    let opts = {
        let mut o = Options::default();
        o.max_message_size = 1 << 20;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // The client learned the limit from HELLO and refuses locally...
    let e = client
        .call("echo", Bytes::from(vec![0u8; (1 << 20) + 1]))
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("max_message_size"), "{e}");
    // ...and a streamed message growing past it is stopped by the server.
    let (mut sink, mut stream) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    sink.send(Bytes::from(vec![1u8; (1 << 20) + 5000]))
        .await
        .unwrap();
    sink.finish().unwrap();
    let e = loop {
        match stream.next().await {
            Some(Err(e)) => break e,
            Some(Ok(_)) => continue,
            None => panic!("no error"),
        }
    };
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("max_message_size 1048576"), "{e}");
    assert_eq!(
        client
            .call("echo", Bytes::from_static(b"still fine"))
            .await
            .unwrap(),
        Bytes::from_static(b"still fine")
    );
    server.shutdown(Duration::from_secs(1)).await;
}

/// Reads whatever the server sends until it closes; returns the GOAWAY code, if any.
async fn read_goaway(sock: &mut tokio::net::TcpStream) -> Option<u32> {
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut all)).await;
    let mut b = all.get(8..)?;
    let mut code = None;
    while let Ok(muxwire_core::wire::Decoded::Frame { frame, len }) =
        muxwire_core::wire::decode(b, 1 << 24)
    {
        if frame.ty() == muxwire_core::wire::FrameType::GOAWAY {
            code = Some(frame.arg());
        }
        b = &b[len..];
    }
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_stalled_frames_end_only_their_connection() {
    let opts = {
        let mut o = Options::default();
        o.frame_timeout = Duration::from_millis(300);
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts).await;
    let url = server.local_endpoint().to_string();
    let client = Client::connect(&url).await.unwrap();
    let addr = url.trim_start_matches("tcp://").to_string();
    let busy = {
        let c = client.clone();
        tokio::spawn(async move {
            for i in 0..2000u32 {
                let b = Bytes::from(i.to_string());
                assert_eq!(c.call("echo", b.clone()).await.unwrap(), b);
            }
        })
    };
    // Garbage instead of a preface.
    let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_goaway(&mut g).await, Some(9), "HANDSHAKE_ERROR");
    // A valid handshake, then a frame of reserved type.
    let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut hello = vec![0u8; 64];
    let n = muxwire_core::wire::Settings::INITIAL
        .encode_hello(&mut hello, None, muxwire_core::wire::Flags::NONE)
        .unwrap();
    g.write_all(&muxwire_core::wire::PREFACE).await.unwrap();
    g.write_all(&hello[..n]).await.unwrap();
    g.write_all(&[0u8; 16]).await.unwrap();
    assert_eq!(read_goaway(&mut g).await, Some(1), "PROTOCOL_ERROR");
    // A valid handshake, then half a frame that never completes.
    let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
    g.write_all(&muxwire_core::wire::PREFACE).await.unwrap();
    g.write_all(&hello[..n]).await.unwrap();
    g.write_all(&[40, 0, 0, 0, 3, 2, 0, 0, 1]).await.unwrap();
    assert_eq!(read_goaway(&mut g).await, Some(12), "TIMEOUT");
    busy.await.unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_calls_in_flight_loses_none() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (c, d) = (client.clone(), done.clone());
            tokio::spawn(async move {
                let r = c.call("slow", Bytes::new()).await;
                d.fetch_add(1, Ordering::SeqCst);
                r
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown(Duration::from_secs(5)).await;
    let mut ok = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(e.retry_safe, "lost a call: {e}"),
        }
    }
    assert_eq!(ok, 50, "every call in flight completed");
    // After shutdown, new calls fail with a retry-safe status.
    let e = client.call("echo", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::UNAVAILABLE);
    assert!(e.retry_safe, "{e:?}");
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
    server.shutdown(Duration::from_secs(1)).await;
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
async fn credit_keeps_flowing_far_beyond_the_windows() {
    // Small windows on both sides: megabytes of requests and replies must cycle credit.
    let small = {
        let mut o = Options::default();
        o.initial_stream_window = 65_536;
        o.initial_connection_window = 262_144;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), small.clone()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), small, None)
        .await
        .unwrap();
    let body = Bytes::from(vec![3u8; 1024]);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (c, b) = (client.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..500 {
                assert_eq!(c.call("echo", b.clone()).await.unwrap().len(), 1024);
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("stalled")
            .unwrap();
    }
    for _ in 0..10 {
        client.notify("echo", body.clone()).await.unwrap();
    }
    let big = Bytes::from(vec![1u8; 2 << 20]);
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    server.shutdown(Duration::from_secs(1)).await;
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
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_pushes_back_on_the_sender() {
    // The handler never reads: the peer's window fills, then the sink's queue budget, then
    // `send` waits instead of buffering without bound.
    let router = Router::new().streaming(
        "stall",
        |ctx: Context, _inbound: Inbound, _out: Outbound| async move {
            ctx.cancelled().await;
            Ok(())
        },
    );
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let (mut sink, stream) = client
        .open_stream("stall", &CallOptions::default())
        .await
        .unwrap();
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    let mut accepted = 0usize;
    while let Ok(r) =
        tokio::time::timeout(Duration::from_millis(300), sink.send(chunk.clone())).await
    {
        r.unwrap();
        accepted += chunk.len();
        assert!(
            accepted < 8 << 20,
            "send never pushed back ({accepted} bytes queued)"
        );
    }
    assert!(
        accepted >= 1 << 20,
        "the window itself was usable: {accepted}"
    );
    drop(stream);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_reader_pushes_back_on_the_handler() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let router = Router::new().streaming(
        "flood",
        move |_ctx: Context, _inbound: Inbound, out: Outbound| {
            let sent = s2.clone();
            async move {
                for _ in 0..400 {
                    out.send(Bytes::from(vec![1u8; 64 * 1024])).await?;
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }
        },
    );
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let (sink, mut stream) = client
        .open_stream("flood", &CallOptions::default())
        .await
        .unwrap();
    sink.finish().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = sent.load(Ordering::SeqCst);
    assert!(
        early < 200,
        "the handler was not held back by a reader that reads nothing ({early} x 64 KiB sent)"
    );
    let mut got = 0;
    while let Some(m) = stream.next().await {
        assert_eq!(m.unwrap().len(), 64 * 1024);
        got += 1;
    }
    assert_eq!(got, 400);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_ready_waits_for_the_server_and_reports_states() {
    use muxwire::ConnState;
    let path = unix_url("ready");
    let opts = {
        let mut o = Options::default();
        o.wait_for_ready = true;
        o.reconnect_base = Duration::from_millis(10);
        o.reconnect_max = Duration::from_millis(50);
        o
    };
    // No server yet: connecting succeeds (in the background), calls wait.
    let client = Client::connect_with(&path, opts, None).await.unwrap();
    let mut state = client.state();
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.call_with(
            "echo",
            Bytes::from_static(b"late"),
            &CallOptions::timeout(Duration::from_secs(5)),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!call.is_finished(), "the call waited for a connection");
    assert_eq!(state.get(), ConnState::TransientFailure);
    let server = serve(&path, echo_router(), Options::default()).await;
    assert_eq!(call.await.unwrap().unwrap(), Bytes::from_static(b"late"));
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| s == ConnState::Ready),
    )
    .await
    .unwrap()
    .unwrap();
    // Without wait_for_ready, a call while disconnected fails at once, as retry-safe.
    server.shutdown(Duration::from_secs(1)).await;
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| s == ConnState::TransientFailure),
    )
    .await
    .unwrap()
    .unwrap();
    let fail_fast = Client::connect_with(&path, Options::default(), None).await;
    assert_eq!(fail_fast.err().unwrap().code, StatusCode::UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_spreads_calls_over_its_connections() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let opts = {
        let mut o = Options::default();
        o.pool_size = 3;
        o
    };
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
        .await
        .unwrap();
    for _ in 0..100 {
        if server.stats().connections == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats().connections, 3);
    for i in 0..30u32 {
        let b = Bytes::from(i.to_string());
        assert_eq!(client.call("echo", b.clone()).await.unwrap(), b);
    }
    assert_eq!(client.stats().calls_ok, 30);
    server.shutdown(Duration::from_secs(1)).await;
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
    assert!(client.list().await.unwrap().contains(&"who".to_string()));
    let s = server.stats();
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.calls_failed[StatusCode::INVALID_ARGUMENT.0 as usize], 2);
    server.shutdown(Duration::from_secs(1)).await;
}

/// `n` bytes that do not compress.
fn noise(n: usize) -> Bytes {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
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
        let within = CallOptions::timeout(Duration::from_secs(10));
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
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_client_closes_its_connections() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let opts = {
        let mut o = Options::default();
        o.pool_size = 2;
        o
    };
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
        .await
        .unwrap();
    client.call("echo", Bytes::new()).await.unwrap();
    for _ in 0..100 {
        if server.open_connections() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.open_connections(), 2);
    drop(client);
    for _ in 0..200 {
        if server.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        server.open_connections(),
        0,
        "a dropped client left connections open"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_on_a_call_waiting_for_the_stream_limit_are_kept() {
    let opts = {
        let mut o = Options::default();
        o.max_concurrent_streams = 1;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // The first stream holds the only slot; the second waits in the client.
    let (mut s1, mut r1) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    let (mut s2, mut r2) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    s2.send(Bytes::from_static(b"abc")).await.unwrap();
    s2.send(Bytes::from_static(b"de")).await.unwrap();
    s2.finish().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s1.send(Bytes::from_static(b"x")).await.unwrap();
    s1.finish().unwrap();
    assert_eq!(r1.next().await.unwrap().unwrap(), Bytes::from_static(b"1"));
    let second = tokio::time::timeout(Duration::from_secs(5), r2.next())
        .await
        .expect("messages of the waiting call were lost");
    assert_eq!(second.unwrap().unwrap(), Bytes::from_static(b"5"));
    server.shutdown(Duration::from_secs(1)).await;
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
        let out = client.stats().bytes_out;
        assert!(
            out < 900_000 && out > 65_536,
            "{codec:?}: {out} bytes: compressed, yet several frames"
        );
        server.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_callers_limit_still_ends_the_call() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let small = {
        let mut o = Options::default();
        o.max_message_size = 1000;
        o
    };
    let client = Client::connect_with(&server.local_endpoint().to_string(), small, None)
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client.call("echo", Bytes::from(vec![1u8; 2000])),
    )
    .await
    .expect("the call never ended");
    let e = r.unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED, "{e}");
    // Large replies (chunked) over the limit end too.
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        client.call("echo", Bytes::from(vec![1u8; 300_000])),
    )
    .await
    .expect("the chunked call never ended");
    assert_eq!(r.unwrap_err().code, StatusCode::RESOURCE_EXHAUSTED);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_before_its_request_arrived_is_answered() {
    // Small windows make a 1 MiB request cross slowly; the caller gives up half way.
    let small = {
        let mut o = Options::default();
        o.initial_stream_window = 65_536;
        o.initial_connection_window = 262_144;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), small.clone()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), small, None)
        .await
        .unwrap();
    for _ in 0..20 {
        let call = client.call("echo", Bytes::from(vec![0u8; 1 << 20]));
        let _ = tokio::time::timeout(Duration::from_micros(300), call).await;
    }
    // Every cancelled call ended on the server too (no handler was left waiting).
    for _ in 0..200 {
        if server.stats().in_flight == 0 && client.stats().in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        server.stats().in_flight,
        0,
        "server calls left open: {:?}",
        server.stats()
    );
    assert_eq!(
        client
            .call("echo", Bytes::from_static(b"ok"))
            .await
            .unwrap(),
        Bytes::from_static(b"ok")
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_messages_arrive_whole_or_fail_clearly() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let router = Router::new().unary("len", move |_ctx: Context, req: Bytes| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(req.len());
            Ok(Bytes::new())
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // Fits one frame: arrives whole.
    client
        .notify("len", Bytes::from(vec![1u8; 60_000]))
        .await
        .unwrap();
    client
        .notify_confirmed("len", Bytes::from(vec![1u8; 60_000]))
        .await
        .unwrap();
    // A one-way message is a single frame: one larger than the peer's frame limit is
    // refused with a status naming the limit, never delivered cut short or empty.
    for big in [100_000usize, 2 << 20] {
        let err = client
            .notify("len", Bytes::from(vec![1u8; big]))
            .await
            .unwrap_err();
        assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
        assert!(err.message.contains("frame"), "{err}");
        let err = client
            .notify_confirmed("len", Bytes::from(vec![1u8; big]))
            .await
            .unwrap_err();
        assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    }
    // The connection still works and only whole messages arrived.
    client
        .call("len", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![60_000, 60_000, 3]);

    // With compression the connection decides after compressing: a body that shrinks to
    // fit travels whole; one that does not is refused (reported to a confirmed notify,
    // counted as a limit rejection either way).
    let zopts = {
        let mut o = Options::default();
        o.compress_with = Some(muxwire::Codec::Zstd);
        o
    };
    let zclient = Client::connect_with(&server.local_endpoint().to_string(), zopts, None)
        .await
        .unwrap();
    zclient
        .notify_confirmed("len", Bytes::from(vec![0u8; 100_000]))
        .await
        .unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let err = zclient
        .notify_confirmed("len", Bytes::from(noise.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    zclient.notify("len", Bytes::from(noise)).await.unwrap();
    zclient.call("len", Bytes::from_static(b"z")).await.unwrap();
    assert_eq!(zclient.stats().limit_rejections, 2);
    assert_eq!(*seen.lock().unwrap(), vec![60_000, 60_000, 3, 100_000, 1]);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_batches_arrive_in_order_through_small_windows() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let router = Router::new().unary_sync("rec", move |_ctx: &Context, req: Bytes| {
        let n = u32::from_le_bytes(req[..4].try_into().unwrap());
        s.lock().unwrap().push((n, req.len()));
        Ok(Bytes::new())
    });
    // A small connection window makes later messages of a batch wait for credit.
    let server_opts = {
        let mut o = Options::default();
        o.initial_connection_window = 262_144;
        o.initial_stream_window = 65_536;
        o
    };
    let server = serve(&unix_url("batch"), router, server_opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let mut expect = Vec::new();
    let mut n = 0u32;
    for round in 0..40usize {
        let mut bodies = Vec::new();
        for i in 0..(1 + round * 7 % 200) {
            // Small bodies (copied into the frame) and large ones (written from their
            // own buffer) interleaved.
            let len = if (i + round) % 17 == 0 {
                20_000
            } else {
                4 + i % 60
            };
            let mut b = vec![0u8; len];
            b[..4].copy_from_slice(&n.to_le_bytes());
            expect.push((n, len));
            bodies.push(Bytes::from(b));
            n += 1;
        }
        client.notify_batch("rec", bodies).await.unwrap();
        if round % 10 == 0 {
            // Single notifies interleave with batches and keep their place.
            let mut b = vec![0u8; 8];
            b[..4].copy_from_slice(&n.to_le_bytes());
            expect.push((n, 8));
            client.notify("rec", Bytes::from(b)).await.unwrap();
            n += 1;
        }
    }
    // A batch with one message too large for a frame is refused whole.
    let err = client
        .notify_batch(
            "rec",
            vec![Bytes::from(vec![0u8; 8]), Bytes::from(vec![0u8; 100_000])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    client.notify_batch("rec", Vec::new()).await.unwrap();
    // A call after them is answered after they were all handled.
    let mut b = vec![0u8; 4];
    b.copy_from_slice(&n.to_le_bytes());
    expect.push((n, 4));
    client.call("rec", Bytes::from(b)).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), expect);
    server.shutdown(Duration::from_secs(1)).await;
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
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_bounds_what_waits_for_the_socket() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let router = Router::new().unary_sync("slow.sink", move |_ctx: &Context, _req: Bytes| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            // The server's connection stops reading for a while (a blocked handler).
            std::thread::sleep(Duration::from_millis(400));
        }
        Ok(Bytes::new())
    });
    // A huge window: flow control alone would let the client queue everything.
    let opts = {
        let mut o = Options::default();
        o.initial_connection_window = 256 << 20;
        o
    };
    let server = serve(&unix_url("stall"), router, opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let body = Bytes::from(vec![7u8; 1024]);
    let batches = 1024;
    for _ in 0..batches {
        let batch = vec![body.clone(); 64];
        tokio::time::timeout(
            Duration::from_secs(30),
            client.notify_batch("slow.sink", batch),
        )
        .await
        .expect("stalled")
        .unwrap();
    }
    for _ in 0..3000 {
        if count.load(Ordering::SeqCst) == batches * 64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count.load(Ordering::SeqCst), batches * 64);
    // 64 MiB went out while the peer read nothing for 400 ms; at most about 8 MiB (plus
    // what one hand-over adds) ever waited for the socket.
    let peak = client.stats().write_queue_peak;
    assert!(
        peak > 1 << 20,
        "the stall built no queue ({peak} bytes): test is void"
    );
    assert!(peak < 10 << 20, "{peak} bytes waited for the socket");
    server.shutdown(Duration::from_secs(1)).await;
}

/// Runs `router` on its own thread and runtime (so a handler that blocks stalls only the
/// server); returns its URL and a sender that stops it.
fn serve_on_thread(
    url: String,
    router: Router,
    opts: Options,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = serve(&url, router, opts).await;
            url_tx.send(server.local_endpoint().to_string()).unwrap();
            let _ = stop_rx.await;
            server.shutdown(Duration::from_secs(1)).await;
        });
    });
    (url_rx.recv().unwrap(), stop_tx, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_waits_while_a_stalled_peer_holds_the_window() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let router = Router::new().unary_sync("stall", move |_ctx: &Context, _req: Bytes| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            // The server's connection takes nothing more for a while, so its window
            // closes and the client's one-way messages must wait.
            std::thread::sleep(Duration::from_millis(600));
        }
        Ok(Bytes::new())
    });
    let opts = {
        let mut o = Options::default();
        o.initial_connection_window = 262_144;
        o
    };
    let (url, stop, thread) = serve_on_thread(unix_url("budget"), router, opts);
    let client = Client::connect(&url).await.unwrap();
    client
        .notify("stall", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let queued = Arc::new(AtomicUsize::new(0));
    let total = 8_000;
    let producer = {
        let (client, queued) = (client.clone(), queued.clone());
        tokio::spawn(async move {
            let body = Bytes::from(vec![3u8; 1024]);
            for _ in 0..total {
                client.notify("stall", body.clone()).await.unwrap();
                queued.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Within the window (256 KiB) and the one-way budget (4 MiB) of 1 KiB messages:
    // about 256 + 4096 returned, and the producer waits for the rest.
    let during = queued.load(Ordering::SeqCst);
    assert!(!producer.is_finished(), "notify never waited");
    assert!(
        (4_096..=4_096 + 256 + 64).contains(&during),
        "{during} notifies returned while the peer was stalled"
    );
    tokio::time::timeout(Duration::from_secs(30), producer)
        .await
        .expect("the producer resumed")
        .unwrap();
    for _ in 0..3000 {
        if count.load(Ordering::SeqCst) == total + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        total + 1,
        "every message arrived"
    );
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_in_flight_together_keep_their_own_bytes() {
    // Chunked messages are put together in pooled buffers: replies held by the
    // application must never see a buffer reused under them.
    let opts = || {
        let mut o = Options::default();
        o.max_message_size = 8 << 20;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts(), None)
        .await
        .unwrap();
    let body = |round: usize, i: usize| {
        let seed = (round * 7 + i) as u8;
        Bytes::from(
            (0..(3 << 20) + i * 1000)
                .map(|k| seed.wrapping_add((k % 251) as u8))
                .collect::<Vec<u8>>(),
        )
    };
    let mut held = Vec::new();
    for round in 0..4 {
        let calls = (0..4).map(|i| {
            let client = client.clone();
            let b = body(round, i);
            async move { (b.clone(), client.call("echo", b).await.unwrap()) }
        });
        held.extend(futures_join(calls).await);
    }
    for (sent, got) in &held {
        assert!(sent == got, "a reply changed after it was delivered");
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_chunks_are_read_in_place_and_arrive_intact() {
    // 256 KiB frames: chunks past the first are read straight into their message's buffer.
    for (crc, compress) in [(false, None), (true, None), (true, Some(Codec::Lz4))] {
        let opts = || {
            let mut o = Options::default();
            o.max_frame_size = 256 * 1024;
            o.max_message_size = 16 << 20;
            o.initial_stream_window = 16 << 20;
            o.initial_connection_window = 64 << 20;
            o.crc = crc;
            o.compress_with = compress;
            o
        };
        let url = unix_url(&format!("land-{crc}-{}", compress.is_some()));
        let server = serve(&url, echo_router(), opts()).await;
        let client = Client::connect_with(&url, opts(), None).await.unwrap();
        // Sizes around chunk boundaries; bodies that compress a little (lz4 keeps them
        // large) and differ per call.
        let body = |i: usize, len: usize| {
            Bytes::from(
                (0..len)
                    .map(|k| ((k * 31 + i * 7) % 253) as u8 ^ (k >> 9) as u8)
                    .collect::<Vec<u8>>(),
            )
        };
        let sizes = [4 << 20, (4 << 20) + 1, 3 * 262_000, 5_000_000, 1 << 20];
        let calls = sizes.iter().enumerate().map(|(i, &len)| {
            let client = client.clone();
            let b = body(i, len);
            async move { (b.clone(), client.call("echo", b).await.unwrap()) }
        });
        for (sent, got) in futures_join(calls).await {
            assert_eq!(sent.len(), got.len());
            assert!(sent == got, "echo differs (crc {crc}, {compress:?})");
        }
        let (c, s) = (client.stats(), server.stats());
        // All but the first chunk of each message (and what one read brings along
        // before a chunk's head is seen) land in place.
        for (side, st) in [("client", &c), ("server", &s)] {
            assert!(
                st.bytes_in_place > st.bytes_in / 2,
                "{side}: {} of {} bytes read in place",
                st.bytes_in_place,
                st.bytes_in
            );
        }
        assert!(s.frames_in >= c.frames_out && c.frames_in >= s.frames_out);
        server.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_closes_in_the_middle_of_a_large_chunk_ends_only_its_connection() {
    use muxwire_core::wire::{self as w, Flags, FrameEncoder, FrameType, Tag};
    // A panic in the server's connection task would only end that connection: count them.
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info)
    }));
    let opts = || {
        let mut o = Options::default();
        o.max_frame_size = 256 * 1024;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts()).await;
    let url = server.local_endpoint().to_string();
    let addr = url.trim_start_matches("tcp://").to_string();
    let frame = |ty, stream: u32, flags, meta: Option<&[u8]>, body: &[u8]| {
        let mut buf = vec![0u8; body.len() + 256];
        let mut enc = FrameEncoder::new(&mut buf, ty, stream, 0).unwrap();
        if let Some(m) = meta {
            enc.tlv(Tag::METHOD, m).unwrap();
        }
        let n = enc.finish_with_body(flags, body).unwrap();
        buf.truncate(n);
        buf
    };
    let mut hello = vec![0u8; 64];
    let n = w::Settings::INITIAL
        .encode_hello(&mut hello, None, Flags::NONE)
        .unwrap();
    // The first chunk of a request, then a second one cut short: after its whole header,
    // part of its body; after its header only, with metadata still to come.
    let first = frame(
        FrameType::CALL,
        1,
        Flags::MESSAGE | Flags::MORE,
        Some(b"echo"),
        &[1u8; 100_000],
    );
    let second = frame(FrameType::DATA, 1, Flags::MESSAGE, None, &[2u8; 200_000]);
    let mut header_only = second[..16].to_vec();
    header_only[6] = 40; // Metadata Length 40: the head is longer than what arrives.
    let small = frame(FrameType::DATA, 1, Flags::MESSAGE, None, &[2u8; 2_000]);
    for cut in [
        small[..500].to_vec(),
        second[..16 + 70_000].to_vec(),
        header_only,
    ] {
        let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
        g.write_all(&w::PREFACE).await.unwrap();
        g.write_all(&hello[..n]).await.unwrap();
        g.write_all(&first).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        g.write_all(&cut).await.unwrap();
        g.shutdown().await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), g.read_to_end(&mut rest))
            .await
            .expect("the server ended the connection")
            .unwrap();
    }
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a connection task panicked on a cut frame"
    );
    // The server is still there for everyone else.
    let client = Client::connect_with(&url, opts(), None).await.unwrap();
    let big = Bytes::from(vec![5u8; 3 << 20]);
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    assert!(
        server.stats().bytes_in_place > 0,
        "the landing path was not taken"
    );
    server.shutdown(Duration::from_secs(1)).await;
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
    server.shutdown(Duration::from_secs(1)).await;
}
