//! Many connections (issue 15, finding 6): what an idle connection costs the server, and
//! the server's connection limit.

use muxwire::Options;
use muxwire_core::wire::{ErrorCode, Flags, FrameType, Settings, PREFACE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{wait_until, within};
use crate::live_bytes;
use crate::peer::{hello, ping, Peer};
use crate::probe::{Baseline, Target};

/// Idle connections opened by the memory test.
const IDLE: usize = 200;

/// What the server may hold per idle, handshaken connection (spec section 16).
const PER_CONNECTION: usize = 64 * 1024;

/// Opens a connection, completes the handshake both ways and waits until the server has
/// processed it (it answers a PING only after the peer's HELLO).
async fn idle_peer(addr: &str) -> Peer {
    let mut p = Peer::handshake(addr, Settings::INITIAL).await;
    p.send(&ping(7)).await;
    loop {
        let f = p.next().await.expect("the PING's ACK before any close");
        if f.ty == FrameType::PING && f.flags.contains(Flags::ACK) {
            return p;
        }
    }
}

/// Finding 6: 200 idle handshaken connections cost the server less than 64 KiB each
/// (before: about 440 KiB, its read buffer and write arena of 256 KiB each among them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_costs_the_server_little_memory() {
    let target = Target::start(Options::default()).await;
    let base = Baseline::now();
    let mut peers = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        peers.push(idle_peer(&target.addr).await);
    }
    // The peers' own sockets and buffers are counted too (a few KiB each): generous.
    let per = || live_bytes().saturating_sub(base.bytes()) / IDLE;
    let bound = PER_CONNECTION;
    wait_until("idle connections to cost less than the bound", || {
        per() < bound
    })
    .await;
    drop(peers);
    target.stop().await;
}

/// A connection that carried large messages lets go of its large buffers once idle (both
/// ends: the probe's client and the server's connection), instead of holding them for as
/// long as it lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_shrinks_once_idle() {
    let target = Target::start(Options::default()).await;
    let probe = target.probe().await;
    probe.served("warm up").await;
    let base = Baseline::now();
    // One frame each way (a larger message would be put together in a buffer of the
    // process-wide pool, which outlives connections): each end reads and encodes 60 KiB,
    // into a read buffer and a write arena of 256 KiB each.
    probe.echo(60 * 1024).await;
    let bound = 128 * 1024;
    wait_until("the connection's buffers to be let go", || {
        live_bytes().saturating_sub(base.bytes()) < bound
    })
    .await;
    probe.served("after the trim").await;
    target.stop().await;
}

/// What the server sends a connection before it closes it (after its preface).
async fn everything_sent(addr: &str) -> Vec<u8> {
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let opening = [&PREFACE[..], &hello(Settings::INITIAL)].concat();
    sock.write_all(&opening).await.expect("write");
    let mut all = Vec::new();
    within(
        "the server to close the connection",
        sock.read_to_end(&mut all),
    )
    .await
    .expect("read");
    all
}

/// Finding 6: past `max_connections`, a connection is told why (HELLO, then
/// GOAWAY(ENHANCE_YOUR_CALM) naming the limit), closed and counted; the connections
/// already open keep being served, and a place that frees up is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_by_name() {
    let mut opts = Options::default();
    opts.max_connections = 4;
    let target = Target::start(opts).await;
    // The probe's connection is one of the four.
    let probe = target.probe().await;
    let mut peers = Vec::new();
    for _ in 0..3 {
        peers.push(idle_peer(&target.addr).await);
    }
    let sent = everything_sent(&target.addr).await;
    let mut b = &sent[PREFACE.len()..];
    let mut frames = Vec::new();
    while let Ok(muxwire_core::wire::Decoded::Frame { frame, len }) =
        muxwire_core::wire::decode(b, 1 << 24)
    {
        frames.push((frame.ty(), frame.arg()));
        b = &b[len..];
    }
    let types: Vec<FrameType> = frames.iter().map(|f| f.0).collect();
    assert_eq!(
        types,
        [FrameType::HELLO, FrameType::GOAWAY],
        "HELLO, then GOAWAY"
    );
    assert_eq!(
        frames[1].1,
        ErrorCode::ENHANCE_YOUR_CALM.0,
        "the GOAWAY's code"
    );
    let text = String::from_utf8_lossy(&sent);
    assert!(
        text.contains("max_connections 4 exceeded"),
        "the REASON names the limit"
    );
    assert_eq!(target.server.stats().refused_max_connections, 1);
    probe.served("with the server full").await;

    drop(peers.pop());
    wait_until("a place to free up", || {
        target.server.open_connections() < 4
    })
    .await;
    idle_peer(&target.addr).await;
    assert_eq!(target.server.stats().refused_max_connections, 1);
    drop(peers);
    target.stop().await;
}

/// Finding 7: new connections past `connection_budget` in a second are refused by name
/// and counted; every connection is either served or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_burst_past_the_budget_is_refused_by_name() {
    const BURST: u64 = 100;
    let mut opts = Options::default();
    // A burst of 100 spread over more than 20 s would pass: a hang detector, not a race.
    opts.connection_budget = 5;
    let target = Target::start(opts).await;
    let mut socks = Vec::new();
    for _ in 0..BURST {
        let mut s = tokio::net::TcpStream::connect(&target.addr).await.unwrap();
        let opening = [&PREFACE[..], &hello(Settings::INITIAL)].concat();
        let _ = s.write_all(&opening).await;
        socks.push(s);
    }
    wait_until("every connection served or refused", || {
        let s = target.server.stats();
        s.connections + s.refused_connection_budget == BURST
    })
    .await;
    assert!(target.server.stats().refused_connection_budget > 0);
    drop(socks);
    target.stop().await;
}
