//! Interceptors: code that runs around every call an endpoint serves, in the order they
//! were added to the [`crate::Router`] ([`crate::Router::intercept`]). Before the handler,
//! each sees the method, the metadata (and may add to it), the time left and the peer, and
//! may refuse the call with a status; after the call, each that let it through sees its
//! status code and how long it took, in reverse order. Ready ones: [`LogCalls`],
//! [`ConcurrencyLimit`], [`BearerToken`]. A panic in an interceptor refuses the call with
//! INTERNAL (handlers' panics are already caught and become INTERNAL, always). Installing
//! none costs nothing per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::authorize::{self, PeerInfo};
use crate::status::Status;
use crate::StatusCode;

/// A call about to be served, as an interceptor's `before` sees it.
#[non_exhaustive]
pub struct CallStart<'a> {
    /// The method called.
    pub method: &'a str,
    /// The caller's metadata; entries added here are what the handler sees.
    pub metadata: &'a mut Vec<(String, Bytes)>,
    /// The time the caller allows, if it set a deadline.
    pub time_left: Option<Duration>,
    /// True for a one-way call: it has no end to observe (`after` is not called).
    pub one_way: bool,
    /// Who called.
    pub peer: PeerInfo<'a>,
}

impl CallStart<'_> {
    /// The first metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A call that ended, as an interceptor's `after` sees it.
#[non_exhaustive]
pub struct CallEnd<'a> {
    /// The method called.
    pub method: &'a str,
    /// Its status code.
    pub code: StatusCode,
    /// From its arrival to its status.
    pub elapsed: Duration,
    /// Who called.
    pub peer: PeerInfo<'a>,
}

/// Code that runs around every call (see the module's documentation). Both methods run
/// on the connection's task: keep them short and never block.
pub trait Interceptor: Send + Sync + 'static {
    /// Before the handler: `Err` refuses the call with that status.
    fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
        let _ = call;
        Ok(())
    }

    /// After a call this interceptor let through has ended (not for one-way calls).
    fn after(&self, call: &CallEnd<'_>) {
        let _ = call;
    }
}

/// The interceptors of a router, in order.
pub(crate) type Chain = Vec<Arc<dyn Interceptor>>;

/// Runs every `before` in order; on a refusal, the `after` of those that let the call
/// through runs (so that what they started, they end) and the refusal is returned.
pub(crate) fn before_all(chain: &Chain, call: &mut CallStart<'_>) -> Result<(), Status> {
    for (i, ic) in chain.iter().enumerate() {
        if let Err(refused) = authorize::run(|| ic.before(call)) {
            if !call.one_way {
                let end = CallEnd {
                    method: call.method,
                    code: refused.code,
                    elapsed: Duration::ZERO,
                    peer: call.peer,
                };
                after(&chain[..i], &end);
            }
            return Err(refused);
        }
    }
    Ok(())
}

/// Runs every `after` of `chain`, last first.
pub(crate) fn after(chain: &[Arc<dyn Interceptor>], end: &CallEnd<'_>) {
    for ic in chain.iter().rev() {
        let _ = authorize::run(|| {
            ic.after(end);
            Ok(())
        });
    }
}

/// Logs every call at its end at info level: method, status, duration, peer (the
/// `tracing` target `muxwire::calls`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogCalls;

impl Interceptor for LogCalls {
    fn after(&self, call: &CallEnd<'_>) {
        tracing::info!(
            target: "muxwire::calls",
            method = call.method,
            code = call.code.name(),
            elapsed_us = call.elapsed.as_micros() as u64,
            peer = call.peer.address,
            "call"
        );
    }
}

/// At most `max` calls in flight per method; one more is refused with RESOURCE_EXHAUSTED
/// (safe to retry: its handler never ran). One-way calls are not counted.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    max: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

impl ConcurrencyLimit {
    /// At most `max` calls in flight per method.
    pub fn per_method(max: usize) -> ConcurrencyLimit {
        ConcurrencyLimit {
            max,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Calls of `method` in flight now.
    pub fn in_flight(&self, method: &str) -> usize {
        let m = self.in_flight.lock().expect("lock");
        m.get(method).copied().unwrap_or(0)
    }
}

impl Interceptor for ConcurrencyLimit {
    fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
        if call.one_way {
            return Ok(());
        }
        let mut m = self.in_flight.lock().expect("lock");
        let n = m.entry(call.method.to_string()).or_insert(0);
        if *n >= self.max {
            return Err(Status::resource_exhausted(format!(
                "{} has {n} calls in flight, its limit (ConcurrencyLimit); try again",
                call.method
            ))
            .with_retry_safe(true));
        }
        *n += 1;
        Ok(())
    }

    fn after(&self, call: &CallEnd<'_>) {
        let mut m = self.in_flight.lock().expect("lock");
        if let Some(n) = m.get_mut(call.method) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(call.method);
            }
        }
    }
}

/// Calls must carry `authorization: Bearer TOKEN` in their metadata; others are refused
/// with UNAUTHENTICATED.
#[derive(Clone)]
pub struct BearerToken {
    expected: Bytes,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Accepts calls that present `token`.
    pub fn new(token: &str) -> BearerToken {
        BearerToken {
            expected: Bytes::from(format!("Bearer {token}")),
        }
    }
}

impl Interceptor for BearerToken {
    fn before(&self, call: &mut CallStart<'_>) -> Result<(), Status> {
        match call.get("authorization") {
            Some(v) if constant_time_eq(v, &self.expected) => Ok(()),
            Some(_) => Err(Status::new(
                StatusCode::UNAUTHENTICATED,
                "wrong bearer token",
            )),
            None => Err(Status::new(
                StatusCode::UNAUTHENTICATED,
                "no bearer token (metadata authorization: Bearer ...)",
            )),
        }
    }
}

/// Compares without stopping at the first difference (a token's bytes are not leaked
/// through timing).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
