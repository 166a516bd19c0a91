//! Many servers behind one client: [`Balanced`] keeps a [`Client`] per endpoint (each
//! reconnecting on its own, with backoff), picks one per call (power of two choices on
//! calls in flight, or round robin), sets aside an endpoint whose calls fail for a backoff
//! that grows while it keeps failing, retries a call the protocol says is safe to retry
//! (REFUSED, or never sent) on another endpoint, and can follow a DNS name's addresses.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::channel::CallOptions;
use crate::client::Client;
use crate::conn_state::ConnState;
use crate::endpoint::Endpoint;
use crate::options::Options;
use crate::status::Status;

/// How [`Balanced`] picks an endpoint for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Two endpoints at random; the one with fewer calls in flight (the default).
    PowerOfTwoChoices,
    /// Each endpoint in turn.
    RoundRobin,
}

/// How a [`Balanced`] client spreads calls and treats failing endpoints.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BalanceOptions {
    /// How endpoints are picked.
    pub policy: Policy,
    /// How long an endpoint whose call failed is set aside at first; doubled for each
    /// failure in a row, up to `eject_max`. A call that succeeds brings it back at once.
    pub eject_base: Duration,
    /// The longest an endpoint is set aside.
    pub eject_max: Duration,
    /// How often a DNS name given to [`Balanced::resolve`] is looked up again.
    pub dns_refresh: Duration,
}

impl Default for BalanceOptions {
    fn default() -> BalanceOptions {
        BalanceOptions {
            policy: Policy::PowerOfTwoChoices,
            eject_base: Duration::from_millis(500),
            eject_max: Duration::from_secs(30),
            dns_refresh: Duration::from_secs(30),
        }
    }
}

/// One endpoint as a [`Balanced`] client sees it (see [`Balanced::endpoints`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The endpoint's URL.
    pub endpoint: String,
    /// Its connection state.
    pub state: ConnState,
    /// Calls in flight on it now.
    pub in_flight: u64,
    /// Calls sent to it that ended (any status).
    pub calls: u64,
    /// Calls that failed in a way that set it aside (UNAVAILABLE, REFUSED).
    pub failures: u64,
    /// True while it is set aside.
    pub ejected: bool,
}

/// An endpoint and its client.
struct Member {
    url: String,
    client: Client,
    calls: AtomicU64,
    failures: AtomicU64,
    /// Failures in a row (the backoff's exponent).
    streak: AtomicU32,
    ejected_until: Mutex<Option<Instant>>,
}

impl Member {
    fn ejected(&self, now: Instant) -> bool {
        self.ejected_until
            .lock()
            .expect("lock")
            .is_some_and(|t| t > now)
    }

    fn ready(&self) -> bool {
        self.client.current_state() == ConnState::Ready
    }

    fn succeeded(&self) {
        self.calls.fetch_add(1, Relaxed);
        if self.streak.swap(0, Relaxed) > 0 {
            *self.ejected_until.lock().expect("lock") = None;
        }
    }

    /// Sets it aside for a backoff that doubles with each failure in a row.
    fn failed(&self, opts: &BalanceOptions) {
        self.calls.fetch_add(1, Relaxed);
        self.failures.fetch_add(1, Relaxed);
        let streak = self.streak.fetch_add(1, Relaxed).min(16);
        let backoff = opts
            .eject_base
            .saturating_mul(1 << streak)
            .min(opts.eject_max);
        *self.ejected_until.lock().expect("lock") = Some(Instant::now() + backoff);
        tracing::info!(endpoint = %self.url, ?backoff, "endpoint set aside after a failed call");
    }
}

struct Inner {
    members: RwLock<Vec<Arc<Member>>>,
    opts: Options,
    balance: BalanceOptions,
    next: AtomicUsize,
    seed: AtomicU64,
    /// The task that follows a DNS name, if any.
    resolver: Mutex<Option<tokio::task::AbortHandle>>,
    /// Endpoints that were down when added, with the tasks that keep trying them.
    joining: Mutex<Vec<(String, tokio::task::AbortHandle)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(t) = self.resolver.lock().expect("lock").take() {
            t.abort();
        }
        for (_, t) in self.joining.lock().expect("lock").drain(..) {
            t.abort();
        }
    }
}

/// A client of many servers (see the module's documentation). Cheap to clone.
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

impl Balanced {
    /// A client of every endpoint in `urls`. Endpoints that are down now join when they
    /// come up (tried with the options' reconnect backoff), so this fails only for a
    /// malformed URL or options, or an empty list. Calls fail fast: while no endpoint is
    /// up, a call fails at once with UNAVAILABLE (the options' `wait_for_ready` is not
    /// used: a call must never wait on one endpoint while another could serve it).
    pub async fn connect(
        urls: &[&str],
        opts: Options,
        balance: BalanceOptions,
    ) -> Result<Balanced, Status> {
        if urls.is_empty() {
            return Err(Status::invalid_argument(
                "a balanced client needs endpoints",
            ));
        }
        let b = Balanced::empty(opts, balance);
        for url in urls {
            url.parse::<Endpoint>()
                .map_err(|e| Status::invalid_argument(e.0))?;
            b.add(url).await?;
        }
        Ok(b)
    }

    /// A client of every address `url`'s host name resolves to (`tcp://name:port` or
    /// `tls://name:port`; over TLS the certificate is still checked against the name),
    /// looked up again every `balance.dns_refresh`: new addresses join, addresses gone
    /// leave (their calls in flight finish first).
    pub async fn resolve(
        url: &str,
        opts: Options,
        balance: BalanceOptions,
    ) -> Result<Balanced, Status> {
        let endpoint: Endpoint = url
            .parse()
            .map_err(|e: crate::EndpointError| Status::invalid_argument(e.0))?;
        let (scheme, hostport) = match &endpoint {
            Endpoint::Tcp(a) => ("tcp", a.clone()),
            Endpoint::Tls(a) => ("tls", a.clone()),
            Endpoint::Unix(_) => {
                return Err(Status::invalid_argument(
                    "a Unix socket path has no addresses to resolve",
                ))
            }
        };
        #[cfg(feature = "tls")]
        let opts = {
            let mut opts = opts;
            if scheme == "tls" {
                let host = hostport.rsplit_once(':').map_or("", |(h, _)| h).to_string();
                let tls = match opts.tls_client.take() {
                    Some(t) => t,
                    None => crate::transport::tls::platform_roots()?,
                };
                opts.tls_client = Some(tls.with_server_name(host));
            }
            opts
        };
        let b = Balanced::empty(opts, balance);
        b.refresh(scheme, &hostport).await?;
        let weak = Arc::downgrade(&b.inner);
        let every = b.inner.balance.dns_refresh;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let b = Balanced { inner };
                if let Err(e) = b.refresh(scheme, &hostport).await {
                    tracing::warn!(%hostport, %e, "DNS refresh failed; keeping the endpoints");
                }
            }
        });
        *b.inner.resolver.lock().expect("lock") = Some(task.abort_handle());
        Ok(b)
    }

    fn empty(mut opts: Options, balance: BalanceOptions) -> Balanced {
        // Each endpoint reconnects on its own; a call on one that is down fails at once as
        // safe to retry, and goes to another (see `call_with`).
        opts.wait_for_ready = false;
        Balanced {
            inner: Arc::new(Inner {
                members: RwLock::new(Vec::new()),
                opts,
                balance,
                next: AtomicUsize::new(0),
                seed: AtomicU64::new(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id())),
                resolver: Mutex::new(None),
                joining: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Adds endpoint `url`: now if it is up, else from a task that keeps trying.
    async fn add(&self, url: &str) -> Result<(), Status> {
        match Client::connect_with(url, self.inner.opts.clone(), None).await {
            Ok(client) => {
                self.join(url, client);
                Ok(())
            }
            Err(s) if s.code == crate::StatusCode::UNAVAILABLE => {
                tracing::info!(endpoint = url, %s, "endpoint down: it joins when it comes up");
                let (weak, url2) = (Arc::downgrade(&self.inner), url.to_string());
                let task = tokio::spawn(async move {
                    let mut delay = Duration::ZERO;
                    loop {
                        let Some(inner) = weak.upgrade() else { return };
                        let opts = inner.opts.clone();
                        delay = (delay * 2).max(opts.reconnect_base).min(opts.reconnect_max);
                        drop(inner);
                        tokio::time::sleep(delay).await;
                        if let Ok(client) = Client::connect_with(&url2, opts, None).await {
                            let Some(inner) = weak.upgrade() else { return };
                            Balanced { inner }.join(&url2, client);
                            return;
                        }
                    }
                });
                self.inner
                    .joining
                    .lock()
                    .expect("lock")
                    .push((url.to_string(), task.abort_handle()));
                Ok(())
            }
            Err(s) => Err(s),
        }
    }

    /// Makes `client` the member for `url`.
    fn join(&self, url: &str, client: Client) {
        self.inner
            .joining
            .lock()
            .expect("lock")
            .retain(|(u, _)| u != url);
        self.inner
            .members
            .write()
            .expect("lock")
            .push(Arc::new(Member {
                url: url.to_string(),
                client,
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                streak: AtomicU32::new(0),
                ejected_until: Mutex::new(None),
            }));
    }

    /// Looks `hostport` up and makes the members match its addresses.
    async fn refresh(&self, scheme: &str, hostport: &str) -> Result<(), Status> {
        let addrs: Vec<String> = tokio::net::lookup_host(hostport)
            .await
            .map_err(|e| Status::unavailable(format!("cannot resolve {hostport}: {e}")))?
            .map(|a| format!("{scheme}://{a}"))
            .collect();
        if addrs.is_empty() {
            return Err(Status::unavailable(format!("{hostport} has no addresses")));
        }
        let have: Vec<String> = self.urls();
        for url in addrs.iter().filter(|u| !have.contains(u)) {
            self.add(url).await?;
        }
        self.inner
            .joining
            .lock()
            .expect("lock")
            .retain(|(u, task)| {
                let keep = addrs.contains(u);
                if !keep {
                    task.abort();
                }
                keep
            });
        let gone: Vec<Arc<Member>> = {
            let mut members = self.inner.members.write().expect("lock");
            let (keep, gone) = members.drain(..).partition(|m| addrs.contains(&m.url));
            *members = keep;
            gone
        };
        for m in gone {
            tracing::info!(endpoint = %m.url, "endpoint no longer in DNS: draining it");
            m.client.close().await;
        }
        Ok(())
    }

    /// Every endpoint's URL, joined or still joining.
    fn urls(&self) -> Vec<String> {
        let members = self.inner.members.read().expect("lock");
        let joining = self.inner.joining.lock().expect("lock");
        members
            .iter()
            .map(|m| m.url.clone())
            .chain(joining.iter().map(|(u, _)| u.clone()))
            .collect()
    }

    /// A number from a small xorshift generator (picks need no more).
    fn random(&self) -> usize {
        let mut x = self.inner.seed.load(Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.inner.seed.store(x, Relaxed);
        x as usize
    }

    /// The endpoint for the next call, leaving out those in `tried`: among ready ones
    /// that are not set aside if there are any, else among those not set aside, else
    /// any (a call on one that is down fails at once, safe to retry).
    fn pick(&self, tried: &[String]) -> Option<Arc<Member>> {
        let members = self.inner.members.read().expect("lock");
        let now = Instant::now();
        // By URL: the list may change between two picks (a DNS refresh).
        let open: Vec<usize> = (0..members.len())
            .filter(|&i| !tried.contains(&members[i].url))
            .collect();
        let usable: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| !members[i].ejected(now))
            .collect();
        let ready: Vec<usize> = usable
            .iter()
            .copied()
            .filter(|&i| members[i].ready())
            .collect();
        let from = [ready, usable, open].into_iter().find(|v| !v.is_empty())?;
        let i = match self.inner.balance.policy {
            Policy::RoundRobin => from[self.inner.next.fetch_add(1, Relaxed) % from.len()],
            Policy::PowerOfTwoChoices if from.len() == 1 => from[0],
            Policy::PowerOfTwoChoices => {
                let a = from[self.random() % from.len()];
                let mut b = from[self.random() % from.len()];
                if b == a {
                    b = from[(from.iter().position(|&x| x == a).unwrap_or(0) + 1) % from.len()];
                }
                let load = |i: usize| members[i].client.in_flight();
                if load(b) < load(a) {
                    b
                } else {
                    a
                }
            }
        };
        Some(members[i].clone())
    }

    /// A unary call.
    pub async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, Status> {
        self.call_with(method, body, &CallOptions::default()).await
    }

    /// A unary call with options, on the endpoint `pick` chooses; a failure that is safe
    /// to retry (REFUSED, or a call that never left) is retried on another endpoint, once
    /// per endpoint at most.
    pub async fn call_with(
        &self,
        method: &str,
        body: Bytes,
        opts: &CallOptions,
    ) -> Result<Bytes, Status> {
        let mut tried = Vec::new();
        loop {
            let Some(m) = self.pick(&tried) else {
                return Err(Status::unavailable("no endpoint left to try"));
            };
            match m.client.call_with(method, body.clone(), opts).await {
                Ok(reply) => {
                    m.succeeded();
                    return Ok(reply);
                }
                Err(s) if s.retry_safe => {
                    m.failed(&self.inner.balance);
                    tried.push(m.url.clone());
                    if tried.len() >= self.inner.members.read().expect("lock").len() {
                        return Err(Status::unavailable(format!(
                            "no endpoint could take the call (last: {}: {})",
                            m.url, s.message
                        )));
                    }
                }
                Err(s) if s.code == crate::StatusCode::UNAVAILABLE => {
                    // It may have run: not retried, but the endpoint is set aside.
                    m.failed(&self.inner.balance);
                    return Err(s);
                }
                Err(s) => {
                    // The application's answer: the endpoint itself is fine.
                    m.succeeded();
                    return Err(s);
                }
            }
        }
    }

    /// A one-way call on the endpoint `pick` chooses.
    pub async fn notify(&self, method: &str, body: Bytes) -> Result<(), Status> {
        let Some(m) = self.pick(&[]) else {
            return Err(Status::unavailable("no endpoint"));
        };
        m.client.notify(method, body).await
    }

    /// Every endpoint's state and counts (one still joining is in TransientFailure).
    pub fn endpoints(&self) -> Vec<EndpointStats> {
        let now = Instant::now();
        let members = self.inner.members.read().expect("lock");
        let joining = self.inner.joining.lock().expect("lock");
        members
            .iter()
            .map(|m| EndpointStats {
                endpoint: m.url.clone(),
                state: m.client.current_state(),
                in_flight: m.client.in_flight(),
                calls: m.calls.load(Relaxed),
                failures: m.failures.load(Relaxed),
                ejected: m.ejected(now),
            })
            .chain(joining.iter().map(|(u, _)| EndpointStats {
                endpoint: u.clone(),
                state: ConnState::TransientFailure,
                in_flight: 0,
                calls: 0,
                failures: 0,
                ejected: false,
            }))
            .collect()
    }

    /// Drains and closes every endpoint's connections.
    pub async fn close(&self) {
        if let Some(t) = self.inner.resolver.lock().expect("lock").take() {
            t.abort();
        }
        for (_, t) in self.inner.joining.lock().expect("lock").drain(..) {
            t.abort();
        }
        let members: Vec<Arc<Member>> = self.inner.members.read().expect("lock").clone();
        for m in members {
            m.client.close().await;
        }
    }
}
