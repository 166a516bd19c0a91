//! `muxwire_conn_config`: what a sans-IO connection advertises and enforces.

use muxwire_core::conn::Config;
use muxwire_core::time::Duration;
use muxwire_core::wire::{Features, Side};

use crate::args::Out;
use crate::boundary::guard;
use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;

/// Most stream slots one connection may have.
pub(crate) const MAX_STREAM_SLOTS: u32 = 1 << 16;

/// Which end of the transport a connection is.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_side {
    /// The end that connected (opens odd stream ids): usually the client.
    Connector = 0,
    /// The end that accepted (even stream ids): usually the server.
    Acceptor = 1,
}

/// Settings for `muxwire_conn_new`. Fill it with `muxwire_conn_config_init`, change what
/// you need, pass it in (it is copied). Sizes are bytes, times milliseconds.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_conn_config {
    /// A `muxwire_side`.
    pub side: i32,
    /// Calls (both directions, plus closing ones) the connection can track: 1 to 65536,
    /// default 256. A full table refuses new calls, never overflows.
    pub stream_slots: u32,
    /// Largest frame payload accepted (16384 to 16777215; default 65536).
    pub max_frame_size: u32,
    /// Largest message accepted.
    pub max_message_size: u32,
    /// Largest metadata block accepted (256 to 65535).
    pub max_metadata_size: u32,
    /// Calls the peer may have open towards this end.
    pub max_concurrent_streams: u32,
    /// Receive window per stream (at least 65536).
    pub initial_stream_window: u32,
    /// Receive window per connection (at least 262144).
    pub initial_connection_window: u32,
    /// Codecs accepted, as a bit set (bit 1 LZ4, bit 2 Zstandard).
    pub compression: u32,
    /// Feature bits advertised.
    pub features: u32,
    /// Close after this much idleness (0: never).
    pub idle_timeout_ms: u32,
    /// The peer's HELLO must arrive within this time.
    pub handshake_timeout_ms: u32,
    /// CANCEL frames accepted per second.
    pub cancel_budget: u32,
    /// PINGs and other control frames accepted per second.
    pub control_budget: u32,
    /// Unsent PING answers allowed before the peer is deemed abusive.
    pub ack_queue: u32,
    /// Add a CRC-32 trailer to every frame sent.
    pub send_crc: bool,
}

/// Fills `*config` with the defaults for `side` (a `muxwire_side`).
///
/// # Safety
/// `config` is NULL or valid for writing a `muxwire_conn_config`.
#[no_mangle]
pub unsafe extern "C" fn muxwire_conn_config_init(
    config: *mut muxwire_conn_config,
    side: i32,
) -> muxwire_result {
    guard(|| {
        let out = Out::new(config, "config")?;
        let side = side_of(side)?;
        let c = Config::new(side);
        let s = c.settings;
        let value = muxwire_conn_config {
            side: if side == Side::Connector { 0 } else { 1 },
            stream_slots: 256,
            max_frame_size: s.max_frame_size,
            max_message_size: s.max_message_size,
            max_metadata_size: s.max_metadata_size,
            max_concurrent_streams: s.max_concurrent_streams,
            initial_stream_window: s.initial_stream_window,
            initial_connection_window: s.initial_connection_window,
            compression: s.compression,
            features: s.features.0,
            idle_timeout_ms: s.idle_timeout_ms,
            handshake_timeout_ms: (c.handshake_timeout.as_micros() / 1000) as u32,
            cancel_budget: c.cancel_budget,
            control_budget: c.control_budget,
            ack_queue: c.ack_queue as u32,
            send_crc: c.send_crc,
        };
        // SAFETY: checked, writable by the caller's contract.
        unsafe { out.write(value) };
        Ok(())
    })
}

fn side_of(side: i32) -> Outcome<Side> {
    match side {
        0 => Ok(Side::Connector),
        1 => Ok(Side::Acceptor),
        _ => Err(Failure::invalid(format!(
            "side {side} is not a muxwire_side (0 connector, 1 acceptor)"
        ))),
    }
}

/// The core's configuration for `c`, checked.
pub(crate) fn core_config(c: &muxwire_conn_config) -> Outcome<Config> {
    let mut cfg = Config::new(side_of(c.side)?);
    let s = &mut cfg.settings;
    s.max_frame_size = c.max_frame_size;
    s.max_message_size = c.max_message_size;
    s.max_metadata_size = c.max_metadata_size;
    s.max_concurrent_streams = c.max_concurrent_streams;
    s.initial_stream_window = c.initial_stream_window;
    s.initial_connection_window = c.initial_connection_window;
    s.compression = c.compression;
    s.features = Features(c.features);
    s.idle_timeout_ms = c.idle_timeout_ms;
    if let Some((name, value)) = s.first_out_of_range() {
        return Err(Failure::invalid(format!(
            "config {name} = {value} is outside the range the protocol allows (spec section 3.4)"
        )));
    }
    if !(1..=MAX_STREAM_SLOTS).contains(&c.stream_slots) {
        return Err(Failure::invalid(format!(
            "config stream_slots = {}: must be 1 to {MAX_STREAM_SLOTS}",
            c.stream_slots
        )));
    }
    cfg.handshake_timeout = Duration::from_millis(u64::from(c.handshake_timeout_ms));
    cfg.cancel_budget = c.cancel_budget;
    cfg.control_budget = c.control_budget;
    cfg.ack_queue = c.ack_queue as usize;
    cfg.send_crc = c.send_crc;
    Ok(cfg)
}
