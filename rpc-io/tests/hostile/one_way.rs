//! One-way floods (PROTOCOL.md sections 5.2, 16 and 18): one-way calls hold a handler
//! slot and their connection credit until their handler finishes.

use std::sync::atomic::Ordering;

use muxwire::Options;
use muxwire_core::wire::{Flags, Settings};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::common::{wait_until, wait_until_still};
use crate::live_bytes;
use crate::peer::{call, Peer};
use crate::probe::{Baseline, Target, GATE, GATED_DONE};

/// Finding 5: 50,000 one-way calls to a handler that waits. At most
/// `max_one_way_handlers` run and as many wait; the connection reads no more meanwhile,
/// so memory stays bounded (before, a task per message: about 730 B each, without
/// bound). Once the handlers may finish, every call runs: none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_calls_wait_for_a_handler_slot() {
    const CALLS: usize = 50_000;
    let mut opts = Options::default();
    opts.max_one_way_handlers = 64;
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    let done_before = GATED_DONE.load(Ordering::SeqCst);
    let base = Baseline::now();

    let peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let (read, mut write) = peer.sock.into_split();
    let flags = Flags::NO_REPLY | Flags::END_STREAM | Flags::MESSAGE;
    let burst: Vec<u8> = (0..CALLS as u32)
        .flat_map(|i| call(2 * i + 1, flags, "gated", None, b"x"))
        .collect();
    // Blocks once the server stops reading, until the gate opens.
    let writer = tokio::spawn(async move { write.write_all(&burst).await.map(|_| write) });
    wait_until_still(
        "the server's memory under a one-way flood",
        std::time::Duration::from_millis(500),
        || live_bytes().saturating_sub(base.bytes()) / (64 * 1024),
        || false,
    )
    .await;
    base.assert_within(4 << 20, "a one-way flood to handlers that wait");
    probe.served("beside a one-way flood").await;

    GATE.add_permits(Semaphore::MAX_PERMITS / 2);
    wait_until("every one-way call to run", || {
        GATED_DONE.load(Ordering::SeqCst) - done_before == CALLS
    })
    .await;
    let write = writer.await.unwrap().expect("the whole flood was read");
    drop((read, write));
    target.stop().await;
}
