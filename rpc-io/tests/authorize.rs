//! Authorization checks (`Router::authorize_calls`, `Router::authorize_connections`):
//! a bearer token in metadata, refusals by method, one-way calls refused without running
//! their handler, a Unix socket peer's credentials (SO_PEERCRED), and a check that panics.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{serve, unix_url, wait_until, GRACE};
use muxwire::{
    CallInfo, CallOptions, Client, Context, Options, PeerInfo, Router, Status, StatusCode,
};

fn with_token(token: &str) -> CallOptions {
    CallOptions {
        metadata: vec![(
            "authorization".to_string(),
            Bytes::from(format!("Bearer {token}")),
        )],
        ..CallOptions::default()
    }
}

/// Calls need `authorization: Bearer s3cret`; `admin.*` methods are for nobody.
fn bearer(call: &CallInfo<'_>) -> Result<(), Status> {
    if call.get("authorization").map(|v| &v[..]) != Some(&b"Bearer s3cret"[..]) {
        return Err(Status::new(
            StatusCode::UNAUTHENTICATED,
            "a bearer token is needed",
        ));
    }
    if call.method.starts_with("admin.") {
        return Err(Status::new(
            StatusCode::PERMISSION_DENIED,
            format!("{} is not for {}", call.method, call.peer.address),
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_in_metadata_decides_which_calls_run() {
    let ran = Arc::new(AtomicU64::new(0));
    let (r1, r2) = (ran.clone(), ran.clone());
    let router = Router::new()
        .unary_sync("echo", move |_ctx: &Context, req: Bytes| {
            r1.fetch_add(1, Ordering::SeqCst);
            Ok(req)
        })
        .unary("admin.reset", move |_ctx: Context, _req: Bytes| {
            let r2 = r2.clone();
            async move {
                r2.fetch_add(100, Ordering::SeqCst);
                Ok(Bytes::new())
            }
        })
        .authorize_calls(bearer);
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let hi = Bytes::from_static(b"hi");
    assert_eq!(
        client
            .call_with("echo", hi.clone(), &with_token("s3cret"))
            .await
            .unwrap(),
        hi
    );
    let no_token = client.call("echo", hi.clone()).await.unwrap_err();
    assert_eq!(no_token.code, StatusCode::UNAUTHENTICATED);
    assert!(no_token.message.contains("bearer token"), "{no_token}");
    let wrong = client
        .call_with("echo", hi.clone(), &with_token("guess"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code, StatusCode::UNAUTHENTICATED);
    let denied = client
        .call_with("admin.reset", hi.clone(), &with_token("s3cret"))
        .await
        .unwrap_err();
    assert_eq!(denied.code, StatusCode::PERMISSION_DENIED);
    assert!(
        denied.message.contains("127.0.0.1:"),
        "names the peer: {denied}"
    );
    // A one-way call without the token is dropped and counted; its handler never runs.
    client.notify("echo", hi.clone()).await.unwrap();
    wait_until("the refused one-way call is counted", || {
        server.stats().one_way_dropped == 1
    })
    .await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "only the authorized call ran"
    );
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_peer_is_known_by_its_process_credentials() {
    // This process's user: the owner of its /proc entry.
    let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    let router = Router::new()
        .unary_sync("whoami", |ctx: &Context, _req: Bytes| {
            let unix = ctx
                .peer_identity()
                .and_then(|i| i.unix)
                .expect("credentials");
            Ok(Bytes::from(format!("{} {:?}", unix.uid, unix.pid)))
        })
        .authorize_connections(move |peer: &PeerInfo<'_>| {
            match peer.identity.and_then(|i| i.unix) {
                Some(c) if c.uid == me => Ok(()),
                _ => Err(Status::new(StatusCode::PERMISSION_DENIED, "not my user")),
            }
        });
    let url = unix_url("authorize-uid");
    let server = serve(&url, router, Options::default()).await;
    let client = Client::connect(&url).await.unwrap();
    let who = client.call("whoami", Bytes::new()).await.unwrap();
    let who = String::from_utf8_lossy(&who).to_string();
    assert_eq!(
        who,
        format!("{me} Some({})", std::process::id()),
        "this process, as the kernel saw it"
    );
    server.shutdown(GRACE).await;

    // A check that refuses the connection answers every call with its status.
    let router = Router::new()
        .unary_sync("whoami", |_ctx: &Context, _req: Bytes| Ok(Bytes::new()))
        .authorize_connections(|_peer: &PeerInfo<'_>| {
            Err(Status::new(StatusCode::PERMISSION_DENIED, "nobody today"))
        });
    let url = unix_url("authorize-nobody");
    let server = serve(&url, router, Options::default()).await;
    let client = Client::connect(&url).await.unwrap();
    for _ in 0..2 {
        let e = client.call("whoami", Bytes::new()).await.unwrap_err();
        assert_eq!(e.code, StatusCode::PERMISSION_DENIED);
        assert_eq!(e.message, "nobody today");
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_panics_refuses_the_call_and_the_connection_carries_on() {
    let router = Router::new()
        .unary_sync("echo", |_ctx: &Context, req: Bytes| Ok(req))
        .authorize_calls(|call: &CallInfo<'_>| {
            if call.method == "boom" {
                panic!("a bug in the check");
            }
            Ok(())
        });
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let e = client.call("boom", Bytes::new()).await.unwrap_err();
    assert_eq!(e.code, StatusCode::INTERNAL);
    assert_eq!(
        &client
            .call("echo", Bytes::from_static(b"ok"))
            .await
            .unwrap()[..],
        b"ok"
    );
    server.shutdown(GRACE).await;
}
