//! Flow control and back-pressure over real sockets: credit that keeps cycling through
//! small windows, and senders (callers, handlers, one-way producers) that wait when the
//! other side stops reading instead of buffering without bound.
//!
//! A stalled peer here is stalled until the test has seen what it waits for (a handler
//! blocked at a [`Gate`], a reader that never reads), never for a fixed time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{
    echo_router, serve, serve_on_thread, unix_url, wait_until, wait_until_still, within, Gate,
    GRACE,
};
use muxwire::{CallOptions, Client, Context, Inbound, Options, Outbound, Router};

/// How long a counter must stand still before a test takes it as stopped (see
/// [`wait_until_still`]: only a bug can make the wait matter).
const SETTLED: Duration = Duration::from_millis(500);

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
        within("500 calls through small windows (stalled?)", t)
            .await
            .unwrap();
    }
    for _ in 0..10 {
        client.notify("echo", body.clone()).await.unwrap();
    }
    let big = Bytes::from(vec![1u8; 2 << 20]);
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    server.shutdown(GRACE).await;
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
    // More than the bound: a sender that is never pushed back gets through all of it.
    let offered = (8 << 20) + 8 * chunk.len();
    let accepted = Arc::new(AtomicUsize::new(0));
    let sender = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            while accepted.load(Ordering::SeqCst) < offered {
                sink.send(chunk.clone()).await.unwrap();
                accepted.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        })
    };
    wait_until("a window's worth (1 MiB) accepted by send", || {
        accepted.load(Ordering::SeqCst) >= 1 << 20
    })
    .await;
    let settled = wait_until_still(
        "bytes accepted by send",
        SETTLED,
        || accepted.load(Ordering::SeqCst),
        || sender.is_finished(),
    )
    .await;
    assert!(
        !sender.is_finished() && settled < 8 << 20,
        "send never pushed back ({settled} bytes queued)"
    );
    sender.abort();
    drop(stream);
    server.shutdown(GRACE).await;
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
    // The reader reads nothing yet: the handler gets a window's worth (1 MiB = 16
    // messages) out, then must stop well short of its 400 messages.
    wait_until("the handler to send a window's worth", || {
        sent.load(Ordering::SeqCst) >= 16
    })
    .await;
    let early = wait_until_still(
        "messages sent by the handler",
        SETTLED,
        || sent.load(Ordering::SeqCst),
        || sent.load(Ordering::SeqCst) == 400,
    )
    .await;
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
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_bounds_what_waits_for_the_socket() {
    let (count, stalled, gate) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
        Gate::default(),
    );
    let router = {
        let (count, stalled, gate) = (count.clone(), stalled.clone(), gate.clone());
        Router::new().unary_sync("slow.sink", move |_ctx: &Context, _req: Bytes| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                // The server's connection stops reading (a blocked handler on the
                // server's only thread) until the test has seen the queue fill.
                stalled.store(true, Ordering::SeqCst);
                gate.wait();
            }
            Ok(Bytes::new())
        })
    };
    // A huge window: flow control alone would let the client queue everything.
    let opts = {
        let mut o = Options::default();
        o.initial_connection_window = 256 << 20;
        o
    };
    let (url, stop, thread) = serve_on_thread(unix_url("stall"), router, opts);
    let client = Client::connect(&url).await.unwrap();
    let batches = 1024;
    let (returned, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let producer = {
        let (client, returned, done) = (client.clone(), returned.clone(), done.clone());
        tokio::spawn(async move {
            let body = Bytes::from(vec![7u8; 1024]);
            for _ in 0..batches {
                let batch = vec![body.clone(); 64];
                client.notify_batch("slow.sink", batch).await.unwrap();
                returned.fetch_add(1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    wait_until("the server's handler to stall", || {
        stalled.load(Ordering::SeqCst)
    })
    .await;
    // With the peer reading nothing, the queue grows to its bound (8 MiB) and then the
    // producer waits. Keep the peer stalled until both happened (or the producer got
    // everything out, which only an unbounded queue allows).
    wait_until("6 MiB waiting for the socket", || {
        client.stats().write_queue_peak >= 6 << 20 || done.load(Ordering::SeqCst)
    })
    .await;
    wait_until_still(
        "notify_batch calls returned",
        SETTLED,
        || returned.load(Ordering::SeqCst),
        || done.load(Ordering::SeqCst),
    )
    .await;
    gate.open();
    within("the producer to finish once the peer reads again", producer)
        .await
        .unwrap();
    wait_until("every message handled", || {
        count.load(Ordering::SeqCst) == batches * 64
    })
    .await;
    // 64 MiB went out while the peer read nothing for a while; at most about 8 MiB (plus
    // what one hand-over adds) ever waited for the socket.
    let peak = client.stats().write_queue_peak;
    assert!(
        peak > 1 << 20,
        "the stall built no queue ({peak} bytes): test is void"
    );
    assert!(peak < 10 << 20, "{peak} bytes waited for the socket");
    stop.send(()).unwrap();
    thread.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_waits_while_a_stalled_peer_holds_the_window() {
    let (count, stalled, gate) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
        Gate::default(),
    );
    let router = {
        let (count, stalled, gate) = (count.clone(), stalled.clone(), gate.clone());
        Router::new().unary_sync("stall", move |_ctx: &Context, _req: Bytes| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                // The server's connection takes nothing more until the test opens the
                // gate, so its window closes and the client's one-way messages must wait.
                stalled.store(true, Ordering::SeqCst);
                gate.wait();
            }
            Ok(Bytes::new())
        })
    };
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
    wait_until("the server's handler to stall", || {
        stalled.load(Ordering::SeqCst)
    })
    .await;
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
    // Within the window (256 KiB) and the one-way budget (4 MiB) of 1 KiB messages:
    // about 256 + 4096 return, and the producer waits for the rest.
    wait_until(
        "a one-way budget's worth (4096) of notifies to return",
        || queued.load(Ordering::SeqCst) >= 4_096,
    )
    .await;
    let during = wait_until_still(
        "notifies returned",
        SETTLED,
        || queued.load(Ordering::SeqCst),
        || producer.is_finished(),
    )
    .await;
    assert!(!producer.is_finished(), "notify never waited");
    assert!(
        (4_096..=4_096 + 256 + 64).contains(&during),
        "{during} notifies returned while the peer was stalled"
    );
    gate.open();
    within("the producer to resume", producer).await.unwrap();
    wait_until("every message to arrive", || {
        count.load(Ordering::SeqCst) == total + 1
    })
    .await;
    stop.send(()).unwrap();
    thread.join().unwrap();
}
