//! Large messages over real sockets: limits that name themselves, replies over the
//! caller's limit, chunked messages in pooled buffers and read in place, and peers that
//! close half way through a large chunk.
//!
//! This binary's `a_peer_that_closes_in_the_middle_of_a_large_chunk_ends_only_its_connection`
//! installs a panic hook that counts every panic in the process: keep handlers that panic
//! on purpose out of this file.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{echo_router, futures_join, serve, unix_url, wait_until, within, GRACE};
use muxwire::{CallOptions, Client, Codec, Options, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_get_resource_exhausted_naming_the_limit() {
    let opts = {
        let mut o = Options::default();
        o.max_message_size = 1 << 20;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // The client learned the limit from HELLO and refuses locally...
    let e = client
        .call("echo", Bytes::from(vec![0u8; (1 << 20) + 1]))
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("max_message_size"), "{e}");
    // ...and a streamed message growing past it is stopped by the server.
    let (mut sink, mut stream) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    sink.send(Bytes::from(vec![1u8; (1 << 20) + 5000]))
        .await
        .unwrap();
    sink.finish().unwrap();
    let e = loop {
        match stream.next().await {
            Some(Err(e)) => break e,
            Some(Ok(_)) => continue,
            None => panic!("no error"),
        }
    };
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("max_message_size 1048576"), "{e}");
    assert_eq!(
        client
            .call("echo", Bytes::from_static(b"still fine"))
            .await
            .unwrap(),
        Bytes::from_static(b"still fine")
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_callers_limit_still_ends_the_call() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let small = {
        let mut o = Options::default();
        o.max_message_size = 1000;
        o
    };
    let client = Client::connect_with(&server.local_endpoint().to_string(), small, None)
        .await
        .unwrap();
    let r = within(
        "the call to end",
        client.call("echo", Bytes::from(vec![1u8; 2000])),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED, "{e}");
    // Large replies (chunked) over the limit end too.
    let r = within(
        "the chunked call to end",
        client.call("echo", Bytes::from(vec![1u8; 300_000])),
    )
    .await;
    assert_eq!(r.unwrap_err().code, StatusCode::RESOURCE_EXHAUSTED);
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_in_flight_together_keep_their_own_bytes() {
    // Chunked messages are put together in pooled buffers: replies held by the
    // application must never see a buffer reused under them.
    let opts = || {
        let mut o = Options::default();
        o.max_message_size = 8 << 20;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts()).await;
    let client = Client::connect_with(&server.local_endpoint().to_string(), opts(), None)
        .await
        .unwrap();
    let body = |round: usize, i: usize| {
        let seed = (round * 7 + i) as u8;
        Bytes::from(
            (0..(3 << 20) + i * 1000)
                .map(|k| seed.wrapping_add((k % 251) as u8))
                .collect::<Vec<u8>>(),
        )
    };
    let mut held = Vec::new();
    for round in 0..4 {
        let calls = (0..4).map(|i| {
            let client = client.clone();
            let b = body(round, i);
            async move { (b.clone(), client.call("echo", b).await.unwrap()) }
        });
        held.extend(futures_join(calls).await);
    }
    for (sent, got) in &held {
        assert!(sent == got, "a reply changed after it was delivered");
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_chunks_are_read_in_place_and_arrive_intact() {
    // 256 KiB frames: chunks past the first are read straight into their message's buffer.
    for (crc, compress) in [(false, None), (true, None), (true, Some(Codec::Lz4))] {
        let opts = || {
            let mut o = Options::default();
            o.max_frame_size = 256 * 1024;
            o.max_message_size = 16 << 20;
            o.initial_stream_window = 16 << 20;
            o.initial_connection_window = 64 << 20;
            o.crc = crc;
            o.compress_with = compress;
            o
        };
        let url = unix_url(&format!("land-{crc}-{}", compress.is_some()));
        let server = serve(&url, echo_router(), opts()).await;
        let client = Client::connect_with(&url, opts(), None).await.unwrap();
        // Sizes around chunk boundaries; bodies that compress a little (lz4 keeps them
        // large) and differ per call.
        let body = |i: usize, len: usize| {
            Bytes::from(
                (0..len)
                    .map(|k| ((k * 31 + i * 7) % 253) as u8 ^ (k >> 9) as u8)
                    .collect::<Vec<u8>>(),
            )
        };
        let sizes = [4 << 20, (4 << 20) + 1, 3 * 262_000, 5_000_000, 1 << 20];
        let calls = sizes.iter().enumerate().map(|(i, &len)| {
            let client = client.clone();
            let b = body(i, len);
            async move { (b.clone(), client.call("echo", b).await.unwrap()) }
        });
        for (sent, got) in futures_join(calls).await {
            assert_eq!(sent.len(), got.len());
            assert!(sent == got, "echo differs (crc {crc}, {compress:?})");
        }
        let (c, s) = (client.stats(), server.stats());
        // All but the first chunk of each message (and what one read brings along
        // before a chunk's head is seen) land in place.
        for (side, st) in [("client", &c), ("server", &s)] {
            assert!(
                st.bytes_in_place > st.bytes_in / 2,
                "{side}: {} of {} bytes read in place",
                st.bytes_in_place,
                st.bytes_in
            );
        }
        assert!(s.frames_in >= c.frames_out && c.frames_in >= s.frames_out);
        server.shutdown(GRACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_closes_in_the_middle_of_a_large_chunk_ends_only_its_connection() {
    use muxwire_core::wire::{self as w, Flags, FrameEncoder, FrameType, Tag};
    // A panic in the server's connection task would only end that connection: count them.
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info)
    }));
    let opts = || {
        let mut o = Options::default();
        o.max_frame_size = 256 * 1024;
        o
    };
    let server = serve("tcp://127.0.0.1:0", echo_router(), opts()).await;
    let url = server.local_endpoint().to_string();
    let addr = url.trim_start_matches("tcp://").to_string();
    let frame = |ty, stream: u32, flags, meta: Option<&[u8]>, body: &[u8]| {
        let mut buf = vec![0u8; body.len() + 256];
        let mut enc = FrameEncoder::new(&mut buf, ty, stream, 0).unwrap();
        if let Some(m) = meta {
            enc.tlv(Tag::METHOD, m).unwrap();
        }
        let n = enc.finish_with_body(flags, body).unwrap();
        buf.truncate(n);
        buf
    };
    let mut hello = vec![0u8; 64];
    let n = w::Settings::INITIAL
        .encode_hello(&mut hello, None, Flags::NONE)
        .unwrap();
    // The first chunk of a request, then a second one cut short: after its whole header,
    // part of its body; after its header only, with metadata still to come.
    let first = frame(
        FrameType::CALL,
        1,
        Flags::MESSAGE | Flags::MORE,
        Some(b"echo"),
        &[1u8; 100_000],
    );
    let second = frame(FrameType::DATA, 1, Flags::MESSAGE, None, &[2u8; 200_000]);
    let mut header_only = second[..16].to_vec();
    header_only[6] = 40; // Metadata Length 40: the head is longer than what arrives.
    let small = frame(FrameType::DATA, 1, Flags::MESSAGE, None, &[2u8; 2_000]);
    for cut in [
        small[..500].to_vec(),
        second[..16 + 70_000].to_vec(),
        header_only,
    ] {
        let before = server.stats().bytes_in;
        let mut g = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut opening = w::PREFACE.to_vec();
        opening.extend_from_slice(&hello[..n]);
        opening.extend_from_slice(&first);
        g.write_all(&opening).await.unwrap();
        // The server has read the whole first chunk before the cut one follows, so the
        // cut chunk arrives in reads of its own (the path that lands it in place).
        let opened = before + opening.len() as u64;
        wait_until("the server to read the first chunk", || {
            server.stats().bytes_in >= opened
        })
        .await;
        g.write_all(&cut).await.unwrap();
        g.shutdown().await.unwrap();
        let mut rest = Vec::new();
        within("the server to end the connection", g.read_to_end(&mut rest))
            .await
            .unwrap();
    }
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a connection task panicked on a cut frame"
    );
    // The server is still there for everyone else.
    let client = Client::connect_with(&url, opts(), None).await.unwrap();
    let big = Bytes::from(vec![5u8; 3 << 20]);
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    assert!(
        server.stats().bytes_in_place > 0,
        "the landing path was not taken"
    );
    server.shutdown(GRACE).await;
}
