//! Interceptors (`Router::intercept`): run in order before the handler and in reverse
//! after the call, may add metadata or refuse, see every kind of call end exactly once;
//! the ready ones (ConcurrencyLimit, BearerToken, LogCalls); a panicking one refuses.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{echo_router, serve, wait_until, GRACE};
use muxwire::{
    BearerToken, CallEnd, CallOptions, CallStart, Client, ConcurrencyLimit, Context, Interceptor,
    LogCalls, Options, Status, StatusCode,
};

/// Records what it sees; refuses methods named in `refuse`.
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    refuse: &'static str,
}

impl Interceptor for Recorder {
    fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
        self.log
            .lock()
            .unwrap()
            .push(format!("before {} {}", self.name, call.method));
        if call.method == self.refuse {
            return Err(Status::new(StatusCode::PERMISSION_DENIED, "not this one"));
        }
        call.metadata
            .push((format!("seen-by-{}", self.name), Bytes::from_static(b"yes")));
        Ok(())
    }

    fn after(&self, call: &CallEnd<'_>) {
        self.log.lock().unwrap().push(format!(
            "after {} {} {}",
            self.name,
            call.method,
            call.code.name()
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_run_in_order_add_metadata_and_see_each_end_once() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let router = echo_router()
        .unary_sync("seen", |ctx: &Context, _b: Bytes| {
            let names: Vec<&str> = ctx.metadata().iter().map(|(k, _)| k.as_str()).collect();
            Ok(Bytes::from(names.join(",")))
        })
        .unary_sync("big", |_ctx: &Context, _b: Bytes| {
            Ok(Bytes::from(vec![1u8; 300_000]))
        })
        .intercept(Recorder {
            name: "a",
            log: log.clone(),
            refuse: "",
        })
        .intercept(Recorder {
            name: "b",
            log: log.clone(),
            refuse: "fail",
        })
        .intercept(LogCalls);
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let seen = client.call("seen", Bytes::new()).await.unwrap();
    assert_eq!(
        &seen[..],
        b"seen-by-a,seen-by-b",
        "the handler sees what they added"
    );
    assert_eq!(
        *log.lock().unwrap(),
        [
            "before a seen",
            "before b seen",
            "after b seen OK",
            "after a seen OK"
        ]
    );
    log.lock().unwrap().clear();
    let e = client.call("fail", Bytes::new()).await.unwrap_err();
    assert_eq!(
        e.code,
        StatusCode::PERMISSION_DENIED,
        "b refused before the handler ran"
    );
    assert_eq!(
        *log.lock().unwrap(),
        [
            "before a fail",
            "before b fail",
            "after a fail PERMISSION_DENIED"
        ],
        "a ends what it let through; b, which refused, sees no end"
    );
    // Every kind of call ends once: async, sync with a reply too large for one frame,
    // streaming, unknown method.
    log.lock().unwrap().clear();
    client.call("echo", Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(
        client.call("big", Bytes::new()).await.unwrap().len(),
        300_000
    );
    let (mut tx, mut rx) = client
        .open_stream("sum", &CallOptions::default())
        .await
        .unwrap();
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    tx.finish().unwrap();
    assert_eq!(&rx.next().await.unwrap().unwrap()[..], b"3");
    assert_eq!(
        client.call("nobody", Bytes::new()).await.unwrap_err().code,
        StatusCode::UNIMPLEMENTED
    );
    wait_until("four ends seen by a", || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("after a"))
            .count()
            == 4
    })
    .await;
    let log = log.lock().unwrap().clone();
    for (method, code) in [
        ("echo", "OK"),
        ("big", "OK"),
        ("sum", "OK"),
        ("nobody", "UNIMPLEMENTED"),
    ] {
        let line = format!("after a {method} {code}");
        assert_eq!(
            log.iter().filter(|l| **l == line).count(),
            1,
            "{line} in {log:?}"
        );
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_refuses_one_call_too_many_and_lets_go_after() {
    let limit = Arc::new(ConcurrencyLimit::per_method(2));
    let gate = common::Gate::default();
    let started = Arc::new(AtomicU64::new(0));
    let (g, s) = (gate.clone(), started.clone());
    struct Shared(Arc<ConcurrencyLimit>);
    impl Interceptor for Shared {
        fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
            self.0.before(call)
        }
        fn after(&self, call: &CallEnd<'_>) {
            self.0.after(call)
        }
    }
    let router = echo_router()
        .unary_blocking("hold", move |_ctx: Context, b: Bytes| {
            s.fetch_add(1, Ordering::SeqCst);
            g.wait();
            Ok(b)
        })
        .intercept(Shared(limit.clone()));
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call("hold", Bytes::new()).await })
        })
        .collect();
    wait_until("two calls run", || started.load(Ordering::SeqCst) == 2).await;
    assert_eq!(limit.in_flight("hold"), 2);
    let e = client.call("hold", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::RESOURCE_EXHAUSTED);
    assert!(e.message.contains("ConcurrencyLimit"), "{e}");
    client.call("echo", Bytes::from_static(b"x")).await.unwrap();
    gate.open();
    for h in held {
        h.await.unwrap().unwrap();
    }
    wait_until("the limit lets go", || limit.in_flight("hold") == 0).await;
    client.call("hold", Bytes::new()).await.unwrap();
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_interceptor_and_a_panicking_one() {
    struct Boom;
    impl Interceptor for Boom {
        fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
            if call.method == "boom" {
                panic!("a bug in an interceptor");
            }
            Ok(())
        }
    }
    let router = echo_router()
        .intercept(BearerToken::new("s3cret"))
        .intercept(Boom);
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let e = client.call("echo", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::UNAUTHENTICATED);
    let token = CallOptions {
        metadata: vec![("authorization".into(), Bytes::from_static(b"Bearer s3cret"))],
        ..CallOptions::default()
    };
    let wrong = CallOptions {
        metadata: vec![("authorization".into(), Bytes::from_static(b"Bearer guess!"))],
        ..CallOptions::default()
    };
    assert_eq!(
        client
            .call_with("echo", Bytes::new(), &wrong)
            .await
            .unwrap_err()
            .code,
        StatusCode::UNAUTHENTICATED
    );
    client
        .call_with("echo", Bytes::from_static(b"ok"), &token)
        .await
        .unwrap();
    let e = client
        .call_with("boom", Bytes::new(), &token)
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    client
        .call_with("echo", Bytes::from_static(b"still"), &token)
        .await
        .unwrap();
    server.shutdown(GRACE).await;
}
