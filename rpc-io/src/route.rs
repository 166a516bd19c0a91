//! Handlers by method name: the [`Router`] an application fills, and the [`Route`] the
//! driver looks up for each call it serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::authorize::{CallCheck, CallInfo, ConnectionCheck, PeerInfo};
use crate::describe::{self, MethodInfo, DESCRIBE_METHOD};
use crate::handler::{Context, StreamHandler, SyncHandler, UnaryHandler};
use crate::method_stats::{MethodMetrics, UNKNOWN_METHOD};
use crate::options::Options;
use crate::status::Status;
use crate::worker::{OnWorkers, Responder, WorkerHandler, WorkerPool};

/// The name of the built-in method that lists the registered methods, one per line.
pub const LIST_METHOD: &str = "muxwire.list";

/// A registered handler, by kind.
#[derive(Clone)]
pub(crate) enum Method {
    Unary(Unary),
    Streaming(Arc<dyn StreamHandler>),
}

/// The two kinds of unary handler.
#[derive(Clone)]
pub(crate) enum Unary {
    Async(Arc<dyn UnaryHandler>),
    Sync(Arc<dyn SyncHandler>),
}

/// A registered method: its handler, and its name as `Bytes` for handler contexts (so a
/// context never holds on to the received frame the name came in).
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) name: Bytes,
    pub(crate) method: Method,
    /// The method's counters (see `Options::method_metrics`).
    pub(crate) metrics: Arc<MethodMetrics>,
}

impl Route {
    fn new(name: &str, method: Method) -> Route {
        Route {
            name: Bytes::copy_from_slice(name.as_bytes()),
            method,
            metrics: Arc::default(),
        }
    }
}

/// Handlers by method name. Registering a name twice (or the built-in `muxwire.list`,
/// or an empty name) is an error that [`crate::Server::bind`] reports.
#[derive(Clone, Default)]
pub struct Router {
    /// Looked up once per call: hashed (a tree compared names byte by byte several
    /// times per lookup, a tenth of a one-way message's cost on the server).
    /// Keyed by the name's bytes, so that a call's method is looked up as it came.
    methods: FxHashMap<Bytes, Route>,
    /// Handlers for the worker pool, bound to one when the router is put to use.
    workers: BTreeMap<String, Arc<dyn WorkerHandler>>,
    list: Option<Route>,
    /// The built-in description of the methods (see [`Router::describe`]).
    describe: Option<Route>,
    /// What the application said of its methods, by name.
    descriptions: BTreeMap<String, MethodInfo>,
    /// Counters of calls to methods nobody registered.
    pub(crate) unknown: Arc<MethodMetrics>,
    /// Checks run before a connection is served and before each call's handler.
    pub(crate) connection_check: Option<ConnectionCheck>,
    pub(crate) call_check: Option<CallCheck>,
    /// Code run around every call, in order (see [`Router::intercept`]).
    pub(crate) interceptors: crate::intercept::Chain,
    /// Why the registrations are invalid, if they are (reported at bind).
    invalid: Option<Status>,
}

impl Router {
    /// An empty router (the built-in `muxwire.list` is always there).
    pub fn new() -> Router {
        Router::default()
    }

    /// Registers a unary handler.
    pub fn unary(self, name: &str, handler: impl UnaryHandler) -> Router {
        self.add(name, Method::Unary(Unary::Async(Arc::new(handler))))
    }

    /// Registers a unary handler that answers without awaiting (see [`SyncHandler`]).
    pub fn unary_sync(self, name: &str, handler: impl SyncHandler) -> Router {
        self.add(name, Method::Unary(Unary::Sync(Arc::new(handler))))
    }

    /// Registers a streaming handler.
    pub fn streaming(self, name: &str, handler: impl StreamHandler) -> Router {
        self.add(name, Method::Streaming(Arc::new(handler)))
    }

    /// Registers a unary handler that runs on the worker pool (never on a connection's
    /// task) and answers through its [`Responder`], from any thread, now or later: the
    /// kind foreign code (C callbacks, Python functions) and blocking code are served
    /// with. The pool is bounded by `Options::worker_threads` and `worker_queue`.
    pub fn unary_worker(mut self, name: &str, handler: impl WorkerHandler) -> Router {
        if self.duplicate(name) {
            return self;
        }
        self.workers.insert(name.to_string(), Arc::new(handler));
        self.list = None;
        self
    }

    /// Registers a unary handler that may block (file IO, a lock, heavy CPU): it runs on
    /// the worker pool and its return value is the reply.
    pub fn unary_blocking<F>(self, name: &str, handler: F) -> Router
    where
        F: Fn(Context, Bytes) -> Result<Bytes, Status> + Send + Sync + 'static,
    {
        self.unary_worker(name, move |ctx: Context, req: Bytes, r: Responder| {
            // The call may be gone by now; then nobody waits for this answer.
            let _ = r.finish(handler(ctx, req));
        })
    }

    /// Describes method `name` (registered before or after this) for the built-in
    /// `muxwire.describe`: what it does and its request and reply types (free text: a type
    /// name or a schema reference). Describing a name never registered is an error that
    /// [`crate::Server::bind`] reports.
    pub fn describe(mut self, name: &str, info: MethodInfo) -> Router {
        self.descriptions.insert(name.to_string(), info);
        self
    }

    /// Adds an interceptor: code run around every call this router serves, after those
    /// added before it (see [`crate::Interceptor`]; ready ones: [`crate::LogCalls`],
    /// [`crate::ConcurrencyLimit`], [`crate::BearerToken`]).
    pub fn intercept(mut self, interceptor: impl crate::Interceptor) -> Router {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Checks each connection once, when it is made: a refusal answers every call on it
    /// with that status (UNAUTHENTICATED or PERMISSION_DENIED, typically) and runs no
    /// handler. The check sees the peer's address and what the transport verified (a TLS
    /// client certificate, a Unix socket peer's credentials). Keep it short: it runs on
    /// the connection's task. A later call replaces an earlier check.
    pub fn authorize_connections(
        mut self,
        check: impl Fn(&PeerInfo<'_>) -> Result<(), Status> + Send + Sync + 'static,
    ) -> Router {
        self.connection_check = Some(Arc::new(check));
        self
    }

    /// Checks every call before its handler runs (also one-way calls, which are dropped
    /// and counted when refused): the method, the metadata (a bearer token, say) and the
    /// peer. A refusal is the call's status. It runs on the connection's task for every
    /// call: keep it short. A later call replaces an earlier check.
    pub fn authorize_calls(
        mut self,
        check: impl Fn(&CallInfo<'_>) -> Result<(), Status> + Send + Sync + 'static,
    ) -> Router {
        self.call_check = Some(Arc::new(check));
        self
    }

    fn add(mut self, name: &str, method: Method) -> Router {
        if self.duplicate(name) {
            return self;
        }
        let route = Route::new(name, method);
        self.methods.insert(route.name.clone(), route);
        self.list = None;
        self
    }

    /// Records the first invalid registration (an empty name, or one already taken);
    /// true if `name` cannot be registered.
    fn duplicate(&mut self, name: &str) -> bool {
        let problem = if name.is_empty() {
            Some(Status::invalid_argument("a method name cannot be empty"))
        } else if name == LIST_METHOD
            || name == DESCRIBE_METHOD
            || self.methods.contains_key(name.as_bytes())
            || self.workers.contains_key(name)
        {
            Some(Status::already_exists(format!(
                "method {name:?} is registered twice"
            )))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                // The first problem is the one reported; the first handler stays.
                self.invalid.get_or_insert(problem);
                true
            }
            None => false,
        }
    }

    /// Whether the registrations are valid: the first duplicate or empty name otherwise
    /// (the same error [`crate::Server::bind`] returns).
    pub fn check(&self) -> Result<(), Status> {
        if let Some(s) = &self.invalid {
            return Err(s.clone());
        }
        match self.descriptions.keys().find(|n| {
            !self.methods.contains_key(n.as_bytes()) && !self.workers.contains_key(n.as_str())
        }) {
            Some(n) => Err(Status::invalid_argument(format!(
                "method {n:?} is described but not registered"
            ))),
            None => Ok(()),
        }
    }

    /// The registered method names (plus the built-in listing), sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.methods.keys().map(|k| utf8(k)).collect();
        v.extend(self.workers.keys().cloned());
        v.push(LIST_METHOD.to_string());
        v.push(DESCRIBE_METHOD.to_string());
        v.sort();
        v
    }

    /// The router put to use: worker handlers bound to a new pool sized by `opts`, and
    /// the listing of its methods built.
    pub(crate) fn sealed(mut self, opts: &Options) -> Router {
        if !self.workers.is_empty() {
            let pool = WorkerPool::new(opts.worker_threads, opts.worker_queue);
            for (name, handler) in std::mem::take(&mut self.workers) {
                let bound = OnWorkers {
                    handler,
                    pool: pool.clone(),
                };
                let route = Route::new(&name, Method::Unary(Unary::Async(Arc::new(bound))));
                self.methods.insert(route.name.clone(), route);
            }
        }
        let listing = Bytes::from(self.names().join("\n"));
        let list = move |_ctx: &Context, _req: Bytes| Ok(listing.clone());
        self.list = Some(Route::new(
            LIST_METHOD,
            Method::Unary(Unary::Sync(Arc::new(list))),
        ));
        self.describe = Some(self.describe_route());
        // Counters of their own, even if a clone of this router serves elsewhere too.
        for route in self.methods.values_mut() {
            route.metrics = Arc::default();
        }
        self.unknown = Arc::default();
        self
    }

    /// The built-in `muxwire.describe`, its replies made once.
    fn describe_route(&self) -> Route {
        let entries: BTreeMap<String, String> = self
            .names()
            .into_iter()
            .map(|name| {
                let streaming = matches!(
                    self.methods.get(name.as_bytes()).map(|r| &r.method),
                    Some(Method::Streaming(_))
                );
                let e = describe::entry(&name, streaming, self.descriptions.get(&name));
                (name, e)
            })
            .collect();
        let all = Bytes::from(describe::document(entries.values()));
        let one: BTreeMap<String, Bytes> = entries
            .iter()
            .map(|(n, e)| (n.clone(), Bytes::from(describe::document([e]))))
            .collect();
        let handler = move |_ctx: &Context, req: Bytes| {
            if req.is_empty() {
                return Ok(all.clone());
            }
            let name = String::from_utf8_lossy(&req);
            one.get(name.as_ref()).cloned().ok_or_else(|| {
                Status::new(
                    crate::StatusCode::NOT_FOUND,
                    format!("no method {name:?} here"),
                )
            })
        };
        Route::new(
            DESCRIBE_METHOD,
            Method::Unary(Unary::Sync(Arc::new(handler))),
        )
    }

    /// Every method's counters, with its name ([`UNKNOWN_METHOD`] last).
    pub(crate) fn metrics(&self) -> Vec<(String, Arc<MethodMetrics>)> {
        let mut v: Vec<(String, Arc<MethodMetrics>)> = self
            .methods
            .iter()
            .map(|(name, r)| (utf8(name), r.metrics.clone()))
            .collect();
        if let Some(list) = &self.list {
            v.push((LIST_METHOD.to_string(), list.metrics.clone()));
        }
        if let Some(d) = &self.describe {
            v.push((DESCRIBE_METHOD.to_string(), d.metrics.clone()));
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.push((UNKNOWN_METHOD.to_string(), self.unknown.clone()));
        v
    }

    /// The route of method `name`, as a call names it (bytes that need no UTF-8 check
    /// to be looked up: only registered names, all UTF-8, are found).
    pub(crate) fn get(&self, name: &[u8]) -> Option<&Route> {
        if name == LIST_METHOD.as_bytes() {
            return self.list.as_ref();
        }
        if name == DESCRIBE_METHOD.as_bytes() {
            return self.describe.as_ref();
        }
        self.methods.get(name)
    }
}

/// A registered name (UTF-8: it was registered as a `&str`) as a `String`.
fn utf8(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
