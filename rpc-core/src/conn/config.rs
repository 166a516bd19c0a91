//! Connection configuration: what to advertise and local policy.

use core::fmt;

use super::Error;
use crate::time::Duration;
use crate::wire::{Settings, Side};

/// Everything a connection needs to know before it starts.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Which side of the transport this endpoint is (decides stream id parity).
    pub side: Side,
    /// The settings advertised in HELLO (limits this endpoint enforces).
    pub settings: Settings,
    /// The AGENT string sent in HELLO (takes precedence over `agent_text`).
    pub agent: Option<&'static str>,
    /// An AGENT string the caller does not keep alive for ever (a binding's, built at
    /// run time), copied inline; used when `agent` is `None`.
    pub agent_text: Agent,
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
    /// Slots the caller is willing to grow the stream storage to (0: the storage is
    /// fixed). While the storage is smaller and three quarters full,
    /// [`Connection::wants_storage`](super::Connection::wants_storage) is true and input
    /// stops before the next frame, as for a full queue, until the caller hands over
    /// larger storage with [`Connection::replace_storage`](super::Connection::replace_storage).
    pub storage_max: usize,
}

/// An AGENT string of at most [`Agent::MAX`] bytes, stored inline (no allocation, no
/// lifetime), so a C or Python caller can set it from a temporary string.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Agent {
    len: u8,
    bytes: [u8; Agent::MAX],
}

impl Agent {
    /// The longest AGENT this type holds, in bytes.
    pub const MAX: usize = 64;

    /// No AGENT.
    pub const EMPTY: Agent = Agent {
        len: 0,
        bytes: [0; Agent::MAX],
    };

    /// A copy of `text`; `InvalidArgument` if it is longer than [`Agent::MAX`] bytes.
    pub fn new(text: &str) -> Result<Agent, Error> {
        if text.len() > Agent::MAX {
            return Err(Error::InvalidArgument("agent longer than 64 bytes"));
        }
        let mut a = Agent::EMPTY;
        a.bytes[..text.len()].copy_from_slice(text.as_bytes());
        a.len = text.len() as u8;
        Ok(a)
    }

    /// The text (empty for none).
    pub fn as_str(&self) -> &str {
        // Copied from a `&str` whole, so always valid UTF-8.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Default for Agent {
    fn default() -> Agent {
        Agent::EMPTY
    }
}

impl Config {
    /// The AGENT to send: `agent` if set, else `agent_text` if not empty.
    pub fn agent_str(&self) -> Option<&str> {
        match self.agent {
            Some(a) => Some(a),
            None if self.agent_text.len > 0 => Some(self.agent_text.as_str()),
            None => None,
        }
    }

    /// This configuration with a copy of `agent` as its AGENT (see [`Agent::new`]).
    pub fn with_agent(mut self, agent: &str) -> Result<Config, Error> {
        self.agent = None;
        self.agent_text = Agent::new(agent)?;
        Ok(self)
    }

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
            agent_text: Agent::EMPTY,
            send_crc: false,
            handshake_timeout: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(20),
            keepalive_interval: None,
            frame_timeout: Duration::from_secs(10),
            cancel_budget: 1_000,
            control_budget: 1_000,
            ack_queue: 16,
            storage_max: 0,
        }
    }
}
