//! What a user of the library relies on, each found broken once (issue 10, item 5): the
//! connection state, duplicate registrations, dropping a running server, statuses.

use std::time::Duration;

use bytes::Bytes;
use muxwire::{Client, ConnState, Context, Options, Router, Server, StatusCode};

mod common;
use common::wait_until;

fn echo() -> Router {
    Router::new().unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
}

// Broken before: the state watch's only receiver was dropped at connect, so the send of
// Ready was lost and `state()` said Connecting for the life of the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_reports_ready() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    assert_eq!(client.current_state(), ConnState::Ready);
    let mut watch = client.state();
    assert_eq!(watch.get(), ConnState::Ready);
    client.close().await;
    assert_eq!(client.current_state(), ConnState::Shutdown);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("a change")
            .unwrap(),
        ConnState::Shutdown
    );
}

// Broken before: the second registration silently replaced the first handler.
#[tokio::test]
async fn a_method_registered_twice_fails_bind() {
    let router = echo().unary("echo", |_ctx: Context, _req: Bytes| async move {
        Ok(Bytes::from_static(b"second"))
    });
    let e = router.check().unwrap_err();
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS);
    assert!(e.message.contains("\"echo\""), "{e}");
    let e = Server::new(router, Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .err()
        .expect("bind must fail");
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS);

    let builtin = Router::new().unary_sync("muxwire.list", |_: &Context, b: Bytes| Ok(b));
    assert_eq!(
        builtin.check().unwrap_err().code,
        StatusCode::ALREADY_EXISTS
    );
    let empty = Router::new().unary_sync("", |_: &Context, b: Bytes| Ok(b));
    assert_eq!(
        empty.check().unwrap_err().code,
        StatusCode::INVALID_ARGUMENT
    );
}

// Broken before: dropping `Running` left the accept loop listening forever, with no handle
// left to stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_server_stops_listening_and_drains() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let addr = url.trim_start_matches("tcp://").to_string();
    let client = Client::connect(&url).await.unwrap();
    client.call("echo", Bytes::from_static(b"x")).await.unwrap();
    drop(server);
    // The listener closes: new connections are refused.
    let mut refused = false;
    for _ in 0..2000 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "the listener was still accepting after the drop");
    // The open connection was drained: the client sees it end.
    wait_until("the drained connection to close", || {
        client.current_state() != ConnState::Ready
    })
    .await;
}

// The agent string was fixed before; it is an option now, checked before connecting.
#[tokio::test]
async fn the_agent_is_an_option_with_a_checked_length() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let mut opts = Options::default();
    opts.agent = "my-app/2.0".into();
    let client = Client::connect_with(&url, opts, None).await.unwrap();
    client.call("echo", Bytes::from_static(b"a")).await.unwrap();
    let mut long = Options::default();
    long.agent = "x".repeat(65);
    let e = Client::connect_with(&url, long, None).await.err().unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    assert!(e.message.contains("agent"), "{e}");
}

// Status prints its code by name and converts from the errors users meet.
#[test]
fn status_debug_names_its_code_and_converts_from_io_errors() {
    let s = muxwire::Status::unavailable("down");
    assert!(format!("{s:?}").contains("UNAVAILABLE"));
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let s: muxwire::Status = io.into();
    assert_eq!(s.code, StatusCode::UNAVAILABLE);
}

fn streaming_router() -> Router {
    use muxwire::{Inbound, Outbound};
    echo().streaming(
        "three",
        |_ctx: Context, _in: Inbound, out: Outbound| async move {
            for m in ["a", "b", "c"] {
                out.send(Bytes::from(m)).await?;
            }
            Ok(())
        },
    )
}

// Broken before: a unary call to a streaming method returned the last message and
// dropped the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_to_a_streaming_method_fails_clearly() {
    let server = Server::new(streaming_router(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let e = client.call("three", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    assert!(e.message.contains("open_stream"), "{e}");
    // The connection is fine afterwards.
    client
        .call("echo", Bytes::from_static(b"ok"))
        .await
        .unwrap();
}

// Broken before: one-way calls to an unknown method vanished without a trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_to_unknown_methods_are_counted() {
    let server = Server::new(streaming_router(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    for _ in 0..5 {
        client.notify("nobody", Bytes::new()).await.unwrap();
    }
    client.notify("three", Bytes::new()).await.unwrap(); // streaming: no one-way handler
    wait_until("six dropped one-way messages", || {
        server.stats().one_way_dropped == 6
    })
    .await;
}

// Broken before: REFUSED reached the caller with retry_safe false.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_is_safe_to_retry() {
    let hold = std::sync::Arc::new(tokio::sync::Notify::new());
    let started = std::sync::Arc::new(tokio::sync::Notify::new());
    let (h, s) = (hold.clone(), started.clone());
    let router = echo().unary("hold", move |_ctx: Context, _req: Bytes| {
        let (h, s) = (h.clone(), s.clone());
        async move {
            s.notify_one();
            h.notified().await;
            Ok(Bytes::new())
        }
    });
    // One stream slot: while "hold" runs, the server's table is full and refuses.
    let mut opts = Options::default();
    opts.stream_slots = 1;
    let server = Server::new(router, opts)
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let c = client.clone();
    let held = tokio::spawn(async move { c.call("hold", Bytes::new()).await });
    started.notified().await;
    let e = client.call("echo", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e:?}");
    assert!(e.retry_safe, "REFUSED must be safe to retry: {e:?}");
    hold.notify_one();
    held.await.unwrap().unwrap();
}

// Broken before: DETAILS and trailing entries on STATUS were dropped both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_details_and_trailers_reach_the_caller() {
    let router = echo().unary("fail", |_ctx: Context, _req: Bytes| async move {
        Err(muxwire::Status::new(StatusCode::NOT_FOUND, "no such key")
            .with_details(Bytes::from_static(b"\x08\x05"))
            .with_trailer("retry-after-ms", Bytes::from_static(b"250")))
    });
    let server = Server::new(router, Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let e = client.call("fail", Bytes::new()).await.unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (StatusCode::NOT_FOUND, "no such key")
    );
    assert_eq!(e.details.as_deref(), Some(&b"\x08\x05"[..]));
    assert_eq!(
        e.trailer("retry-after-ms").map(|v| &v[..]),
        Some(&b"250"[..])
    );
    assert!(!e.retry_safe);
}

// Protocol 1.1, section 10: a server replies with the codec the caller used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_use_the_request_codec() {
    let body = Bytes::from(vec![b'z'; 64 * 1024]);
    for (in_kind, compressed) in [(true, true), (false, false)] {
        let mut server_opts = Options::default();
        server_opts.reply_with_request_codec = in_kind;
        let server = Server::new(echo(), server_opts)
            .bind("tcp://127.0.0.1:0")
            .await
            .unwrap();
        let mut opts = Options::default();
        opts.compress_with = Some(muxwire::Codec::Lz4);
        let client = Client::connect_with(&server.local_endpoint().to_string(), opts, None)
            .await
            .unwrap();
        // Counted where it is exact: the client counts bytes as it reads them, before
        // the reply they carry is delivered (the server counts its writes after they
        // complete, which may be after the client already has the reply). A first call
        // gets the handshake out of the count.
        client.call("echo", Bytes::from_static(b"x")).await.unwrap();
        let before = client.stats().bytes_in;
        assert_eq!(client.call("echo", body.clone()).await.unwrap(), body);
        let sent = client.stats().bytes_in - before;
        assert_eq!(
            sent < 16 * 1024,
            compressed,
            "reply_with_request_codec {in_kind}: the server wrote {sent} bytes"
        );
    }
}

/// A server that advertises room for one call at a time, whose "hold" handler waits for
/// `release` (after signalling `started`) and whose "left" handler answers with the
/// milliseconds left before its deadline.
async fn one_at_a_time(
    started: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Notify>,
) -> muxwire::Running {
    let router = echo()
        .unary("hold", move |_ctx: Context, _req: Bytes| {
            let (s, r) = (started.clone(), release.clone());
            async move {
                s.notify_one();
                r.notified().await;
                Ok(Bytes::new())
            }
        })
        .unary("left", |ctx: Context, _req: Bytes| async move {
            let left = ctx.remaining().unwrap_or_default().as_millis();
            Ok(Bytes::from(left.to_string()))
        });
    let mut opts = Options::default();
    opts.max_concurrent_streams = 1;
    Server::new(router, opts)
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap()
}

// Broken before: a call waiting for the peer's concurrency limit ignored its timeout (it
// waited as long as the limit lasted), and once open it sent its whole timeout as the
// deadline, the time it had waited forgotten (spec section 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_spent_waiting_to_open_counts_against_the_deadline() {
    use muxwire::CallOptions;
    let (started, release) = Default::default();
    let server = one_at_a_time(
        std::sync::Arc::clone(&started),
        std::sync::Arc::clone(&release),
    )
    .await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let c = client.clone();
    let held = tokio::spawn(async move { c.call("hold", Bytes::new()).await });
    started.notified().await;
    // The limit is taken: this call waits, and its timeout ends it there.
    let short = CallOptions::timeout(Duration::from_millis(100));
    let e = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_with("echo", Bytes::new(), &short),
    )
    .await
    .expect("a waiting call must end at its timeout")
    .unwrap_err();
    assert_eq!(e.code, StatusCode::DEADLINE_EXCEEDED);
    // Another waits at least 300 ms before it opens; the server sees what is left.
    let c = client.clone();
    let waiting = tokio::spawn(async move {
        let opts = CallOptions::timeout(Duration::from_secs(1));
        c.call_with("left", Bytes::new(), &opts).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // the wait being measured
    release.notify_one();
    held.await.unwrap().unwrap();
    let left: u64 = String::from_utf8(waiting.await.unwrap().unwrap().to_vec())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        left <= 750,
        "the server was given {left} ms of a 1 s timeout after a 300 ms wait"
    );
    // The expired call never reached the server: "hold" and "left" did.
    assert_eq!(server.stats().calls_started, 2);
}

// A handler's context hands out the connection as a full Channel: the server can stream
// to its caller, notify it, ping it, list its methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_uses_every_kind_of_call_on_its_channel() {
    use muxwire::{CallOptions, Inbound, Outbound};
    let router = echo().unary("back", |ctx: Context, _req: Bytes| async move {
        let ch = ctx.peer();
        let (mut sink, mut stream) = ch
            .open_stream("client.sum", &CallOptions::default())
            .await?;
        sink.send(Bytes::from_static(b"abc")).await?;
        sink.send(Bytes::from_static(b"de")).await?;
        sink.finish()?;
        let sum = stream.next().await.expect("a reply")?;
        ch.notify("client.note", Bytes::from_static(b"n")).await?;
        ch.notify_batch("client.note", vec![Bytes::new(), Bytes::new()])
            .await?;
        ch.ping().await?;
        let methods = ch.list().await?.join(",");
        assert!(!ch.is_closed());
        Ok(Bytes::from(format!(
            "{}|{methods}",
            String::from_utf8_lossy(&sum)
        )))
    });
    let server = Server::new(router, Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let notes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = notes.clone();
    let mine = Router::new()
        .streaming(
            "client.sum",
            |_ctx: Context, mut inbound: Inbound, out: Outbound| async move {
                let mut total = 0;
                while let Some(m) = inbound.next().await {
                    total += m?.len();
                }
                out.send(Bytes::from(total.to_string())).await
            },
        )
        .unary_sync("client.note", move |_: &Context, _: Bytes| {
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Bytes::new())
        });
    let client = Client::connect_with(
        &server.local_endpoint().to_string(),
        Options::default(),
        Some(mine),
    )
    .await
    .unwrap();
    let r = client.call("back", Bytes::new()).await.unwrap();
    assert_eq!(r, "5|client.note,client.sum,muxwire.describe,muxwire.list");
    wait_until("three notes", || {
        notes.load(std::sync::atomic::Ordering::Relaxed) == 3
    })
    .await;
    // A client hands out one of its connections as a channel too.
    let ch = client.channel().await.unwrap();
    assert_eq!(
        ch.call("echo", Bytes::from_static(b"c")).await.unwrap(),
        "c"
    );
    assert!(ch.stats().calls_started >= 2);
}
