#!/usr/bin/env python3
"""Generates spec/vectors/sessions.json: scripted exchanges with one implementation under
test, in the shape of h2spec's cases (see spec/vectors/README.md for the step kinds).

Two sources, neither of which runs an implementation:
  * one session per observable row of spec/states.csv, built from the row's columns;
  * hand-written sessions for the handshake, flow control, budgets, timeouts, drain and
    the races the specification names.

    gen_sessions.py OUT.json          write the file
    gen_sessions.py --check OUT.json  fail if the committed file differs
"""

import csv
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_frames import (  # noqa: E402  (shared frame builder)
    ACK, CALL, CANCEL, CRC, DATA, END, GOAWAY, HELLO, MORE, MSG, NO_REPLY, PING, REFUSED,
    STATUS, WINDOW, CODES, raw, tlv, u32, u64,
)

HERE = os.path.dirname(os.path.abspath(__file__))
PREFACE = bytes([0x8B, 0x4D, 0x58, 0x57, 0x0D, 0x0A, 0x1A, 0x0A])
TYPE = {1: "HELLO", 2: "CALL", 3: "DATA", 4: "STATUS", 5: "CANCEL", 6: "WINDOW", 7: "PING",
        8: "GOAWAY"}
METHOD, DEADLINE = 0x10, 0x11
SECOND = 1_000_000

NOTES = {
    "StateTable": "generated from one row of spec/states.csv: set the stream up, apply the event",
    "Handshake": "preface, HELLO and version negotiation (section 3)",
    "FlowControl": "credit windows (section 14.1)",
    "Admission": "MAX_CONCURRENT_STREAMS and REFUSED (section 14.2)",
    "Budget": "a DoS budget of section 16",
    "Timeout": "a timeout of section 16",
    "Drain": "GOAWAY and drain (section 15.3)",
    "Race": "two frames crossing on the wire; the outcome the spec requires",
    "Deadline": "relative deadlines (section 12)",
    "Cancel": "cancellation (section 13)",
    "Keepalive": "PING (section 15.1)",
    "Limits": "size limits (section 16)",
    "Compression": "codec negotiation (section 10)",
    "Crc": "CRC trailers and the sticky-CRC rule (section 11)",
    "OneWay": "one-way calls",
    "Streaming": "streaming calls and chunked messages",
    "Alternatives": "the spec allows more than one reaction; any listed one passes",
}


def call(sid, flags=END | MSG, body=b"q", method=b"m", deadline_us=None):
    meta = tlv(METHOD, method)
    if deadline_us is not None:
        meta += tlv(DEADLINE, u64(deadline_us))
    if not flags & MSG:
        body = b""
    return raw(CALL, flags, sid, 0, meta, body)


def hello(**settings):
    tags = {"min_version": 1, "max_frame_size": 2, "max_message_size": 3, "max_metadata_size": 4,
            "max_concurrent_streams": 5, "initial_stream_window": 6,
            "initial_connection_window": 7, "compression": 8, "features": 9, "idle_timeout_ms": 10}
    meta = b"".join(tlv(tags[k], u32(v)) for k, v in sorted(settings.items(), key=lambda kv: tags[kv[0]]))
    return raw(HELLO, 0, 0, 1, meta)


def f(ty, stream, flags=None, arg=None, body=None):
    """A matcher for a frame the implementation writes (REASON text is never compared)."""
    m = {"type": TYPE[ty]}
    if stream is not None:
        m["stream"] = stream
    if flags is not None:
        m["flags"] = flags
    if arg is not None:
        m["arg"] = arg
    if body is not None:
        m["body"] = body.hex()
    return m


def goaway(code):
    return f(GOAWAY, 0, arg=CODES[code])


class Sessions:
    def __init__(self):
        self.items = []

    def add(self, comment, labels, side, steps, config=None, peer_settings=None,
            handshake="auto", alternatives=None):
        for label in labels:
            assert label in NOTES, label
        s = {"sId": len(self.items) + 1, "comment": comment, "flags": labels, "side": side,
             "handshake": handshake}
        if config:
            s["config"] = config
        if peer_settings:
            s["peer_settings"] = peer_settings
        s["steps"] = steps
        if alternatives:
            # Each alternative continues `steps`; any one passing passes the session.
            assert "Alternatives" in labels and len(alternatives) >= 2, comment
            s["alternatives"] = alternatives
        else:
            assert "Alternatives" not in labels, comment
        self.items.append(s)


# Steps.
def recv(*frames):
    return {"recv": b"".join(frames).hex()}


def sent(*frames):
    return {"sent": list(frames)}


def events(*evs):
    return {"events": list(evs)}


def cmd(op, expect=None, **args):
    c = {"command": dict(op=op, **args)}
    if expect is not None:
        c["expect"] = expect
    return c


def advance(us):
    return {"advance_us": us}


def closed(code):
    return {"closed": code}


def ev(name, **fields):
    return dict(event=name, **fields)


# ------------------------------------------------------------------------------------------
# Sessions from the state table

RECV_FRAMES = {
    "recv_call": lambda: call(1, MSG),
    "recv_call_end": lambda: call(1, END | MSG),
    "recv_call_noreply": lambda: call(1, NO_REPLY | END | MSG),
    "admission_full": lambda: call(1, END | MSG),
    "recv_data": lambda: raw(DATA, MSG, 1, 0, b"", b"d"),
    "recv_data_end": lambda: raw(DATA, END, 1, 0),
    "recv_status": lambda: raw(STATUS, MSG, 1, 0, b"", b"r"),
    "recv_cancel": lambda: raw(CANCEL, 0, 1, 1),
    "recv_window": lambda: raw(WINDOW, 0, 1, 4096),
}

DELIVER_EVENT = {
    "recv_call": ev("call", stream=1, end_stream=False),
    "recv_call_end": ev("call", stream=1, end_stream=True),
    "recv_call_noreply": ev("call", stream=1, one_way=True),
    "recv_data": ev("message", stream=1, data="64"),
    "recv_data_end": ev("half_closed", stream=1),
    "recv_status": ev("status", stream=1, code=0, data="72"),
    "recv_cancel": ev("cancelled", stream=1, code=1),
}


def caller_setup(state):
    """The implementation (connector) opens stream 1 and brings it to `state`."""
    open_ = cmd("call", method="m", body="71", end_stream=state == "HALF_CLOSED_LOCAL",
                deadline_us=SECOND, expect={"stream": 1})
    if state == "IDLE":
        return []
    if state == "OPEN":
        return [open_, sent(f(CALL, 1, flags=MSG))]
    if state == "HALF_CLOSED_LOCAL":
        return [open_, sent(f(CALL, 1, flags=END | MSG))]
    if state == "CANCEL_SENT":
        return [open_, cmd("cancel", stream=1, code=1),
                sent(f(CALL, 1, flags=MSG), f(CANCEL, 1, arg=1))]
    raise ValueError(state)


def callee_setup(state):
    """The peer (connector) opens stream 1; the implementation (acceptor) serves it."""
    opening = call(1, MSG, deadline_us=SECOND)
    if state == "IDLE":
        return []
    if state == "OPEN":
        return [recv(opening), events(ev("call", stream=1, end_stream=False))]
    if state == "HALF_CLOSED_REMOTE":
        return [recv(call(1, END | MSG, deadline_us=SECOND)),
                events(ev("call", stream=1, end_stream=True))]
    if state == "CANCEL_RECEIVED":
        return [recv(opening, raw(CANCEL, 0, 1, 1)),
                events(ev("call", stream=1), ev("cancelled", stream=1, code=1))]
    if state == "STATUS_SENT":
        return [recv(opening), events(ev("call", stream=1)), cmd("status", stream=1, code=0),
                sent(f(STATUS, 1, arg=0, flags=0))]
    raise ValueError(state)


# Which kind of rejection a `usage` row of states.csv is (README, "Command errors"). The
# checks apply in this order: the stream exists at this end (unknown_stream); the frame
# type belongs to this end of the call, STATUS to the callee and CANCEL to the caller
# (wrong_role); the stream's state lets this end send the frame type (invalid_state); the
# flags belong to this end, END_STREAM to the caller (wrong_role).
SENDS_DATA = {"caller": {"OPEN"}, "callee": {"OPEN", "HALF_CLOSED_REMOTE"}}


def usage_kind(role, state, event):
    if state == "IDLE":
        return "unknown_stream"
    if (event == "send_status") != (role == "callee") and event in ("send_status", "send_cancel"):
        return "wrong_role"
    if event in ("send_data", "send_data_end"):
        if state not in SENDS_DATA[role]:
            return "invalid_state"
        return "wrong_role" if role == "callee" and event == "send_data_end" else None
    return "invalid_state"


def died(role, state, stream=1):
    """The events for a stream in `state` when the connection dies (README, "Events"): a
    callee is told `cancelled` with UNAVAILABLE, a caller whose outcome is not yet known
    `call_failed` with UNAVAILABLE; nothing for a stream that is not open."""
    if state == "IDLE" or (role == "caller" and state == "CANCEL_SENT"):
        return []
    if role == "callee":
        return [ev("cancelled", stream=stream, code=14)]
    return [ev("call_failed", stream=stream, code=14)]


def credit_returned(stream_window, conn_window):
    """Section 14.1 leaves the batching policy open below half of the initial window: the
    reference batches (only `stream_window` here, the connection being far from half
    consumed); an eager receiver also returns the connection credit, in either order."""
    return [[sent(stream_window), events()],
            [sent(stream_window, conn_window), events()],
            [sent(conn_window, stream_window), events()]]


def send_step(role, event, error, state):
    """The command for a send_* event, and what it writes when accepted."""
    expect = {"error": usage_kind(role, state, event)} if error == "usage" else None
    assert error != "usage" or expect["error"], (role, state, event)
    if event == "send_data":
        return cmd("send", expect, stream=1, body="78", end_stream=False), f(DATA, 1, flags=MSG)
    if event == "send_data_end":
        return cmd("send", expect, stream=1, end_stream=True), f(DATA, 1, flags=END)
    if event == "send_status":
        return cmd("status", expect, stream=1, code=0), f(STATUS, 1, arg=0)
    if event == "send_cancel":
        return cmd("cancel", expect, stream=1, code=1), f(CANCEL, 1, arg=1)
    if event == "send_call" and role == "caller":
        return cmd("call", expect or {"stream": 1}, method="m", body="71", end_stream=False), \
            f(CALL, 1, flags=MSG)
    if event == "send_call_end" and role == "caller":
        return cmd("call", expect or {"stream": 1}, method="m", body="71", end_stream=True), \
            f(CALL, 1, flags=END | MSG)
    if event == "send_call_noreply" and role == "caller":
        return cmd("call", expect or {"ok": True}, method="m", body="71", end_stream=True,
                   one_way=True), f(CALL, 1, flags=NO_REPLY | END | MSG)
    return None, None


def table_sessions(s):
    rows = list(csv.DictReader(open(os.path.join(HERE, "..", "states.csv"))))
    for row in rows:
        role, state, event = row["role"], row["state"], row["event"]
        action, error = row["action"], row["error"]
        side = "connector" if role == "caller" else "acceptor"
        setup = caller_setup(state) if role == "caller" else callee_setup(state)
        config = {"max_concurrent_streams": 0 if state == "IDLE" else 1} \
            if event == "admission_full" else None
        label = f"{role} {state} {event}"
        if event.startswith("send_"):
            if event.startswith("send_call") and (role == "callee" or state != "IDLE"):
                # Not expressible: an implementation allocates its own ids, so it can never
                # open the id under test while it is in use, nor a peer-parity id. The Rust
                # state-table test covers these rows.
                continue
            if event == "send_window":
                # WINDOW is sent by credit policy, not on command; covered by FlowControl.
                continue
            step, frame = send_step(role, event, error, state)
            steps = setup + [step, sent(frame) if not error else sent()]
            s.add(f"{label}: {row['note'] or action}", ["StateTable"], side, steps, config)
            continue
        if event == "deadline":
            steps = setup + [advance(SECOND)]
            if action == "send_cancel_deadline":
                steps += [sent(f(CANCEL, 1, arg=4)), events(ev("call_failed", stream=1, code=4))]
            elif action == "send_status_deadline":
                steps += [sent(f(STATUS, 1, arg=4)), events(ev("deadline_exceeded", stream=1))]
            else:
                steps += [sent(), events()]
            s.add(f"{label}: {row['note'] or action}", ["StateTable", "Deadline"], side, steps)
            continue
        steps = setup + [recv(RECV_FRAMES[event]())]
        if error:
            steps += [sent(goaway(error)), closed(error), events(*died(role, state))]
        elif action == "deliver":
            if event == "recv_window":
                steps += [sent(), events()]
            else:
                steps += [events(DELIVER_EVENT[event])]
        elif action == "auto_end":
            steps += [events(DELIVER_EVENT[event]), sent(f(DATA, 1, flags=END))]
        elif action == "refuse":
            steps += [sent(f(STATUS, 1, arg=14, flags=REFUSED)), events()]
        elif action in ("discard", "ignore", "none") and event in ("recv_data", "recv_status"):
            # The discarded byte is consumed at once (section 14.1); whether its credit is
            # returned now or batched is the receiver's policy.
            s.add(f"{label}: {row['note'] or action}", ["StateTable", "Alternatives"], side,
                  steps, config, alternatives=[[sent(), events()],
                                               [sent(f(WINDOW, 0, arg=1)), events()]])
            continue
        elif action in ("discard", "ignore", "none"):
            steps += [sent(), events()]
        else:
            raise ValueError(action)
        s.add(f"{label}: {row['note'] or action}", ["StateTable"], side, steps, config)


# ------------------------------------------------------------------------------------------
# Hand-written sessions

def handwritten(s):
    A, C = "acceptor", "connector"
    # Handshake.
    s.add("handshake: preface then HELLO, first frame must be HELLO", ["Handshake"], A,
          [recv(PREFACE, raw(PING, 0, 0, 1)), sent(goaway("HANDSHAKE_ERROR")),
           closed("HANDSHAKE_ERROR")], handshake="manual")
    s.add("handshake: a text protocol instead of the preface", ["Handshake"], A,
          [recv(b"GET / HTTP/1.1\r\n\r\n"), sent(goaway("HANDSHAKE_ERROR")),
           closed("HANDSHAKE_ERROR")], handshake="manual")
    s.add("handshake: TLS ClientHello instead of the preface", ["Handshake"], A,
          [recv(bytes.fromhex("160301020001")), sent(goaway("HANDSHAKE_ERROR")),
           closed("HANDSHAKE_ERROR")], handshake="manual")
    s.add("handshake: preface arriving one byte at a time is fine", ["Handshake"], A,
          [recv(PREFACE[:1]), recv(PREFACE[1:5]), recv(PREFACE[5:] + hello()),
           events(ev("connected"))], handshake="manual")
    s.add("handshake: second HELLO", ["Handshake"], A,
          [recv(hello()), sent(goaway("HANDSHAKE_ERROR")), closed("HANDSHAKE_ERROR")])
    s.add("handshake: peer speaks only version 2 and up", ["Handshake"], A,
          [recv(PREFACE, raw(HELLO, 0, 0, 3, tlv(1, u32(2)))), sent(goaway("VERSION_ERROR")),
           closed("VERSION_ERROR")], handshake="manual")
    s.add("handshake: peer speaks versions 1 to 3: version 1 is used", ["Handshake"], A,
          [recv(PREFACE, raw(HELLO, 0, 0, 3, tlv(1, u32(1)))), events(ev("connected"))],
          handshake="manual")
    s.add("handshake: no HELLO within handshake_timeout", ["Handshake", "Timeout"], A,
          [recv(PREFACE), advance(10 * SECOND), sent(goaway("TIMEOUT")), closed("TIMEOUT")],
          handshake="manual")
    s.add("handshake: pipelined CALL right after HELLO is served", ["Handshake"], A,
          [recv(PREFACE, hello(), call(1)), events(ev("connected"), ev("call", stream=1))],
          handshake="manual")
    # Unary, streaming, one-way.
    s.add("unary call answered with one STATUS frame", ["StateTable"], A,
          [recv(call(1, body=b"hello")), events(ev("call", stream=1, data="68656c6c6f")),
           cmd("status", stream=1, code=0, body="776f726c64"),
           sent(f(STATUS, 1, flags=MSG, arg=0, body=b"world"))])
    s.add("server-initiated call uses an even id", ["StateTable"], A,
          [cmd("call", {"stream": 2}, method="back", body="", end_stream=True),
           sent(f(CALL, 2, flags=END | MSG)), recv(raw(STATUS, MSG, 2, 0, b"", b"ok")),
           events(ev("status", stream=2, code=0, data="6f6b"))])
    s.add("CALL with the receiver's own parity", ["StateTable"], A,
          [recv(call(2)), sent(goaway("PROTOCOL_ERROR")), closed("PROTOCOL_ERROR")])
    s.add("ids are reused after both terminal frames", ["StateTable"], A,
          [recv(call(1)), events(ev("call", stream=1)), cmd("status", stream=1, code=0),
           sent(f(STATUS, 1, arg=0)), recv(call(1)), events(ev("call", stream=1))])
    s.add("one-way calls keep no state and get no reply", ["OneWay"], A,
          [recv(call(1, NO_REPLY | END | MSG), call(1, NO_REPLY | END | MSG)),
           events(ev("call", stream=1, one_way=True), ev("call", stream=1, one_way=True)),
           sent()])
    s.add("streaming both ways with half-close", ["Streaming"], A,
          [recv(call(1, 0)), events(ev("call", stream=1, end_stream=False)),
           recv(raw(DATA, MSG, 1, 0, b"", b"a"), raw(DATA, END | MSG, 1, 0, b"", b"b")),
           events(ev("message", stream=1, data="61"), ev("message", stream=1, data="62", end_stream=True)),
           cmd("send", stream=1, body="63", end_stream=False), sent(f(DATA, 1, flags=MSG)),
           cmd("status", stream=1, code=0), sent(f(STATUS, 1, arg=0))])
    s.add("chunked message: MORE chunks then the last one", ["Streaming"], A,
          [recv(call(1, 0)), events(ev("call", stream=1)),
           recv(raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)), raw(DATA, MSG | END, 1, 0, b"", b"z")),
           events(ev("message", stream=1, more=True), ev("message", stream=1, more=False, end_stream=True))])
    s.add("DATA without MESSAGE inside a chunk chain", ["Streaming"], A,
          [recv(call(1, 0), raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)), raw(DATA, END, 1, 0)),
           sent(goaway("STREAM_STATE_ERROR")), closed("STREAM_STATE_ERROR"),
           events(ev("call", stream=1), ev("message", stream=1, more=True), *died("callee", "OPEN"))])
    s.add("chunk with a different codec than its first chunk", ["Streaming", "Compression"], A,
          [recv(call(1, 0), raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)),
                raw(DATA, MSG | 0x08, 1, 0, b"", b"x")),
           sent(goaway("PROTOCOL_ERROR")), closed("PROTOCOL_ERROR"),
           events(ev("call", stream=1), ev("message", stream=1, more=True), *died("callee", "OPEN"))],
          config={"compression": 6})
    s.add("a STATUS without MESSAGE ends an incomplete chunk chain; the partial message is dropped",
          ["Streaming"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=False), sent(f(CALL, 1)),
           recv(raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)), raw(STATUS, 0, 1, 4)),
           events(ev("message", stream=1, more=True), ev("status", stream=1, code=4)),
           sent(f(DATA, 1, flags=END))])
    s.add("a STATUS with MESSAGE inside an incomplete chunk chain", ["Streaming"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=False), sent(f(CALL, 1)),
           recv(raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)), raw(STATUS, MSG, 1, 0, b"", b"x")),
           sent(goaway("STREAM_STATE_ERROR")), closed("STREAM_STATE_ERROR"),
           events(ev("message", stream=1, more=True), *died("caller", "OPEN"))])
    s.add("codec the receiver did not offer", ["Compression"], A,
          [recv(call(1, END | MSG | 0x10)), sent(goaway("COMPRESSION_ERROR")),
           closed("COMPRESSION_ERROR")])
    s.add("codec the receiver offered is accepted", ["Compression"], A,
          [recv(call(1, END | MSG | 0x10)), events(ev("call", stream=1))],
          config={"compression": 4})
    # Admission.
    s.add("admission: the call beyond MAX_CONCURRENT_STREAMS is REFUSED, no state kept",
          ["Admission"], A,
          [recv(call(1, 0), call(3, 0), call(5, 0)),
           events(ev("call", stream=1), ev("call", stream=3)),
           sent(f(STATUS, 5, arg=14, flags=REFUSED)),
           recv(raw(DATA, MSG, 5, 0, b"", b"late"), raw(CANCEL, 0, 5, 1)), sent(), events()],
          config={"max_concurrent_streams": 2})
    s.add("admission: a cancelled call still holds its slot until STATUS",
          ["Admission", "Cancel"], A,
          [recv(call(1, 0), raw(CANCEL, 0, 1, 1), call(3, 0)),
           events(ev("call", stream=1), ev("cancelled", stream=1, code=1)),
           sent(f(STATUS, 3, arg=14, flags=REFUSED)),
           cmd("status", stream=1, code=1), sent(f(STATUS, 1, arg=1)),
           recv(call(3, 0)), events(ev("call", stream=3))],
          config={"max_concurrent_streams": 1})
    # Flow control.
    s.add("flow control: DATA beyond the stream window", ["FlowControl"], A,
          [recv(call(1, 0), raw(DATA, MSG, 1, 0, b"", bytes(16000)), raw(DATA, MSG, 1, 0, b"", bytes(16000)),
                raw(DATA, MSG, 1, 0, b"", bytes(16000)), raw(DATA, MSG, 1, 0, b"", bytes(16000)),
                raw(DATA, MSG, 1, 0, b"", bytes(1537))),
           sent(goaway("FLOW_CONTROL_ERROR")), closed("FLOW_CONTROL_ERROR"),
           events(ev("call", stream=1), *[ev("message", stream=1)] * 4, *died("callee", "OPEN"))],
          config={"initial_stream_window": 65536})
    s.add("flow control: consuming half the window returns credit with WINDOW",
          ["FlowControl", "Alternatives"], A,
          [recv(call(1, 0), raw(DATA, MSG, 1, 0, b"", bytes(16000)), raw(DATA, MSG, 1, 0, b"", bytes(16000)),
                raw(DATA, MSG, 1, 0, b"", bytes(1000))),
           events(ev("call", stream=1), ev("message", stream=1), ev("message", stream=1),
                  ev("message", stream=1)),
           cmd("consume", stream=1, n=33000)],
          config={"initial_stream_window": 65536, "initial_connection_window": 1 << 20},
          alternatives=credit_returned(f(WINDOW, 1, arg=33000), f(WINDOW, 0, arg=33000)))
    s.add("flow control: WINDOW overflowing 2^31-1", ["FlowControl"], A,
          [recv(raw(WINDOW, 0, 0, 0x7FFFFFFF)), sent(goaway("FLOW_CONTROL_ERROR")),
           closed("FLOW_CONTROL_ERROR")])
    s.add("flow control: WINDOW for a stream that is not open is ignored", ["FlowControl"], A,
          [recv(raw(WINDOW, 0, 9, 4096)), sent(), events()])
    s.add("flow control: a send beyond the peer's window is refused locally", ["FlowControl"], C,
          [cmd("call", {"error": "blocked"}, method="m", body="00" * 70000, end_stream=True)],
          peer_settings={"max_frame_size": 1 << 20})
    # Budgets.
    s.add("cancel budget: the 11th CANCEL within a second", ["Budget"], A,
          [recv(*[raw(CANCEL, 0, 2 * i + 1, 1) for i in range(11)]),
           sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"cancel_budget": 10})
    s.add("cancel budget: 10 CANCELs a second for two seconds are fine", ["Budget"], A,
          [recv(*[raw(CANCEL, 0, 2 * i + 1, 1) for i in range(10)]), advance(SECOND),
           recv(*[raw(CANCEL, 0, 2 * i + 1, 1) for i in range(10)]), sent(), events()],
          config={"cancel_budget": 10})
    s.add("control budget: PING flood", ["Budget", "Keepalive"], A,
          [recv(*[raw(PING, 0, 0, i) for i in range(11)]),
           {"sent_tail": [goaway("ENHANCE_YOUR_CALM")]}, closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 10})
    s.add("ack queue: 17 PINGs before any ACK could be written", ["Budget", "Keepalive"], A,
          [recv(*[raw(PING, 0, 0, i) for i in range(17)]),
           {"sent_tail": [goaway("ENHANCE_YOUR_CALM")]}, closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 1000, "ack_queue": 16})
    s.add("control budget: unknown extension frames", ["Budget"], A,
          [recv(*[raw(0x80, 0, 0, 0, b"", b"x") for _ in range(11)]),
           sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 10})
    s.add("control budget: tiny WINDOW increments", ["Budget", "FlowControl"], A,
          [recv(*[raw(WINDOW, 0, 0, 1) for _ in range(11)]),
           sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 10})
    s.add("control budget: frames for streams that are not open", ["Budget"], A,
          [recv(*[raw(WINDOW, 0, 2 * i + 1, 100) for i in range(11)]),
           sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 10})
    s.add("metadata over MAX_METADATA_SIZE is a stream error naming the limit", ["Limits"], A,
          [recv(raw(CALL, END | MSG, 1, 0, tlv(METHOD, b"m") + tlv(0x14, b"\x01k" + bytes(300)), b"")),
           sent(f(STATUS, 1, arg=8, flags=0)), events()],
          config={"max_metadata_size": 256})
    s.add("message over MAX_MESSAGE_SIZE is a stream error naming the limit", ["Limits"], A,
          [recv(call(1, END | MSG, body=bytes(101))), sent(f(STATUS, 1, arg=8)), events()],
          config={"max_message_size": 100})
    s.add("chunks adding up over MAX_MESSAGE_SIZE", ["Limits", "Streaming"], A,
          [recv(call(1, 0), raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024)),
                raw(DATA, MSG | MORE, 1, 0, b"", bytes(1024))),
           events(ev("call", stream=1), ev("message", stream=1, more=True),
                  ev("call_aborted", stream=1, code=8)),
           sent(f(STATUS, 1, arg=8))],
          config={"max_message_size": 2000})
    s.add("frame over MAX_FRAME_SIZE is a connection error", ["Limits"], A,
          [recv(raw(DATA, MSG, 1, 0, b"", bytes(65537))), sent(goaway("FRAME_SIZE_ERROR")),
           closed("FRAME_SIZE_ERROR")])
    # Timeouts and keepalive.
    s.add("PING is answered with the same opaque value", ["Keepalive"], A,
          [recv(raw(PING, 0, 0, 0xCAFE)), sent(f(PING, 0, flags=ACK, arg=0xCAFE))])
    s.add("PING answered: pong event", ["Keepalive"], A,
          [cmd("ping"), {"sent_ping": True}, {"recv_ping_ack": True}, events(ev("pong"))])
    s.add("PING not answered within ping_timeout", ["Keepalive", "Timeout"], A,
          [cmd("ping"), {"sent_ping": True}, advance(20 * SECOND), sent(goaway("TIMEOUT")),
           closed("TIMEOUT")])
    s.add("stalled half-frame: frame_timeout", ["Timeout"], A,
          [recv(call(1)[:10]), advance(10 * SECOND), sent(goaway("TIMEOUT")), closed("TIMEOUT")])
    s.add("idle timeout closes gracefully", ["Timeout"], A,
          [advance(SECOND), sent(goaway("NO_ERROR")), closed("NO_ERROR")],
          config={"idle_timeout_ms": 1000})
    s.add("idle timeout does not fire with a call open", ["Timeout"], A,
          [recv(call(1, 0)), events(ev("call", stream=1)), advance(2 * SECOND), sent()],
          config={"idle_timeout_ms": 1000})
    # Deadlines.
    s.add("deadline: the callee sees the remaining budget", ["Deadline"], A,
          [recv(call(1, deadline_us=250000)), events(ev("call", stream=1, deadline_us=250000))])
    s.add("deadline 0: already expired: the call is delivered, then the deadline fires at "
          "the next timer check", ["Deadline", "Alternatives"], A,
          [recv(call(1, deadline_us=0))],
          alternatives=[
              # Timers checked only when the clock is advanced.
              [events(ev("call", stream=1, deadline_us=0)), sent(), advance(0),
               sent(f(STATUS, 1, arg=4)), events(ev("deadline_exceeded", stream=1))],
              # Timers also checked right after the input was processed (section 12).
              [events(ev("call", stream=1, deadline_us=0), ev("deadline_exceeded", stream=1)),
               sent(f(STATUS, 1, arg=4)), advance(0), sent(), events()],
          ])
    s.add("race: deadline vs reply, reply first wins", ["Deadline", "Race"], A,
          [recv(call(1, deadline_us=1000)), events(ev("call", stream=1)),
           cmd("status", stream=1, code=0), sent(f(STATUS, 1, arg=0)), advance(1000), sent(),
           events()])
    s.add("race: deadline vs reply, deadline first: the late reply is refused locally",
          ["Deadline", "Race"], A,
          [recv(call(1, deadline_us=1000)), events(ev("call", stream=1)), advance(1000),
           sent(f(STATUS, 1, arg=4)), events(ev("deadline_exceeded", stream=1)),
           cmd("status", {"error": "unknown_stream"}, stream=1, code=0), sent()])
    s.add("race: caller's deadline vs the callee's reply crossing", ["Deadline", "Race"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True, deadline_us=1000),
           sent(f(CALL, 1)), advance(1000), sent(f(CANCEL, 1, arg=4)),
           events(ev("call_failed", stream=1, code=4)),
           recv(raw(STATUS, MSG, 1, 0, b"", b"late")), events(), sent()])
    # Cancellation races.
    s.add("race: cancel vs reply, the crossing STATUS frees the id", ["Cancel", "Race"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           cmd("cancel", stream=1, code=1), sent(f(CANCEL, 1, arg=1)),
           recv(raw(STATUS, MSG, 1, 0, b"", b"late")), events(),
           cmd("call", {"ok": True}, method="m", body="", end_stream=True), sent(f(CALL, None))])
    s.add("race: CANCEL arriving after the STATUS was sent is ignored", ["Cancel", "Race"], A,
          [recv(call(1)), events(ev("call", stream=1)), cmd("status", stream=1, code=0),
           sent(f(STATUS, 1, arg=0)), recv(raw(CANCEL, 0, 1, 1)), sent(), events()])
    # Drain.
    s.add("drain: GOAWAY counts accepted calls; open calls finish", ["Drain"], A,
          [recv(call(1, 0), call(3, NO_REPLY | END | MSG)), events(ev("call", stream=1), ev("call", stream=3)),
           cmd("drain"), sent(f(GOAWAY, 0, arg=0, body=u64(2))),
           recv(call(5)), sent(f(STATUS, 5, arg=14, flags=REFUSED)),
           recv(raw(DATA, END, 1, 0)), events(ev("half_closed", stream=1)),
           cmd("status", stream=1, code=0), sent(f(STATUS, 1, arg=0)), closed("NO_ERROR")])
    s.add("race: GOAWAY vs new call: calls above Accepted Calls are retry-safe; the receiver "
          "closes once its calls are done", ["Drain", "Race", "Alternatives"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           cmd("call", {"stream": 3}, method="m", body="", end_stream=True), sent(f(CALL, 3)),
           recv(raw(GOAWAY, 0, 0, 0, b"", u64(1)))],
          alternatives=[
              # Section 15.3 MAY: fail the call above Accepted Calls at once.
              [events(ev("goaway", code=0, accepted_calls=1), ev("call_failed", stream=3, code=14)),
               cmd("call", {"error": "not_accepting"}, method="m", body="", end_stream=True),
               recv(raw(STATUS, REFUSED, 3, 14), raw(STATUS, MSG, 1, 0, b"", b"ok")),
               events(ev("status", stream=1, code=0)), sent(), closed("NO_ERROR")],
              # Or wait for the callee's STATUS(REFUSED), delivered as the call's outcome.
              [events(ev("goaway", code=0, accepted_calls=1)),
               cmd("call", {"error": "not_accepting"}, method="m", body="", end_stream=True),
               recv(raw(STATUS, REFUSED, 3, 14), raw(STATUS, MSG, 1, 0, b"", b"ok")),
               events(ev("status", stream=3, code=14, refused=True), ev("status", stream=1, code=0)),
               sent(), closed("NO_ERROR")],
          ])
    s.add("GOAWAY with an error closes at once and fails open calls", ["Drain"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           recv(raw(GOAWAY, 0, 0, 2, b"", u64(1))),
           events(ev("goaway", code=2, accepted_calls=1), ev("call_failed", stream=1, code=14)),
           closed("INTERNAL_ERROR")])
    s.add("transport closed with calls open", ["Drain"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           {"eof": True}, events(ev("call_failed", stream=1, code=14)), closed("NO_ERROR")])
    # CRC.
    s.add("CRC requested: the implementation protects every frame", ["Crc"], A,
          [recv(call(1)), events(ev("call", stream=1)), cmd("status", stream=1, code=0),
           sent(f(STATUS, 1, arg=0, flags=CRC))],
          peer_settings={"features": 1})
    s.add("sticky CRC: a frame without trailer after the first with one", ["Crc"], A,
          [recv(raw(PING, CRC, 0, 1), raw(PING, 0, 0, 2)), sent(f(PING, 0, flags=ACK, arg=1), goaway("CRC_ERROR")),
           closed("CRC_ERROR")],
          config={"features": 1})
    s.add("CRC mismatch mid-connection", ["Crc"], A,
          [recv(raw(PING, CRC, 0, 1, trailer=0)), sent(goaway("CRC_ERROR")), closed("CRC_ERROR")])


def protocol_1_1(s):
    """Sessions added with protocol 1.1 (PROTOCOL.md section 20), one per clarification
    whose outcome is observable."""
    A, C = "acceptor", "connector"
    s.add("handshake: a malformed first frame gets its section 17 code, not HANDSHAKE_ERROR",
          ["Handshake"], A,
          [recv(PREFACE, raw(PING, 0, 0, 1, b"", b"x")), sent(goaway("FRAME_SIZE_ERROR")),
           closed("FRAME_SIZE_ERROR")], handshake="manual")
    s.add("handshake: MIN_VERSION above the HELLO's own version is a setting out of range",
          ["Handshake"], A,
          [recv(PREFACE, hello(min_version=2)), sent(goaway("HANDSHAKE_ERROR")),
           closed("HANDSHAKE_ERROR")], handshake="manual")
    chunk = "00" * 16000
    s.add("handshake: frames sent on the initial windows; the peer's HELLO adds the "
          "difference to every send window", ["Handshake", "FlowControl"], C,
          [cmd("call", {"stream": 1}, method="m", body=chunk, end_stream=False),
           *[cmd("send", stream=1, body=chunk, end_stream=False) for _ in range(3)],
           cmd("send", {"error": "blocked"}, stream=1, body="00" * 2000, end_stream=False),
           recv(PREFACE, hello(initial_stream_window=131072)), events(ev("connected")),
           cmd("send", stream=1, body="00" * 2000, end_stream=False),
           sent(f(CALL, 1, flags=MSG), *[f(DATA, 1, flags=MSG)] * 4)],
          handshake="manual")
    s.add("unary: a STATUS carrying an empty message (data \"\") is not a STATUS without one",
          ["StateTable"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           recv(raw(STATUS, MSG, 1, 0, b"", b"")), events(ev("status", stream=1, code=0, data=""))])
    s.add("a STATUS whose message breaks MAX_MESSAGE_SIZE: the caller reports "
          "RESOURCE_EXHAUSTED and sends nothing (the STATUS ended the call)", ["Limits"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           recv(raw(STATUS, MSG, 1, 0, b"", bytes(101))),
           events(ev("call_failed", stream=1, code=8)), sent()],
          config={"max_message_size": 100})
    s.add("early STATUS while the caller is mid-chunk: the caller ends with CANCEL",
          ["Streaming", "StateTable"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=False),
           cmd("send", stream=1, body="00" * 1024, more=True, end_stream=False),
           sent(f(CALL, 1), f(DATA, 1, flags=MSG | MORE)),
           recv(raw(STATUS, 0, 1, 9)), events(ev("status", stream=1, code=9)),
           sent(f(CANCEL, 1, arg=1))])
    s.add("CRC not requested: a voluntary trailer on some frames is verified, the others "
          "need none", ["Crc"], A,
          [recv(raw(PING, CRC, 0, 1), raw(PING, 0, 0, 2)),
           sent(f(PING, 0, flags=ACK, arg=1), f(PING, 0, flags=ACK, arg=2)), events()])
    big = bytes(45000)
    s.add("flow control: discarded DATA is consumed at once; its credit comes back without "
          "any application read", ["FlowControl", "Alternatives"], A,
          [recv(*[raw(DATA, MSG, 9, 0, b"", big)] * 3)],
          config={"initial_connection_window": 262144},
          alternatives=[
              # Batched: one WINDOW once half the initial connection window is owed.
              [sent(f(WINDOW, 0, arg=135000)), events()],
              # Eager: one WINDOW per discarded frame.
              [sent(*[f(WINDOW, 0, arg=45000)] * 3), events()],
          ])
    s.add("admission at the caller: the peer's MAX_CONCURRENT_STREAMS is enforced locally; "
          "the slot frees when the stream closes", ["Admission"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True),
           cmd("call", {"error": "stream_limit"}, method="m", body="", end_stream=True),
           cmd("call", {"ok": True}, method="m", body="71", end_stream=True, one_way=True),
           sent(f(CALL, 1), f(CALL, None, flags=NO_REPLY | END | MSG)),
           recv(raw(STATUS, 0, 1, 0)), events(ev("status", stream=1, code=0)),
           cmd("call", {"ok": True}, method="m", body="", end_stream=True),
           sent(f(CALL, None, flags=END | MSG))],
          peer_settings={"max_concurrent_streams": 1})
    s.add("control budget: DATA a refused streaming caller sent before it saw the refusal "
          "is not counted", ["Budget", "Admission"], A,
          [recv(call(1, 0), *[raw(DATA, MSG, 1, 0, b"", b"x")] * 15),
           sent(f(STATUS, 1, arg=14, flags=REFUSED)), events()],
          config={"max_concurrent_streams": 0, "control_budget": 10})
    s.add("idle timeout: a stream in STATUS_SENT is open; silence counts from the last frame "
          "received", ["Timeout"], A,
          [recv(call(1, 0)), events(ev("call", stream=1)), cmd("status", stream=1, code=0),
           sent(f(STATUS, 1, arg=0)), advance(2 * SECOND), sent(),
           recv(raw(DATA, END, 1, 0)), events(), advance(SECOND - 1), sent(), advance(1),
           sent(goaway("NO_ERROR")), closed("NO_ERROR")],
          config={"idle_timeout_ms": 1000})
    ext = raw(0x80, 0, 0, 0, b"", b"x")
    s.add("control budget: a burst across a window boundary; a fixed window passes it, a "
          "sliding one fails it (section 16 allows both)", ["Budget", "Alternatives"], A,
          [recv(ext), advance(900000), recv(*[ext] * 8), advance(200000), recv(*[ext] * 8)],
          config={"control_budget": 10},
          alternatives=[
              [sent(), events()],
              [sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          ])
    s.add("control budget: WINDOW for a half-closed stream is not ignored and not counted",
          ["Budget", "FlowControl"], C,
          [cmd("call", {"stream": 1}, method="m", body="", end_stream=True), sent(f(CALL, 1)),
           recv(*[raw(WINDOW, 0, 1, 4096)] * 11), sent(), events()],
          config={"control_budget": 10})
    s.add("control budget: CANCEL for a stream that is not open counts against "
          "cancel_budget only", ["Budget", "Cancel"], A,
          [recv(*[raw(CANCEL, 0, 2 * i + 1, 1) for i in range(11)]), sent(), events()],
          config={"control_budget": 10, "cancel_budget": 1000})
    s.add("control budget: dropped one-way calls are not counted", ["Budget", "OneWay"], A,
          [recv(*[call(2 * i + 1, NO_REPLY | END | MSG) for i in range(11)]), sent(),
           events()],
          config={"control_budget": 10, "max_message_size": 0})
    s.add("control budget: a tiny WINDOW for a stream that is not open counts once",
          ["Budget", "FlowControl"], A,
          [recv(*[raw(WINDOW, 0, 2 * i + 1, 1) for i in range(6)]), sent(), events()],
          config={"control_budget": 10})


def hardening(s):
    """Sessions added with the hostile-input work (issue 15): behaviour an attack suite
    found wrong, pinned down."""
    A = "acceptor"
    pings = [raw(PING, 0, 0, i) for i in (1, 2, 3)]
    s.add("frame timeout runs from each frame's own first byte: inputs that always end "
          "mid-frame are fine while each frame completes in time", ["Timeout"], A,
          [recv(pings[0][:10]), advance(6 * SECOND),
           recv(pings[0][10:], pings[1][:10]), advance(6 * SECOND),
           recv(pings[1][10:], pings[2][:10]), advance(6 * SECOND),
           recv(pings[2][10:]),
           sent(*[f(PING, 0, flags=ACK, arg=i) for i in (1, 2, 3)])])
    empty = raw(DATA, MSG, 1, 0, b"", b"")
    s.add("control budget: DATA for a stream that was never opened counts (empty messages "
          "cost no credit, so flow control does not bound them)", ["Budget"], A,
          [recv(*[empty] * 11), sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"control_budget": 10})
    s.add("control budget: late DATA of a refused call is not counted until the caller's "
          "END_STREAM; DATA after it counts", ["Budget", "Admission"], A,
          [recv(call(1, 0), *[empty] * 15, raw(DATA, END, 1, 0)),
           sent(f(STATUS, 1, arg=14, flags=REFUSED)), events(),
           recv(*[empty] * 9), sent(), recv(empty),
           sent(goaway("ENHANCE_YOUR_CALM")), closed("ENHANCE_YOUR_CALM")],
          config={"max_concurrent_streams": 0, "control_budget": 10})
    s.add("drain: a CALL after the peer's own GOAWAY is refused, a one-way one dropped; the "
          "peer's open calls finish", ["Drain"], A,
          [recv(call(1, 0)), events(ev("call", stream=1)),
           recv(raw(GOAWAY, 0, 0, 0, b"", u64(0))), events(ev("goaway", code=0, accepted_calls=0)),
           recv(call(3), call(5, NO_REPLY | END | MSG, body=b"")),
           sent(f(STATUS, 3, arg=14, flags=REFUSED)), events(),
           recv(raw(DATA, END, 1, 0)), events(ev("half_closed", stream=1)),
           cmd("status", stream=1, code=0), sent(f(STATUS, 1, arg=0)), closed("NO_ERROR")])


# Sessions in which the implementation discards or refuses message bytes and then checks
# its output. Section 14.1 lets a receiver return that credit at once (one WINDOW on stream
# 0 per frame, "eager") instead of batching it up to half of the initial window (the
# reference): such sessions get both as alternatives. Key: the comment's start; value:
# the index of the first step after the discarding input, and the credit of each
# discarded frame. The eager WINDOWs join the first `sent` step after that, before or after
# the frames listed there.
EAGER_CREDIT = {
    "callee IDLE admission_full": (1, [1]),
    "admission: the call beyond MAX_CONCURRENT_STREAMS": (4, [4]),
    "message over MAX_MESSAGE_SIZE": (1, [101]),
    "chunks adding up over MAX_MESSAGE_SIZE": (2, [1024]),
    "race: caller's deadline vs the callee's reply": (6, [4]),
    "race: cancel vs reply": (5, [4]),
    "drain: GOAWAY counts accepted calls": (5, [1]),
    "a STATUS whose message breaks MAX_MESSAGE_SIZE": (4, [101]),
    "control budget: DATA a refused streaming caller": (1, [1] * 15),
    "control budget: dropped one-way calls": (1, [1] * 11),
}


def eager_credit(items):
    used = set()
    for item in items:
        key = next((k for k in EAGER_CREDIT if item["comment"].startswith(k)), None)
        if key is None:
            continue
        assert "alternatives" not in item, item["comment"]
        used.add(key)
        split, amounts = EAGER_CREDIT[key]
        prefix, rest = item["steps"][:split], item["steps"][split:]
        at = next(i for i, st in enumerate(rest) if "sent" in st)
        windows = [f(WINDOW, 0, arg=n) for n in amounts]
        listed = rest[at]["sent"]
        alts = [rest]
        for frames in (listed + windows, windows + listed):
            alt = [dict(st) for st in rest]
            alt[at] = {"sent": frames}
            if alt not in alts:
                alts.append(alt)
        item["steps"] = prefix
        item["alternatives"] = alts
        item["flags"] = item["flags"] + ["Alternatives"]
    assert used == set(EAGER_CREDIT), set(EAGER_CREDIT) - used


def document(items):
    return {
        "algorithm": "muxwire-session",
        "version": 1,
        "header": [
            "Scripted sessions with one implementation under test (spec/PROTOCOL.md).",
            "See spec/vectors/README.md for the step kinds and how to run them.",
        ],
        "numberOfSessions": len(items),
        "notes": NOTES,
        "schema": "sessions.schema.json",
        "sessions": items,
    }


def main(argv):
    s = Sessions()
    table_sessions(s)
    handwritten(s)
    protocol_1_1(s)
    hardening(s)
    eager_credit(s.items)
    text = json.dumps(document(s.items), indent=1) + "\n"
    out = [a for a in argv if not a.startswith("--")][0]
    if "--check" in argv:
        if open(out, encoding="utf-8").read() != text:
            print(f"{out} is stale: run `make vectors` and commit it", file=sys.stderr)
            return 1
        print(f"sessions: {out} is up to date")
        return 0
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {out}: {len(s.items)} sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
