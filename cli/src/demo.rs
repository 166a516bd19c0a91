//! `muxwire demo`: a server and a client in one process, every kind of call, then the
//! annotated bytes of a unary call and a short benchmark against the raw socket floor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use muxwire::{CallOptions, Client, Codec, Context, Options, Server};

pub(crate) fn run() -> i32 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let code = rt.block_on(async {
        let router = crate::serve::router(Arc::default()).unary("ask", |ctx: Context, req: Bytes| async move {
            // A server handler calling its caller back over the same connection.
            ctx.peer().call("client.name", req).await
        });
        let server = Server::new(router, Options::default()).bind("tcp://127.0.0.1:0").await.expect("bind");
        let url = server.local_endpoint().to_string();
        println!("server listening on {url}");
        let client_router = muxwire::Router::new()
            .unary("client.name", |_ctx: Context, _req: Bytes| async move { Ok(Bytes::from_static(b"the demo client")) });
        let client = Client::connect_with(&url, Options::default(), Some(client_router)).await.expect("connect");
        println!("methods: {:?}", client.list().await.expect("list"));
        let r = client.call("echo", Bytes::from_static(b"hello, muxwire")).await.expect("echo");
        println!("echo -> {:?}", String::from_utf8_lossy(&r));
        let r = client.call("ask", Bytes::new()).await.expect("ask");
        println!("server asked the client back -> {:?}", String::from_utf8_lossy(&r));
        let e = client
            .call_with("delay", Bytes::from_static(b"500"), &CallOptions::timeout(Duration::from_millis(50)))
            .await
            .unwrap_err();
        println!("delay 500 ms with a 50 ms deadline -> {} ({})", e.code.name(), e.message);
        let e = client.call("missing", Bytes::new()).await.unwrap_err();
        println!("unknown method -> {} ({})", e.code.name(), e.message);
        let big = Bytes::from(vec![b'm'; 1 << 20]);
        let zstd = CallOptions { compression: Some(Codec::Zstd), ..CallOptions::default() };
        let before = client.stats().bytes_out;
        let r = client.call_with("echo", big.clone(), &zstd).await.expect("big echo");
        println!("1 MiB echo with zstd -> {} bytes back, {} bytes on the wire out", r.len(), client.stats().bytes_out - before);
        let (mut sink, mut stream) = client.open_stream("echo.stream", &CallOptions::default()).await.expect("stream");
        for i in 0..3 {
            sink.send(Bytes::from(format!("message {i}"))).await.expect("send");
        }
        sink.finish().expect("finish");
        while let Some(m) = stream.next().await {
            println!("stream <- {:?}", String::from_utf8_lossy(&m.expect("message")));
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..500 {
                    c.call("echo", Bytes::from_static(&[0u8; 64])).await.expect("call");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let s = client.stats();
        println!(
            "32000 pipelined 64 B calls from 64 tasks over one connection in {:?} ({} writev syscalls, {:.1} calls per syscall)",
            start.elapsed(),
            s.write_syscalls,
            s.calls_ok as f64 / s.write_syscalls.max(1) as f64
        );
        client.close().await;
        server.shutdown(Duration::from_secs(1)).await;
        0
    });
    if code != 0 {
        return code;
    }
    println!("\nthe bytes of a unary call and its reply:");
    let mut buf = [0u8; 128];
    let mut enc = muxwire_core::wire::FrameEncoder::new(
        &mut buf,
        muxwire_core::wire::FrameType::CALL,
        1u32,
        0,
    )
    .expect("enc");
    enc.tlv(muxwire_core::wire::Tag::METHOD, b"echo")
        .expect("tlv");
    let n = enc
        .finish_with_body(
            muxwire_core::wire::Flags::END_STREAM | muxwire_core::wire::Flags::MESSAGE,
            b"hi",
        )
        .expect("frame");
    let m = muxwire_core::wire::FrameEncoder::new(
        &mut buf[n..],
        muxwire_core::wire::FrameType::STATUS,
        1u32,
        0,
    )
    .expect("enc")
    .finish_with_body(muxwire_core::wire::Flags::MESSAGE, b"hi")
    .expect("frame");
    crate::decode::annotate(&buf[..n + m], 65_536);
    println!("\nshort benchmark (muxwire bench --quick):");
    crate::bench::run(crate::bench::BenchArgs::quick())
}
