//! # muxwire
//!
//! The muxwire runtime on tokio: many concurrent calls over one connection, batched into
//! few syscalls, in both directions, over TCP and Unix sockets. It drives the sans-IO
//! state machine of `muxwire-core` (see `spec/PROTOCOL.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), muxwire::Status> {
//! use bytes::Bytes;
//! use muxwire::{Client, Options, Router, Server};
//!
//! let router = Router::new().unary("echo", |_ctx, req: Bytes| async move { Ok(req) });
//! let server = Server::new(router, Options::default()).bind("tcp://127.0.0.1:0").await?;
//! let url = server.local_endpoint().to_string();
//!
//! let client = Client::connect(&url).await?;
//! let reply = client.call("echo", Bytes::from_static(b"hi")).await?;
//! assert_eq!(&reply[..], b"hi");
//! server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! Each connection has one driver task (it owns the protocol state and reads the socket)
//! and one writer task (it sends every queued frame with one vectored write). Callers and
//! handlers never hold a lock across IO: they send commands to the driver, which routes
//! replies back by stream id. Bodies of 4 KiB and more are never copied on the way out.

// Modules in layers, bottom up; a module imports only from its own layer or below, so
// there are no import cycles:
// - shared pieces: status, options, authorize, intercept, describe, method_stats, stats, budget, compress, panics, pool, recycle,
//   endpoint, transport, runtime, conn_state, admission;
// - a connection: commands and replies (its queue), writer, handle; handler, route and
//   worker (what it runs for the calls it serves); driver (its task, in parts);
// - channel: calls over one connection;
// - peers (a server's registry of connections), client (a pool of connections) and
//   server (a listener);
// - balance: many servers behind one client.
mod admission;
mod authorize;
mod balance;
mod budget;
mod channel;
mod client;
mod commands;
mod compress;
mod conn_state;
mod describe;
mod driver;
mod endpoint;
mod handle;
mod handler;
mod intercept;
mod method_stats;
mod metrics;
mod options;
mod panics;
mod peers;
mod pool;
mod recycle;
mod replies;
mod route;
mod runtime;
mod server;
mod stats;
mod status;
mod transport;
mod worker;
mod writer;

pub use authorize::{CallInfo, PeerInfo};
pub use balance::{BalanceOptions, Balanced, EndpointStats, Policy};
pub use channel::{CallOptions, CallSink, CallStream};
pub use client::Client;
pub use conn_state::{ConnState, StateWatch};
pub use endpoint::{Endpoint, EndpointError};
pub use handle::{Channel, Peer};
pub use handler::{
    BoxFuture, CancelState, Context, Inbound, Outbound, StreamHandler, SyncHandler, UnaryHandler,
};
pub use muxwire_core::wire::{Codec, StatusCode};

/// The README's examples, compiled and run as doctests so that they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
pub use describe::{MethodInfo, DESCRIBE_METHOD};
pub use intercept::{BearerToken, CallEnd, CallStart, ConcurrencyLimit, Interceptor, LogCalls};
pub use method_stats::{MethodSnapshot, LATENCY_BOUNDS_US, UNKNOWN_METHOD};
pub use options::Options;
pub use peers::{BroadcastReport, PeerEvent, PeerEvents, Peers, PEER_EVENTS_KEPT};
pub use route::{Router, LIST_METHOD};
pub use runtime::{Runtime, RuntimeHandle};
pub use server::{Running, Server};
pub use stats::{Stats, StatsSnapshot};
pub use status::Status;
#[cfg(feature = "tls")]
pub use transport::tls::{Tls, TlsClientConfig, TlsServerConfig, ALPN, MAX_PENDING_HANDSHAKES};
pub use transport::{
    Acceptor, Io, IoFuture, PeerIdentity, ReadHalf, Sockets, Transport, UnixCredentials, WriteHalf,
};
pub use worker::{Responder, WorkerHandler};
