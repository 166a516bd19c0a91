"""The blocking Client against the Rust server (`muxwire serve`), over TCP and Unix sockets."""

from __future__ import annotations

import os
import threading

import pytest

import muxwire
from conftest import wait_until


def test_echo(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        assert client.call("echo", b"hello") == b"hello"
        assert client.call("echo", b"") == b""
        assert client.url == rust_server


def test_any_buffer_is_a_request(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        assert client.call("echo", bytearray(b"ba")) == b"ba"
        assert client.call("echo", memoryview(b"xmvx")[1:3]) == b"mv"


def test_data_must_be_bytes(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        with pytest.raises(TypeError, match="data must be bytes or a buffer of bytes, not str"):
            client.call("echo", "text")  # type: ignore[arg-type]


def test_payloads_of_4_mib(rust_server: str) -> None:
    body = os.urandom(4 << 20)
    with muxwire.Client(rust_server) as client:
        assert client.call("echo", body) == body


def test_too_large_names_the_limit(rust_server: str) -> None:
    with muxwire.Client(rust_server, max_message_size=16 << 20) as client:
        with pytest.raises(muxwire.ResourceExhausted, match="max_message_size 4194304"):
            client.call("echo", bytes((4 << 20) + 1))


def test_unknown_method_is_unimplemented(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        with pytest.raises(muxwire.Unimplemented) as info:
            client.call("no.such.method", b"")
        assert info.value.status is muxwire.StatusCode.UNIMPLEMENTED


def test_timeout_raises_deadline_exceeded(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        with pytest.raises(muxwire.DeadlineExceeded):
            client.call("delay", b"60000", timeout=0.05)
        # The connection is still good.
        assert client.call("echo", b"after") == b"after"


def test_client_default_timeout(rust_server: str) -> None:
    with muxwire.Client(rust_server, timeout=0.05) as client:
        with pytest.raises(muxwire.DeadlineExceeded):
            client.call("delay", b"60000")


def test_bad_timeouts_are_value_errors(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="timeout must be a finite number"):
                client.call("echo", b"", timeout=bad)


def test_metadata_reaches_the_server_checked(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        assert client.call("echo", b"m", metadata={"trace-id": b"abc", "user": "me"}) == b"m"
        assert client.call("echo", b"m", metadata=[("k", b"1"), ("k", b"2")]) == b"m"
        with pytest.raises(muxwire.RpcError) as info:
            client.call("echo", b"m", metadata={"Bad Key": b"x"})
        assert info.value.status is muxwire.StatusCode.INVALID_ARGUMENT
        with pytest.raises(TypeError, match="metadata values must be bytes or str"):
            client.call("echo", b"m", metadata={"k": 1})  # type: ignore[dict-item]


def test_compression(rust_server: str) -> None:
    body = b"abcd" * 10_000
    for codec in ("lz4", "zstd"):
        with muxwire.Client(rust_server, compression=codec) as client:
            assert client.call("echo", body) == body
            assert client.call("echo", body, compression=codec) == body
    with pytest.raises(ValueError, match="compression must be 'lz4', 'zstd' or None"):
        muxwire.Client(rust_server, compression="gzip")


def test_notify_then_count(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        for _ in range(10):
            client.notify("sink", b"12345")

        def counted() -> bool:
            return client.call("count", b"").split()[0] == b"10"

        wait_until(counted, "the server to count 10 one-way messages")
        assert client.call("count", b"") == b"10 50"


def test_ping_methods_and_stats(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        assert client.ping() >= 0.0
        assert {"echo", "sink", "delay", "count"} <= set(client.methods())
        client.call("echo", b"x")
        with pytest.raises(muxwire.Unimplemented):
            client.call("nope", b"")
        stats = client.stats()
        assert stats.calls_ok >= 2
        assert stats.calls_failed[muxwire.StatusCode.UNIMPLEMENTED] == 1
        assert stats.connections == 1
        assert stats.bytes_out > 0 and stats.bytes_in > 0
        assert "calls_ok" in repr(stats)


def test_pool_of_connections(rust_server: str) -> None:
    with muxwire.Client(rust_server, pool=3) as client:
        for _ in range(6):
            assert client.call("echo", b"p") == b"p"
        wait_until(lambda: client.stats().connections == 3, "three pooled connections")
    with pytest.raises(ValueError, match="pool must be between 1 and 64"):
        muxwire.Client(rust_server, pool=0)


def test_calls_after_close_are_unavailable(rust_server: str) -> None:
    client = muxwire.Client(rust_server)
    with client:
        pass
    with pytest.raises(muxwire.Unavailable):
        client.call("echo", b"late")


def test_connect_errors() -> None:
    with pytest.raises(muxwire.Unavailable, match="cannot connect"):
        muxwire.Client("tcp://127.0.0.1:1")
    with pytest.raises(muxwire.RpcError) as info:
        muxwire.Client("http://example")
    assert info.value.status is muxwire.StatusCode.INVALID_ARGUMENT


def test_many_threads_share_one_client(rust_server: str) -> None:
    errors: list[BaseException] = []
    with muxwire.Client(rust_server) as client:

        def work(n: int) -> None:
            try:
                for i in range(200):
                    body = f"{n}-{i}".encode()
                    assert client.call("echo", body) == body
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
