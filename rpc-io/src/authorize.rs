//! Authorization: checks an application installs on a [`crate::Router`] that run before a
//! connection is served ([`crate::Router::authorize_connections`]) and before each call's
//! handler ([`crate::Router::authorize_calls`]). They see who the peer is (its address;
//! a TLS client certificate or a Unix socket's process credentials, as the transport
//! verified them) and, for calls, the method and metadata; a refusal is a status the
//! caller gets (UNAUTHENTICATED or PERMISSION_DENIED, typically) and the handler never runs.

use std::sync::Arc;

use bytes::Bytes;

use crate::status::Status;
use crate::transport::PeerIdentity;

/// Who is on the other end of a connection, as a check sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PeerInfo<'a> {
    /// The peer's address as the transport names it (`host:port`, or a socket path).
    pub address: &'a str,
    /// What the transport verified about the peer, if anything.
    pub identity: Option<&'a PeerIdentity>,
}

/// A call about to be served, as a check sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallInfo<'a> {
    /// The method called (registered or not).
    pub method: &'a str,
    /// The caller's metadata entries, in order.
    pub metadata: &'a [(String, Bytes)],
    /// Who called.
    pub peer: PeerInfo<'a>,
}

impl CallInfo<'_> {
    /// The first metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A check run once per connection, when it is made.
pub(crate) type ConnectionCheck = Arc<dyn Fn(&PeerInfo<'_>) -> Result<(), Status> + Send + Sync>;

/// A check run before each call's handler.
pub(crate) type CallCheck = Arc<dyn Fn(&CallInfo<'_>) -> Result<(), Status> + Send + Sync>;

/// `check`'s refusal, with the whole check kept to one place: a panic in it refuses (as
/// INTERNAL) instead of taking the connection down.
pub(crate) fn run<T>(check: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("an authorization check panicked: refused");
            Err(Status::internal("the authorization check failed"))
        }
    }
}
