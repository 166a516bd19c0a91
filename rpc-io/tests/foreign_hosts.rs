//! What a host without a tokio runtime of its own (a C program, synchronous Python) does:
//! a runtime the library owns, blocking waits, owned call futures, completion callbacks,
//! and streams polled as `futures_core::Stream`.

use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use muxwire::{
    CallOptions, Client, Context, Inbound, Options, Outbound, Router, Runtime, Server, StatusCode,
};

fn router() -> Router {
    Router::new()
        .unary_sync("echo", |_: &Context, b: Bytes| Ok(b))
        .streaming(
            "count",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                let n: usize = match inbound.next().await {
                    Some(Ok(m)) => String::from_utf8_lossy(&m).parse().unwrap_or(0),
                    _ => 0,
                };
                for i in 0..n {
                    outbound.send(Bytes::from(i.to_string())).await?;
                }
                Ok(())
            },
        )
}

// A plain #[test]: no runtime on this thread, as in a C program.
#[test]
fn a_synchronous_host_serves_and_calls_on_an_owned_runtime() {
    let rt = Runtime::new(2).unwrap();
    let h = rt.handle();
    let server = rt
        .block_on(Server::new(router(), Options::default()).bind("tcp://127.0.0.1:0"))
        .unwrap()
        .unwrap();
    let url = server.local_endpoint().to_string();
    let client = rt
        .block_on(async move { Client::connect(&url).await })
        .unwrap()
        .unwrap();

    // A blocking call: an owned future run on the runtime, waited for here.
    let call = client.call_owned("echo", Bytes::from_static(b"sync"), CallOptions::default());
    assert_eq!(&rt.block_on(call).unwrap().unwrap()[..], b"sync");

    // A call with a completion callback, run on a runtime thread.
    let (tx, rx) = mpsc::channel();
    client.call_then(
        "echo",
        Bytes::from_static(b"cb"),
        CallOptions::default(),
        move |r| {
            let thread = std::thread::current().name().unwrap_or("").to_string();
            tx.send((r, thread)).unwrap();
        },
    );
    let (r, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&r.unwrap()[..], b"cb");
    assert!(
        thread.starts_with("muxwire-rt-"),
        "callback ran on {thread:?}"
    );

    // Waiting in slices, as a host that checks for Ctrl-C between waits does.
    let mut call = client.call_owned("echo", Bytes::from_static(b"w"), CallOptions::default());
    let mut out = None;
    for _ in 0..1000 {
        if let Some(r) = h
            .wait_for(call.as_mut(), Duration::from_millis(10))
            .unwrap()
        {
            out = Some(r);
            break;
        }
    }
    assert_eq!(&out.expect("the call ended").unwrap()[..], b"w");

    // A server stream read through the `Stream` trait.
    let c = client.clone();
    let got = rt
        .block_on(async move {
            let (mut sink, mut stream) = c.open_stream("count", &CallOptions::default()).await?;
            sink.send(Bytes::from_static(b"3")).await?;
            sink.finish()?;
            let mut got = Vec::new();
            while let Some(m) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
            {
                got.push(String::from_utf8(m?.to_vec()).unwrap());
            }
            Ok::<_, muxwire::Status>(got)
        })
        .unwrap()
        .unwrap();
    assert_eq!(got, ["0", "1", "2"]);

    rt.block_on(server.shutdown(Duration::from_secs(1)))
        .unwrap();
    rt.shutdown(Duration::from_secs(1));
}

// Connecting from a task that is not on a tokio runtime is a clear error, not a panic.
#[test]
fn connecting_off_a_runtime_is_refused_with_a_status() {
    let rt = Runtime::new(1).unwrap();
    let server = rt
        .block_on(Server::new(router(), Options::default()).bind("tcp://127.0.0.1:0"))
        .unwrap()
        .unwrap();
    let url = server.local_endpoint().to_string();
    // A minimal executor of our own: no tokio context on this thread.
    let e = poll_here(Client::connect(&url)).err().unwrap();
    assert_eq!(e.code, StatusCode::FAILED_PRECONDITION);
    assert!(e.message.contains("connect_on"), "{e}");
    let e = poll_here(Server::new(router(), Options::default()).bind("tcp://127.0.0.1:0"))
        .err()
        .unwrap();
    assert_eq!(e.code, StatusCode::FAILED_PRECONDITION);
    // connect_on works from here: the connection lives on the runtime named.
    let h = rt.handle();
    let client = poll_here(Client::connect_on(&h, &url, Options::default(), None)).unwrap();
    let r = rt
        .block_on(client.call_owned("echo", Bytes::from_static(b"on"), CallOptions::default()))
        .unwrap()
        .unwrap();
    assert_eq!(&r[..], b"on");
}

/// Drives `fut` to completion on this thread with a parking waker.
fn poll_here<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

// Completion callbacks are the one way a C or Python host learns outcomes without a task
// of its own per call: each call's callback runs exactly once, whatever happens to the
// call, and one that panics costs no other call its outcome.
#[test]
fn every_completion_callback_runs_exactly_once() {
    let rt = Runtime::new(2).unwrap();
    let router = router().unary("slow", |_ctx: Context, b: Bytes| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(b)
    });
    let server = rt
        .block_on(Server::new(router, Options::default()).bind("tcp://127.0.0.1:0"))
        .unwrap()
        .unwrap();
    let url = server.local_endpoint().to_string();
    let client = rt
        .block_on(async move { Client::connect(&url).await })
        .unwrap()
        .unwrap();

    // Many calls in flight at once, every tenth callback panicking.
    const N: usize = 2_000;
    let (tx, rx) = mpsc::channel();
    for i in 0..N {
        let tx = tx.clone();
        let body = Bytes::from(i.to_string());
        client.call_then("echo", body, CallOptions::default(), move |r| {
            tx.send((i, r)).unwrap();
            if i % 10 == 0 {
                panic!("callback {i} panics on purpose");
            }
        });
    }
    let mut seen = vec![false; N];
    for _ in 0..N {
        let (i, r) = rx.recv_timeout(Duration::from_secs(60)).expect("outcome");
        assert_eq!(r.unwrap(), Bytes::from(i.to_string()));
        assert!(!std::mem::replace(&mut seen[i], true), "call {i} twice");
    }
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());

    // A timeout ends a callback's call like any other.
    let opts = CallOptions::timeout(Duration::from_millis(50));
    let t = tx.clone();
    client.call_then("slow", Bytes::new(), opts, move |r| t.send((0, r)).unwrap());
    let (_, r) = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(r.unwrap_err().code, StatusCode::DEADLINE_EXCEEDED);

    // Calls under way when the connection goes get a definite status, and so do calls
    // made after it has gone.
    let t = tx.clone();
    client.call_then("slow", Bytes::new(), CallOptions::default(), move |r| {
        t.send((1, r)).unwrap()
    });
    rt.block_on(server.shutdown(Duration::from_millis(10)))
        .unwrap();
    let (_, r) = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(r.is_err(), "the connection went with the call under way");
    let t = tx.clone();
    client.call_then("echo", Bytes::new(), CallOptions::default(), move |r| {
        t.send((2, r)).unwrap()
    });
    let (_, r) = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(r.unwrap_err().code, StatusCode::UNAVAILABLE);
    rt.shutdown(Duration::from_secs(1));
}
