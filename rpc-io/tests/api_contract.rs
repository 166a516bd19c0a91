//! What a user of the library relies on, each found broken once (issue 10, item 5): the
//! connection state, duplicate registrations, dropping a running server, statuses.

use std::time::Duration;

use bytes::Bytes;
use muxwire::{Client, ConnState, Context, Options, Router, Server, StatusCode};

fn echo() -> Router {
    Router::new().unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
}

/// Waits up to 10 s for `cond`, polling; fails naming `what`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

// Broken before: the state watch's only receiver was dropped at connect, so the send of
// Ready was lost and `state()` said Connecting for the life of the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_client_reports_ready() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    assert_eq!(client.current_state(), ConnState::Ready);
    let mut watch = client.state();
    assert_eq!(watch.get(), ConnState::Ready);
    client.close().await;
    assert_eq!(client.current_state(), ConnState::Shutdown);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .expect("a change")
            .unwrap(),
        ConnState::Shutdown
    );
}

// Broken before: the second registration silently replaced the first handler.
#[tokio::test]
async fn a_method_registered_twice_fails_bind() {
    let router = echo().unary("echo", |_ctx: Context, _req: Bytes| async move {
        Ok(Bytes::from_static(b"second"))
    });
    let e = router.check().unwrap_err();
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS);
    assert!(e.message.contains("\"echo\""), "{e}");
    let e = Server::new(router, Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .err()
        .expect("bind must fail");
    assert_eq!(e.code, StatusCode::ALREADY_EXISTS);

    let builtin = Router::new().unary_sync("muxwire.list", |_: &Context, b: Bytes| Ok(b));
    assert_eq!(
        builtin.check().unwrap_err().code,
        StatusCode::ALREADY_EXISTS
    );
    let empty = Router::new().unary_sync("", |_: &Context, b: Bytes| Ok(b));
    assert_eq!(
        empty.check().unwrap_err().code,
        StatusCode::INVALID_ARGUMENT
    );
}

// Broken before: dropping `Running` left the accept loop listening forever, with no handle
// left to stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_server_stops_listening_and_drains() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let addr = url.trim_start_matches("tcp://").to_string();
    let client = Client::connect(&url).await.unwrap();
    client.call("echo", Bytes::from_static(b"x")).await.unwrap();
    drop(server);
    // The listener closes: new connections are refused.
    let mut refused = false;
    for _ in 0..2000 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "the listener was still accepting after the drop");
    // The open connection was drained: the client sees it end.
    eventually("the drained connection to close", || {
        client.current_state() != ConnState::Ready
    })
    .await;
}

// The agent string was fixed before; it is an option now, checked before connecting.
#[tokio::test]
async fn the_agent_is_an_option_with_a_checked_length() {
    let server = Server::new(echo(), Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap();
    let url = server.local_endpoint().to_string();
    let mut opts = Options::default();
    opts.agent = "my-app/2.0".into();
    let client = Client::connect_with(&url, opts, None).await.unwrap();
    client.call("echo", Bytes::from_static(b"a")).await.unwrap();
    let mut long = Options::default();
    long.agent = "x".repeat(65);
    let e = Client::connect_with(&url, long, None).await.err().unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    assert!(e.message.contains("agent"), "{e}");
}

// Status prints its code by name and converts from the errors users meet.
#[test]
fn status_debug_names_its_code_and_converts_from_io_errors() {
    let s = muxwire::Status::unavailable("down");
    assert!(format!("{s:?}").contains("UNAVAILABLE"));
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let s: muxwire::Status = io.into();
    assert_eq!(s.code, StatusCode::UNAVAILABLE);
}
