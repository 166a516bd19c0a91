//! Whether a server takes a connection: its connection limit and its server-wide budgets
//! for connection churn and CANCELs (spec section 16), and the refusal a connection over
//! one of them gets: HELLO, then GOAWAY(ENHANCE_YOUR_CALM) whose REASON names the limit.
//! Also the count of unwritten bytes over all connections that they share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use muxwire_core::conn::{Connection, StreamSlot};
use muxwire_core::time::Instant as CoreInstant;
use muxwire_core::wire::{ErrorCode, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::stats::Stats;
use crate::transport::Io;
use crate::writer::ServerOutbound;
use crate::Options;

/// A limit that refused a connection, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The limit's name, as in `Options` and the spec.
    pub(crate) limit: &'static str,
    /// Its configured value.
    pub(crate) value: u64,
}

/// Events counted over fixed one-second windows against a per-second budget, shared by
/// every connection of a server.
struct Rate {
    limit: u64,
    epoch: std::time::Instant,
    /// The second the count is for, since `epoch`.
    window: AtomicU64,
    count: AtomicU64,
}

impl Rate {
    fn new(limit: u32) -> Rate {
        Rate {
            limit: u64::from(limit),
            epoch: std::time::Instant::now(),
            window: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Starts a new window if a second has passed since the current one began.
    fn roll(&self) {
        let now = self.epoch.elapsed().as_secs();
        let w = self.window.load(Ordering::Acquire);
        if w != now
            && self
                .window
                .compare_exchange(w, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.count.store(0, Ordering::Release);
        }
    }

    /// Counts one event; false if the budget of this second is spent.
    fn spend(&self) -> bool {
        self.roll();
        self.count.fetch_add(1, Ordering::AcqRel) < self.limit
    }

    /// True while the budget of this second is spent.
    fn spent(&self) -> bool {
        self.roll();
        self.count.load(Ordering::Acquire) >= self.limit
    }
}

/// A server's admission state, shared by its accept loop and its connections.
pub(crate) struct Admission {
    max_connections: usize,
    connections: Rate,
    cancels: Rate,
    /// Refusals being written at once at most; past it a connection is just closed.
    refusing: Arc<Semaphore>,
    /// Unwritten bytes over all connections (`Options::server_outbound_limit`).
    pub(crate) outbound: Arc<ServerOutbound>,
    stats: Arc<Stats>,
}

/// Refused connections being told why at once, at most (each holds a small task and a
/// socket for up to `REFUSAL_LINGER`).
const REFUSING_AT_ONCE: usize = 1_024;

/// How long a refused connection is given to read its GOAWAY and close.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);

impl Admission {
    pub(crate) fn new(opts: &Options, stats: Arc<Stats>) -> Arc<Admission> {
        Arc::new(Admission {
            max_connections: opts.max_connections,
            connections: Rate::new(opts.connection_budget),
            cancels: Rate::new(opts.server_cancel_budget),
            refusing: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
            outbound: Arc::new(ServerOutbound::new(opts.server_outbound_limit)),
            stats,
        })
    }

    /// Whether a new connection may be served, with `open` connections open now; a
    /// refusal is counted.
    pub(crate) fn admit(&self, open: usize) -> Result<(), Refusal> {
        let refusal = if open >= self.max_connections {
            Refusal {
                limit: "max_connections",
                value: self.max_connections as u64,
            }
        } else if self.cancels.spent() {
            self.cancel_refusal()
        } else if !self.connections.spend() {
            Refusal {
                limit: "connection_budget",
                value: self.connections.limit,
            }
        } else {
            return Ok(());
        };
        self.count(refusal);
        Err(refusal)
    }

    /// A peer cancelled a call it had opened; `Err` (counted) if that spends the
    /// server-wide budget, and the connection is to be closed.
    pub(crate) fn cancelled(&self) -> Result<(), Refusal> {
        if self.cancels.spend() {
            return Ok(());
        }
        let refusal = self.cancel_refusal();
        self.count(refusal);
        Err(refusal)
    }

    fn cancel_refusal(&self) -> Refusal {
        Refusal {
            limit: "server_cancel_budget",
            value: self.cancels.limit,
        }
    }

    fn count(&self, r: Refusal) {
        let c = match r.limit {
            "max_connections" => &self.stats.refused_max_connections,
            "connection_budget" => &self.stats.refused_connection_budget,
            _ => &self.stats.refused_server_cancel_budget,
        };
        Stats::add(c, 1);
    }

    /// Tells the peer of `io` why it is refused (HELLO, then GOAWAY naming the limit),
    /// in a task of its own, then closes the connection.
    pub(crate) fn refuse(&self, io: Io, why: Refusal, opts: &Options) {
        tracing::info!(peer = %io.peer, limit = why.limit, value = why.value, "connection refused");
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            // Too many refusals in progress: close without a word.
            return;
        };
        let bytes = refusal_bytes(opts, why);
        tokio::spawn(async move {
            let Io {
                mut read,
                mut write,
                ..
            } = io;
            let told = async {
                write.write_all(&bytes).await?;
                write.shutdown().await?;
                // Read until the peer closes, so that closing does not reset the
                // connection before the peer has read the GOAWAY.
                let mut sink = [0u8; 1024];
                while read.read(&mut sink).await? > 0 {}
                Ok::<(), std::io::Error>(())
            };
            let _ = tokio::time::timeout(REFUSAL_LINGER, told).await;
            drop(permit);
        });
    }
}

/// The preface, HELLO and GOAWAY(ENHANCE_YOUR_CALM) that tell a peer it was refused.
fn refusal_bytes(opts: &Options, why: Refusal) -> Vec<u8> {
    let mut conn = Connection::new(
        opts.core_config(Side::Acceptor),
        [StreamSlot::EMPTY; 0],
        CoreInstant(0),
    );
    conn.close_over_limit(
        CoreInstant(0),
        ErrorCode::ENHANCE_YOUR_CALM,
        why.limit,
        why.value,
    );
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while let Ok(n) = conn.poll_transmit(CoreInstant(0), &mut buf[len..]) {
        if n == 0 {
            break;
        }
        len += n;
    }
    buf.truncate(len);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_refuse_past_their_limit_and_count_by_name() {
        let stats = Arc::new(Stats::default());
        let opts = Options {
            max_connections: 2,
            connection_budget: 3,
            server_cancel_budget: 1,
            ..Options::default()
        };
        let a = Admission::new(&opts, stats.clone());
        assert!(a.admit(0).is_ok());
        assert_eq!(a.admit(2).unwrap_err().limit, "max_connections");
        assert!(a.admit(1).is_ok());
        assert!(a.admit(1).is_ok());
        // The fourth in this second (unless the second just turned).
        let fourth = a.admit(1);
        assert!(a.cancelled().is_ok());
        assert_eq!(a.cancelled().unwrap_err().limit, "server_cancel_budget");
        let s = stats.snapshot();
        assert_eq!(s.refused_max_connections, 1);
        assert_eq!(s.refused_server_cancel_budget, 1);
        assert_eq!(s.refused_connection_budget, u64::from(fourth.is_err()));
    }

    #[test]
    fn a_refusal_is_hello_then_goaway_naming_the_limit() {
        let why = Refusal {
            limit: "max_connections",
            value: 7,
        };
        let bytes = refusal_bytes(&Options::default(), why);
        let mut b = &bytes[muxwire_core::wire::PREFACE.len()..];
        let mut types = Vec::new();
        while let Ok(muxwire_core::wire::Decoded::Frame { frame, len }) =
            muxwire_core::wire::decode(b, 1 << 24)
        {
            types.push((frame.ty(), frame.arg()));
            b = &b[len..];
        }
        assert_eq!(types.len(), 2);
        assert_eq!(types[0].0, muxwire_core::wire::FrameType::HELLO);
        assert_eq!(types[1], (muxwire_core::wire::FrameType::GOAWAY, 11));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("max_connections 7 exceeded"), "{text}");
    }
}
