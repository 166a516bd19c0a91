//! Stream floods (PROTOCOL.md sections 14.2 and 16): calls over the concurrency limit,
//! sent in one write, are each answered, and the connection keeps working through the
//! bytes it already received.

use muxwire::Options;
use muxwire_core::wire::{Flags, FrameType, StatusCode};

use crate::peer::{call, ping, Peer};
use crate::probe::{Baseline, Target};

/// What the server answered to a burst, counted until the PING that followed it.
#[derive(Default, Debug)]
struct Answers {
    refused: usize,
    statuses: usize,
    deadline_exceeded: usize,
    pong: bool,
}

/// Reads frames until the PING `opaque` is answered and `enough` holds; fails on a GOAWAY
/// (the connection must not be closed) or the end of the connection.
async fn read_answers(peer: &mut Peer, opaque: u32, enough: impl Fn(&Answers) -> bool) -> Answers {
    let mut a = Answers::default();
    while !(a.pong && enough(&a)) {
        let Some(f) = peer.next().await else {
            panic!("the server closed the connection; answers so far: {a:?}");
        };
        match f.ty {
            FrameType::GOAWAY => panic!("the server sent GOAWAY {}; answers so far: {a:?}", f.arg),
            FrameType::STATUS => {
                assert_eq!(f.stream % 2, 1, "a STATUS for one of the peer's calls");
                a.statuses += 1;
                if f.flags.contains(Flags::REFUSED) {
                    assert_eq!(f.arg, StatusCode::UNAVAILABLE.0, "a refusal is UNAVAILABLE");
                    a.refused += 1;
                }
                if f.arg == StatusCode::DEADLINE_EXCEEDED.0 {
                    a.deadline_exceeded += 1;
                }
            }
            FrameType::PING if f.flags.contains(Flags::ACK) && f.arg == opaque => a.pong = true,
            _ => {}
        }
    }
    a
}

/// Finding 1: a burst of streaming calls over MAX_CONCURRENT_STREAMS, with a PING after
/// it, all in one write: every call over the limit gets its STATUS(REFUSED) and the PING
/// its ACK. (The refusals outnumber the core's control queue, so the connection must keep
/// working through input it had already received once its output drains.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_burst_is_answered_in_full_and_pings_still_answered() {
    const OPEN: u32 = 16;
    const OVER: u32 = 200;
    let mut opts = Options::default();
    opts.max_concurrent_streams = OPEN;
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    probe.served("before the burst").await;
    let base = Baseline::now();

    let mut peer = Peer::handshake(&target.addr, muxwire_core::wire::Settings::INITIAL).await;
    let mut burst = Vec::new();
    for i in 0..OPEN + OVER {
        burst.extend(call(2 * i + 1, Flags::NONE, "hold", None, &[]));
    }
    burst.extend(ping(0xC0FFEE));
    peer.send(&burst).await;
    let a = read_answers(&mut peer, 0xC0FFEE, |a| a.refused >= OVER as usize).await;
    assert_eq!(a.refused, OVER as usize, "{a:?}");
    probe.served("after the burst").await;
    base.assert_within(16 << 20, "a refused burst");
    drop(peer);
    target.stop().await;
}

/// Finding 1, the deadline variant: more unary calls than MAX_CONCURRENT_STREAMS (1 024)
/// that arrive already expired (DEADLINE 0), in one write, with a PING after them: every
/// call gets its STATUS (DEADLINE_EXCEEDED, or REFUSED for those over the limit) without
/// the client sending another byte, and the PING its ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_calls_in_one_write_are_all_answered_without_more_input() {
    // Fewer refusals than control_budget (1 000 a second): none of this is abuse.
    const CALLS: u32 = 2_000;
    let target = Target::start(Options::default()).await;
    let probe = target.probe().await;
    let base = Baseline::now();

    let mut peer = Peer::handshake(&target.addr, muxwire_core::wire::Settings::INITIAL).await;
    let mut burst = Vec::new();
    for i in 0..CALLS {
        let end = Flags::END_STREAM | Flags::MESSAGE;
        burst.extend(call(2 * i + 1, end, "delay", Some(0), b"x"));
    }
    burst.extend(ping(0xDEAD));
    peer.send(&burst).await;
    let a = read_answers(&mut peer, 0xDEAD, |a| a.statuses >= CALLS as usize).await;
    assert_eq!(a.statuses, CALLS as usize, "{a:?}");
    assert_eq!(a.deadline_exceeded + a.refused, CALLS as usize, "{a:?}");
    assert!(a.deadline_exceeded >= 1_024, "{a:?}");
    probe.served("after the expired burst").await;
    base.assert_within(16 << 20, "a burst of expired calls");
    drop(peer);
    target.stop().await;
}
