//! The life of calls and connections over real sockets: cancellation, deadlines, peers
//! that misbehave or die, reconnection, waiting for a server, pools, shutdown.
//!
//! Handlers that must be "in flight" say so themselves (a counter or a signal the test
//! waits for) and hold until the test lets them go; nothing waits for a fixed time.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{echo_router, read_goaway, serve, unix_url, wait_until, within, GRACE, PATIENCE};
use muxwire::{CallOptions, Client, Context, Options, Router, Server, Status, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// Calls `client` until a call to "echo" succeeds; fails naming `what` after [`PATIENCE`].
async fn until_a_call_succeeds(client: &Client, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match client.call("echo", Bytes::from_static(b"b")).await {
            Ok(_) => return,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "gave up after {PATIENCE:?} waiting for: {what} (last error: {e})"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_cancels_the_handler() {
    let (started, saw_cancel) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (st2, sc2) = (started.clone(), saw_cancel.clone());
    let router = Router::new().unary("wait", move |ctx: Context, _req: Bytes| {
        let (started, saw_cancel) = (st2.clone(), sc2.clone());
        async move {
            started.notify_one();
            // Only a cancel ends this call.
            ctx.cancelled().await;
            saw_cancel.notify_one();
            Err(Status::cancelled("gave up"))
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let c = client.clone();
    let call = tokio::spawn(async move { c.call("wait", Bytes::new()).await });
    within("the handler to start", started.notified()).await;
    call.abort();
    within("the handler to see the cancel", saw_cancel.notified()).await;
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_expires_on_the_server() {
    let remaining = Arc::new(Mutex::new(None));
    let cancelled = Arc::new(Notify::new());
    let (r2, c2) = (remaining.clone(), cancelled.clone());
    let router = Router::new().unary("sleepy", move |ctx: Context, _req: Bytes| {
        let (remaining, cancelled) = (r2.clone(), c2.clone());
        async move {
            *remaining.lock().unwrap() = Some(ctx.remaining());
            // Only the deadline (or the caller giving up at it) ends this call.
            ctx.cancelled().await;
            cancelled.notify_one();
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
    within(
        "the server's deadline to cancel the handler",
        cancelled.notified(),
    )
    .await;
    let remaining = remaining.lock().unwrap().expect("the handler ran");
    let remaining = remaining.expect("the handler saw a deadline");
    assert!(
        remaining <= Duration::from_millis(100),
        "the server's deadline is the caller's timeout at most: {remaining:?}"
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_before_its_request_arrived_is_answered() {
    // Small windows make a 1 MiB request cross slowly; the caller gives up half way (or
    // earlier, or later: how far it got depends on the machine, and every point must
    // leave nothing behind).
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
    wait_until("no call left in flight on either side", || {
        server.stats().in_flight == 0 && client.stats().in_flight == 0
    })
    .await;
    assert_eq!(
        client
            .call("echo", Bytes::from_static(b"ok"))
            .await
            .unwrap(),
        Bytes::from_static(b"ok")
    );
    server.shutdown(GRACE).await;
}

/// Runs `router` on its own runtime thread so that the test can kill the server abruptly.
fn server_thread(
    url: String,
    router: Router,
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
            let s = serve(&url, router, Options::default()).await;
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
    let started = Arc::new(AtomicUsize::new(0));
    let s2 = started.clone();
    let router = echo_router().unary("hang", move |ctx: Context, _req: Bytes| {
        s2.fetch_add(1, Ordering::SeqCst);
        async move {
            // Answers only if cancelled: the kill must be what ends these calls.
            ctx.cancelled().await;
            Err(Status::cancelled("gave up"))
        }
    });
    let (rx, kill, t) = server_thread("tcp://127.0.0.1:0".into(), router);
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
            tokio::spawn(async move { c.call("hang", Bytes::new()).await })
        })
        .collect();
    wait_until("20 calls running on the server", || {
        started.load(Ordering::SeqCst) == 20
    })
    .await;
    kill.send(()).unwrap();
    t.join().unwrap();
    for p in pending {
        let e = within("a pending call to fail after the kill", p)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");
    }
    // The server comes back on the same address; the client reconnects by itself.
    let (rx, kill, t) = server_thread(url.clone(), echo_router());
    assert_eq!(rx.recv().unwrap(), url);
    until_a_call_succeeds(&client, "the client to reconnect").await;
    assert!(client.stats().reconnects >= 1);
    kill.send(()).unwrap();
    t.join().unwrap();
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
    // Each message below goes out in one write, so only the frame the test leaves
    // unfinished on purpose can run into the frame timeout.
    let mut hello = vec![0u8; 64];
    let n = muxwire_core::wire::Settings::INITIAL
        .encode_hello(&mut hello, None, muxwire_core::wire::Flags::NONE)
        .unwrap();
    let opening = [&muxwire_core::wire::PREFACE[..], &hello[..n]].concat();
    // A valid handshake, then a frame of reserved type.
    let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
    g.write_all(&[&opening[..], &[0u8; 16]].concat())
        .await
        .unwrap();
    assert_eq!(read_goaway(&mut g).await, Some(1), "PROTOCOL_ERROR");
    // A valid handshake, then half a frame that never completes (the 300 ms frame
    // timeout the server was given is what must end it).
    let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
    g.write_all(&[&opening[..], &[40, 0, 0, 0, 3, 2, 0, 0, 1]].concat())
        .await
        .unwrap();
    assert_eq!(read_goaway(&mut g).await, Some(12), "TIMEOUT");
    within("the well-behaved client's calls", busy)
        .await
        .unwrap();
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_calls_in_flight_loses_none() {
    let started = Arc::new(AtomicUsize::new(0));
    let (open, gate) = tokio::sync::watch::channel(false);
    let s2 = started.clone();
    let router = echo_router().unary("held", move |_ctx: Context, _req: Bytes| {
        s2.fetch_add(1, Ordering::SeqCst);
        let mut gate = gate.clone();
        async move {
            // Held until the server is draining: these calls are in flight for certain.
            let _ = gate.wait_for(|open| *open).await;
            Ok(Bytes::from_static(b"done"))
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call("held", Bytes::new()).await })
        })
        .collect();
    wait_until("50 calls running on the server", || {
        started.load(Ordering::SeqCst) == 50
    })
    .await;
    let shutdown = tokio::spawn(server.shutdown(PATIENCE));
    // The server drains once it refuses new calls; only then may the held calls finish.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let refused = loop {
        if let Err(e) = client.call("echo", Bytes::new()).await {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never refused a new call after shutdown began"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("a new call while draining: {refused:?}");
    open.send(true).unwrap();
    within("the shutdown to finish draining", shutdown)
        .await
        .unwrap();
    let mut ok = 0;
    for c in calls {
        match within("a call in flight to end", c).await.unwrap() {
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
            &CallOptions::timeout(PATIENCE),
        )
        .await
    });
    within(
        "the client to report TransientFailure",
        state.wait_for(|s| s == ConnState::TransientFailure),
    )
    .await
    .unwrap();
    // A connection attempt has failed; the call still waits (it can only end with a
    // server or after PATIENCE).
    assert!(!call.is_finished(), "the call waited for a connection");
    let server = serve(&path, echo_router(), Options::default()).await;
    let late = within("the waiting call to be answered", call).await;
    assert_eq!(late.unwrap().unwrap(), Bytes::from_static(b"late"));
    within(
        "the client to report Ready",
        state.wait_for(|s| s == ConnState::Ready),
    )
    .await
    .unwrap();
    // Without wait_for_ready, a call while disconnected fails at once, as retry-safe.
    server.shutdown(GRACE).await;
    within(
        "the client to report TransientFailure after the shutdown",
        state.wait_for(|s| s == ConnState::TransientFailure),
    )
    .await
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
    wait_until("the server to count 3 connections", || {
        server.stats().connections == 3
    })
    .await;
    for i in 0..30u32 {
        let b = Bytes::from(i.to_string());
        assert_eq!(client.call("echo", b.clone()).await.unwrap(), b);
    }
    assert_eq!(client.stats().calls_ok, 30);
    assert_eq!(server.stats().connections, 3, "no connection was replaced");
    server.shutdown(GRACE).await;
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
    wait_until("the server to have 2 open connections", || {
        server.open_connections() == 2
    })
    .await;
    drop(client);
    wait_until("a dropped client's connections to close", || {
        server.open_connections() == 0
    })
    .await;
    server.shutdown(GRACE).await;
}

// A server takes over only a socket file that nobody serves: never a regular file, never
// a live server's socket; and on shutdown it removes only the file it created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_unix_path_replaces_only_a_stale_socket() {
    let dir = std::env::temp_dir().join(format!("muxwire-bind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bind = |path: &std::path::Path| {
        let url = format!("unix://{}", path.display());
        async move {
            Server::new(echo_router(), Options::default())
                .bind(&url)
                .await
        }
    };

    // A regular file with data in it stays, and the error says why.
    let file = dir.join("data");
    std::fs::write(&file, b"precious").unwrap();
    let e = bind(&file).await.err().expect("refused");
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS, "{e}");
    assert!(e.message.contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");

    // A live server keeps its socket; the second bind fails and the first still serves.
    let sock = dir.join("live.sock");
    let first = bind(&sock).await.unwrap();
    let e = bind(&sock).await.err().expect("refused");
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS, "{e}");
    assert!(e.message.contains("running server"), "{e}");
    let url = format!("unix://{}", sock.display());
    let client = Client::connect(&url).await.unwrap();
    assert_eq!(
        &client.call("echo", Bytes::from_static(b"x")).await.unwrap()[..],
        b"x"
    );
    client.close().await;

    // Its file replaced by someone else's meanwhile, the first server leaves that alone.
    std::fs::remove_file(&sock).unwrap();
    std::fs::write(&sock, b"someone else's").unwrap();
    first.shutdown(GRACE).await;
    assert_eq!(std::fs::read(&sock).unwrap(), b"someone else's");
    std::fs::remove_file(&sock).unwrap();

    // A socket file left by a process that is gone is taken over.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists(), "std leaves the socket file behind");
    let s = bind(&stale).await.unwrap();
    let client = Client::connect(&format!("unix://{}", stale.display()))
        .await
        .unwrap();
    assert_eq!(
        &client.call("echo", Bytes::from_static(b"y")).await.unwrap()[..],
        b"y"
    );
    client.close().await;
    s.shutdown(GRACE).await;
    assert!(!stale.exists(), "its own socket is removed on shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

// Issue 15, finding 9: against a listener that accepts and closes at once (a proxy with no
// backend), reconnects back off as after a refused connect instead of storming; a
// connection counts as a success only once its handshake completed. The bound is a lower
// one on time, so a slow machine cannot make it fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_back_off_when_connections_end_before_their_handshake() {
    // A real server first, so the client is connected; then, on the same address, a
    // listener that accepts and closes at once.
    let server = Server::new(echo_router(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let addr = url.trim_start_matches("tcp://").to_string();
    let mut opts = Options::default();
    opts.reconnect_base = Duration::from_millis(200);
    opts.reconnect_max = Duration::from_millis(200);
    let client = Client::connect_with(&url, opts, None).await.unwrap();
    client
        .call("echo", Bytes::from_static(b"up"))
        .await
        .unwrap();
    server.shutdown(GRACE).await;
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let mut accepted = Vec::new();
    for _ in 0..4 {
        let (sock, _) = within("a reconnect", listener.accept()).await.unwrap();
        accepted.push(tokio::time::Instant::now());
        drop(sock);
    }
    // Every delay is at least half of 200 ms (the jitter), so three reconnects take at
    // least 300 ms; without backoff they came back to back.
    let spread = accepted[3] - accepted[0];
    assert!(
        spread >= Duration::from_millis(300),
        "4 connections in {spread:?}: no backoff"
    );
    client.close().await;
}

/// A connection that dies under load, with calls still queued for it, leaves the client's
/// in-flight gauge at zero once every call has ended (before, the queued calls were counted
/// as ended but never as started, so the gauge wrapped below zero, and a `Balanced` client,
/// which compares it, never chose that endpoint again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_gauge_returns_to_zero_when_a_connection_dies_under_load() {
    for _ in 0..5 {
        let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
        let url = server.local_endpoint().to_string();
        let client = Client::connect(&url).await.unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (client, started) = (client.clone(), started.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        started.fetch_add(1, Ordering::SeqCst);
                        let _ = client.call("echo", Bytes::from_static(b"x")).await;
                    }
                })
            })
            .collect();
        wait_until("the load is under way", || {
            started.load(Ordering::SeqCst) > 500
        })
        .await;
        server.shutdown(Duration::ZERO).await;
        for t in tasks {
            within("every call ends", t).await.unwrap();
        }
        wait_until("the in-flight gauge to come back to zero", || {
            client.stats().in_flight == 0
        })
        .await;
    }
}
