//! The server under attack, the well-behaved client that must keep being served, and the
//! memory bound the attack must stay within.

use bytes::Bytes;
use muxwire::{Client, Context, Inbound, Options, Outbound, Router, Running};

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard, Semaphore};

use crate::common::{echo_router, serve, within, GRACE};
use crate::live_bytes;

/// `gated` calls wait here until a test adds permits.
pub(crate) static GATE: Semaphore = Semaphore::const_new(0);

/// `gated` calls that got through the gate.
pub(crate) static GATED_DONE: AtomicUsize = AtomicUsize::new(0);

/// `held` calls wait here, each using up one permit, until a test adds permits.
pub(crate) static HELD: Semaphore = Semaphore::const_new(0);

/// One test at a time (see [`Target`]).
static SERIAL: Mutex<()> = Mutex::const_new(());

/// A server on loopback TCP with the hostile suite's methods: `echo`; `hold`, a streaming
/// call that ends when the caller ends its side; `ignore`, a streaming call that never
/// reads its messages and ends when cancelled; `delay`, a unary call that ends only when
/// cancelled (its deadline, the caller's CANCEL or the connection's end); `gated`, a
/// unary call that ends once [`GATE`] opens; `held`, a unary call that ends once it can
/// take a permit of [`HELD`].
pub(crate) struct Target {
    /// Held for the whole test: the memory bound is measured over the whole process, so
    /// the tests of this binary run one at a time.
    _serial: MutexGuard<'static, ()>,
    pub(crate) server: Running,
    pub(crate) url: String,
    /// host:port for raw peers.
    pub(crate) addr: String,
}

/// Waits for the other tests of this binary to finish (see [`Target`]), for tests that
/// start no target of their own.
pub(crate) async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

impl Target {
    pub(crate) async fn start(opts: Options) -> Target {
        let serial = serial().await;
        let router: Router = echo_router()
            .streaming(
                "hold",
                |_ctx: Context, mut inbound: Inbound, _out: Outbound| async move {
                    while let Some(m) = inbound.next().await {
                        m?;
                    }
                    Ok(())
                },
            )
            .streaming(
                "ignore",
                |ctx: Context, _inbound: Inbound, _out: Outbound| async move {
                    ctx.cancelled().await;
                    Ok(())
                },
            )
            .unary("held", |_ctx: Context, _req: Bytes| async move {
                if let Ok(p) = HELD.acquire().await {
                    p.forget();
                }
                Ok(Bytes::new())
            })
            .unary("delay", |ctx: Context, _req: Bytes| async move {
                ctx.cancelled().await;
                Ok(Bytes::new())
            })
            .unary("gated", |_ctx: Context, _req: Bytes| async move {
                // Returned at once: the permit only says the gate is open.
                drop(GATE.acquire().await);
                GATED_DONE.fetch_add(1, Ordering::SeqCst);
                Ok(Bytes::new())
            });
        let server = serve("tcp://127.0.0.1:0", router, opts).await;
        let url = server.local_endpoint().to_string();
        let addr = url.trim_start_matches("tcp://").to_string();
        Target {
            _serial: serial,
            server,
            url,
            addr,
        }
    }

    /// Shuts the server down (the next test may start once this returns).
    pub(crate) async fn stop(self) {
        self.stop_with(GRACE).await;
    }

    /// Shuts the server down with `grace` for the calls in flight.
    pub(crate) async fn stop_with(self, grace: std::time::Duration) {
        self.server.shutdown(grace).await;
    }

    /// A well-behaved client on its own connection.
    pub(crate) async fn probe(&self) -> Probe {
        Probe {
            client: Client::connect(&self.url)
                .await
                .expect("the probe connects"),
        }
    }
}

/// A well-behaved client.
pub(crate) struct Probe {
    client: Client,
}

impl Probe {
    /// One echo call round-trips (a hang detector bounds the wait, not a speed claim).
    pub(crate) async fn served(&self, what: &str) {
        let body = Bytes::from(format!("probe: {what}"));
        let got = within(what, self.client.call("echo", body.clone()))
            .await
            .unwrap_or_else(|e| panic!("the probe was not served ({what}): {e}"));
        assert_eq!(got, body);
    }
}

impl Probe {
    /// An echo call of `len` bytes round-trips.
    pub(crate) async fn echo(&self, len: usize) {
        let body = Bytes::from(vec![7u8; len]);
        let got = within("a large echo", self.client.call("echo", body.clone()))
            .await
            .unwrap_or_else(|e| panic!("the probe's {len}-byte echo failed: {e}"));
        assert_eq!(got.len(), body.len());
    }
}

/// Memory the process held before an attack, to compare with during and after it.
pub(crate) struct Baseline(usize);

impl Baseline {
    pub(crate) fn now() -> Baseline {
        Baseline(live_bytes())
    }

    /// The bytes held when the baseline was taken.
    pub(crate) fn bytes(&self) -> usize {
        self.0
    }

    /// Fails if the process now holds more than `bound` bytes above the baseline.
    pub(crate) fn assert_within(&self, bound: usize, what: &str) {
        let grown = live_bytes().saturating_sub(self.0);
        assert!(
            grown <= bound,
            "{what}: the process grew by {grown} bytes, more than the bound of {bound}"
        );
    }
}
