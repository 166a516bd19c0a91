//! The connected peers of a server: a registry the application makes ([`Peers::new`]),
//! hands to the server ([`crate::Server::with_peers`]) and to its handlers (a clone in
//! their closures), with connect and disconnect events, and broadcasts that never wait on
//! a slow peer: each peer's message is queued now or skipped and counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::handle::Channel;
use crate::status::Status;
use crate::StatusCode;

/// Events kept for a slow reader of [`Peers::events`] before it misses some.
pub const PEER_EVENTS_KEPT: usize = 1024;

/// A change in the set of connected peers.
#[derive(Clone)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A peer connected (its channel: address, identity, calls and notifies to it).
    Connected(Channel),
    /// A peer's connection ended.
    Disconnected(Channel),
    /// This reader fell behind and missed this many events (see [`PEER_EVENTS_KEPT`]).
    Missed(u64),
}

/// What a broadcast did, peer by peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Peers the message was queued for.
    pub sent: usize,
    /// Peers skipped because their one-way queue was full (they read slowly).
    pub full: usize,
    /// Peers whose connection had ended, or that cannot take the message (too large for
    /// one frame on their connection).
    pub failed: usize,
    /// The connection ids of the peers skipped or failed (see
    /// [`Channel::connection_id`]).
    pub missed: Vec<u64>,
}

struct Inner {
    live: Mutex<Vec<Channel>>,
    events: broadcast::Sender<PeerEvent>,
}

/// The registry of a server's connected peers. Cheap to clone; every clone is the same
/// registry.
#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

impl Default for Peers {
    fn default() -> Peers {
        Peers::new()
    }
}

impl Peers {
    /// An empty registry, for [`crate::Server::with_peers`].
    pub fn new() -> Peers {
        let (events, _) = broadcast::channel(PEER_EVENTS_KEPT);
        Peers {
            inner: Arc::new(Inner {
                live: Mutex::new(Vec::new()),
                events,
            }),
        }
    }

    /// The peers connected now.
    pub fn list(&self) -> Vec<Channel> {
        self.inner.live.lock().expect("lock").clone()
    }

    /// How many peers are connected.
    pub fn len(&self) -> usize {
        self.inner.live.lock().expect("lock").len()
    }

    /// True with no peer connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The peer on connection `id`, if it is still connected.
    pub fn get(&self, id: u64) -> Option<Channel> {
        let live = self.inner.live.lock().expect("lock");
        live.iter().find(|c| c.connection_id() == id).cloned()
    }

    /// Connect and disconnect events from now on.
    pub fn events(&self) -> PeerEvents {
        PeerEvents(self.inner.events.subscribe())
    }

    /// Queues a one-way message for every connected peer (see [`Peers::notify_where`]).
    pub fn notify_all(&self, method: &str, body: Bytes) -> BroadcastReport {
        self.notify_where(method, body, |_| true)
    }

    /// Queues a one-way message for every connected peer `to` keeps, without waiting:
    /// a peer whose queue is full is skipped and counted, so one slow peer holds up
    /// nobody ([`Channel::try_notify`]).
    pub fn notify_where(
        &self,
        method: &str,
        body: Bytes,
        to: impl Fn(&Channel) -> bool,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        for peer in self.list().iter().filter(|p| to(p)) {
            match peer.try_notify(method, body.clone()) {
                Ok(()) => report.sent += 1,
                Err(s) => {
                    if s.code == StatusCode::RESOURCE_EXHAUSTED && s.retry_safe {
                        report.full += 1;
                    } else {
                        report.failed += 1;
                    }
                    report.missed.push(peer.connection_id());
                }
            }
        }
        report
    }

    /// Calls every connected peer at once, each within `timeout`; the outcomes, peer by
    /// peer, once all have ended (a slow peer costs the others nothing but its timeout).
    pub async fn call_all(
        &self,
        method: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Vec<(Channel, Result<Bytes, Status>)> {
        let opts = crate::CallOptions::timeout(timeout);
        let calls: Vec<_> = self
            .list()
            .into_iter()
            .map(|peer| {
                let (method, body, opts) = (method.to_string(), body.clone(), opts.clone());
                tokio::spawn(async move {
                    let r = peer.call_with(&method, body, &opts).await;
                    (peer, r)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            if let Ok(r) = c.await {
                out.push(r);
            }
        }
        out
    }

    /// A connection joined.
    pub(crate) fn joined(&self, peer: Channel) {
        self.inner.live.lock().expect("lock").push(peer.clone());
        let _ = self.inner.events.send(PeerEvent::Connected(peer));
    }

    /// A connection ended.
    pub(crate) fn left(&self, id: u64) {
        let gone = {
            let mut live = self.inner.live.lock().expect("lock");
            let at = live.iter().position(|c| c.connection_id() == id);
            at.map(|i| live.swap_remove(i))
        };
        if let Some(peer) = gone {
            let _ = self.inner.events.send(PeerEvent::Disconnected(peer));
        }
    }
}

/// A reader of [`Peers::events`].
pub struct PeerEvents(broadcast::Receiver<PeerEvent>);

impl PeerEvents {
    /// The next event; `None` once the registry is gone.
    pub async fn next(&mut self) -> Option<PeerEvent> {
        match self.0.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(PeerEvent::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
