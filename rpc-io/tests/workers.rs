//! Worker handlers: foreign or blocking code runs on the worker pool, never on a
//! connection's task, and answers through a `Responder` from any thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use muxwire::{
    CallOptions, Client, Context, Options, Responder, Router, Running, Server, StatusCode,
};

mod common;
use common::wait_until;

async fn serve(router: Router, opts: Options) -> (Running, Client) {
    let server = Server::new(router, opts)
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    (server, client)
}

/// Takes the next value from `rx` without blocking the runtime, failing after 10 s.
async fn recv<T: Send + 'static>(rx: &Arc<Mutex<mpsc::Receiver<T>>>) -> T {
    let rx = rx.clone();
    tokio::task::spawn_blocking(move || {
        rx.lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .expect("the handler never signalled")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_handlers_run_on_worker_threads() {
    let router = Router::new()
        .unary_blocking("where", |_ctx: Context, _req: Bytes| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            Ok(Bytes::from(name))
        })
        .unary_worker("now", |_ctx: Context, req: Bytes, r: Responder| {
            r.reply(req).unwrap();
        });
    let (server, client) = serve(router, Options::default()).await;
    let thread = client.call("where", Bytes::new()).await.unwrap();
    let thread = String::from_utf8_lossy(&thread).to_string();
    assert!(thread.starts_with("muxwire-worker-"), "ran on {thread:?}");
    let r = client.call("now", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(&r[..], b"x");
    let names = client.list().await.unwrap();
    assert!(names.contains(&"where".to_string()) && names.contains(&"now".to_string()));
    server.shutdown(Duration::from_secs(1)).await;
}

// The seam C and Python need: the handler keeps its responder, and another thread answers
// later; meanwhile the connection serves other calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_answers_later_from_another_thread() {
    let (tx, rx) = mpsc::channel::<Responder>();
    let tx = Mutex::new(tx);
    let router = Router::new()
        .unary_worker("later", move |_ctx: Context, _req: Bytes, r: Responder| {
            tx.lock().unwrap().send(r).unwrap();
        })
        .unary_sync("echo", |_: &Context, b: Bytes| Ok(b));
    let (server, client) = serve(router, Options::default()).await;
    let c = client.clone();
    let pending = tokio::spawn(async move { c.call("later", Bytes::new()).await });
    let rx = Arc::new(Mutex::new(rx));
    let responder = recv(&rx).await;
    // The call waits for its answer, and the connection is free for others.
    for _ in 0..100 {
        client.call("echo", Bytes::from_static(b"e")).await.unwrap();
    }
    assert!(!pending.is_finished());
    assert!(!responder.is_cancelled());
    std::thread::spawn(move || responder.reply(Bytes::from_static(b"done")).unwrap())
        .join()
        .unwrap();
    assert_eq!(&pending.await.unwrap().unwrap()[..], b"done");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_responder_or_a_panic_ends_the_call() {
    let router = Router::new()
        .unary_worker("forget", |_ctx: Context, _req: Bytes, r: Responder| drop(r))
        .unary_worker("panic", |_ctx: Context, _req: Bytes, _r: Responder| {
            panic!("worker handler failed")
        })
        .unary_blocking("fail", |_ctx: Context, _req: Bytes| {
            Err(muxwire::Status::new(StatusCode::NOT_FOUND, "missing"))
        });
    let (server, client) = serve(router, Options::default()).await;
    let e = client.call("forget", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    assert!(e.message.contains("without answering"), "{e}");
    let e = client.call("panic", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    let e = client.call("fail", Bytes::new()).await.unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (StatusCode::NOT_FOUND, "missing")
    );
    // The pool still works after a panic.
    let e = client.call("forget", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_worker_queue_refuses_with_a_named_bound() {
    // One thread, one queued call: the third concurrent call is refused.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let router = Router::new().unary_blocking("block", move |_ctx: Context, req: Bytes| {
        started_tx.lock().unwrap().send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        Ok(req)
    });
    let opts = {
        let mut o = Options::default();
        o.worker_threads = 1;
        o.worker_queue = 1;
        o
    };
    let (server, client) = serve(router, opts).await;
    let started = Arc::new(Mutex::new(started_rx));
    let c = client.clone();
    let first = tokio::spawn(async move { c.call("block", Bytes::from_static(b"1")).await });
    recv(&started).await; // the one thread is busy
    let c = client.clone();
    let second = tokio::spawn(async move { c.call("block", Bytes::from_static(b"2")).await });
    // The second call is queued once the server counts it in flight.
    wait_until("the second call in flight", || {
        server.stats().in_flight >= 2
    })
    .await;
    let e = client
        .call("block", Bytes::from_static(b"3"))
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("worker_queue"), "{e}");
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    assert_eq!(&first.await.unwrap().unwrap()[..], b"1");
    assert_eq!(&second.await.unwrap().unwrap()[..], b"2");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_is_seen_by_its_responder() {
    let (tx, rx) = mpsc::channel::<Responder>();
    let tx = Mutex::new(tx);
    let router = Router::new().unary_worker("hold", move |_c: Context, _r: Bytes, r: Responder| {
        tx.lock().unwrap().send(r).unwrap();
    });
    let (server, client) = serve(router, Options::default()).await;
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.call_with(
            "hold",
            Bytes::new(),
            &CallOptions::timeout(Duration::from_millis(50)),
        )
        .await
    });
    let rx = Arc::new(Mutex::new(rx));
    let responder = recv(&rx).await;
    assert_eq!(
        call.await.unwrap().unwrap_err().code,
        StatusCode::DEADLINE_EXCEEDED
    );
    wait_until("the responder to see the cancel", || {
        responder.is_cancelled()
    })
    .await;
    assert_eq!(
        responder.reply(Bytes::new()).unwrap_err().code,
        StatusCode::CANCELLED
    );
    server.shutdown(Duration::from_secs(1)).await;
}
