//! The keyword options of `Client` and `Server`, as runtime [`Options`].

use muxwire::Options;
use pyo3::prelude::*;

use crate::args::{codec, count, seconds};

/// Connections a client may pool at most.
const MAX_POOL: usize = 64;

/// The largest message size one may ask for (1 GiB).
const MAX_MESSAGE_SIZE: usize = 1 << 30;

/// Options shared by clients and servers.
pub(crate) struct Common<'a> {
    /// Compress outgoing messages with this codec when the peer accepts it.
    pub(crate) compression: Option<&'a str>,
    /// Largest message accepted, in bytes.
    pub(crate) max_message_size: Option<usize>,
    /// Add a CRC-32 trailer to every frame.
    pub(crate) crc: bool,
    /// PING after this many seconds of silence (`None`: the library's default, 30 s;
    /// 0: never).
    pub(crate) keepalive: Option<f64>,
    /// The AGENT sent in HELLO.
    pub(crate) agent: Option<String>,
}

impl<'a> Common<'a> {
    /// The options as Python passed them.
    pub(crate) fn new(
        compression: Option<&'a str>,
        max_message_size: Option<usize>,
        crc: bool,
        keepalive: Option<f64>,
        agent: Option<String>,
    ) -> Common<'a> {
        Common {
            compression,
            max_message_size,
            crc,
            keepalive,
            agent,
        }
    }

    /// Runtime options with these set.
    pub(crate) fn options(&self) -> PyResult<Options> {
        let mut o = Options::default();
        o.compress_with = codec(self.compression)?;
        if let Some(size) = self.max_message_size {
            o.max_message_size = count(size, MAX_MESSAGE_SIZE, "max_message_size")? as u32;
        }
        o.crc = self.crc;
        if let Some(k) = self.keepalive {
            o.keepalive = seconds(Some(k), "keepalive")?.filter(|d| !d.is_zero());
        }
        o.agent = match &self.agent {
            Some(a) => a.clone(),
            None => format!("muxwire-python/{}", env!("CARGO_PKG_VERSION")),
        };
        Ok(o)
    }
}

/// A client's options: the common ones, the default timeout, the pool size and whether
/// calls wait for a connection.
pub(crate) fn client(
    common: Common<'_>,
    timeout: Option<f64>,
    pool: usize,
    wait_for_ready: bool,
) -> PyResult<Options> {
    let mut o = common.options()?;
    o.default_timeout = seconds(timeout, "timeout")?;
    o.pool_size = count(pool, MAX_POOL, "pool")?;
    o.wait_for_ready = wait_for_ready;
    Ok(o)
}
