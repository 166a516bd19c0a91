"""The sans-IO Connection: the spec's session vectors through it (judged by
`muxwire conformance adapter`), and two connections talking through memory."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile

import pytest

import muxwire
from conftest import DEADLINE, REPO, muxwire_bin

TESTEE = pathlib.Path(__file__).with_name("conformance_testee.py")


def test_every_frame_and_session_vector_passes() -> None:
    """`muxwire conformance adapter` over the testee: every frame vector through
    decode_frame and encode_frame, every session vector through Connection."""
    with tempfile.TemporaryDirectory() as d:
        report = pathlib.Path(d) / "report.json"
        done = subprocess.run(
            [
                muxwire_bin(),
                "conformance",
                "adapter",
                "--vectors",
                str(REPO / "spec" / "vectors"),
                "--json",
                str(report),
                "--",
                sys.executable,
                str(TESTEE),
            ],
            capture_output=True,
            text=True,
            timeout=10 * DEADLINE,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        results = json.loads(report.read_text())["results"]
    frames = [r for r in results if r["id"].startswith("F")]
    sessions = [r for r in results if r["id"].startswith("S")]
    expected = json.loads((REPO / "spec" / "vectors" / "sessions.json").read_text())
    assert len(sessions) == expected["numberOfSessions"] == len(expected["sessions"])
    expected = json.loads((REPO / "spec" / "vectors" / "frames.json").read_text())
    assert len(frames) == expected["numberOfTests"]
    assert len(results) == len(frames) + len(sessions)
    assert [r for r in results if r["result"] != "pass"] == []


class Peer:
    """A connection and the events it reported, not yet looked at."""

    def __init__(self, side: str) -> None:
        self.conn = muxwire.Connection(side)
        self.seen: list[muxwire.Event] = []

    def pull(self) -> None:
        # Input is processed as events are taken (h11 style): take them all.
        while (event := self.conn.next_event()) is not None:
            self.seen.append(event)

    def events(self) -> list[muxwire.Event]:
        self.pull()
        out, self.seen = self.seen, []
        return out

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events()]


def pair() -> tuple[Peer, Peer]:
    """A connector and an acceptor, handshake done."""
    client, server = Peer("connector"), Peer("acceptor")
    shuttle(client, server)
    assert client.kinds() == ["connected"] and server.kinds() == ["connected"]
    return client, server


def shuttle(a: Peer, b: Peer) -> None:
    """Carries bytes both ways until neither side has more to send (bounded)."""
    for _ in range(100):
        a.pull()
        b.pull()
        ab, ba = a.conn.data_to_send(), b.conn.data_to_send()
        if not ab and not ba:
            return
        if ab:
            b.conn.receive_data(ab)
        if ba:
            a.conn.receive_data(ba)
    pytest.fail("the two connections never went quiet")


def test_a_unary_call_between_two_connections() -> None:
    client, server = pair()
    stream = client.conn.start_call("echo", b"ping!", deadline_us=5_000_000)
    assert stream == 1
    shuttle(client, server)
    (call,) = server.events()
    assert (call.kind, call.stream, call.method, call.data) == ("call", 1, "echo", b"ping!")
    assert call.end_stream and not call.one_way and call.deadline_us == 5_000_000
    assert call.stream is not None
    server.conn.send_status(call.stream, 0, call.data)
    shuttle(client, server)
    (status,) = client.events()
    assert (status.kind, status.stream, status.code, status.data) == ("status", 1, 0, b"ping!")
    assert "status" in repr(status)


def test_a_stream_with_half_close_and_cancel() -> None:
    client, server = pair()
    stream = client.conn.start_call("echo.stream", b"one", end_stream=False)
    client.conn.send_message(stream, b"two")
    client.conn.send_message(stream, None, end_stream=True)
    shuttle(client, server)
    got = [(e.kind, e.data) for e in server.events()]
    assert got == [("call", b"one"), ("message", b"two"), ("half_closed", None)]
    second = client.conn.start_call("hold", b"", end_stream=False)
    shuttle(client, server)
    assert server.kinds() == ["call"]
    client.conn.cancel(second)
    shuttle(client, server)
    cancelled = [e for e in server.events() if e.kind == "cancelled"]
    assert [(e.stream, e.code) for e in cancelled] == [(second, 1)]


def test_ping_pong_and_drain() -> None:
    client, server = pair()
    client.conn.ping()
    shuttle(client, server)
    assert client.kinds() == ["pong"]
    server.conn.drain()
    shuttle(client, server)
    goaway = [e for e in client.events() if e.kind == "goaway"]
    assert len(goaway) == 1 and goaway[0].code == 0


def test_refused_commands_name_their_kind() -> None:
    client, server = pair()
    with pytest.raises(muxwire.ProtocolError) as info:
        server.conn.send_status(7, 0)
    assert info.value.kind == "unknown_stream"
    with pytest.raises(muxwire.ProtocolError) as info:
        client.conn.send_status(1, 0)
    assert info.value.kind in ("unknown_stream", "wrong_role")


def test_bytes_that_break_the_protocol_close_the_connection() -> None:
    server = Peer("acceptor")
    server.conn.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert server.kinds() == ["closed"]
    assert server.conn.closed and server.conn.close_code == "HANDSHAKE_ERROR"


def test_end_of_input_closes() -> None:
    client, _server = pair()
    client.conn.receive_data(b"")
    assert client.conn.closed


def test_buffered_input_is_bounded() -> None:
    conn = muxwire.Connection("acceptor", max_buffer=16)
    with pytest.raises(muxwire.ProtocolError, match="max_buffer") as info:
        conn.receive_data(bytes(17))
    assert info.value.kind == "buffer_full"


def test_timers() -> None:
    client, server = pair()
    client.conn.start_call("slow", b"", deadline_us=1_000)
    shuttle(client, server)
    assert server.kinds() == ["call"]
    due = server.conn.next_timeout_us
    assert due is not None
    server.conn.handle_timeout(due)
    assert "deadline_exceeded" in server.kinds()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="side must be"):
        muxwire.Connection("client")
    with pytest.raises(ValueError, match="unknown config key"):
        muxwire.Connection("connector", config={"nope": 1})
    with pytest.raises(ValueError, match="slots must be between"):
        muxwire.Connection("connector", slots=0)
