//! Many servers behind one client (`Balanced`): calls spread over every endpoint, a
//! server that dies mid-load loses no call (each ends OK or with a definite status) and
//! is set aside, one that comes back is used again, and a DNS name's addresses.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{echo_router, serve, wait_until, within, GRACE};
use muxwire::{BalanceOptions, Balanced, ConnState, Options, Policy, Running, StatusCode};

async fn three_servers() -> (Vec<Running>, Vec<String>) {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await);
    }
    let urls = servers
        .iter()
        .map(|s| s.local_endpoint().to_string())
        .collect();
    (servers, urls)
}

async fn all_ready(b: &Balanced) {
    wait_until("every endpoint is ready", || {
        b.endpoints().iter().all(|e| e.state == ConnState::Ready)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_gives_each_endpoint_its_turn_and_two_choices_uses_them_all() {
    let (servers, urls) = three_servers().await;
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut rr = BalanceOptions::default();
    rr.policy = Policy::RoundRobin;
    let b = Balanced::connect(&urls, Options::default(), rr)
        .await
        .unwrap();
    all_ready(&b).await;
    for _ in 0..30 {
        b.call("echo", Bytes::from_static(b"x")).await.unwrap();
    }
    for s in &servers {
        assert_eq!(s.stats().calls_ok, 10, "round robin: ten each");
    }
    b.close().await;

    let b = Balanced::connect(&urls, Options::default(), BalanceOptions::default())
        .await
        .unwrap();
    all_ready(&b).await;
    // Concurrent calls: the least loaded of two random endpoints gets each.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                b.call("echo", Bytes::from_static(b"x")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counts: Vec<u64> = b.endpoints().iter().map(|e| e.calls).collect();
    assert_eq!(counts.iter().sum::<u64>(), 800);
    assert!(
        counts.iter().all(|&n| n > 0),
        "every endpoint used: {counts:?}"
    );
    b.close().await;
    for s in servers {
        s.shutdown(GRACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_load_loses_no_call_and_is_used_again_once_back() {
    let (mut servers, urls) = three_servers().await;
    let strs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut opts = Options::default();
    opts.reconnect_base = Duration::from_millis(20);
    opts.reconnect_max = Duration::from_millis(200);
    let mut bal = BalanceOptions::default();
    bal.eject_base = Duration::from_millis(50);
    bal.eject_max = Duration::from_millis(200);
    let b = Balanced::connect(&strs, opts, bal).await.unwrap();
    all_ready(&b).await;

    let (ok, failed, done) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (b, ok, failed, done) = (b.clone(), ok.clone(), failed.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                match b.call("echo", Bytes::from_static(b"x")).await {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    // A definite status: the call was in flight on the server that died
                    // (it may have run, so it is not retried).
                    Err(s) => {
                        assert_eq!(s.code, StatusCode::UNAVAILABLE, "{s}");
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    wait_until("the load is under way", || {
        done.load(Ordering::SeqCst) > 500
    })
    .await;
    let victim = servers.remove(1);
    let addr = urls[1].clone();
    victim.shutdown(Duration::ZERO).await;
    for t in tasks {
        within("every call ends", t).await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 32 * 200, "every call ended");
    assert!(
        failed.load(Ordering::SeqCst) <= 32,
        "at most the calls in flight on the dead server fail: {} failed",
        failed.load(Ordering::SeqCst)
    );
    let dead = b
        .endpoints()
        .into_iter()
        .find(|e| e.endpoint == addr)
        .unwrap();
    assert_ne!(dead.state, ConnState::Ready);

    // It comes back on the same address and takes calls again.
    let back = serve(&addr, echo_router(), Options::default()).await;
    wait_until("the endpoint reconnects", || {
        b.endpoints().iter().all(|e| e.state == ConnState::Ready)
    })
    .await;
    // Once its time set aside is over, calls reach it again.
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while back.stats().calls_ok == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the endpoint is never used again"
        );
        b.call("echo", Bytes::from_static(b"x")).await.unwrap();
    }
    b.close().await;
    back.shutdown(GRACE).await;
    for s in servers {
        s.shutdown(GRACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_becomes_one_endpoint_per_address() {
    let server = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    let port = server
        .local_endpoint()
        .to_string()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let b = Balanced::resolve(
        &format!("tcp://localhost:{port}"),
        Options::default(),
        BalanceOptions::default(),
    )
    .await
    .unwrap();
    let eps = b.endpoints();
    assert!(
        eps.iter()
            .any(|e| e.endpoint == format!("tcp://127.0.0.1:{port}")),
        "{eps:?}"
    );
    // Whatever else localhost resolves to (::1, where nobody listens) is passed over.
    for _ in 0..10 {
        b.call("echo", Bytes::from_static(b"x")).await.unwrap();
    }
    b.close().await;
    server.shutdown(GRACE).await;
}

#[tokio::test]
async fn a_balanced_client_needs_endpoints_it_can_parse() {
    let e = Balanced::connect(&[], Options::default(), BalanceOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    let e = Balanced::connect(
        &["http://x:1"],
        Options::default(),
        BalanceOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_at_the_start_joins_when_it_comes_up() {
    let up = serve("tcp://127.0.0.1:0", echo_router(), Options::default()).await;
    // A port nobody listens on (yet).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let later = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    let mut opts = Options::default();
    opts.reconnect_base = Duration::from_millis(20);
    opts.reconnect_max = Duration::from_millis(100);
    let first = up.local_endpoint().to_string();
    let b = Balanced::connect(&[&first, &later], opts, BalanceOptions::default())
        .await
        .unwrap();
    let joining = b
        .endpoints()
        .into_iter()
        .find(|e| e.endpoint == later)
        .unwrap();
    assert_eq!(joining.state, ConnState::TransientFailure);
    // Calls go to the endpoint that is up meanwhile.
    for _ in 0..10 {
        b.call("echo", Bytes::from_static(b"x")).await.unwrap();
    }
    let late = serve(&later, echo_router(), Options::default()).await;
    wait_until("the late endpoint joins", || {
        b.endpoints().iter().all(|e| e.state == ConnState::Ready)
    })
    .await;
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while late.stats().calls_ok == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late endpoint is never used"
        );
        b.call("echo", Bytes::from_static(b"x")).await.unwrap();
    }
    b.close().await;
    up.shutdown(GRACE).await;
    late.shutdown(GRACE).await;
}
