//! Per-method counters and latency histograms (`Options::method_metrics`): every kind of
//! served call is counted under its method, calls to unregistered methods under one
//! name, and nothing is kept when the option is off.

mod common;

use bytes::Bytes;
use common::{echo_router, serve, wait_until, GRACE};
use muxwire::{CallOptions, Client, Context, MethodSnapshot, Options, StatusCode, UNKNOWN_METHOD};

fn method<'a>(methods: &'a [MethodSnapshot], name: &str) -> &'a MethodSnapshot {
    methods
        .iter()
        .find(|m| m.method == name)
        .unwrap_or_else(|| panic!("no series for {name}: {methods:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_served_call_counts_under_its_method() {
    let router = echo_router()
        .unary_sync("sync", |_ctx: &Context, req: Bytes| Ok(req))
        .unary_blocking("blocking", |_ctx: Context, req: Bytes| Ok(req));
    let mut opts = Options::default();
    opts.method_metrics = true;
    let server = serve("tcp://127.0.0.1:0", router, opts).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    for m in ["sync", "echo", "blocking"] {
        for _ in 0..3 {
            client.call(m, Bytes::from_static(b"hi")).await.unwrap();
        }
    }
    // A sync handler's reply larger than a frame leaves on a stream of its own.
    client
        .call("sync", Bytes::from(vec![7u8; 300_000]))
        .await
        .unwrap();
    assert_eq!(
        client.call("fail", Bytes::new()).await.unwrap_err().code,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client.call("nobody", Bytes::new()).await.unwrap_err().code,
        StatusCode::UNIMPLEMENTED
    );
    let (mut tx, mut rx) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    tx.finish().unwrap();
    assert_eq!(&rx.next().await.unwrap().unwrap()[..], b"3");
    assert!(rx.next().await.is_none());
    client
        .notify("echo", Bytes::from_static(b"x"))
        .await
        .unwrap();
    // The listing's reply comes after the one-way call was handled (same connection).
    client.list().await.unwrap();
    wait_until("the stream's end is counted", || {
        method(&server.stats().methods, "sum").ended[0] == 1
    })
    .await;

    let methods = server.stats().methods;
    let names: Vec<&str> = methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(
        names,
        [
            "blocking",
            "count",
            "echo",
            "fail",
            "muxwire.describe",
            "muxwire.list",
            "slow",
            "sum",
            "sync",
            UNKNOWN_METHOD
        ],
        "sorted, unknown last"
    );
    let sync = method(&methods, "sync");
    assert_eq!(
        (sync.started, sync.ended[0], sync.latency_count()),
        (4, 4, 4)
    );
    let echo = method(&methods, "echo");
    assert_eq!(
        (echo.started, echo.ended[0], echo.latency_count()),
        (4, 3, 3),
        "the one-way call counts as started only"
    );
    let blocking = method(&methods, "blocking");
    assert_eq!((blocking.started, blocking.ended[0]), (3, 3));
    let fail = method(&methods, "fail");
    assert_eq!(fail.ended[StatusCode::NOT_FOUND.0 as usize], 1);
    let unknown = method(&methods, UNKNOWN_METHOD);
    assert_eq!(unknown.ended[StatusCode::UNIMPLEMENTED.0 as usize], 1);
    assert_eq!(method(&methods, "muxwire.list").ended[0], 1);
    assert_eq!(method(&methods, "sum").latency_count(), 1);
    for m in &methods {
        assert_eq!(m.latency_count(), m.ended.iter().sum::<u64>(), "{m:?}");
        assert_eq!(m.latency_quantile_us(0.5).is_some(), m.latency_count() > 0);
    }
    let text = server.stats().prometheus();
    assert!(text.contains("muxwire_method_calls_handled_total{method=\"sync\",code=\"OK\"} 4\n"));
    assert!(text.contains("muxwire_method_latency_seconds_count{method=\"sync\"} 4\n"));
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_kept_per_method_unless_asked() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    client
        .call("echo", Bytes::from_static(b"hi"))
        .await
        .unwrap();
    assert!(server.stats().methods.is_empty());
    assert!(!server.stats().prometheus().contains("muxwire_method_"));
    server.shutdown(GRACE).await;
}
