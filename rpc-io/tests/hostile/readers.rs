//! Peers that do not read (PROTOCOL.md sections 14.1 and 18): what the server has to
//! send them waits for the socket, within a bound, instead of piling up in memory up to
//! the windows the peer granted itself.

use muxwire::Options;
use muxwire_core::wire::{Flags, Settings, MAX_WINDOW};
use tokio::io::AsyncWriteExt;

use crate::common::wait_until_still;
use crate::live_bytes;
use crate::peer::{call, chunked_call, hello, Peer};
use crate::probe::{Baseline, Target};

/// Finding 4: a client that grants the largest windows, keeps a small receive buffer and
/// never reads, while it sends 60 KiB echo calls. The server's unwritten output stops at
/// its bound, replies wait for the socket and the server stops reading the calls that
/// would add more; memory stays bounded and the probe is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_make_the_server_buffer_its_replies() {
    const CALLS: u32 = 1_000;
    const SIZE: usize = 60 * 1024;
    let target = Target::start(Options::default()).await;
    let probe = target.probe().await;
    let base = Baseline::now();

    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(target.addr.parse().unwrap()).await.unwrap();
    let mut settings = Settings::INITIAL;
    settings.initial_stream_window = MAX_WINDOW;
    settings.initial_connection_window = MAX_WINDOW;
    settings.max_frame_size = 1 << 20;
    let mut peer = Peer::from_stream(stream);
    peer.send(&[&muxwire_core::wire::PREFACE[..], &hello(settings)].concat())
        .await;
    let (read, mut write) = peer.sock.into_split();
    // 60 MiB of calls (the server returns the credit of each as it arrives). Once the
    // server stops reading, this writer blocks for good: it is aborted at the end.
    let body = vec![9u8; SIZE];
    let writer = tokio::spawn(async move {
        for i in 0..CALLS {
            let c = call(
                2 * i + 1,
                Flags::END_STREAM | Flags::MESSAGE,
                "echo",
                None,
                &body,
            );
            if write.write_all(&c).await.is_err() {
                return;
            }
        }
    });
    let held = wait_until_still(
        "the server's memory under a client that never reads",
        std::time::Duration::from_millis(500),
        || live_bytes().saturating_sub(base.bytes()) / (1 << 20),
        || writer.is_finished(),
    )
    .await;
    base.assert_within(24 << 20, "a client that never reads");
    probe.served("beside a client that never reads").await;
    // Closing the socket ends the server's side at once.
    writer.abort();
    let _ = writer.await;
    drop(read);
    let _ = held;
    target.stop().await;
}

/// A server shuts down although a peer that reads nothing keeps its connection: the
/// close cannot go out, so the connection is cut off once `shutdown`'s grace and the
/// final write's grace (5 s) have passed. Before, `shutdown` never returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_up_by_a_peer_that_never_reads() {
    let target = Target::start(Options::default()).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(target.addr.parse().unwrap()).await.unwrap();
    let mut settings = Settings::INITIAL;
    settings.initial_stream_window = MAX_WINDOW;
    settings.initial_connection_window = MAX_WINDOW;
    let mut peer = Peer::from_stream(stream);
    peer.send(&[&muxwire_core::wire::PREFACE[..], &hello(settings)].concat())
        .await;
    // Enough calls to fill the server's output (16 MiB of replies), sent from a task that
    // blocks for good once the server stops reading.
    let (read, mut write) = peer.sock.into_split();
    let body = vec![9u8; 60 * 1024];
    let writer = tokio::spawn(async move {
        for i in 0..300u32 {
            let c = call(
                2 * i + 1,
                Flags::END_STREAM | Flags::MESSAGE,
                "echo",
                None,
                &body,
            );
            if write.write_all(&c).await.is_err() {
                return;
            }
        }
    });
    // It stops taking new work a frame's worth (512 KiB) below its 8 MiB bound.
    crate::common::wait_until("the server's output to fill up", || {
        target.server.stats().write_queue_peak >= (8 << 20) - (1 << 20)
    })
    .await;
    crate::common::within(
        "shutdown",
        target.stop_with(std::time::Duration::from_millis(100)),
    )
    .await;
    writer.abort();
    drop(read);
}

/// Finding 10: the unwritten output of a connection stays within its documented 8 MiB
/// (spec section 16, `outbound_limit`) also when the peer allows frames of 16 MiB and asks
/// for 3 MiB replies it never reads (before, one more reply went out whole past the bound:
/// 8.5-12.1 MB were seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_queue_stays_within_its_bound() {
    const SIZE: usize = 3 << 20;
    let target = Target::start(Options::default()).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(target.addr.parse().unwrap()).await.unwrap();
    let mut settings = Settings::INITIAL;
    settings.initial_stream_window = MAX_WINDOW;
    settings.initial_connection_window = MAX_WINDOW;
    settings.max_frame_size = (1 << 24) - 1;
    let mut peer = Peer::from_stream(stream);
    peer.send(&[&muxwire_core::wire::PREFACE[..], &hello(settings)].concat())
        .await;
    let (read, mut write) = peer.sock.into_split();
    let body = vec![3u8; SIZE];
    let writer = tokio::spawn(async move {
        for i in 0..8u32 {
            let c = chunked_call(2 * i + 1, "echo", &body, 60 * 1024);
            if write.write_all(&c).await.is_err() {
                return;
            }
        }
    });
    let peak = wait_until_still(
        "the server's unwritten output",
        std::time::Duration::from_millis(500),
        || target.server.stats().write_queue_peak as usize,
        || writer.is_finished(),
    )
    .await;
    assert!(peak > 4 << 20, "the test filled the queue ({peak} bytes)");
    assert!(
        peak <= 8 << 20,
        "{peak} bytes unwritten, past the 8 MiB bound"
    );
    writer.abort();
    let _ = writer.await;
    drop(read);
    target
        .stop_with(std::time::Duration::from_millis(100))
        .await;
}

/// Issue 15, finding 4's second half: over all connections together, what peers that do
/// not read make the server hold stays near `server_outbound_limit`: past it, a
/// connection that holds 1 MiB or more takes no new work (each would hold up to 8 MiB
/// alone), while the probe, which holds little, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_do_not_read_share_a_server_wide_bound() {
    const PEERS: usize = 4;
    const LIMIT: usize = 4 << 20;
    let mut opts = Options::default();
    opts.server_outbound_limit = LIMIT;
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    let mut held = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..PEERS {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let stream = sock.connect(target.addr.parse().unwrap()).await.unwrap();
        let mut settings = Settings::INITIAL;
        settings.initial_stream_window = MAX_WINDOW;
        settings.initial_connection_window = MAX_WINDOW;
        let mut peer = Peer::from_stream(stream);
        peer.send(&[&muxwire_core::wire::PREFACE[..], &hello(settings)].concat())
            .await;
        let (read, mut write) = peer.sock.into_split();
        held.push(read);
        let body = vec![9u8; 60 * 1024];
        writers.push(tokio::spawn(async move {
            for i in 0..300u32 {
                let c = call(
                    2 * i + 1,
                    Flags::END_STREAM | Flags::MESSAGE,
                    "echo",
                    None,
                    &body,
                );
                if write.write_all(&c).await.is_err() {
                    return;
                }
            }
        }));
    }
    let peak = wait_until_still(
        "the server's unwritten output over all connections",
        std::time::Duration::from_millis(500),
        || target.server.stats().server_write_queue_peak as usize,
        || writers.iter().all(|w| w.is_finished()),
    )
    .await;
    let bound = LIMIT + PEERS * (3 << 19);
    assert!(
        peak >= LIMIT,
        "the peers filled the server's output ({peak} bytes)"
    );
    assert!(
        peak <= bound,
        "{peak} bytes unwritten over all connections, past {bound}"
    );
    probe.served("beside peers that do not read").await;
    for w in writers {
        w.abort();
    }
    drop(held);
    target
        .stop_with(std::time::Duration::from_millis(100))
        .await;
}
