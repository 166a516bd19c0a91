//! `Connection`: the sans-IO protocol core (`muxwire-core`) for Python code that owns its
//! IO, in the style of h11. Bytes go in with `receive_data` (`b""` for end of input),
//! things that happened come out of `next_event`, bytes to write come out of
//! `data_to_send`. Commands (`start_call`, `send_message`, `send_status`, `cancel`,
//! `ping`, `drain`, `consume`) queue frames. Time moves only with `handle_timeout`.
//! Received bytes are processed as events are taken (as in h11): call `next_event` until
//! it returns `None` before `data_to_send`, or answers (PING acknowledgements, credit)
//! wait.
//!
//! A command the connection refuses raises `ProtocolError` whose `kind` names why (the
//! vectors' names: `"blocked"`, `"unknown_stream"`, ...); a peer that breaks the protocol
//! closes the connection (an event of kind `"closed"`, `close_code` names the error).

use std::collections::VecDeque;

use muxwire_core::conn::{
    CallSpec, Config, Connection as Core, Error, Event as CoreEvent, Message, Outgoing, StreamSlot,
};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{Features, Settings, Side, StatusCode, StreamId};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

/// Stream slots a connection may ask for at most.
const MAX_SLOTS: usize = 65_536;
/// Room for the frames one command writes beyond its message.
const FRAME_ROOM: usize = 1 << 16;

static PROTOCOL_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A `ProtocolError` with `message`, whose `kind` is `kind`.
fn protocol_err(py: Python<'_>, kind: &str, message: String) -> PyErr {
    match PROTOCOL_ERROR.import(py, "muxwire._errors", "ProtocolError") {
        Ok(cls) => match cls.call1((message, kind)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// The kind of a refused command (spec/vectors/README.md, "Command errors").
fn rejection(e: &Error) -> &'static str {
    match e {
        Error::UnknownStream => "unknown_stream",
        Error::WrongRole => "wrong_role",
        Error::InvalidState => "invalid_state",
        Error::NotAccepting => "not_accepting",
        Error::Blocked { .. } => "blocked",
        Error::StreamLimit => "stream_limit",
        Error::StorageFull => "storage_full",
        Error::Closed => "closed",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::TooLarge => "too_large",
        Error::QueueFull => "queue_full",
        Error::EventsPending => "events_pending",
        _ => "internal",
    }
}

/// One thing that happened on a [`Connection`]; `kind` says which, and only the fields
/// that kind has are set.
#[pyclass(frozen, get_all, module = "muxwire._muxwire")]
pub(crate) struct Event {
    /// `"connected"`, `"call"`, `"message"`, `"half_closed"`, `"status"`, `"cancelled"`,
    /// `"deadline_exceeded"`, `"call_failed"`, `"call_aborted"`, `"window_opened"`,
    /// `"streams_available"`, `"goaway"`, `"pong"` or `"closed"`.
    kind: &'static str,
    /// The stream the event is about.
    stream: Option<u32>,
    /// `call`: the method.
    method: Option<String>,
    /// `call`, `message`, `status`: the message (or chunk), as on the wire.
    data: Option<Py<PyBytes>>,
    /// The message is a chunk and more chunks follow.
    more: bool,
    /// `call`, `message`: the caller half-closed with this frame.
    end_stream: bool,
    /// `call`: a one-way call (never answer it).
    one_way: bool,
    /// `status`: the callee did not process the call; retrying is safe.
    refused: bool,
    /// `status`, `cancelled`, `call_failed`, `call_aborted`: a status code; `goaway`,
    /// `closed`: a connection error code.
    code: Option<u32>,
    /// `call`: the caller's deadline, in microseconds from now.
    deadline_us: Option<u64>,
    /// `goaway`: how many of this endpoint's calls the peer received.
    accepted_calls: Option<u64>,
    /// `pong`: the round-trip time in microseconds.
    rtt_us: Option<u64>,
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        let mut s = format!("Event({:?}", self.kind);
        if let Some(id) = self.stream {
            s.push_str(&format!(", stream={id}"));
        }
        if let Some(c) = self.code {
            s.push_str(&format!(", code={c}"));
        }
        s + ")"
    }
}

impl Event {
    fn new(kind: &'static str, stream: Option<StreamId>) -> Event {
        Event {
            kind,
            stream: stream.map(|s| s.0),
            method: None,
            data: None,
            more: false,
            end_stream: false,
            one_way: false,
            refused: false,
            code: None,
            deadline_us: None,
            accepted_calls: None,
            rtt_us: None,
        }
    }

    /// The Python event for `ev`, its payloads copied out of `input`.
    fn from_core(py: Python<'_>, ev: CoreEvent, input: &[u8]) -> Option<Event> {
        let data = |e: &mut Event, m: Option<Message>| {
            if let Some(m) = m {
                e.data = Some(PyBytes::new(py, m.data.get(input)).unbind());
                e.more = m.more;
            }
        };
        Some(match ev {
            CoreEvent::Connected => Event::new("connected", None),
            CoreEvent::Call {
                stream,
                method,
                deadline,
                one_way,
                end_stream,
                message,
                ..
            } => {
                let mut e = Event::new("call", Some(stream));
                e.method = Some(String::from_utf8_lossy(method.get(input)).into_owned());
                e.deadline_us = deadline.map(|d| d.as_micros());
                e.one_way = one_way;
                e.end_stream = end_stream;
                data(&mut e, message);
                e
            }
            CoreEvent::Message {
                stream,
                message,
                end_stream,
            } => {
                let mut e = Event::new("message", Some(stream));
                e.end_stream = end_stream;
                data(&mut e, Some(message));
                e
            }
            CoreEvent::HalfClosed { stream } => Event::new("half_closed", Some(stream)),
            CoreEvent::Status {
                stream,
                code,
                refused,
                message,
                ..
            } => {
                let mut e = Event::new("status", Some(stream));
                e.code = Some(code.0);
                e.refused = refused;
                data(&mut e, message);
                e
            }
            CoreEvent::Cancelled { stream, code } => coded("cancelled", stream, code),
            CoreEvent::DeadlineExceeded { stream } => Event::new("deadline_exceeded", Some(stream)),
            CoreEvent::CallFailed { stream, code, .. } => coded("call_failed", stream, code),
            CoreEvent::CallAborted { stream, code } => coded("call_aborted", stream, code),
            CoreEvent::WindowOpened { stream } => Event::new("window_opened", Some(stream)),
            CoreEvent::StreamsAvailable => Event::new("streams_available", None),
            CoreEvent::GoAway {
                code,
                accepted_calls,
            } => {
                let mut e = Event::new("goaway", None);
                e.code = Some(code.0);
                e.accepted_calls = Some(accepted_calls);
                e
            }
            CoreEvent::Pong { rtt } => {
                let mut e = Event::new("pong", None);
                e.rtt_us = Some(rtt.as_micros());
                e
            }
            CoreEvent::Closed(reason) => {
                let mut e = Event::new("closed", None);
                e.code = Some(reason.code.0);
                e
            }
            _ => return None,
        })
    }
}

fn coded(kind: &'static str, stream: StreamId, code: StatusCode) -> Event {
    let mut e = Event::new(kind, Some(stream));
    e.code = Some(code.0);
    e
}

/// Settings and budgets from the vectors' config keys.
fn configure(cfg: &mut Config, config: &Bound<'_, PyDict>) -> PyResult<()> {
    for (key, value) in config.iter() {
        let key: String = key.extract()?;
        let n: u32 = value
            .extract()
            .map_err(|_| PyValueError::new_err(format!("config {key} must be a u32")))?;
        let s: &mut Settings = &mut cfg.settings;
        match key.as_str() {
            "min_version" => s.min_version = n,
            "max_frame_size" => s.max_frame_size = n,
            "max_message_size" => s.max_message_size = n,
            "max_metadata_size" => s.max_metadata_size = n,
            "max_concurrent_streams" => s.max_concurrent_streams = n,
            "initial_stream_window" => s.initial_stream_window = n,
            "initial_connection_window" => s.initial_connection_window = n,
            "compression" => s.compression = n,
            "features" => s.features = Features(n),
            "idle_timeout_ms" => s.idle_timeout_ms = n,
            "cancel_budget" => cfg.cancel_budget = n,
            "control_budget" => cfg.control_budget = n,
            "ack_queue" => cfg.ack_queue = n as usize,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown config key {other:?}"
                )))
            }
        }
    }
    Ok(())
}

/// One muxwire connection, without IO: see the module documentation.
#[pyclass(module = "muxwire._muxwire")]
pub(crate) struct Connection {
    conn: Core<Vec<StreamSlot>>,
    now: Instant,
    /// Received bytes the core has not taken yet.
    inbox: Vec<u8>,
    max_buffer: usize,
    /// Events taken from the core, not yet returned.
    events: VecDeque<Event>,
    /// Frames commands wrote, not yet returned by `data_to_send`.
    outbox: Vec<u8>,
}

impl Connection {
    /// Moves events from the core into the queue; payloads are copied out of `input`.
    fn collect(&mut self, py: Python<'_>, input: &[u8]) {
        while let Some(ev) = self.conn.poll_event() {
            if let Some(e) = Event::from_core(py, ev, input) {
                self.events.push_back(e);
            }
        }
    }

    /// Feeds buffered bytes to the core until it produces events or takes no more.
    fn pump(&mut self, py: Python<'_>) -> PyResult<()> {
        // Each pass takes bytes or produces events; bounded all the same.
        for _ in 0..=self.inbox.len() + 2 {
            if !self.events.is_empty() || self.inbox.is_empty() {
                return Ok(());
            }
            if self.conn.is_closed() {
                self.inbox.clear();
                return Ok(());
            }
            let input = std::mem::take(&mut self.inbox);
            let result = self.conn.handle_input(self.now, &input);
            self.collect(py, &input);
            self.inbox = input;
            match result {
                Ok(0) if self.events.is_empty() => return Ok(()),
                Ok(n) => {
                    self.inbox.drain(..n);
                }
                Err(Error::EventsPending) => {}
                Err(e) => return Err(protocol_err(py, rejection(&e), e.to_string())),
            }
        }
        Ok(())
    }

    /// Appends what a command wrote to the outgoing bytes, or raises its refusal.
    fn sent(&mut self, py: Python<'_>, out: &[u8], done: Result<usize, Error>) -> PyResult<()> {
        self.collect(py, &[]);
        match done {
            Ok(n) => {
                self.outbox.extend_from_slice(&out[..n]);
                Ok(())
            }
            Err(e) => Err(protocol_err(py, rejection(&e), e.to_string())),
        }
    }
}

#[pymethods]
impl Connection {
    /// A connection for `side` (`"connector"`: the side that dialled; `"acceptor"`) at
    /// time `now_us`; `config` sets settings and budgets by the vectors' key names;
    /// `slots` stream slots (64 by default); at most `max_buffer` received bytes (32 MiB by
    /// default) wait for `next_event`.
    #[new]
    #[pyo3(signature = (side, *, config=None, now_us=0, slots=64, max_buffer=33_554_432))]
    fn new(
        side: &str,
        config: Option<&Bound<'_, PyDict>>,
        now_us: u64,
        slots: usize,
        max_buffer: usize,
    ) -> PyResult<Connection> {
        let side = match side {
            "connector" => Side::Connector,
            "acceptor" => Side::Acceptor,
            other => {
                return Err(PyValueError::new_err(format!(
                    "side must be 'connector' or 'acceptor', not {other:?}"
                )))
            }
        };
        let slots = crate::args::count(slots, MAX_SLOTS, "slots")?;
        let mut cfg = Config::new(side);
        if let Some(c) = config {
            configure(&mut cfg, c)?;
        }
        let now = Instant(now_us);
        Ok(Connection {
            conn: Core::new(cfg, vec![StreamSlot::EMPTY; slots], now),
            now,
            inbox: Vec::new(),
            max_buffer,
            events: VecDeque::new(),
            outbox: Vec::new(),
        })
    }

    /// Hands received bytes in; `b""` tells the connection the peer closed the transport.
    /// Raises `ProtocolError` (kind `"buffer_full"`) past `max_buffer` bytes not yet
    /// taken by `next_event`.
    fn receive_data(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if data.is_empty() {
            self.conn.handle_eof(self.now);
            self.collect(py, &[]);
            return Ok(());
        }
        if self.conn.is_closed() {
            return Ok(());
        }
        if self.inbox.len() + data.len() > self.max_buffer {
            return Err(protocol_err(
                py,
                "buffer_full",
                format!(
                    "{} received bytes wait for next_event: more than max_buffer ({})",
                    self.inbox.len() + data.len(),
                    self.max_buffer
                ),
            ));
        }
        self.inbox.extend_from_slice(data);
        Ok(())
    }

    /// The next event, or `None` until more bytes arrive (or a command or timeout makes
    /// one).
    fn next_event(&mut self, py: Python<'_>) -> PyResult<Option<Event>> {
        self.pump(py)?;
        Ok(self.events.pop_front())
    }

    /// Every byte the connection has to write now (the first call returns the preface and
    /// HELLO).
    fn data_to_send<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = std::mem::take(&mut self.outbox);
        let mut buf = vec![0u8; FRAME_ROOM * 4];
        loop {
            let n = self
                .conn
                .poll_transmit(self.now, &mut buf)
                .map_err(|e| protocol_err(py, rejection(&e), e.to_string()))?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        self.collect(py, &[]);
        Ok(PyBytes::new(py, &out))
    }

    /// Opens a call to `method` with `data` as its first message; the new stream's id.
    #[pyo3(signature = (method, data=None, *, end_stream=true, one_way=false, deadline_us=None))]
    fn start_call(
        &mut self,
        py: Python<'_>,
        method: &str,
        data: Option<&[u8]>,
        end_stream: bool,
        one_way: bool,
        deadline_us: Option<u64>,
    ) -> PyResult<u32> {
        let body = data.unwrap_or_default();
        let spec = CallSpec {
            method,
            deadline: deadline_us.map(Duration::from_micros),
            entries: &[],
            one_way,
            end_stream,
            message: Some(Outgoing::bytes(body)),
        };
        let mut out = vec![0u8; body.len() + method.len() + FRAME_ROOM];
        let done = self.conn.open_call(self.now, &spec, &mut out);
        let stream = done.as_ref().map(|s| s.stream.0).unwrap_or(0);
        self.sent(py, &out, done.map(|s| s.len))?;
        Ok(stream)
    }

    /// Sends a message (or a chunk, with `more`) on `stream`; `end_stream` half-closes.
    #[pyo3(signature = (stream, data=None, *, end_stream=false, more=false))]
    fn send_message(
        &mut self,
        py: Python<'_>,
        stream: u32,
        data: Option<&[u8]>,
        end_stream: bool,
        more: bool,
    ) -> PyResult<()> {
        let message = data.map(|b| Outgoing {
            more,
            ..Outgoing::bytes(b)
        });
        let mut out = vec![0u8; data.map_or(0, <[u8]>::len) + FRAME_ROOM];
        let done =
            self.conn
                .send_message(self.now, StreamId(stream), message, end_stream, &mut out);
        self.sent(py, &out, done.map(|s| s.len))
    }

    /// Ends the call on `stream` (served here) with status `code` and an optional final
    /// message.
    #[pyo3(signature = (stream, code, data=None))]
    fn send_status(
        &mut self,
        py: Python<'_>,
        stream: u32,
        code: u32,
        data: Option<&[u8]>,
    ) -> PyResult<()> {
        let message = data.map(Outgoing::bytes);
        let mut out = vec![0u8; data.map_or(0, <[u8]>::len) + FRAME_ROOM];
        let done = self.conn.send_status(
            self.now,
            StreamId(stream),
            StatusCode(code),
            None,
            &[],
            message,
            &mut out,
        );
        self.sent(py, &out, done.map(|s| s.len))
    }

    /// Cancels the call this endpoint made on `stream`.
    #[pyo3(signature = (stream, code=1))]
    fn cancel(&mut self, py: Python<'_>, stream: u32, code: u32) -> PyResult<()> {
        let done = self
            .conn
            .cancel(self.now, StreamId(stream), StatusCode(code));
        self.sent(py, &[], done.map(|()| 0))
    }

    /// Sends a PING (its answer is a `pong` event).
    fn ping(&mut self, py: Python<'_>) -> PyResult<()> {
        let done = self.conn.ping(self.now);
        self.sent(py, &[], done.map(|()| 0))
    }

    /// Starts a graceful close: GOAWAY, calls in progress finish, no new ones.
    fn drain(&mut self, py: Python<'_>) -> PyResult<()> {
        let done = self.conn.drain(self.now);
        self.sent(py, &[], done.map(|()| 0))
    }

    /// Reports `n` bytes of `stream`'s messages as consumed (returns flow-control credit).
    fn consume(&mut self, py: Python<'_>, stream: u32, n: usize) {
        self.conn.consume(StreamId(stream), n);
        self.collect(py, &[]);
    }

    /// Moves the clock to `now_us` and fires every timer due by then.
    fn handle_timeout(&mut self, py: Python<'_>, now_us: u64) {
        self.now = Instant(now_us.max(self.now.0));
        self.conn.handle_timeout(self.now);
        self.collect(py, &[]);
    }

    /// When `handle_timeout` should be called next (µs), or `None` if no timer runs.
    #[getter]
    fn next_timeout_us(&self) -> Option<u64> {
        self.conn.poll_timeout().map(|t| t.0)
    }

    /// True once the connection is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// The name of the connection error code it closed with, `None` while open.
    #[getter]
    fn close_code(&self) -> Option<&'static str> {
        self.conn.close_reason().map(|r| r.code.name())
    }
}
