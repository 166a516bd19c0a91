//! Writing to a peer that has gone away is an error, never a SIGPIPE. A Rust program
//! ignores SIGPIPE from its `main`, but a C program (or anything else) that links the
//! library does not: the signal's default action would kill it. This test restores the
//! default action, so it lives in its own test binary (its own process).

use std::time::Duration;

use muxwire::{Endpoint, Sockets, Transport};
use tokio::io::AsyncWriteExt;

#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default is always valid; no handler
    // runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Connects through the built-in transport, lets the peer close, then writes until the
/// write fails (a TCP peer answers the first write after its close with a reset).
async fn write_to_closed_peer(endpoint: Endpoint, accept: impl FnOnce()) -> std::io::Error {
    let mut io = Sockets::default()
        .connect(&endpoint)
        .await
        .expect("connect");
    accept();
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..200 {
        if let Err(e) = io.write.write_all(&chunk).await {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("writes to a closed peer kept succeeding");
}

#[tokio::test]
async fn a_closed_peer_is_an_error_not_a_signal() {
    restore_default_sigpipe();

    let path = std::env::temp_dir().join(format!("muxwire-sigpipe-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let e = write_to_closed_peer(Endpoint::Unix(path.clone()), || {
        drop(unix.accept().unwrap());
    })
    .await;
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    let _ = std::fs::remove_file(&path);

    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap().to_string();
    let e = write_to_closed_peer(Endpoint::Tcp(addr), || {
        drop(tcp.accept().unwrap());
    })
    .await;
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        "{e}"
    );
}
