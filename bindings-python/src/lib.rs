//! The extension module `muxwire._muxwire`: the muxwire runtime for Python. The package
//! `muxwire` (in `python/`) re-exports it and adds the asyncio and server layers.
//!
//! Modules in layers, bottom up (a module imports only from its own layer or below):
//! - errors, args, options, stats, log, flag, sansio, codec (the core without IO);
//! - runtime (the process's runtime, fork), wait (blocking waits);
//! - bridge (asyncio completions), peer (calling a caller back), context (what
//!   handlers get);
//! - stream, streaming (streaming handlers), client, server.

mod args;
mod bridge;
mod client;
mod codec;
mod context;
mod errors;
mod flag;
mod log;
mod options;
mod peer;
mod runtime;
mod sansio;
mod server;
mod stats;
mod stream;
mod streaming;
mod wait;

use pyo3::prelude::*;

/// The muxwire runtime: clients, servers, and the asyncio bridge.
#[pymodule]
fn _muxwire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<bridge::CallGuard>()?;
    m.add_class::<bridge::LoopBridge>()?;
    m.add_class::<context::CallContext>()?;
    m.add_class::<context::Responder>()?;
    m.add_class::<peer::Peer>()?;
    m.add_class::<server::ServerCore>()?;
    m.add_class::<stats::Stats>()?;
    m.add_class::<sansio::Connection>()?;
    m.add_class::<sansio::Event>()?;
    m.add_class::<codec::Frame>()?;
    m.add_function(wrap_pyfunction!(codec::decode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(codec::encode_frame, m)?)?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<streaming::Requests>()?;
    m.add_class::<streaming::StreamCall>()?;
    m.add_function(wrap_pyfunction!(client::_start_connect, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::set_runtime_threads, m)?)?;
    m.add_function(wrap_pyfunction!(log::refresh_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(log::_stop_logging, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
