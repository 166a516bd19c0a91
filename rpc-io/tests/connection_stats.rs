//! How connections end is counted: by connection error code, by which end closed, and
//! keepalive timeouts on their own (`StatsSnapshot::connections_closed_*`,
//! `keepalive_timeouts`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{echo_router, serve, wait_until, GRACE};
use muxwire::{Client, Options};
use muxwire_core::wire::{ErrorCode, Flags, Settings, PREFACE};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_a_keepalive_ping_is_counted_as_a_keepalive_timeout() {
    let mut opts = Options::default();
    opts.keepalive = Some(Duration::from_millis(20));
    opts.ping_timeout = Duration::from_millis(50);
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts).await;
    let addr = server.local_endpoint().to_string();
    // A peer that says HELLO and then never reads or answers anything.
    let mut sock = tokio::net::TcpStream::connect(addr.trim_start_matches("tcp://"))
        .await
        .unwrap();
    let mut hello = vec![0u8; 256];
    let n = Settings::default()
        .encode_hello(&mut hello, None, Flags::NONE)
        .unwrap();
    sock.write_all(&[&PREFACE[..], &hello[..n]].concat())
        .await
        .unwrap();
    wait_until("the server gives up on the silent peer", || {
        server.stats().keepalive_timeouts == 1
    })
    .await;
    let s = server.stats();
    assert_eq!(s.connections_closed_local[ErrorCode::TIMEOUT.0 as usize], 1);
    assert_eq!(s.connections_closed_by_peer.iter().sum::<u64>(), 0);
    let text = s.prometheus();
    assert!(text.contains("muxwire_keepalive_timeouts_total 1\n"));
    assert!(text.contains("muxwire_connections_closed_total{code=\"TIMEOUT\",by=\"local\"} 1\n"));
    drop(sock);
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_closes_is_counted_as_closed_by_the_peer_without_error() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    client
        .call("echo", Bytes::from_static(b"hi"))
        .await
        .unwrap();
    client.close().await;
    wait_until("the server sees the client's close", || {
        server.stats().connections_closed_by_peer[0] == 1
    })
    .await;
    let s = server.stats();
    assert_eq!(s.keepalive_timeouts, 0);
    assert_eq!(s.connections_closed_local.iter().sum::<u64>(), 0);
    server.shutdown(GRACE).await;
    // The client's own count: it closed its connection itself.
    wait_until("the client counts its own close", || {
        client.stats().connections_closed_local[0] == 1
    })
    .await;
}
