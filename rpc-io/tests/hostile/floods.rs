//! Floods of cheap frames, from HTTP/2's attack record (PROTOCOL.md sections 16 and 18):
//! each is ended by its budget with GOAWAY(ENHANCE_YOUR_CALM) while the probe is served,
//! and memory stays bounded. Every flood is one write followed by a PING: a server that
//! let the flood through answers the PING instead of closing.

use muxwire::Options;
use muxwire_core::wire::{ErrorCode, Flags, FrameType, Settings, StatusCode};

use crate::peer::{call, frame, ping, Peer};
use crate::probe::{Baseline, Target};

/// Frames per flood: five times the default budgets (1 000 a second).
const FLOOD: u32 = 5_000;

/// Sends `flood` then a PING, and expects GOAWAY(ENHANCE_YOUR_CALM) before any ACK of
/// that PING; then checks the probe and the memory bound.
async fn expect_calm(what: &str, flood: Vec<u8>) {
    let target = Target::start(Options::default()).await;
    let probe = target.probe().await;
    let base = Baseline::now();
    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let mut bytes = flood;
    bytes.extend(ping(0x5EED));
    // The server may close before it has read everything: a failed write is fine.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut peer.sock, &bytes).await;
    loop {
        let Some(f) = peer.next().await else {
            panic!("{what}: the server closed the connection without GOAWAY");
        };
        match f.ty {
            FrameType::GOAWAY => {
                assert_eq!(
                    f.arg,
                    ErrorCode::ENHANCE_YOUR_CALM.0,
                    "{what}: GOAWAY code {}",
                    f.arg
                );
                break;
            }
            FrameType::PING if f.flags.contains(Flags::ACK) && f.arg == 0x5EED => {
                panic!("{what}: the whole flood was accepted (its PING was answered)")
            }
            _ => {}
        }
    }
    probe.served(what).await;
    base.assert_within(16 << 20, what);
    target.stop().await;
}

/// Finding 8: DATA frames with empty messages on streams never opened cost no credit, so
/// flow control does not bound them; they count against control_budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_data_on_streams_never_opened_is_budgeted() {
    let flood = (0..FLOOD)
        .flat_map(|i| frame(FrameType::DATA, Flags::MESSAGE, 2 * (i % 64) + 1, 0, &[]))
        .collect();
    expect_calm("empty DATA on streams never opened", flood).await;
}

/// Rapid reset (CVE-2023-44487): open a call and cancel it, over and over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_is_ended_by_cancel_budget() {
    let flood = (0..FLOOD)
        .flat_map(|i| {
            // Fresh ids: a cancelled stream stays open until its STATUS (section 7).
            let id = 2 * i + 1;
            let mut pair = call(id, Flags::NONE, "hold", None, &[]);
            pair.extend(frame(FrameType::CANCEL, Flags::NONE, id, 1, &[]));
            pair
        })
        .collect();
    expect_calm("rapid reset", flood).await;
}

/// PING flood (CVE-2019-9512).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_is_ended_by_control_budget() {
    expect_calm("PING flood", (0..FLOOD).flat_map(ping).collect()).await;
}

/// Settings-style flood: muxwire has no settings updates, so the nearest are tiny WINDOW
/// increments (CVE-2019-9515's cousin, and h2's window-update floods).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_window_flood_is_ended_by_control_budget() {
    let flood = (0..FLOOD)
        .flat_map(|_| frame(FrameType::WINDOW, Flags::NONE, 0, 1, &[]))
        .collect();
    expect_calm("tiny WINDOW flood", flood).await;
}

/// Unknown extension frames cost the receiver work and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_extension_flood_is_ended_by_control_budget() {
    let flood = (0..FLOOD)
        .flat_map(|_| frame(FrameType(0x80), Flags::NONE, 0, 0, b"x"))
        .collect();
    expect_calm("unknown extension frames", flood).await;
}

/// Empty messages on an open stream cost no credit, so flow control does not bound what a
/// handler that does not read holds; `unread_empty_messages` (16 384 per connection) does:
/// the call fails with RESOURCE_EXHAUSTED naming it, memory stays bounded, and the probe
/// is served (before, every empty message waited in the handler's queue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_messages_to_a_handler_that_does_not_read_are_bounded() {
    let target = Target::start(Options::default()).await;
    let probe = target.probe().await;
    let base = Baseline::now();
    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let mut bytes = call(1, Flags::NONE, "ignore", None, &[]);
    for _ in 0..200_000 {
        bytes.extend(frame(FrameType::DATA, Flags::MESSAGE, 1, 0, &[]));
    }
    // Once the call has failed, the rest is late DATA (within its excuse or counted).
    let _ = tokio::io::AsyncWriteExt::write_all(&mut peer.sock, &bytes).await;
    let status = loop {
        let f = peer
            .next()
            .await
            .expect("the call's STATUS before any close");
        if f.ty == FrameType::STATUS && f.stream == 1 {
            break f;
        }
    };
    assert_eq!(
        status.arg,
        StatusCode::RESOURCE_EXHAUSTED.0,
        "the STATUS code"
    );
    base.assert_within(16 << 20, "empty messages");
    probe.served("after the empty messages").await;
    drop(peer);
    target.stop().await;
}
