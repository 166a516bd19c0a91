//! # muxwire's C ABI
//!
//! `libmuxwire` (.so and .a) and `include/muxwire.h`, generated from this crate by
//! cbindgen. Conventions (the header repeats them for C programmers): opaque handles with
//! `_new`/`_free` pairs (free accepts NULL); every fallible function returns a
//! [`muxwire_result`] and writes its outputs only on success; pointers are checked; a
//! panic never crosses into C; nothing is printed, log records go to a callback.
//!
//! Modules, bottom up (each imports only from those before it):
//! - conventions: `result`, `entries`, `error`, `log`, `boundary`, `args`, `entry_args`, `log_callback`, `version`;
//! - TLS settings collected piece by piece: `tls_pieces` (before `options`, which holds
//!   them), then `tls_edit`, `tls_server_options`, `tls_client_options`; `tls_reload` (over a server);
//! - outcomes: `outcome`;
//! - runtime layer objects: `runtime`, `options`, `call_options`, `stats`, `reply`, `queue`,
//!   `completion`, `client`, `call`, `call_handle`, `wait`, `stream`, `call_with`,
//!   `peer`, `responder`, `server_stream`, `server`, then over a server: `authorize`
//!   (C checks of connections and calls), `describe`, `stats_snapshot` (every counter,
//!   per-method metrics), `stats_counters` (any counter by name); more settings: `options_metrics`, `options_keepalive`;
//!   `balanced` (one client of many servers), `balanced_async`;
//! - frame codec over muxwire-core: `frame` (decode into views), `metadata` (TLV walks,
//!   error code names), `frame_encode`;
//! - sans-IO layer over muxwire-core: `conn_config`, `conn_event`, `conn`, `conn_io`,
//!   `conn_calls`, `conn_with` (metadata, DETAILS, compressed messages), `codec`
//!   (compress and decompress messages);
//! - `testing` (feature `test-hooks`).
// Every entry point is `unsafe extern "C"` with its pointer contract under `# Safety`.
#![allow(clippy::missing_safety_doc)]
// Inside those, every unsafe operation still needs its own block and `// SAFETY:` line.
#![deny(unsafe_op_in_unsafe_fn)]

mod args;
mod authorize;
mod balanced;
mod balanced_async;
mod boundary;
mod call;
mod call_handle;
mod call_options;
mod call_with;
mod client;
mod codec;
mod completion;
mod conn;
mod conn_calls;
mod conn_config;
mod conn_event;
mod conn_io;
mod conn_with;
mod describe;
mod entries;
mod entry_args;
mod error;
mod frame;
mod frame_encode;
mod log;
mod log_callback;
mod metadata;
mod options;
mod options_keepalive;
mod options_metrics;
mod outcome;
mod peer;
mod queue;
mod reply;
mod responder;
mod result;
mod runtime;
mod server;
mod server_stream;
mod stats;
mod stats_counters;
mod stats_snapshot;
mod stream;
#[cfg(feature = "test-hooks")]
mod testing;
mod tls_client_options;
mod tls_edit;
mod tls_pieces;
mod tls_reload;
mod tls_server_options;
mod version;
mod wait;

pub use authorize::{
    muxwire_call_check_fn, muxwire_connection_check_fn, muxwire_server_authorize_calls,
    muxwire_server_authorize_connections, MUXWIRE_CHECK_MESSAGE_SIZE,
};
pub use balanced::{
    muxwire_balance_policy, muxwire_balanced, muxwire_balanced_call, muxwire_balanced_close,
    muxwire_balanced_connect, muxwire_balanced_endpoint_stats, muxwire_balanced_free,
    muxwire_balanced_notify, muxwire_endpoint_state, muxwire_endpoint_stats,
};
pub use balanced_async::{muxwire_balanced_call_async, muxwire_balanced_call_queued};
pub use call::{
    muxwire_client_call, muxwire_client_call_async, muxwire_client_call_queued,
    muxwire_client_notify,
};
pub use call_handle::{
    muxwire_call, muxwire_call_cancel, muxwire_call_free, muxwire_client_call_start,
};
pub use call_options::{
    muxwire_call_options, muxwire_call_options_add_metadata, muxwire_call_options_clear_metadata,
    muxwire_call_options_free, muxwire_call_options_new, muxwire_call_options_set_compression,
    muxwire_call_options_set_timeout_ms,
};
pub use call_with::{
    muxwire_client_call_async_with, muxwire_client_call_queued_with,
    muxwire_client_call_start_with, muxwire_client_call_with, muxwire_client_open_stream_with,
};
pub use client::{
    muxwire_client, muxwire_client_close, muxwire_client_connect, muxwire_client_connect_serving,
    muxwire_client_free, muxwire_client_stats,
};
pub use codec::{muxwire_compress, muxwire_decompress};
pub use completion::muxwire_call_fn;
pub use conn::muxwire_conn;
pub use conn_calls::{
    muxwire_conn_cancel, muxwire_conn_close, muxwire_conn_consume, muxwire_conn_drain,
    muxwire_conn_fail, muxwire_conn_open_call, muxwire_conn_ping, muxwire_conn_reply,
    muxwire_conn_send, MUXWIRE_CALL_ONE_WAY, MUXWIRE_CALL_STREAMING,
};
pub use conn_config::{muxwire_conn_config, muxwire_conn_config_init, muxwire_side};
pub use conn_event::{muxwire_event, muxwire_event_kind};
pub use conn_io::{
    muxwire_conn_close_code, muxwire_conn_feed, muxwire_conn_free, muxwire_conn_is_closed,
    muxwire_conn_last_error_kind, muxwire_conn_new, muxwire_conn_on_eof, muxwire_conn_on_timeout,
    muxwire_conn_poll_event, muxwire_conn_poll_transmit, muxwire_conn_timeout,
    muxwire_conn_transmitted, muxwire_conn_unprocessed_input,
};
pub use conn_with::{
    muxwire_conn_call, muxwire_conn_fail_with, muxwire_conn_open_call_with,
    muxwire_conn_reply_with, muxwire_conn_send_with,
};
pub use describe::muxwire_server_describe;
pub use entries::muxwire_entry;
pub use error::{muxwire_last_error, muxwire_last_error_details, muxwire_last_error_trailers};
pub use frame::{
    muxwire_decode_outcome, muxwire_frame_decode, muxwire_frame_decoded, muxwire_frame_view,
};
pub use frame_encode::{muxwire_frame_encode, muxwire_frame_fields};
pub use log::{muxwire_log_fn, muxwire_log_level};
pub use log_callback::muxwire_set_log_callback;
pub use metadata::{
    muxwire_error_code_name, muxwire_metadata_iter, muxwire_metadata_iter_init,
    muxwire_metadata_next, muxwire_metadata_next_entry, muxwire_tlv,
};
pub use options::{
    muxwire_codec, muxwire_options, muxwire_options_free, muxwire_options_new,
    muxwire_options_set_compression, muxwire_options_set_max_message_size,
    muxwire_options_set_pool_size, muxwire_options_set_timeout_ms,
    muxwire_options_set_wait_for_ready, muxwire_options_set_worker_queue,
    muxwire_options_set_worker_threads,
};
pub use options_keepalive::muxwire_options_set_keepalive_ms;
pub use options_metrics::muxwire_options_set_method_metrics;
pub use peer::{
    muxwire_peer, muxwire_peer_address, muxwire_peer_certificate, muxwire_peer_certificate_count,
    muxwire_peer_dns_name, muxwire_peer_dns_name_count, muxwire_peer_subject,
    muxwire_peer_unix_credentials, muxwire_unix_credentials,
};
pub use queue::{
    muxwire_completion, muxwire_queue, muxwire_queue_fd, muxwire_queue_free, muxwire_queue_new,
    muxwire_queue_next, muxwire_queue_wait,
};
pub use reply::{muxwire_reply, muxwire_reply_data, muxwire_reply_free, muxwire_reply_len};
pub use responder::{
    muxwire_responder, muxwire_responder_call_peer, muxwire_responder_fail,
    muxwire_responder_fail_with_trailers, muxwire_responder_free, muxwire_responder_is_cancelled,
    muxwire_responder_metadata, muxwire_responder_method, muxwire_responder_peer,
    muxwire_responder_reply, muxwire_responder_request, muxwire_responder_request_len,
};
pub use result::{muxwire_result, muxwire_strerror};
pub use runtime::{muxwire_runtime, muxwire_runtime_free, muxwire_runtime_new};
pub use server::{
    muxwire_handler_fn, muxwire_server, muxwire_server_endpoint, muxwire_server_free,
    muxwire_server_handle, muxwire_server_handle_stream, muxwire_server_new,
    muxwire_server_shutdown, muxwire_server_start, muxwire_server_stats,
};
pub use server_stream::{
    muxwire_server_stream, muxwire_server_stream_fail_with, muxwire_server_stream_finish,
    muxwire_server_stream_free, muxwire_server_stream_metadata, muxwire_server_stream_method,
    muxwire_server_stream_peer, muxwire_server_stream_recv, muxwire_server_stream_send,
    muxwire_stream_handler_fn,
};
pub use stats::muxwire_stats;
pub use stats_counters::muxwire_stats_snapshot_counter;
pub use stats_snapshot::{
    muxwire_client_stats_snapshot, muxwire_latency_bound_us, muxwire_method_stats,
    muxwire_server_stats_snapshot, muxwire_stats_snapshot,
    muxwire_stats_snapshot_connections_closed, muxwire_stats_snapshot_counters,
    muxwire_stats_snapshot_free, muxwire_stats_snapshot_keepalive_timeouts,
    muxwire_stats_snapshot_method, muxwire_stats_snapshot_method_count, MUXWIRE_CLOSE_CODES,
    MUXWIRE_LATENCY_BUCKETS,
};
pub use stream::{
    muxwire_client_open_stream, muxwire_stream, muxwire_stream_finish, muxwire_stream_free,
    muxwire_stream_recv, muxwire_stream_send,
};
#[cfg(feature = "test-hooks")]
pub use testing::muxwire_test_panic;
pub use tls_client_options::{
    muxwire_options_set_tls_client_ca_file, muxwire_options_set_tls_client_ca_pem,
    muxwire_options_set_tls_client_certificate_files,
    muxwire_options_set_tls_client_certificate_pem,
    muxwire_options_set_tls_client_insecure_tests_only,
    muxwire_options_set_tls_client_platform_roots, muxwire_options_set_tls_client_server_name,
};
pub use tls_reload::muxwire_server_reload_tls;
pub use tls_server_options::{
    muxwire_options_set_tls_server_certificate_files,
    muxwire_options_set_tls_server_certificate_pem, muxwire_options_set_tls_server_client_ca_file,
    muxwire_options_set_tls_server_client_ca_pem,
};
pub use version::{muxwire_version, muxwire_version_number};
