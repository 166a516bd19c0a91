//! Timers under hostile pacing (PROTOCOL.md section 15.2).

use std::time::Duration;

use muxwire::Options;
use muxwire_core::wire::{Flags, FrameType, Settings};

use crate::peer::{call, ping, Peer};
use crate::probe::{Baseline, Target, HELD};

/// Finding 2: the frame-completion timer runs from each frame's own first byte. A peer
/// whose every write ends mid-frame (a proxy re-chunking the stream does this) but whose
/// every frame completes within a few milliseconds is served well past frame_timeout.
///
/// The pacing is the point, so this test depends on time, with a wide margin: each frame
/// completes 20 ms after it starts, 100 times less than the 2 s frame_timeout, for 3 s in
/// all. Only a stall of the test's writer longer than 2 s could fail a correct server;
/// the old one (timing from the first byte no write completed) closed it at 2 s always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_always_end_mid_frame_are_not_a_stalled_frame() {
    const PINGS: u32 = 150;
    let mut opts = Options::default();
    opts.frame_timeout = Duration::from_secs(2);
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    let base = Baseline::now();

    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let frames: Vec<u8> = (1..=PINGS).flat_map(ping).collect();
    // Every write ends 5 bytes into the next PING.
    let mut at = 0;
    for i in 1..=PINGS as usize {
        let end = (16 * i + 5).min(frames.len());
        peer.send(&frames[at..end]).await;
        at = end;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut acked = 0;
    while acked < PINGS {
        let Some(f) = peer.next().await else {
            panic!("the server closed the connection after {acked} PING ACKs");
        };
        match f.ty {
            FrameType::GOAWAY => panic!("GOAWAY {} after {acked} PING ACKs", f.arg),
            FrameType::PING if f.flags.contains(Flags::ACK) => {
                acked += 1;
                assert_eq!(f.arg, acked, "ACKs in order");
            }
            _ => {}
        }
    }
    probe.served("after the paced peer").await;
    base.assert_within(16 << 20, "a paced peer");
    drop(peer);
    target.stop().await;
}

/// A frame left half-read when the server stops reading for reasons of its own (here its
/// one-way handler slots are all taken) is not a stalled frame: the server does not time
/// it while it holds input back, and finishes it once it reads again (spec section 15.2;
/// before, it closed the connection with TIMEOUT after frame_timeout).
///
/// The wait is the point: the half frame sits behind the pause for 10 times the 100 ms
/// frame_timeout. A correct server passes however long the wait; a starved test machine
/// can only hide the old bug, never invent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_left_behind_a_pause_is_not_timed() {
    let mut opts = Options::default();
    opts.max_one_way_handlers = 1;
    opts.frame_timeout = Duration::from_millis(100);
    let target = Target::start(opts).await;
    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    // Two one-way calls take the one slot and the one waiting place: the server stops
    // reading, with half a PING already in its buffer (one small write, one read).
    let one_way = Flags::NO_REPLY | Flags::END_STREAM | Flags::MESSAGE;
    let pong = ping(0xB0B);
    let mut bytes = call(1, one_way, "held", None, b"x");
    bytes.extend(call(3, one_way, "held", None, b"x"));
    bytes.extend(&pong[..8]);
    peer.send(&bytes).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    peer.send(&pong[8..]).await;
    HELD.add_permits(2);
    loop {
        let f = peer.next().await.expect("the PING's ACK before any close");
        assert_ne!(
            f.ty,
            FrameType::GOAWAY,
            "GOAWAY {}: the half PING was timed",
            f.arg
        );
        if f.ty == FrameType::PING && f.flags.contains(Flags::ACK) {
            assert_eq!(f.arg, 0xB0B);
            break;
        }
    }
    drop(peer);
    target.stop().await;
}
