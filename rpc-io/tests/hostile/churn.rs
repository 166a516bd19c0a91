//! Churn across connections (issue 15, finding 7): CALL+CANCEL pairs spread over many
//! connections, each within its own `cancel_budget`, spend the server-wide
//! `server_cancel_budget`; the server then closes the connections that cancel and refuses
//! new ones (GOAWAY(ENHANCE_YOUR_CALM)), counts it, and keeps serving a well-behaved client.

use muxwire::Options;
use muxwire_core::wire::{ErrorCode, Flags, FrameType, Settings};
use tokio::io::AsyncWriteExt;

use crate::common::{futures_join, wait_until};
use crate::peer::{call, frame, Peer};
use crate::probe::Target;

/// Connections of the attack.
const CONNECTIONS: u32 = 20;

/// CALL+CANCEL pairs per connection: a tenth of its own budget of 1 000 a second.
const PAIRS: u32 = 100;

/// The server-wide budget: a tenth of what the attack sends.
const SERVER_BUDGET: u32 = 200;

/// One attacking connection: its pairs in one write; returns the code of the GOAWAY it
/// got, if any.
async fn resets(addr: String) -> Option<u32> {
    let mut peer = Peer::handshake(&addr, Settings::INITIAL).await;
    let pairs: Vec<u8> = (0..PAIRS)
        .flat_map(|i| {
            let id = 2 * i + 1;
            let mut pair = call(id, Flags::NONE, "hold", None, &[]);
            pair.extend(frame(FrameType::CANCEL, Flags::NONE, id, 1, &[]));
            pair
        })
        .collect();
    // Refused or closed early: a failed write is part of the outcome.
    let _ = peer.sock.write_all(&pairs).await;
    let _ = peer.sock.shutdown().await;
    let mut goaway = None;
    while let Some(f) = peer.next().await {
        if f.ty == FrameType::GOAWAY {
            goaway = Some(f.arg);
        }
    }
    goaway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_spread_over_connections_trip_the_server_wide_budget() {
    let mut opts = Options::default();
    opts.server_cancel_budget = SERVER_BUDGET;
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    let codes = futures_join((0..CONNECTIONS).map(|_| resets(target.addr.clone()))).await;
    let calm = codes
        .iter()
        .filter(|c| **c == Some(ErrorCode::ENHANCE_YOUR_CALM.0))
        .count();
    assert!(
        calm > 0,
        "some connections were told to calm down: {codes:?}"
    );
    wait_until("the trips to be counted", || {
        target.server.stats().refused_server_cancel_budget > 0
    })
    .await;
    probe.served("after the churn").await;
    target.stop().await;
}
