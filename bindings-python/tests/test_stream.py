"""Streaming calls against the Rust server's echo.stream, blocking and asyncio."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

import muxwire


def test_stream_round_trip(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client, client.stream("echo.stream") as stream:
        assert stream.method == "echo.stream"
        messages = [os.urandom(n) for n in (0, 1, 100, 70_000)]
        for m in messages:
            stream.send(m)
        stream.done_writing()
        assert list(stream) == messages
        assert list(stream) == []  # ended


def test_stream_interleaved(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        stream = client.stream("echo.stream")
        for i in range(50):
            stream.send(b"%d" % i)
            assert next(stream) == b"%d" % i
        stream.done_writing()
        with pytest.raises(StopIteration):
            next(stream)


def test_send_after_done_writing_is_an_error(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client, client.stream("echo.stream") as stream:
        stream.done_writing()
        with pytest.raises(muxwire.RpcError, match="request side of this stream is finished"):
            stream.send(b"late")


def test_unknown_stream_method(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client, client.stream("nope") as stream:
        stream.done_writing()
        with pytest.raises(muxwire.Unimplemented):
            next(stream)


def test_cancel_from_another_thread_ends_a_blocked_reader(rust_server: str) -> None:
    with muxwire.Client(rust_server) as client:
        stream = client.stream("echo.stream")
        stream.send(b"one")
        assert next(stream) == b"one"
        outcome: list[BaseException] = []

        def read() -> None:
            try:
                next(stream)
            except BaseException as e:  # noqa: BLE001 - checked below
                outcome.append(e)

        reader = threading.Thread(target=read)
        reader.start()
        # Whether the reader is already waiting or not, it must end with Cancelled.
        stream.cancel()
        reader.join()
        assert len(outcome) == 1 and isinstance(outcome[0], muxwire.Cancelled), outcome
        assert client.call("echo", b"fine") == b"fine"


def test_async_stream(rust_server: str) -> None:
    async def main() -> None:
        async with muxwire.AsyncClient(rust_server) as client:
            stream = await client.stream("echo.stream")
            messages = [b"%d" % i for i in range(100)] + [os.urandom(1 << 20)]

            async def send_all() -> None:
                for m in messages:
                    await stream.send(m)
                stream.done_writing()

            sender = asyncio.ensure_future(send_all())
            received = [m async for m in stream]
            await sender
            assert received == messages

    asyncio.run(main())


def test_cancelling_an_async_reader_cancels_the_stream(rust_server: str) -> None:
    async def main() -> None:
        async with muxwire.AsyncClient(rust_server) as client:
            async with await client.stream("echo.stream") as stream:
                reader = asyncio.ensure_future(stream.__anext__())
                await asyncio.sleep(0)
                reader.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reader
                with pytest.raises(muxwire.Cancelled):
                    await stream.__anext__()
            assert await client.call("echo", b"fine") == b"fine"

    asyncio.run(main())
