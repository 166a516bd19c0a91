//! Every knob of a client or server, with the reference defaults.

use std::time::Duration;

use muxwire_core::conn::Config;
use muxwire_core::time::Duration as CoreDuration;
use muxwire_core::wire::{Codec, Features, Settings, Side};

use crate::Status;

/// Limits, compression, integrity and timing for connections.
///
/// Start from `Options::default()` and set the fields you need; new options may be added,
/// so it cannot be built as a struct literal outside this crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Largest frame payload accepted (advertised as MAX_FRAME_SIZE).
    pub max_frame_size: u32,
    /// Largest message accepted, on the wire and decompressed.
    pub max_message_size: u32,
    /// Largest metadata block accepted.
    pub max_metadata_size: u32,
    /// Calls the peer may have open towards this endpoint.
    pub max_concurrent_streams: u32,
    /// Initial receive window per stream.
    pub initial_stream_window: u32,
    /// Initial receive window per connection.
    pub initial_connection_window: u32,
    /// Codecs this endpoint decompresses (offered in HELLO).
    pub accept_codecs: Vec<Codec>,
    /// Codec used to compress outgoing messages when the peer accepts it.
    pub compress_with: Option<Codec>,
    /// Messages smaller than this are never compressed.
    pub compress_threshold: usize,
    /// Reply to a compressed request with the same codec (above `compress_threshold`,
    /// if it shrinks the reply), whatever `compress_with` says (spec section 10).
    pub reply_with_request_codec: bool,
    /// Add a CRC-32 trailer to every frame sent.
    pub crc: bool,
    /// Ask the peer to add CRC-32 trailers.
    pub request_crc: bool,
    /// Hold writes this long to coalesce more frames into one `writev` (0: flush as soon
    /// as the queue drains).
    pub flush_delay: Duration,
    /// The peer's preface and HELLO must arrive within this time.
    pub handshake_timeout: Duration,
    /// A frame whose bytes started to arrive must complete within this time.
    pub frame_timeout: Duration,
    /// PING after this much silence from the peer (`None`: never). Default 30 s: with
    /// `ping_timeout`, a peer that is gone is noticed within 50 s (spec section 15.1).
    pub keepalive: Option<Duration>,
    /// An unanswered PING closes the connection after this time.
    pub ping_timeout: Duration,
    /// Close a connection without calls whose peer has sent nothing for this long
    /// (`None`: never; advertised as IDLE_TIMEOUT). Default 5 minutes. A peer's PINGs keep
    /// the connection (spec section 15.2); a client whose connection closes for idleness
    /// reconnects at its next call, not at once.
    pub idle_timeout: Option<Duration>,
    /// TCP sockets: send TCP keepalive probes after this much silence (SO_KEEPALIVE, then
    /// every 10 s, 3 probes), so that a peer that vanished is noticed by the kernel too
    /// (`None`: the kernel's default, off). Default 30 s.
    pub tcp_keepalive: Option<Duration>,
    /// TCP sockets: data unacknowledged for this long closes the connection
    /// (TCP_USER_TIMEOUT, Linux; `None`: the kernel's default of about 15 minutes).
    /// Default 30 s.
    pub tcp_user_timeout: Option<Duration>,
    /// Servers: connections open at once at most. One more is accepted, told
    /// GOAWAY(ENHANCE_YOUR_CALM) naming `max_connections`, closed and counted in
    /// `StatsSnapshot::refused_max_connections` (spec section 16). Default 10 000.
    pub max_connections: usize,
    /// Servers: the listen backlog (connections the kernel completes before they are
    /// accepted), so that a burst of connects does not wait for SYN retries. The kernel
    /// caps it at `net.core.somaxconn`. Default 1 024.
    pub listen_backlog: u32,
    /// Servers: new connections accepted per second over the whole server; more are
    /// refused like those over `max_connections`, naming `connection_budget`, and counted
    /// in `StatsSnapshot::refused_connection_budget`. Default 2 000.
    pub connection_budget: u32,
    /// Servers: CANCELs of served calls per second over all connections together (each
    /// connection also has its own `cancel_budget`), so that reconnecting does not escape
    /// the cancel budget. Past it, a connection that cancels a call is closed with
    /// GOAWAY(ENHANCE_YOUR_CALM) naming `server_cancel_budget`, new connections are
    /// refused for the rest of that second, and both are counted in
    /// `StatsSnapshot::refused_server_cancel_budget`. Default 10 000.
    pub server_cancel_budget: u32,
    /// Servers: unwritten bytes over all connections together past which a connection
    /// that holds 1 MiB or more of them takes no new work (each also has its own bound of
    /// 8 MiB), so that peers that do not read hold 1 MiB each, not 8, while others are
    /// served (spec section 16). Default 256 MiB.
    pub server_outbound_limit: usize,
    /// CANCEL frames accepted per second.
    pub cancel_budget: u32,
    /// PINGs and ignored frames accepted per second.
    pub control_budget: u32,
    /// Bytes of messages still arriving in chunks that one connection holds at most, over
    /// all its calls; a chunk past it fails its call with RESOURCE_EXHAUSTED naming
    /// `partial_message_limit` (spec section 16). The flow-control windows alone do not
    /// bound these: a message larger than its window arrives with credit returned as it
    /// grows.
    pub partial_message_limit: usize,
    /// One-way calls whose async handlers run at once per connection; as many more wait
    /// for a slot (then the connection stops reading). A one-way call's connection credit
    /// comes back when its handler has finished (spec sections 5.2 and 16). Sync handlers
    /// run inline and take no slot.
    pub max_one_way_handlers: usize,
    /// Stream slots per connection (calls in flight both ways plus closing ones).
    pub stream_slots: usize,
    /// Connections a client keeps (calls are spread round-robin).
    pub pool_size: usize,
    /// A call made while disconnected waits for the connection (up to its timeout)
    /// instead of failing at once with UNAVAILABLE.
    pub wait_for_ready: bool,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_base: Duration,
    /// Largest reconnect delay.
    pub reconnect_max: Duration,
    /// Timeout applied to calls that set none.
    pub default_timeout: Option<Duration>,
    /// Unix sockets: the kernel's send buffer (SO_SNDBUF), which bounds the bytes in
    /// transit between the two processes. With the usual default (about 208 KiB) sender
    /// and receiver take turns copying a large message instead of copying at the same
    /// time. The kernel caps it at `net.core.wmem_max`; `None` keeps its default. TCP is
    /// left to the kernel's autotuning, which a fixed size would switch off.
    pub unix_send_buffer: Option<usize>,
    /// Worker threads at most for handlers registered with `Router::unary_worker` or
    /// `Router::unary_blocking` (started when first needed, one pool per server or client).
    pub worker_threads: usize,
    /// Calls at most waiting for a worker thread; more are refused with
    /// RESOURCE_EXHAUSTED (safe to retry).
    pub worker_queue: usize,
    /// The AGENT this endpoint names itself with in HELLO (at most 64 bytes; empty: none).
    pub agent: String,
    /// Keep counters and a latency histogram per method for the calls this end serves
    /// (`StatsSnapshot::methods`, and in `StatsSnapshot::prometheus`). Off by default: it
    /// reads the clock twice per call and adds to counters shared by every connection.
    pub method_metrics: bool,
    /// A server's TLS certificate and key, and its client-certificate policy: needed to
    /// bind a `tls://` endpoint.
    #[cfg(feature = "tls")]
    pub tls_server: Option<crate::TlsServerConfig>,
    /// Which servers a client trusts on `tls://` endpoints, and its own certificate;
    /// `None` trusts the platform's CA store.
    #[cfg(feature = "tls")]
    pub tls_client: Option<crate::TlsClientConfig>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_frame_size: 65_536,
            max_message_size: 4 << 20,
            max_metadata_size: 8_192,
            max_concurrent_streams: 1_024,
            initial_stream_window: 1 << 20,
            initial_connection_window: 16 << 20,
            accept_codecs: if cfg!(feature = "zstd") {
                vec![Codec::Lz4, Codec::Zstd]
            } else {
                vec![Codec::Lz4]
            },
            compress_with: None,
            compress_threshold: 1_024,
            reply_with_request_codec: true,
            crc: false,
            request_crc: false,
            flush_delay: Duration::ZERO,
            handshake_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(20),
            idle_timeout: Some(Duration::from_secs(300)),
            tcp_keepalive: Some(Duration::from_secs(30)),
            tcp_user_timeout: Some(Duration::from_secs(30)),
            max_connections: 10_000,
            listen_backlog: 1_024,
            connection_budget: 2_000,
            server_cancel_budget: 10_000,
            server_outbound_limit: 256 << 20,
            cancel_budget: 1_000,
            control_budget: 1_000,
            partial_message_limit: 64 << 20,
            max_one_way_handlers: 1_024,
            stream_slots: 2_304,
            pool_size: 1,
            wait_for_ready: false,
            reconnect_base: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            default_timeout: None,
            unix_send_buffer: Some(1 << 20),
            worker_threads: std::thread::available_parallelism()
                .map_or(4, |n| n.get())
                .clamp(4, 64),
            worker_queue: 1_024,
            agent: DEFAULT_AGENT.to_string(),
            method_metrics: false,
            #[cfg(feature = "tls")]
            tls_server: None,
            #[cfg(feature = "tls")]
            tls_client: None,
        }
    }
}

/// The AGENT the runtime sends unless told otherwise.
pub(crate) const DEFAULT_AGENT: &str = concat!("muxwire-rust/", env!("CARGO_PKG_VERSION"));

pub(crate) fn micros(d: Duration) -> CoreDuration {
    CoreDuration::from_micros(d.as_micros().min(u128::from(u64::MAX)) as u64)
}

impl Options {
    /// Fails with INVALID_ARGUMENT naming the first option a peer would refuse (a limit
    /// or window outside the range of the spec's section 3.4). `Client::connect*` and
    /// `Server::bind*` check this before they touch the network.
    pub fn validate(&self) -> Result<(), Status> {
        if self.agent.len() > muxwire_core::conn::Agent::MAX {
            return Err(Status::invalid_argument(format!(
                "option agent is {} bytes; HELLO carries at most {}",
                self.agent.len(),
                muxwire_core::conn::Agent::MAX
            )));
        }
        let wants_zstd =
            self.compress_with == Some(Codec::Zstd) || self.accept_codecs.contains(&Codec::Zstd);
        if wants_zstd && !cfg!(feature = "zstd") {
            return Err(Status::invalid_argument(
                "options name the zstd codec, but this build has no zstd support (enable the \
                 muxwire crate's `zstd` feature)",
            ));
        }
        if self.worker_threads == 0 {
            return Err(Status::invalid_argument(
                "option worker_threads = 0: worker handlers need at least one thread",
            ));
        }
        match self
            .core_config(Side::Connector)
            .settings
            .first_out_of_range()
        {
            None => Ok(()),
            Some((name, value)) => Err(Status::invalid_argument(format!(
                "option {name} = {value} is outside the range the protocol allows \
                 (spec section 3.4: max_frame_size 16384..16777215, max_metadata_size \
                 256..65535, initial_stream_window >= 65536, initial_connection_window \
                 >= 262144, windows at most 2^31-1)"
            ))),
        }
    }

    /// The core configuration for one side of a connection.
    pub(crate) fn core_config(&self, side: Side) -> Config {
        let mut c = Config::new(side);
        let mut s = Settings::INITIAL;
        s.max_frame_size = self.max_frame_size;
        s.max_message_size = self.max_message_size;
        s.max_metadata_size = self.max_metadata_size;
        s.max_concurrent_streams = self.max_concurrent_streams;
        s.initial_stream_window = self.initial_stream_window;
        s.initial_connection_window = self.initial_connection_window;
        s.compression = self
            .accept_codecs
            .iter()
            .fold(0, |m, c| m | c.setting_bit())
            & !1;
        s.features = if self.request_crc {
            Features::CRC_REQUESTED
        } else {
            Features(0)
        };
        s.idle_timeout_ms = self
            .idle_timeout
            .map_or(0, |d| d.as_millis().clamp(1, u128::from(u32::MAX)) as u32);
        c.settings = s;
        // Checked by `validate` before any connection is made.
        c.agent_text = muxwire_core::conn::Agent::new(&self.agent).unwrap_or_default();
        c.send_crc = self.crc;
        c.handshake_timeout = micros(self.handshake_timeout);
        c.ping_timeout = micros(self.ping_timeout);
        c.frame_timeout = micros(self.frame_timeout);
        c.keepalive_interval = self.keepalive.map(micros);
        c.cancel_budget = self.cancel_budget;
        c.control_budget = self.control_budget;
        c
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;

    /// Liveness is on out of the box (issue 15, finding 10): keepalive PINGs, an idle
    /// timeout, TCP keepalive and TCP_USER_TIMEOUT, as spec section 16 lists them; and the
    /// server's connection bounds have their documented defaults.
    #[test]
    fn liveness_and_connection_bounds_have_their_documented_defaults() {
        let o = Options::default();
        assert_eq!(o.keepalive, Some(Duration::from_secs(30)));
        assert_eq!(o.ping_timeout, Duration::from_secs(20));
        assert_eq!(o.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(o.tcp_keepalive, Some(Duration::from_secs(30)));
        assert_eq!(o.tcp_user_timeout, Some(Duration::from_secs(30)));
        assert_eq!(o.max_connections, 10_000);
        assert_eq!(o.listen_backlog, 1_024);
        assert_eq!(o.connection_budget, 2_000);
        assert_eq!(o.server_cancel_budget, 10_000);
        assert_eq!(o.server_outbound_limit, 256 << 20);
        let c = o.core_config(Side::Connector);
        assert_eq!(c.keepalive_interval, Some(CoreDuration::from_secs(30)));
        assert_eq!(c.settings.idle_timeout_ms, 300_000, "advertised in HELLO");
    }
}

#[cfg(test)]
mod zstd_feature_tests {
    use super::*;

    /// The zstd codec is offered exactly when it is built in, and naming it in a build
    /// without it is a clear error, not a failure at the first compressed message.
    #[test]
    fn zstd_is_offered_only_when_built_in() {
        let o = Options::default();
        assert_eq!(
            o.accept_codecs.contains(&Codec::Zstd),
            cfg!(feature = "zstd")
        );
        assert!(o.validate().is_ok());
        let z = Options {
            compress_with: Some(Codec::Zstd),
            ..Options::default()
        };
        match (cfg!(feature = "zstd"), z.validate()) {
            (true, r) => assert!(r.is_ok()),
            (false, r) => assert!(r.unwrap_err().message.contains("`zstd` feature")),
        }
    }
}
