//! `muxwire_event`: one thing a sans-IO connection reports, with views into its buffers.

use std::ffi::c_char;

use muxwire_core::conn::{Event, EventKind};

/// Event kinds (the `kind` of a `muxwire_event`), numbered as the core numbers them.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum muxwire_event_kind {
    /// The peer's HELLO arrived: calls may be opened.
    Connected = 1,
    /// The peer opened a call (`stream`, `method`, `deadline_us`, `one_way`, maybe a
    /// first message). Answer with `muxwire_conn_reply` / `_fail` (not one-way calls).
    Call = 2,
    /// A message (or a chunk of one, `more`) on an open stream.
    Message = 3,
    /// The caller half-closed without a message.
    HalfClosed = 4,
    /// The callee's STATUS ended a call this end made (`status`, `reason`, maybe a
    /// final message).
    Status = 5,
    /// The caller cancelled a call this end serves; answer soon.
    Cancelled = 6,
    /// A call this end serves passed its deadline (its STATUS was queued).
    DeadlineExceeded = 7,
    /// A call this end made ended without a STATUS (`status`, `fail_reason`).
    CallFailed = 8,
    /// A call this end serves was aborted by a limit (`status`).
    CallAborted = 9,
    /// Send credit arrived (`stream`, 0 for the connection): retry blocked sends.
    WindowOpened = 10,
    /// Room for new calls: retry a blocked `muxwire_conn_open_call`.
    StreamsAvailable = 11,
    /// The peer is going away (`error_code`, `accepted_calls`): open no new calls.
    GoAway = 12,
    /// The answer to `muxwire_conn_ping` (`rtt_us`).
    Pong = 13,
    /// The connection closed (`error_code`, `reason`, `by_peer`): transmit what is left,
    /// then close the socket.
    Closed = 14,
}

/// One event. Pointers are views into the connection's buffers, valid until the next
/// call on that connection; `method` and `reason` are not NUL-terminated (use the
/// lengths). Fields an event kind does not have are zero, NULL or false.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct muxwire_event {
    /// A `muxwire_event_kind`.
    pub kind: i32,
    /// The stream (0 for connection events).
    pub stream: u32,
    /// CALL: the method (UTF-8).
    pub method: *const c_char,
    /// Its length in bytes.
    pub method_len: usize,
    /// CALL, STATUS: the whole metadata block, as on the wire.
    pub metadata: *const u8,
    /// Its length.
    pub metadata_len: usize,
    /// CALL, MESSAGE, STATUS: true if a message (or chunk) came with the event.
    pub has_message: bool,
    /// The message bytes, as on the wire (compressed if `codec` is not 0).
    pub message: *const u8,
    /// Their length.
    pub message_len: usize,
    /// The message's codec (a `muxwire_codec`).
    pub codec: i32,
    /// More chunks of this message follow.
    pub more: bool,
    /// CALL, MESSAGE: the caller half-closed with this frame.
    pub end_stream: bool,
    /// CALL: a one-way call (never answer it).
    pub one_way: bool,
    /// CALL: the time the caller allows, in microseconds; -1 for none.
    pub deadline_us: i64,
    /// STATUS, CANCELLED, CALL_FAILED, CALL_ABORTED: the wire status code.
    pub status: u32,
    /// STATUS: the callee did not process the call (safe to retry).
    pub refused: bool,
    /// STATUS: the REASON text; CLOSED: what happened.
    pub reason: *const c_char,
    /// Its length.
    pub reason_len: usize,
    /// CALL_FAILED: 1 deadline, 2 not processed by the peer, 3 connection closed,
    /// 4 a limit exceeded.
    pub fail_reason: u32,
    /// GOAWAY, CLOSED: the connection error code (0 NO_ERROR).
    pub error_code: u32,
    /// CLOSED: the peer closed (or sent the GOAWAY).
    pub by_peer: bool,
    /// GOAWAY: how many of this end's calls the peer received.
    pub accepted_calls: u64,
    /// PONG: the round-trip time in microseconds.
    pub rtt_us: u64,
}

/// The C view of `ev`, whose payloads are in `input`.
pub(crate) fn view_of(ev: &Event, input: &[u8]) -> muxwire_event {
    let v = ev.view(input);
    let (has_message, message, message_len, codec, more) = match v.message {
        Some(m) => (true, m.data.as_ptr(), m.data.len(), m.codec as i32, m.more),
        None => (false, std::ptr::null(), 0, 0, false),
    };
    let reason: &str = match v.kind {
        EventKind::Status => v.metadata.reason().unwrap_or(""),
        EventKind::Closed => v.close.map_or("", |c| c.detail),
        _ => "",
    };
    let meta = v.metadata.as_bytes();
    muxwire_event {
        kind: v.kind.code() as i32,
        stream: v.stream.0,
        method: if v.method.is_empty() {
            std::ptr::null()
        } else {
            v.method.as_ptr().cast()
        },
        method_len: v.method.len(),
        metadata: if meta.is_empty() {
            std::ptr::null()
        } else {
            meta.as_ptr()
        },
        metadata_len: meta.len(),
        has_message,
        message,
        message_len,
        codec,
        more,
        end_stream: v.end_stream,
        one_way: v.one_way,
        deadline_us: v
            .deadline
            .map_or(-1, |d| d.as_micros().min(i64::MAX as u64) as i64),
        status: v.status.0,
        refused: v.refused,
        reason: if reason.is_empty() {
            std::ptr::null()
        } else {
            reason.as_ptr().cast()
        },
        reason_len: reason.len(),
        fail_reason: v.fail_reason.map_or(0, |r| r.code()),
        error_code: v.error_code.0,
        by_peer: v.close.is_some_and(|c| c.by_peer),
        accepted_calls: v.accepted_calls,
        rtt_us: v.rtt.as_micros(),
    }
}
