//! A server's registry of connected peers (`Peers`): connect and disconnect events,
//! broadcasts that skip a peer that does not read instead of waiting for it, and calls to
//! every peer at once.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{echo_router, wait_until, within, GRACE};
use muxwire::{Client, Context, Options, PeerEvent, Peers, Router, Server, StatusCode};
use muxwire_core::wire::{Flags, Settings, PREFACE};
use tokio::io::AsyncWriteExt;

/// A client that counts the `news` messages it is sent and answers `ask` (slowly if
/// `slow`).
async fn listener(url: &str, got: Arc<AtomicU64>, slow: bool) -> Client {
    let router = Router::new()
        .unary_sync("news", move |_ctx: &Context, _b: Bytes| {
            got.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::new())
        })
        .unary("ask", move |_ctx: Context, b: Bytes| async move {
            if slow {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(b)
        });
    Client::connect_with(url, Options::default(), Some(router))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_come_and_go_with_events_and_a_broadcast_reaches_them_all() {
    let peers = Peers::new();
    let mut events = peers.events();
    let server = Server::new(echo_router(), Options::default())
        .with_peers(peers.clone())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let got: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
    let mut clients = Vec::new();
    for g in &got {
        clients.push(listener(&url, g.clone(), false).await);
    }
    let mut ids = Vec::new();
    while ids.len() < 3 {
        match within("a connect event", events.next()).await.unwrap() {
            PeerEvent::Connected(p) => {
                assert!(p.peer_address().starts_with("127.0.0.1:"));
                ids.push(p.connection_id());
            }
            _ => panic!("only connections so far"),
        }
    }
    assert_eq!(peers.len(), 3);
    let report = peers.notify_all("news", Bytes::from_static(b"hello all"));
    assert_eq!((report.sent, report.full, report.failed), (3, 0, 0));
    wait_until("every peer got the news", || {
        got.iter().all(|g| g.load(Ordering::SeqCst) == 1)
    })
    .await;
    // To one peer only.
    let one = ids[1];
    let report = peers.notify_where("news", Bytes::new(), |p| p.connection_id() == one);
    assert_eq!(report.sent, 1);
    wait_until("the one peer got it", || {
        got.iter().map(|g| g.load(Ordering::SeqCst)).sum::<u64>() == 4
    })
    .await;

    clients.remove(0).close().await;
    match within("a disconnect event", events.next()).await.unwrap() {
        PeerEvent::Disconnected(p) => assert_eq!(p.connection_id(), ids[0]),
        _ => panic!("expected the first client to leave"),
    }
    assert_eq!(peers.len(), 2);
    assert!(peers.get(ids[0]).is_none() && peers.get(ids[1]).is_some());
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_skipped_never_waited_for() {
    let peers = Peers::new();
    let mut events = peers.events();
    let server = Server::new(echo_router(), Options::default())
        .with_peers(peers.clone())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    // A peer that says HELLO and never reads a byte.
    let mut deaf = tokio::net::TcpStream::connect(url.trim_start_matches("tcp://"))
        .await
        .unwrap();
    let mut hello = vec![0u8; 256];
    let n = Settings::default()
        .encode_hello(&mut hello, None, Flags::NONE)
        .unwrap();
    deaf.write_all(&[&PREFACE[..], &hello[..n]].concat())
        .await
        .unwrap();
    let Some(PeerEvent::Connected(deaf_peer)) = events.next().await else {
        panic!("the deaf peer connects first")
    };
    let got = Arc::new(AtomicU64::new(0));
    let client = listener(&url, got.clone(), false).await;
    let _ = events.next().await;

    // Within the deaf peer's frame size (its HELLO keeps the default, 16 KiB).
    let body = Bytes::from(vec![1u8; 12_000]);
    let (mut sent_to_good, mut deaf_skipped) = (0u64, 0);
    for _ in 0..1_000 {
        let report = peers.notify_all("news", body.clone());
        assert_eq!(report.failed, 0, "{report:?}");
        if report.missed.contains(&deaf_peer.connection_id()) {
            deaf_skipped += 1;
        }
        if report.missed.len() < 2
            && !report
                .missed
                .iter()
                .any(|&m| m != deaf_peer.connection_id())
        {
            sent_to_good += 1;
        }
        // Let the reading peer keep up (a broadcast never waits; this test does).
        if got.load(Ordering::SeqCst) + 64 < sent_to_good {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(
        deaf_skipped > 0,
        "the deaf peer's queue filled and it was skipped"
    );
    wait_until("the reading peer got every message sent to it", || {
        got.load(Ordering::SeqCst) == sent_to_good
    })
    .await;
    drop(client);
    drop(deaf);
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_every_peer_waits_for_a_slow_one_no_longer_than_the_timeout() {
    let peers = Peers::new();
    let server = Server::new(echo_router(), Options::default())
        .with_peers(peers.clone())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let (a, b) = (
        listener(&url, Arc::default(), false).await,
        listener(&url, Arc::default(), true).await,
    );
    wait_until("both peers joined", || peers.len() == 2).await;
    let results = within(
        "call_all ends",
        peers.call_all("ask", Bytes::from_static(b"?"), Duration::from_millis(300)),
    )
    .await;
    let mut codes: Vec<Option<StatusCode>> = results
        .iter()
        .map(|(_, r)| r.as_ref().err().map(|e| e.code))
        .collect();
    codes.sort_by_key(|c| c.map(|c| c.0));
    assert_eq!(codes, [None, Some(StatusCode::DEADLINE_EXCEEDED)]);
    drop((a, b));
    server.shutdown(GRACE).await;
}

/// A broadcast that reaches a peer before its HELLO (the server registers a connection
/// when it accepts it) waits for the HELLO: judged on the initial 16 KiB frame size, a
/// larger one-way message would have been dropped although the peer takes 64 KiB frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_before_the_peers_hello_waits_for_it_instead_of_being_dropped() {
    use muxwire_core::wire::{decode, Decoded, FrameType};
    use tokio::io::AsyncReadExt;

    let peers = Peers::new();
    let server = Server::new(echo_router(), Options::default())
        .with_peers(peers.clone())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let mut late = tokio::net::TcpStream::connect(url.trim_start_matches("tcp://"))
        .await
        .unwrap();
    wait_until("the peer is registered", || peers.len() == 1).await;
    let body = Bytes::from(vec![9u8; 30_000]);
    assert_eq!(peers.notify_all("news", body).sent, 1);

    // Only now the peer says HELLO, taking 64 KiB frames.
    let settings = Settings {
        max_frame_size: 65_536,
        ..Settings::default()
    };
    let mut hello = vec![0u8; 256];
    let n = settings
        .encode_hello(&mut hello, None, Flags::NONE)
        .unwrap();
    late.write_all(&[&PREFACE[..], &hello[..n]].concat())
        .await
        .unwrap();
    // The server's preface and HELLO, then the message as one CALL frame.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65_536];
    let found = within("the one-way CALL arrives", async {
        loop {
            let n = late.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            let mut at = PREFACE.len().min(buf.len());
            while let Ok(Decoded::Frame { frame, len }) = decode(&buf[at..], 1 << 20) {
                if frame.ty() == FrameType::CALL {
                    return frame.body().len();
                }
                at += len;
            }
        }
    })
    .await;
    assert_eq!(found, 30_000);
    assert_eq!(server.stats().limit_rejections, 0, "nothing was dropped");
    server.shutdown(GRACE).await;
}
