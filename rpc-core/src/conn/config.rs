//! Connection configuration: what to advertise and local policy.

use crate::time::Duration;
use crate::wire::{Settings, Side};

/// Everything a connection needs to know before it starts.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Which side of the transport this endpoint is (decides stream id parity).
    pub side: Side,
    /// The settings advertised in HELLO (limits this endpoint enforces).
    pub settings: Settings,
    /// The AGENT string sent in HELLO.
    pub agent: Option<&'static str>,
    /// Add a CRC trailer to every frame sent, even if the peer did not ask.
    pub send_crc: bool,
    /// The peer's preface and HELLO must arrive within this time.
    pub handshake_timeout: Duration,
    /// A PING without ACK for this long closes the connection with TIMEOUT.
    pub ping_timeout: Duration,
    /// Send a PING after this much silence from the peer (`None`: never).
    pub keepalive_interval: Option<Duration>,
    /// A frame whose bytes started to arrive must complete within this time.
    pub frame_timeout: Duration,
    /// CANCEL frames accepted per second.
    pub cancel_budget: u32,
    /// PINGs, ignored frames and tiny WINDOWs accepted per second.
    pub control_budget: u32,
    /// Unsent PING ACKs allowed before the peer is deemed abusive.
    pub ack_queue: usize,
}

impl Config {
    /// The reference defaults of PROTOCOL.md section 16 for `side`, advertising
    /// 64 KiB frames and 1 MiB / 16 MiB windows.
    pub const fn new(side: Side) -> Config {
        let mut settings = Settings::INITIAL;
        settings.max_frame_size = 65_536;
        settings.initial_stream_window = 1 << 20;
        settings.initial_connection_window = 16 << 20;
        Config {
            side,
            settings,
            agent: None,
            send_crc: false,
            handshake_timeout: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(20),
            keepalive_interval: None,
            frame_timeout: Duration::from_secs(10),
            cancel_budget: 1_000,
            control_budget: 1_000,
            ack_queue: 16,
        }
    }
}
