"""AsyncClient against the Rust server, and against a Python server to see cancellation
arrive on the other side."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

import muxwire
from conftest import DEADLINE, wait_until


def test_echo_and_context_manager(rust_server: str) -> None:
    async def main() -> None:
        async with muxwire.AsyncClient(rust_server) as client:
            assert await client.call("echo", b"hi") == b"hi"
            assert await client.ping() >= 0.0
            await client.notify("sink", b"x")
            assert client.stats().calls_ok >= 1
        with pytest.raises(muxwire.Unavailable):
            await client.call("echo", b"closed")

    asyncio.run(main())


def test_a_thousand_concurrent_calls(rust_server: str) -> None:
    async def main() -> None:
        async with muxwire.AsyncClient(rust_server) as client:
            bodies = [os.urandom(64) for _ in range(1_000)]
            replies = await asyncio.gather(*(client.call("echo", b) for b in bodies))
            assert replies == bodies
            assert client.stats().calls_ok == 1_000

    asyncio.run(main())


def test_large_payloads(rust_server: str) -> None:
    async def main() -> None:
        body = os.urandom(4 << 20)
        async with muxwire.AsyncClient(rust_server) as client:
            replies = await asyncio.gather(*(client.call("echo", body) for _ in range(3)))
            assert all(r == body for r in replies)

    asyncio.run(main())


def test_timeout_raises_deadline_exceeded(rust_server: str) -> None:
    async def main() -> None:
        async with muxwire.AsyncClient(rust_server) as client:
            with pytest.raises(muxwire.DeadlineExceeded):
                await client.call("delay", b"60000", timeout=0.05)
            with pytest.raises(muxwire.Unimplemented):
                await client.call("nope", b"")
            assert await client.call("echo", b"ok") == b"ok"

    asyncio.run(main())


def test_connect_failure_is_unavailable() -> None:
    async def main() -> None:
        with pytest.raises(muxwire.Unavailable, match="cannot connect"):
            async with muxwire.AsyncClient("tcp://127.0.0.1:1"):
                pass

    asyncio.run(main())


def test_not_connected_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="not connected"):
            await muxwire.AsyncClient("tcp://127.0.0.1:1").call("echo", b"")

    asyncio.run(main())


def test_one_client_on_successive_loops(rust_server: str) -> None:
    # No loop is bound at import or at connect: each call uses the loop running it.
    client = muxwire.AsyncClient(rust_server)
    asyncio.run(client.connect())
    assert asyncio.run(client.call("echo", b"loop 2")) == b"loop 2"
    assert asyncio.run(client.call("echo", b"loop 3")) == b"loop 3"
    asyncio.run(client.close())


def test_loops_on_several_threads_share_a_client(rust_server: str) -> None:
    client = muxwire.AsyncClient(rust_server)
    asyncio.run(client.connect())
    results: list[list[bytes]] = []

    def run(n: int) -> None:
        async def main() -> list[bytes]:
            return await asyncio.gather(*(client.call("echo", b"%d" % n) for _ in range(100)))

        results.append(asyncio.run(main()))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r[0] for r in results) == [b"0", b"1", b"2", b"3"]
    assert all(len(set(r)) == 1 and len(r) == 100 for r in results)


def _holding_server(url: str) -> tuple[muxwire.Server, threading.Event, threading.Event]:
    """A server whose `hold` method waits until its call is cancelled."""
    arrived, cancelled = threading.Event(), threading.Event()
    server = muxwire.Server(url)

    @server.method("hold")
    def hold(ctx: muxwire.CallContext, data: bytes) -> bytes:
        arrived.set()
        wait_until(lambda: ctx.cancelled, "the call to be cancelled")
        cancelled.set()
        return b""

    return server, arrived, cancelled


def test_cancelling_the_task_cancels_the_call_on_the_wire(local_url: str) -> None:
    server, arrived, cancelled = _holding_server(local_url)

    async def main() -> None:
        async with muxwire.AsyncClient(server.url) as client:
            task = asyncio.create_task(client.call("hold", b""))
            await asyncio.to_thread(arrived.wait, DEADLINE)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(cancelled.wait, DEADLINE)

    with server:
        asyncio.run(main())


def test_an_asyncio_timeout_cancels_the_call(local_url: str) -> None:
    server, arrived, cancelled = _holding_server(local_url)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with muxwire.AsyncClient(server.url) as client:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(None) as scope:
                    task = asyncio.ensure_future(client.call("hold", b""))
                    await asyncio.to_thread(arrived.wait, DEADLINE)
                    scope.reschedule(loop.time())  # the timeout expires now
                    await task
            assert await asyncio.to_thread(cancelled.wait, DEADLINE)

    with server:
        asyncio.run(main())
