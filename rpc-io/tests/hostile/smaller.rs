//! The smaller findings (issue 15, finding 10), each against a raw peer.

use muxwire::Options;
use muxwire_core::wire::{Flags, FrameType, Settings, StatusCode};

use crate::peer::{call, frame, Peer};
use crate::probe::Target;

/// An 8,188-byte unknown method (a metadata block of exactly MAX_METADATA_SIZE) is
/// UNIMPLEMENTED: the REASON quoting the name is cut short so that the STATUS fits the
/// peer's metadata limit (before, it did not, and the call got RESOURCE_EXHAUSTED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_unknown_method_is_unimplemented() {
    let target = Target::start(Options::default()).await;
    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let method = "m".repeat(8_188);
    let end = Flags::END_STREAM | Flags::MESSAGE;
    peer.send(&call(1, end, &method, None, b"x")).await;
    let status = loop {
        let f = peer.next().await.expect("the STATUS before any close");
        if f.ty == FrameType::STATUS {
            break f;
        }
        assert_ne!(f.ty, FrameType::GOAWAY, "GOAWAY {}", f.arg);
    };
    assert_eq!(status.arg, StatusCode::UNIMPLEMENTED.0, "the STATUS code");
    drop(peer);
    target.stop().await;
}

/// A CALL the peer opens after its own GOAWAY(NO_ERROR) is refused, while the call it
/// opened before finishes (before, the server served it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_the_peers_goaway_is_refused() {
    let target = Target::start(Options::default()).await;
    let mut peer = Peer::handshake(&target.addr, Settings::INITIAL).await;
    let mut bytes = call(1, Flags::NONE, "hold", None, &[]);
    bytes.extend(frame(
        FrameType::GOAWAY,
        Flags::NONE,
        0,
        0,
        &0u64.to_le_bytes(),
    ));
    bytes.extend(call(
        3,
        Flags::END_STREAM | Flags::MESSAGE,
        "echo",
        None,
        b"late",
    ));
    bytes.extend(frame(FrameType::DATA, Flags::END_STREAM, 1, 0, &[]));
    peer.send(&bytes).await;
    let mut refused_3 = false;
    let mut ended_1 = false;
    while !(refused_3 && ended_1) {
        let Some(f) = peer.next().await else {
            panic!("closed before both answers (refused 3: {refused_3}, ended 1: {ended_1})");
        };
        match (f.ty, f.stream) {
            (FrameType::STATUS, 3) => {
                assert!(
                    f.flags.contains(Flags::REFUSED),
                    "call 3 is refused, not served"
                );
                refused_3 = true;
            }
            (FrameType::STATUS, 1) => {
                assert_eq!(f.arg, StatusCode::OK.0, "call 1 finishes");
                ended_1 = true;
            }
            (FrameType::GOAWAY, _) => assert_eq!(f.arg, 0, "a graceful GOAWAY only"),
            _ => {}
        }
    }
    drop(peer);
    target.stop().await;
}

/// A request larger than the server's max_message_size (which its HELLO announced) fails
/// at the client with RESOURCE_EXHAUSTED naming the server's limit, and is never written:
/// unary and streaming alike (before, 1-1.6 MB went out in chunks for the server to
/// reject).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_peers_limit_is_not_sent() {
    let mut opts = Options::default();
    opts.max_message_size = 1 << 20;
    let target = Target::start(opts).await;
    let client = muxwire::Client::connect(&target.url).await.unwrap();
    let big = bytes::Bytes::from(vec![5u8; 2 << 20]);
    let e = client.call("echo", big.clone()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED, "{e}");
    assert!(e.message.contains("max_message_size 1048576"), "{e}");

    let (mut sink, mut stream) = client
        .open_stream("sum", &muxwire::CallOptions::default())
        .await
        .unwrap();
    // Queued before the driver sees it is too large: either this send or the call fails.
    let _ = sink.send(big).await;
    let e = match stream.next().await {
        Some(Err(e)) => e,
        other => panic!("the streaming call fails, not {other:?}"),
    };
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED, "{e}");
    assert!(e.message.contains("max_message_size 1048576"), "{e}");

    let out = client.stats().bytes_out;
    assert!(
        out < 64 * 1024,
        "{out} bytes written: the requests went out"
    );
    // The connection is fine afterwards.
    let r = client
        .call("echo", bytes::Bytes::from_static(b"ok"))
        .await
        .unwrap();
    assert_eq!(r, "ok");
    target.stop().await;
}
