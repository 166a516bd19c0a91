//! Messages that never finish (PROTOCOL.md sections 8.4, 16 and 18): chunks with MORE,
//! within the granted credit, whose last chunk never comes.

use muxwire::Options;
use muxwire_core::wire::{Flags, FrameType, Settings, StatusCode};

use crate::peer::{call, frame, ping, Peer};
use crate::probe::{Baseline, Target};

/// Finding 3: many streams, each with the first chunk of a message that never ends. The
/// connection's partial messages stay within `partial_message_limit` (the buffers' room
/// reserved up front included): calls past it fail with RESOURCE_EXHAUSTED, and memory
/// stays bounded, while the probe is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_chunked_messages_stay_within_the_partial_message_limit() {
    const LIMIT: usize = 8 << 20;
    const STREAMS: u32 = 200;
    const CHUNK: usize = 16 * 1024;
    let mut opts = Options::default();
    opts.partial_message_limit = LIMIT;
    let target = Target::start(opts).await;
    let probe = target.probe().await;
    let base = Baseline::now();

    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    // 3.2 MiB in all: within the server's windows (1 MiB a stream, 16 MiB in all).
    let mut burst = Vec::new();
    for i in 0..STREAMS {
        let id = 2 * i + 1;
        burst.extend(call(id, Flags::NONE, "hold", None, &[]));
        let more = Flags::MESSAGE | Flags::MORE;
        burst.extend(frame(FrameType::DATA, more, id, 0, &vec![7u8; CHUNK]));
    }
    burst.extend(ping(0xC4C4));
    peer.send(&burst).await;
    let mut exhausted = 0;
    loop {
        let Some(f) = peer.next().await else {
            panic!("the server closed the connection");
        };
        match f.ty {
            FrameType::GOAWAY => panic!("GOAWAY {}", f.arg),
            FrameType::STATUS if f.arg == StatusCode::RESOURCE_EXHAUSTED.0 => exhausted += 1,
            FrameType::PING if f.flags.contains(Flags::ACK) && f.arg == 0xC4C4 => break,
            _ => {}
        }
    }
    // Every chunk has been taken (the PING after them is answered): what they hold is
    // held now, with the attacker's connection still open.
    base.assert_within(LIMIT + (8 << 20), "unfinished chunked messages");
    assert!(
        exhausted >= (STREAMS as usize) / 2,
        "calls past the limit fail with RESOURCE_EXHAUSTED ({exhausted} did)"
    );
    probe.served("beside unfinished chunked messages").await;
    drop(peer);
    target.stop().await;
}
