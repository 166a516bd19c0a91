//! Helpers shared by the socket tests: a router, one way to start a server, deadlines for
//! waiting on conditions, and servers on their own threads.
//!
//! Nothing here synchronises by sleeping: a test waits for a condition it can observe (a
//! handler's signal, a counter, a stat) and fails naming that condition when the generous
//! [`PATIENCE`] runs out. The suite runs on loaded 2-core machines, where "100 ms ought to
//! be enough" is not.

// Every test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use muxwire::{Context, Inbound, Options, Outbound, Router, Running, Server, Status, StatusCode};
use tokio::io::AsyncReadExt;

/// How long a test waits for something that must happen before it calls it a failure
/// (a hang detector, not a speed requirement: on an idle machine each wait takes
/// milliseconds).
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(5);

/// Grace given to `Running::shutdown` by tests that have nothing in flight.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// echo, fail, slow (200 ms), sum (client streaming), count (server streaming).
pub(crate) fn echo_router() -> Router {
    Router::new()
        .unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
        .unary("fail", |_ctx: Context, _req: Bytes| async move {
            Err(Status::new(StatusCode::NOT_FOUND, "no such thing"))
        })
        .unary("slow", |ctx: Context, _req: Bytes| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Bytes::from(ctx.method().to_string()))
        })
        .streaming(
            "sum",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                let mut total = 0u64;
                while let Some(m) = inbound.next().await {
                    total += m?.len() as u64;
                }
                outbound.send(Bytes::from(total.to_string())).await?;
                Ok(())
            },
        )
        .streaming(
            "count",
            |_ctx: Context, mut inbound: Inbound, outbound: Outbound| async move {
                let n: usize = match inbound.next().await {
                    Some(Ok(m)) => String::from_utf8_lossy(&m).parse().unwrap_or(0),
                    _ => 0,
                };
                for i in 0..n {
                    outbound.send(Bytes::from(vec![b'x'; i])).await?;
                }
                Ok(())
            },
        )
}

/// Binds `router` on `url` (the one way every test starts a server).
pub(crate) async fn serve(url: &str, router: Router, opts: Options) -> Running {
    Server::new(router, opts).bind(url).await.expect("bind")
}

/// A Unix socket path unique to this process and `name`.
pub(crate) fn unix_url(name: &str) -> String {
    format!(
        "unix:///tmp/muxwire-test-{}-{name}.sock",
        std::process::id()
    )
}

/// Polls `cond` every few milliseconds until it holds; panics naming `what` if it still
/// does not after [`PATIENCE`].
pub(crate) async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `value` has not changed for `quiet` (or `done` holds); returns the value.
/// For "this must stop growing" checks: a correct implementation stops at a bound the test
/// then asserts, whatever the timing; a broken one keeps growing and fails that assertion,
/// unless it is starved for all of `quiet` (so a starved machine can only hide a bug,
/// never invent one).
pub(crate) async fn wait_until_still(
    what: &str,
    quiet: Duration,
    mut value: impl FnMut() -> usize,
    mut done: impl FnMut() -> bool,
) -> usize {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = value();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let now = value();
        if now != last {
            (last, since) = (now, tokio::time::Instant::now());
        } else if since.elapsed() >= quiet || done() {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting for {what} to settle (last {last})"
        );
    }
}

/// Awaits `fut`, failing with `what` if it has not finished after [`PATIENCE`] (a hang
/// detector).
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("gave up after {PATIENCE:?} waiting for: {what}"),
    }
}

/// A gate that blocking (sync) handlers wait at until the test opens it. Opening is
/// permanent. Waiting blocks the thread: use it only where blocking is the point.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// Blocks the calling thread until the gate opens (or [`PATIENCE`] passes: a test
    /// that forgets to open it then fails instead of hanging).
    pub(crate) fn wait(&self) {
        let (lock, cv) = &*self.0;
        let open = lock.lock().unwrap();
        let (open, _) = cv.wait_timeout_while(open, PATIENCE, |o| !*o).unwrap();
        assert!(*open, "nobody opened the gate within {PATIENCE:?}");
    }

    /// Opens the gate for every waiter, present and future.
    pub(crate) fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

/// Runs `router` on its own thread and current-thread runtime (so a handler that blocks
/// stalls only the server); returns its URL, a sender that stops it and its thread.
pub(crate) fn serve_on_thread(
    url: String,
    router: Router,
    opts: Options,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = serve(&url, router, opts).await;
            url_tx.send(server.local_endpoint().to_string()).unwrap();
            let _ = stop_rx.await;
            server.shutdown(GRACE).await;
        });
    });
    (url_rx.recv().unwrap(), stop_tx, thread)
}

/// Reads whatever the server sends until it closes; returns the GOAWAY code, if any.
pub(crate) async fn read_goaway(sock: &mut tokio::net::TcpStream) -> Option<u32> {
    let mut all = Vec::new();
    // Whatever arrived counts, even if the server never closes (the GOAWAY is the point).
    let _ = tokio::time::timeout(PATIENCE, sock.read_to_end(&mut all)).await;
    let mut b = all.get(8..)?;
    let mut code = None;
    while let Ok(muxwire_core::wire::Decoded::Frame { frame, len }) =
        muxwire_core::wire::decode(b, 1 << 24)
    {
        if frame.ty() == muxwire_core::wire::FrameType::GOAWAY {
            code = Some(frame.arg());
        }
        b = &b[len..];
    }
    code
}

/// `n` bytes that do not compress.
pub(crate) fn noise(n: usize) -> Bytes {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs futures concurrently (each on its own task) and returns their outputs in order.
pub(crate) async fn futures_join<F: Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
