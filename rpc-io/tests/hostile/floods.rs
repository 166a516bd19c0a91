//! Floods of cheap frames, from HTTP/2's attack record (PROTOCOL.md sections 16 and 18):
//! each is ended by its budget with GOAWAY(ENHANCE_YOUR_CALM) while the probe is served,
//! and memory stays bounded. Every flood is one write followed by a PING: a server that
//! let the flood through answers the PING instead of closing.

use muxwire::Options;
use muxwire_core::wire::{ErrorCode, Flags, FrameType, Settings};

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
