"""A testee for `muxwire conformance adapter` (spec/CONFORMANCE.md) built on the Python
package: the spec's frame vectors through :func:`muxwire.decode_frame` and
:func:`muxwire.encode_frame`, its session vectors through the sans-IO
:class:`muxwire.Connection`, the same functions and class Python users drive their own IO
with.

Usage: muxwire conformance adapter -- python conformance_testee.py
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Any, BinaryIO

import muxwire

# Events the runner ignores (CONFORMANCE.md section 2.4) are left out.
_IGNORED = {"window_opened", "streams_available", "closed"}

# Fields each event kind reports, as the vectors name them.
_FIELDS = {
    "connected": (),
    "call": ("stream", "one_way", "end_stream", "deadline_us", "data", "more"),
    "message": ("stream", "data", "more", "end_stream"),
    "half_closed": ("stream",),
    "status": ("stream", "code", "refused", "data"),
    "cancelled": ("stream", "code"),
    "deadline_exceeded": ("stream",),
    "call_failed": ("stream", "code"),
    "call_aborted": ("stream", "code"),
    "goaway": ("code", "accepted_calls"),
    "pong": (),
}


def event_json(event: muxwire.Event) -> dict[str, Any]:
    """An event as the vectors spell it."""
    out: dict[str, Any] = {"event": event.kind}
    for name in _FIELDS[event.kind]:
        value = getattr(event, name)
        if name == "data":
            if value is None:
                continue
            value = value.hex()
        elif name in ("deadline_us",) and value is None:
            continue
        elif name == "more" and event.data is None:
            continue
        out[name] = value
    return out


def decode(data: bytes, max_frame_size: int) -> dict[str, Any]:
    """A `decode` answer: what decode_frame made of `data`."""
    try:
        frame = muxwire.decode_frame(data, max_frame_size=max_frame_size)
    except muxwire.Incomplete as e:
        return {"result": "incomplete", "needed": e.needed}
    except muxwire.ProtocolError as e:
        if e.code is None:
            raise
        return {"result": "error", "code": e.code.name}
    out: dict[str, Any] = {
        "result": "frame",
        "frame_len": frame.size,
        "type": frame.type,
        "flags": frame.flags,
        "meta_len": frame.meta_len,
        "stream_id": frame.stream_id,
        "arg": frame.arg,
        "crc": frame.crc,
    }
    if frame.is_extension:
        out["payload"] = frame.body.hex()
    else:
        out["metadata"] = [{"tag": tag, "value": value.hex()} for tag, value in frame.metadata]
        out["body"] = frame.body.hex()
    return out


def encode(f: dict[str, Any]) -> dict[str, Any]:
    """An `encode` answer: the frame's fields through encode_frame."""
    extension = "payload" in f
    data = muxwire.encode_frame(
        f["type"],
        flags=f["flags"],
        stream_id=f["stream_id"],
        arg=f["arg"],
        meta_len=f["meta_len"],
        metadata=[] if extension else [(m["tag"], bytes.fromhex(m["value"])) for m in f["metadata"]],
        body=bytes.fromhex(f["payload"] if extension else f["body"]),
    )
    return {"bytes": data.hex()}


class Testee:
    """Answers the adapter protocol's requests with one session at a time."""

    def __init__(self) -> None:
        self.conn: muxwire.Connection | None = None
        self.events: list[dict[str, Any]] = []

    def drain_events(self, conn: muxwire.Connection) -> None:
        while (event := conn.next_event()) is not None:
            if event.kind not in _IGNORED:
                self.events.append(event_json(event))

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "hello":
            return {
                "name": f"muxwire-python {muxwire.__version__}",
                "supports": ["decode", "encode", "session"],
            }
        if op == "decode":
            return decode(bytes.fromhex(req["input"]), req["max_frame_size"])
        if op == "encode":
            return encode(req["frame"])
        if op == "session":
            self.conn = muxwire.Connection(
                req["side"], config=req.get("config") or {}, now_us=req["now_us"]
            )
            self.events = []
            return {}
        conn = self.conn
        if conn is None:
            raise ValueError(f"{op} before any session")
        if op == "input":
            data = bytes.fromhex(req["data"])
            conn.receive_data(data)
            self.drain_events(conn)
            return {"consumed": len(data)}
        if op == "events":
            self.drain_events(conn)
            events, self.events = self.events, []
            return {"events": events}
        if op == "output":
            data = conn.data_to_send()
            self.drain_events(conn)
            return {"data": data.hex()}
        if op == "command":
            return self.command(conn, req["command"])
        if op == "advance":
            conn.handle_timeout(req["now_us"])
            self.drain_events(conn)
            return {}
        if op == "eof":
            conn.receive_data(b"")
            self.drain_events(conn)
            return {}
        if op == "state":
            return {"closed": conn.closed, "code": conn.close_code}
        raise ValueError(f"unknown op {op!r}")

    def command(self, conn: muxwire.Connection, c: dict[str, Any]) -> dict[str, Any]:
        body = bytes.fromhex(c["body"]) if "body" in c else None
        try:
            match c["op"]:
                case "call":
                    stream = conn.start_call(
                        c["method"],
                        body or b"",
                        end_stream=bool(c.get("end_stream", False)),
                        one_way=bool(c.get("one_way", False)),
                        deadline_us=c.get("deadline_us"),
                    )
                    return {"stream": stream}
                case "send":
                    conn.send_message(
                        c["stream"],
                        body,
                        end_stream=bool(c.get("end_stream", False)),
                        more=bool(c.get("more", False)),
                    )
                case "status":
                    conn.send_status(c["stream"], c["code"], body)
                case "cancel":
                    conn.cancel(c["stream"], c["code"])
                case "ping":
                    conn.ping()
                case "drain":
                    conn.drain()
                case "consume":
                    conn.consume(c["stream"], c["n"])
                case other:
                    raise ValueError(f"unknown command {other!r}")
        except muxwire.ProtocolError as e:
            return {"rejected": e.kind}
        finally:
            self.drain_events(conn)
        return {}


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    head = stream.read(4)
    if not head:
        return None
    (length,) = struct.unpack("<I", head)
    message: dict[str, Any] = json.loads(stream.read(length))
    return message


def write_message(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def main() -> int:
    testee = Testee()
    while (req := read_message(sys.stdin.buffer)) is not None:
        try:
            answer = testee.handle(req)
            answer["ok"] = True
        except Exception as e:  # noqa: BLE001 - reported to the runner as the adapter's fault
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        write_message(sys.stdout.buffer, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
