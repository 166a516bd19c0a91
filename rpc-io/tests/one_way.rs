//! One-way calls (notify, notify_confirmed, notify_batch) over real sockets: whole
//! messages or clear errors, and order kept through small windows.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{serve, unix_url, GRACE};
use muxwire::{Client, Context, Options, Router, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_messages_arrive_whole_or_fail_clearly() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    // The handler records the length before its first await: the connection polls a new
    // handler once before it reads on, so the records keep the order of arrival.
    let router = Router::new().unary("len", move |_ctx: Context, req: Bytes| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(req.len());
            Ok(Bytes::new())
        }
    });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    // Fits one frame: arrives whole.
    client
        .notify("len", Bytes::from(vec![1u8; 60_000]))
        .await
        .unwrap();
    client
        .notify_confirmed("len", Bytes::from(vec![1u8; 60_000]))
        .await
        .unwrap();
    // A one-way message is a single frame: one larger than the peer's frame limit is
    // refused with a status naming the limit, never delivered cut short or empty.
    for big in [100_000usize, 2 << 20] {
        let err = client
            .notify("len", Bytes::from(vec![1u8; big]))
            .await
            .unwrap_err();
        assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
        assert!(err.message.contains("frame"), "{err}");
        let err = client
            .notify_confirmed("len", Bytes::from(vec![1u8; big]))
            .await
            .unwrap_err();
        assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    }
    // The connection still works and only whole messages arrived (the call travels
    // behind the one-way messages, so they were handled before it is answered).
    client
        .call("len", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![60_000, 60_000, 3]);

    // With compression the connection decides after compressing: a body that shrinks to
    // fit travels whole; one that does not is refused (reported to a confirmed notify,
    // counted as a limit rejection either way).
    let zopts = {
        let mut o = Options::default();
        o.compress_with = Some(muxwire::Codec::Zstd);
        o
    };
    let zclient = Client::connect_with(&server.local_endpoint().to_string(), zopts, None)
        .await
        .unwrap();
    zclient
        .notify_confirmed("len", Bytes::from(vec![0u8; 100_000]))
        .await
        .unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let err = zclient
        .notify_confirmed("len", Bytes::from(noise.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    zclient.notify("len", Bytes::from(noise)).await.unwrap();
    zclient.call("len", Bytes::from_static(b"z")).await.unwrap();
    assert_eq!(zclient.stats().limit_rejections, 2);
    assert_eq!(*seen.lock().unwrap(), vec![60_000, 60_000, 3, 100_000, 1]);
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_batches_arrive_in_order_through_small_windows() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let router = Router::new().unary_sync("rec", move |_ctx: &Context, req: Bytes| {
        let n = u32::from_le_bytes(req[..4].try_into().unwrap());
        s.lock().unwrap().push((n, req.len()));
        Ok(Bytes::new())
    });
    // A small connection window makes later messages of a batch wait for credit.
    let server_opts = {
        let mut o = Options::default();
        o.initial_connection_window = 262_144;
        o.initial_stream_window = 65_536;
        o
    };
    let server = serve(&unix_url("batch"), router, server_opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let mut expect = Vec::new();
    let mut n = 0u32;
    for round in 0..40usize {
        let mut bodies = Vec::new();
        for i in 0..(1 + round * 7 % 200) {
            // Small bodies (copied into the frame) and large ones (written from their
            // own buffer) interleaved.
            let len = if (i + round) % 17 == 0 {
                20_000
            } else {
                4 + i % 60
            };
            let mut b = vec![0u8; len];
            b[..4].copy_from_slice(&n.to_le_bytes());
            expect.push((n, len));
            bodies.push(Bytes::from(b));
            n += 1;
        }
        client.notify_batch("rec", bodies).await.unwrap();
        if round % 10 == 0 {
            // Single notifies interleave with batches and keep their place.
            let mut b = vec![0u8; 8];
            b[..4].copy_from_slice(&n.to_le_bytes());
            expect.push((n, 8));
            client.notify("rec", Bytes::from(b)).await.unwrap();
            n += 1;
        }
    }
    // A batch with one message too large for a frame is refused whole.
    let err = client
        .notify_batch(
            "rec",
            vec![Bytes::from(vec![0u8; 8]), Bytes::from(vec![0u8; 100_000])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, StatusCode::RESOURCE_EXHAUSTED, "{err}");
    client.notify_batch("rec", Vec::new()).await.unwrap();
    // A call after them is answered after they were all handled.
    let mut b = vec![0u8; 4];
    b.copy_from_slice(&n.to_le_bytes());
    expect.push((n, 4));
    client.call("rec", Bytes::from(b)).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), expect);
    server.shutdown(GRACE).await;
}
