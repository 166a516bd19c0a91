//! Servers that let the client down (issue 15, findings 9 and 10): a listener that accepts
//! and never answers, an idle timeout, and a GOAWAY that crosses a call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Client, ConnState, Endpoint, Io, IoFuture, Options, StatusCode, Transport};
use muxwire_core::wire::{Flags, FrameType, Settings, PREFACE};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{wait_until, within};
use crate::peer::{frame, hello, Peer};
use crate::probe::Target;

/// Connects to `first` once, then always to `then`.
struct Redirect {
    first: String,
    then: String,
    connects: AtomicUsize,
}

impl Transport for Redirect {
    fn connect(&self, _endpoint: &Endpoint) -> IoFuture<'_, Io> {
        let n = self.connects.fetch_add(1, Ordering::SeqCst);
        let addr = if n == 0 { &self.first } else { &self.then }.clone();
        Box::pin(async move {
            let (read, write) = TcpStream::connect(&addr).await?.into_split();
            Ok(Io::new(Box::pin(read), Box::pin(write), addr))
        })
    }

    fn listen(&self, _endpoint: &Endpoint) -> IoFuture<'_, Box<dyn muxwire::Acceptor>> {
        Box::pin(async { Err(std::io::ErrorKind::Unsupported.into()) })
    }
}

/// Finding 9, second part: while the client reconnects to a listener that accepts and
/// says nothing (a proxy whose backend hangs), it is not Ready, and a fail-fast call fails
/// at once as safe to retry (before, the client reported Ready as soon as TCP connected
/// and the call waited for the handshake timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_is_ready_only_after_its_handshake() {
    let target = Target::start(Options::default()).await;
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let holder = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let transport = Arc::new(Redirect {
        first: target.addr.clone(),
        then: silent_addr,
        connects: AtomicUsize::new(0),
    });
    let mut opts = Options::default();
    // Far past the test's patience: a call that waits for the handshake hangs the test.
    opts.handshake_timeout = Duration::from_secs(600);
    opts.reconnect_base = Duration::from_millis(5);
    let client = Client::connect_via(transport.clone(), &target.url, opts, None)
        .await
        .unwrap();
    client
        .call("echo", Bytes::from_static(b"first"))
        .await
        .unwrap();
    target.stop().await;
    wait_until("the client to reconnect to the silent listener", || {
        accepted.load(Ordering::SeqCst) >= 1
    })
    .await;
    let e = within(
        "a fail-fast call during the reconnect",
        client.call("echo", Bytes::from_static(b"second")),
    )
    .await
    .expect_err("no connection is ready");
    assert_eq!(e.code, StatusCode::UNAVAILABLE, "{e}");
    assert!(e.retry_safe, "{e}");
    assert_ne!(client.current_state(), ConnState::Ready);
    holder.abort();
}

/// Finding 10: a client whose own idle timeout closes its connection does not reconnect
/// at once; it waits (Idle) for the next call, which reconnects and is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_reconnects_at_its_next_call() {
    let target = Target::start(Options::default()).await;
    let mut opts = Options::default();
    opts.idle_timeout = Some(Duration::from_millis(100));
    let client = Client::connect_with(&target.url, opts, None).await.unwrap();
    client
        .call("echo", Bytes::from_static(b"one"))
        .await
        .unwrap();
    let mut state = client.state();
    within("the idle close", state.wait_for(|s| s == ConnState::Idle))
        .await
        .unwrap();
    // The keeper parks before it would reconnect: nothing was opened since.
    let opened = client.stats().connections;
    let got = within(
        "a call after the idle close",
        client.call("echo", Bytes::from_static(b"two")),
    )
    .await
    .expect("the call reconnects and is served");
    assert_eq!(got, "two");
    assert!(client.stats().connections > opened, "the call reconnected");
    target.stop().await;
}

/// Finding 10: a server's GOAWAY (an idle close) that crosses a call, saying the call was
/// not processed, does not fail it: the client sends it again on a new connection (before,
/// 3-9% of calls racing a server's idle close failed with UNAVAILABLE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_crossing_a_goaway_is_sent_again() {
    let _serial = crate::probe::serial().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        // The first connection closes (GOAWAY, no call accepted) as the call arrives.
        let mut first = accept(&listener).await;
        next_call(&mut first).await;
        first
            .send(&frame(
                FrameType::GOAWAY,
                Flags::NONE,
                0,
                0,
                &0u64.to_le_bytes(),
            ))
            .await;
        drop(first);
        // The second one answers it.
        let mut second = accept(&listener).await;
        let id = next_call(&mut second).await;
        second
            .send(&frame(FrameType::STATUS, Flags::MESSAGE, id, 0, b"again"))
            .await;
        second
    });
    let client = Client::connect(&url).await.unwrap();
    let got = within("the call", client.call("echo", Bytes::from_static(b"hi")))
        .await
        .expect("the call is sent again and served");
    assert_eq!(got, "again");
    drop(server.await.unwrap());
}

/// Accepts a connection and sends the preface and HELLO.
async fn accept(listener: &TcpListener) -> Peer {
    let (sock, _) = listener.accept().await.unwrap();
    let mut p = Peer::from_stream(sock);
    p.send(&[&PREFACE[..], &hello(Settings::INITIAL)].concat())
        .await;
    p
}

/// Reads frames until a CALL; returns its stream id.
async fn next_call(p: &mut Peer) -> u32 {
    loop {
        let f = p.next().await.expect("a CALL before the close");
        if f.ty == FrameType::CALL {
            return f.stream;
        }
    }
}
