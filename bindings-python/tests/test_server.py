"""Python servers (sync and async handlers), called by the Rust client (`muxwire call`)
and by the Python clients, over TCP and Unix sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

import muxwire
from conftest import DEADLINE, muxwire_bin, wait_until


def rust_call(url: str, method: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`muxwire call url method args...`."""
    return subprocess.run(
        [muxwire_bin(), "call", url, method, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def make_server(url: str, **options: int) -> muxwire.Server:
    server = muxwire.Server(url, **options)  # type: ignore[arg-type]

    @server.method("greet")
    def greet(ctx: muxwire.CallContext, data: bytes) -> bytes:
        if not data:
            raise muxwire.RpcError(muxwire.StatusCode.INVALID_ARGUMENT, "greet whom?")
        return b"hello, " + data

    @server.method("echo")
    def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
        return data

    @server.method("context")
    def context(ctx: muxwire.CallContext, data: bytes) -> bytes:
        meta = ",".join(f"{k}={v.decode()}" for k, v in ctx.metadata)
        timed = ctx.remaining is not None and ctx.deadline is not None
        return f"{ctx.method}|{meta}|{ctx.get('user')!r}|{timed}|{ctx.cancelled}".encode()

    @server.method("broken")
    def broken(ctx: muxwire.CallContext, data: bytes) -> bytes:
        raise ValueError("no good")

    @server.method("wrong-type")
    def wrong_type(ctx: muxwire.CallContext, data: bytes) -> bytes:
        return 42  # type: ignore[return-value]

    return server


def test_rust_client_calls_a_python_server(local_url: str) -> None:
    with make_server(local_url) as server:
        done = rust_call(server.url, "greet", "Ada")
        assert (done.returncode, done.stdout) == (0, "hello, Ada"), done.stderr
        done = rust_call(server.url, "greet")
        # `muxwire call` exits with 64 + the status code.
        assert (done.returncode, done.stderr) == (64 + 3, "muxwire: INVALID_ARGUMENT (3): greet whom?\n")
        done = rust_call(server.url, "missing")
        assert done.returncode == 64 + 12


def test_handler_context(local_url: str) -> None:
    with make_server(local_url) as server, muxwire.Client(server.url) as client:
        reply = client.call("context", b"", metadata=[("user", "ada"), ("k", b"v")], timeout=30)
        assert reply == b"context|user=ada,k=v|b'ada'|True|False"
        assert client.call("context", b"") == b"context||None|False|False"


def test_handler_errors(local_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with make_server(local_url) as server, muxwire.Client(server.url) as client:
        with pytest.raises(muxwire.RpcError) as info:
            client.call("broken", b"")
        assert info.value.status is muxwire.StatusCode.INTERNAL
        assert info.value.message == "the handler raised ValueError: no good"
        with pytest.raises(muxwire.RpcError, match="returned int, not bytes"):
            client.call("wrong-type", b"")
    assert any("handler of 'broken' raised" in r.getMessage() for r in caplog.records)


def test_large_payloads_both_ways(local_url: str) -> None:
    body = os.urandom(12 << 20)
    big = 16 << 20
    with make_server(local_url, max_message_size=big) as server:
        with muxwire.Client(server.url, max_message_size=big) as client:
            assert client.call("echo", body) == body


def test_registration_rules() -> None:
    server = muxwire.Server("tcp://127.0.0.1:0")
    server.add_method("a", lambda ctx, data: data)
    with pytest.raises(ValueError, match="registered twice"):
        server.add_method("a", lambda ctx, data: data)

    async def handler(ctx: muxwire.CallContext, data: bytes) -> bytes:
        return data

    with pytest.raises(TypeError, match="serve it with AsyncServer"):
        server.add_method("b", handler)  # type: ignore[arg-type]
    with server:
        with pytest.raises(RuntimeError, match="before the server starts"):
            server.add_method("c", lambda ctx, data: data)
    empty = muxwire.Server("tcp://127.0.0.1:0")
    empty.add_method("", lambda ctx, data: data)
    with pytest.raises(muxwire.RpcError, match="method name cannot be empty"):
        empty.start()


def test_bad_url_and_busy_port() -> None:
    with pytest.raises(muxwire.RpcError) as info:
        muxwire.Server("nope://x").start()
    assert info.value.status is muxwire.StatusCode.INVALID_ARGUMENT
    with muxwire.Server("tcp://127.0.0.1:0") as first:
        with pytest.raises(muxwire.MuxwireError, match="[Aa]ddress"):
            muxwire.Server(first.url).start()


def test_serve_forever_returns_after_shutdown_and_grace_lets_calls_finish(local_url: str) -> None:
    arrived, release = threading.Event(), threading.Event()
    server = muxwire.Server(local_url)

    @server.method("slow")
    def slow(ctx: muxwire.CallContext, data: bytes) -> bytes:
        arrived.set()
        release.wait(DEADLINE)
        return b"finished"

    server.start()
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    outcome: list[bytes] = []
    with muxwire.Client(server.url) as client:
        caller = threading.Thread(target=lambda: outcome.append(client.call("slow", b"")))
        caller.start()
        assert arrived.wait(DEADLINE)
        stopper = threading.Thread(target=server.shutdown, args=(DEADLINE,))
        stopper.start()
        # Shutdown waits for the call in progress; release it.
        release.set()
        caller.join()
        stopper.join()
        serving.join()
    assert outcome == [b"finished"]
    assert server.stats().calls_ok >= 1
    with pytest.raises(muxwire.Unavailable):
        muxwire.Client(server.url)


def test_worker_queue_bounds_waiting_calls(local_url: str) -> None:
    running, release = threading.Event(), threading.Event()
    server = muxwire.Server(local_url, workers=1, worker_queue=1)

    @server.method("block")
    def block(ctx: muxwire.CallContext, data: bytes) -> bytes:
        running.set()
        release.wait(DEADLINE)
        return data

    async def main() -> tuple[list[BaseException], list[bytes]]:
        async with muxwire.AsyncClient(server.url) as client:
            first = asyncio.ensure_future(client.call("block", b"first"))
            await asyncio.to_thread(running.wait, DEADLINE)
            # The only worker is busy: one more call may wait, the next two are refused.
            queued = asyncio.ensure_future(client.call("block", b"queued"))
            await asyncio.to_thread(wait_until, lambda: server.stats().calls_started == 2, "the queued call")
            refused = await asyncio.gather(
                client.call("block", b"3"), client.call("block", b"4"), return_exceptions=True
            )
            release.set()
            return [r for r in refused if isinstance(r, BaseException)], [await first, await queued]

    with server:
        refused, replies = asyncio.run(main())
    assert len(refused) == 2
    for err in refused:
        assert isinstance(err, muxwire.ResourceExhausted), err
        assert "worker_queue" in err.message
    assert replies == [b"first", b"queued"]


def test_async_server(local_url: str) -> None:
    async def main() -> None:
        server = muxwire.AsyncServer(local_url)
        started = asyncio.Event()
        cancelled = asyncio.Event()

        @server.method("echo")
        async def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
            await asyncio.sleep(0)
            return data

        @server.method("fail")
        async def fail(ctx: muxwire.CallContext, data: bytes) -> bytes:
            raise muxwire.Unavailable("try later", retry_safe=True)

        @server.method("hold")
        async def hold(ctx: muxwire.CallContext, data: bytes) -> bytes:
            started.set()
            try:
                await asyncio.sleep(DEADLINE)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return b"not cancelled"

        async with server:
            done = await asyncio.to_thread(rust_call, server.url, "echo", "from Rust")
            assert (done.returncode, done.stdout) == (0, "from Rust"), done.stderr
            async with muxwire.AsyncClient(server.url) as client:
                replies = await asyncio.gather(*(client.call("echo", b"%d" % i) for i in range(500)))
                assert replies == [b"%d" % i for i in range(500)]
                with pytest.raises(muxwire.Unavailable, match="try later"):
                    await client.call("fail", b"")
                call = asyncio.ensure_future(client.call("hold", b""))
                await started.wait()
                call.cancel()
                await asyncio.wait_for(cancelled.wait(), DEADLINE)

    asyncio.run(main())


def test_async_server_serve_forever_until_shutdown(local_url: str) -> None:
    async def main() -> None:
        server = muxwire.AsyncServer(local_url)

        @server.method("stop")
        async def stop(ctx: muxwire.CallContext, data: bytes) -> bytes:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(server.shutdown(1.0)))
            return b"stopping"

        await server.start()
        serving = asyncio.ensure_future(server.serve_forever())
        async with muxwire.AsyncClient(server.url) as client:
            assert await client.call("stop", b"") == b"stopping"
        await asyncio.wait_for(serving, DEADLINE)

    asyncio.run(main())


def test_a_handler_calls_its_caller_back(local_url: str) -> None:
    server = muxwire.Server(local_url)

    @server.method("callback")
    def callback(ctx: muxwire.CallContext, data: bytes) -> bytes:
        assert not ctx.peer.closed
        return b"server got " + ctx.peer.call("client.echo", data, timeout=DEADLINE)

    def client_echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
        return b"client says " + data

    with server, muxwire.Client(server.url, handlers={"client.echo": client_echo}) as client:
        assert client.call("callback", b"hi") == b"server got client says hi"

    async def main() -> None:
        async with muxwire.AsyncClient(server2.url, handlers={"client.echo": client_echo}) as aclient:
            assert await aclient.call("callback", b"yo") == b"server got client says yo"

    server2 = muxwire.Server(local_url if local_url.startswith("tcp") else local_url + ".2")
    server2.add_method("callback", callback)
    with server2:
        asyncio.run(main())


def test_the_rust_interop_server_calls_a_python_client_back(local_url: str) -> None:
    proc = subprocess.Popen(
        [muxwire_bin(), "interop-server", local_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = next(w for w in proc.stdout.readline().split() if "://" in w)
        handlers = {"client.echo": lambda ctx, data: data}
        with muxwire.Client(url, handlers=handlers) as client:
            assert client.call("callback", b"ping") == b"ping"
    finally:
        proc.terminate()
        proc.communicate(timeout=DEADLINE)


def test_handlers_must_be_callable() -> None:
    with pytest.raises(TypeError, match="not callable"):
        muxwire.Client("tcp://127.0.0.1:1", handlers={"x": 1})  # type: ignore[dict-item]


def make_stream_server(url: str) -> muxwire.Server:
    server = muxwire.Server(url, workers=2)

    @server.stream("echo.stream")
    def echo_stream(ctx: muxwire.CallContext, requests: Iterator[bytes]) -> Iterator[bytes]:
        for m in requests:
            yield m

    @server.stream("count")
    def count(ctx: muxwire.CallContext, requests: Iterator[bytes]) -> list[bytes]:
        n = int(next(requests))
        return [b"%d" % i for i in range(n)]

    @server.stream("fail.after")
    def fail_after(ctx: muxwire.CallContext, requests: Iterator[bytes]) -> Iterator[bytes]:
        yield b"first"
        raise muxwire.RpcError(muxwire.StatusCode.ABORTED, "stopped on purpose")

    @server.stream("forever")
    def forever(ctx: muxwire.CallContext, requests: Iterator[bytes]) -> Iterator[bytes]:
        while True:
            yield b"tick"

    return server


def test_streaming_handlers(local_url: str) -> None:
    with make_stream_server(local_url) as server, muxwire.Client(server.url) as client:
        with client.stream("echo.stream") as stream:
            messages = [os.urandom(n) for n in (1, 100, 200_000)] * 20
            for m in messages:
                stream.send(m)
            stream.done_writing()
            assert list(stream) == messages
        with client.stream("count") as stream:
            stream.send(b"1000")
            assert list(stream) == [b"%d" % i for i in range(1000)]
        with client.stream("fail.after") as stream:
            stream.done_writing()
            assert next(stream) == b"first"
            with pytest.raises(muxwire.RpcError, match="stopped on purpose") as info:
                next(stream)
            assert info.value.status is muxwire.StatusCode.ABORTED


def test_cancelling_a_stream_stops_its_handler(local_url: str) -> None:
    with make_stream_server(local_url) as server, muxwire.Client(server.url) as client:
        for _ in range(5):  # more calls than workers: each cancelled one frees its thread
            stream = client.stream("forever")
            assert next(stream) == b"tick"
            stream.cancel()
        with client.stream("count") as stream:
            stream.send(b"3")
            assert list(stream) == [b"0", b"1", b"2"]


def test_rust_client_streams_to_a_python_server(local_url: str) -> None:
    with make_stream_server(local_url) as server:
        rust_echo_stream(server.url)


def rust_echo_stream(url: str) -> None:
    """`muxwire stream url echo.stream` with three lines: they come back."""
    done = subprocess.run(
        [muxwire_bin(), "stream", url, "echo.stream"],
        input="a\nbb\nccc\n",
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert (done.returncode, done.stdout) == (0, "a\nbb\nccc\n"), done.stderr


def make_async_stream_server(url: str, events: dict[str, asyncio.Event]) -> muxwire.AsyncServer:
    server = muxwire.AsyncServer(url)

    @server.stream("echo.stream")
    async def echo_stream(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for m in requests:
            yield m

    @server.stream("count")
    async def count(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        n = int(await anext(requests))
        for i in range(n):
            yield b"%d" % i

    @server.stream("fail.after")
    async def fail_after(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        yield b"first"
        raise muxwire.RpcError(muxwire.StatusCode.ABORTED, "stopped on purpose")

    @server.stream("forever")
    async def forever(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        events["started"].set()
        try:
            while True:
                yield b"tick"
        finally:  # closed at its yield when its task is cancelled
            events["cancelled"].set()

    @server.stream("wait")
    async def wait(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        events["waiting"].set()
        try:
            await asyncio.sleep(DEADLINE)
        except asyncio.CancelledError:
            events["wait.cancelled"].set()
            raise
        yield b"not cancelled"

    @server.stream("not.iterable")
    async def not_iterable(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> list[bytes]:
        return [b"a list is not an async iterable"]

    return server


def new_events() -> dict[str, asyncio.Event]:
    return {k: asyncio.Event() for k in ("started", "cancelled", "waiting", "wait.cancelled")}


def test_async_streaming_handlers(local_url: str) -> None:
    async def main() -> None:
        events = new_events()
        async with make_async_stream_server(local_url, events) as server:
            async with muxwire.AsyncClient(server.url) as client:
                stream = await client.stream("echo.stream")
                messages = [os.urandom(n) for n in (0, 1, 100, 200_000)] * 10
                for m in messages:
                    await stream.send(m)
                stream.done_writing()
                assert [m async for m in stream] == messages
                stream = await client.stream("count")
                await stream.send(b"1000")
                assert [m async for m in stream] == [b"%d" % i for i in range(1000)]
                stream = await client.stream("fail.after")
                stream.done_writing()
                assert await anext(stream) == b"first"
                with pytest.raises(muxwire.RpcError, match="stopped on purpose") as info:
                    await anext(stream)
                assert info.value.status is muxwire.StatusCode.ABORTED
                stream = await client.stream("not.iterable")
                stream.done_writing()
                with pytest.raises(muxwire.RpcError, match="produced list, not an async iterable"):
                    await anext(stream)
            # The Rust client, and a blocking Python client on a thread.
            await asyncio.to_thread(rust_echo_stream, server.url)

            def blocking() -> list[bytes]:
                with muxwire.Client(server.url) as c, c.stream("count") as s:
                    s.send(b"3")
                    return list(s)

            assert await asyncio.to_thread(blocking) == [b"0", b"1", b"2"]

    asyncio.run(main())


def test_cancelling_an_async_stream_cancels_its_handler_task(local_url: str) -> None:
    async def main() -> None:
        events = new_events()
        async with make_async_stream_server(local_url, events) as server:
            async with muxwire.AsyncClient(server.url) as client:
                # Cancelled while the handler sends (its replies push back).
                stream = await client.stream("forever")
                assert await anext(stream) == b"tick"
                await events["started"].wait()
                stream.cancel()
                await asyncio.wait_for(events["cancelled"].wait(), DEADLINE)
                # Cancelled while the handler awaits something else, by cancelling the
                # task reading the reply.
                stream = await client.stream("wait")
                reading = asyncio.Event()

                async def read() -> bytes:
                    reading.set()  # and on, in the same step, to wait for the reply
                    return await anext(stream)

                reader = asyncio.ensure_future(read())
                await reading.wait()
                await events["waiting"].wait()
                reader.cancel()
                await asyncio.wait_for(events["wait.cancelled"].wait(), DEADLINE)
                # The server goes on serving.
                stream = await client.stream("count")
                await stream.send(b"2")
                assert [m async for m in stream] == [b"0", b"1"]

    asyncio.run(main())


def test_async_stream_registration_rules() -> None:
    server = muxwire.AsyncServer("tcp://127.0.0.1:0")

    def sync_stream(ctx: muxwire.CallContext, requests: Iterator[bytes]) -> Iterator[bytes]:
        yield from requests

    with pytest.raises(TypeError, match="not an async generator or coroutine function: serve it with Server"):
        server.add_stream("s", sync_stream)  # type: ignore[arg-type]

    async def agen(ctx: muxwire.CallContext, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        yield b""

    server.add_stream("a", agen)
    with pytest.raises(ValueError, match="registered twice"):
        server.add_method("a", lambda ctx, data: data)  # type: ignore[arg-type,return-value]
    sync_server = muxwire.Server("tcp://127.0.0.1:0")
    with pytest.raises(TypeError, match="is async: serve it with AsyncServer"):
        sync_server.add_stream("a", agen)  # type: ignore[arg-type]
