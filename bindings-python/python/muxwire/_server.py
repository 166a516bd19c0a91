"""``Server`` and ``AsyncServer``: methods served by Python functions.

Handlers take ``(ctx, data)`` and return the reply bytes; raising :class:`RpcError` ends
the call with its status, any other exception ends it with INTERNAL (and is logged to
``logging.getLogger("muxwire")``). Sync handlers run on the runtime's worker threads
(``workers`` of them at most), async handlers on the event loop the server was started on.
Streaming handlers take ``(ctx, requests)`` and produce the replies: a sync one (on
:class:`Server`) iterates and returns an iterable, an async one (on :class:`AsyncServer`)
iterates with ``async for`` and is an async generator (or returns an async iterable).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from muxwire._errors import Cancelled, RpcError
from muxwire._aio import _settled
from muxwire._loop import running_bridge
from muxwire._muxwire import CallContext, Responder, ServerCore, Stats, StreamCall

_log = logging.getLogger("muxwire")

Reply = bytes | bytearray | memoryview
SyncHandler = Callable[[CallContext, bytes], Reply]
StreamHandler = Callable[[CallContext, Iterator[bytes]], Iterable[Reply]]
AsyncHandler = Callable[[CallContext, bytes], Awaitable[Reply]]
AsyncStreamHandler = Callable[
    [CallContext, AsyncIterator[bytes]], AsyncIterable[Reply] | Awaitable[AsyncIterable[Reply]]
]
_H = TypeVar("_H", bound=Callable[..., Any])
_M = TypeVar("_M", SyncHandler, AsyncHandler)
_S = TypeVar("_S", StreamHandler, AsyncStreamHandler)


def _logged(method: str, handler: SyncHandler) -> SyncHandler:
    """`handler`, logging any exception other than RpcError before it ends the call."""

    def run(ctx: CallContext, data: bytes) -> bytes | bytearray | memoryview:
        try:
            return handler(ctx, data)
        except RpcError:
            raise
        except Exception:
            _log.exception("handler of %r raised", method)
            raise

    return run


def _logged_stream(method: str, handler: StreamHandler) -> StreamHandler:
    """`handler`, logging any exception other than RpcError before it ends the call."""

    def run(ctx: CallContext, requests: Iterator[bytes]) -> Iterator[bytes | bytearray | memoryview]:
        try:
            yield from handler(ctx, requests)
        except RpcError:
            raise
        except Exception:
            _log.exception("streaming handler of %r raised", method)
            raise

    return run


class _ServerBase(Generic[_M, _S]):
    """What Server and AsyncServer share: options, registration, url and stats; `_M` and
    `_S` are the types of their handlers and streaming handlers."""

    _kind = "Server"

    def __init__(
        self,
        url: str,
        *,
        workers: int | None = None,
        worker_queue: int | None = None,
        compression: str | None = None,
        max_message_size: int | None = None,
        max_concurrent_streams: int | None = None,
        crc: bool = False,
        keepalive: float | None = None,
        idle_timeout: float | None = None,
        agent: str | None = None,
    ) -> None:
        self._url = url
        self._options: dict[str, Any] = dict(
            workers=workers,
            worker_queue=worker_queue,
            compression=compression,
            max_message_size=max_message_size,
            max_concurrent_streams=max_concurrent_streams,
            crc=crc,
            keepalive=keepalive,
            idle_timeout=idle_timeout,
            agent=agent,
        )
        self._methods: dict[str, _M] = {}
        self._streams: dict[str, _S] = {}
        self._core: ServerCore | None = None

    def _check_name(self, name: str) -> None:
        if self._core is not None:
            raise RuntimeError("methods must be registered before the server starts")
        if name in self._methods or name in self._streams:
            raise ValueError(f"method {name!r} is registered twice")

    def method(self, name: str) -> Callable[[_H], _H]:
        """Registers the decorated function as the handler of `name`."""

        def register(handler: _H) -> _H:
            self.add_method(name, handler)
            return handler

        return register

    def stream(self, name: str) -> Callable[[_H], _H]:
        """Registers the decorated function as the streaming handler of `name`."""

        def register(handler: _H) -> _H:
            self.add_stream(name, handler)
            return handler

        return register

    def add_method(self, name: str, handler: _M) -> None:
        """Registers `handler` for `name` (before the server starts)."""
        self._check_name(name)
        self._check_handler(name, handler, stream=False)
        self._methods[name] = handler

    def add_stream(self, name: str, handler: _S) -> None:
        """Registers `handler` as the streaming handler of `name` (before the server
        starts)."""
        self._check_name(name)
        self._check_handler(name, handler, stream=True)
        self._streams[name] = handler

    def _check_handler(self, name: str, handler: Callable[..., Any], *, stream: bool) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The URL the server listens on once started (with the port chosen for port 0)."""
        return self._core.url if self._core is not None else self._url

    def stats(self) -> Stats:
        """The server's counters."""
        if self._core is None:
            raise RuntimeError("the server has not started")
        return self._core.stats()

    def __repr__(self) -> str:
        return f"{self._kind}({self.url!r})"


def _is_async(handler: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler)


class Server(_ServerBase[SyncHandler, StreamHandler]):
    """A server whose methods are sync functions::

        server = muxwire.Server("tcp://127.0.0.1:7000")

        @server.method("echo")
        def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
            return data

        server.serve_forever()

    ``@server.stream(name)`` registers a streaming handler: it gets ``(ctx, requests)``,
    an iterator over the caller's messages, and returns (or yields) the replies. Each
    streaming call runs on a thread of its own, at most ``workers`` at once.
    """

    _kind = "Server"

    def _check_handler(self, name: str, handler: Callable[..., Any], *, stream: bool) -> None:
        if _is_async(handler):
            raise TypeError(f"the handler of {name!r} is async: serve it with AsyncServer")

    def start(self) -> None:
        """Binds and starts serving (once); handlers run on worker threads from now on."""
        if self._core is None:
            methods = [(n, _logged(n, h), None) for n, h in self._methods.items()]
            streams = [(n, _logged_stream(n, h), None) for n, h in self._streams.items()]
            self._core = ServerCore(self._url, methods, streams=streams, **self._options)

    def serve_forever(self) -> None:
        """Starts if needed, then blocks until :meth:`shutdown` (from another thread or a
        handler). Ctrl-C shuts the server down and raises KeyboardInterrupt."""
        self.start()
        assert self._core is not None
        try:
            while not self._core.wait_closed(None):
                pass
        except KeyboardInterrupt:
            self.shutdown()
            raise

    def shutdown(self, grace: float = 5.0) -> None:
        """Stops accepting, lets calls in progress finish for up to `grace` seconds, then
        closes every connection."""
        if self._core is not None:
            self._core.shutdown(grace)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


def _finish(method: str, responder: Responder, task: asyncio.Task[Any]) -> None:
    """Answers a call with how its handler's task ended."""
    if task.cancelled():
        responder.fail(Cancelled("the handler was cancelled"))
        return
    exc = task.exception()
    if exc is None:
        responder.reply(task.result())
        return
    if not isinstance(exc, RpcError):
        _log.error("handler of %r raised", method, exc_info=exc)
    responder.fail(exc)


class AsyncServer(_ServerBase[AsyncHandler, AsyncStreamHandler]):
    """A server whose methods are coroutine functions, run on the event loop that
    started it::

        server = muxwire.AsyncServer("tcp://127.0.0.1:7000")

        @server.method("echo")
        async def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
            return data

        @server.stream("echo.stream")
        async def echo_stream(ctx, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            async for m in requests:
                yield m

        async with server:  # or await server.start(); await server.serve_forever()
            ...

    Register methods before the server starts. A call cancelled by its caller (or past its
    deadline) cancels its handler's task. A streaming handler takes each request from the
    caller only when it asks for the next one, and each reply it yields waits while 4 MiB
    of replies are unwritten, so a slow handler or a slow caller pushes back on the other.
    """

    _kind = "AsyncServer"
    _closed: asyncio.Event | None = None

    def _check_handler(self, name: str, handler: Callable[..., Any], *, stream: bool) -> None:
        if stream and not _is_async(handler):
            raise TypeError(
                f"the streaming handler of {name!r} is not an async generator or coroutine "
                "function: serve it with Server"
            )
        if not stream and not inspect.iscoroutinefunction(handler):
            raise TypeError(f"the handler of {name!r} is not async: serve it with Server")

    async def start(self) -> None:
        """Binds and starts serving (once) on the running event loop."""
        if self._core is not None:
            return
        loop, bridge = running_bridge()
        self._closed = asyncio.Event()
        methods = [
            (name, self._dispatcher(loop, name, handler), bridge)
            for name, handler in self._methods.items()
        ]
        streams = [
            (name, _stream_dispatcher(loop, name, handler), bridge)
            for name, handler in self._streams.items()
        ]
        core = await asyncio.to_thread(
            ServerCore, self._url, methods, streams=streams, **self._options
        )
        self._core = core

    @staticmethod
    def _dispatcher(
        loop: asyncio.AbstractEventLoop, method: str, handler: AsyncHandler
    ) -> Callable[[tuple[CallContext, bytes, Responder]], None]:
        """Starts `handler` as a task for each call (run on `loop`)."""

        async def run(ctx: CallContext, data: bytes) -> bytes | bytearray | memoryview:
            return await handler(ctx, data)

        def dispatch(args: tuple[CallContext, bytes, Responder]) -> None:
            ctx, data, responder = args
            if responder.cancelled:
                responder.fail(Cancelled("the call ended before its handler started"))
                return
            task = loop.create_task(run(ctx, data))
            task.add_done_callback(lambda t: _finish(method, responder, t))
            responder._on_cancel(task.cancel)

        return dispatch

    async def serve_forever(self) -> None:
        """Starts if needed, then waits until :meth:`shutdown`."""
        await self.start()
        assert self._closed is not None
        await self._closed.wait()

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stops accepting, lets calls in progress finish for up to `grace` seconds, then
        closes every connection."""
        core = self._core
        if core is None:
            return
        await asyncio.to_thread(core.shutdown, grace)
        if self._closed is not None:
            self._closed.set()

    async def __aenter__(self) -> AsyncServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()


class _Requests:
    """The caller's messages, for an async streaming handler: ``async for m in requests``
    (ends when the caller half-closes)."""

    def __init__(self, call: StreamCall) -> None:
        self._call = call

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> bytes:
        loop, bridge = running_bridge()
        future: asyncio.Future[bytes | None] = loop.create_future()
        message = await _settled(future, self._call._start_next(bridge, future))
        if message is None:
            raise StopAsyncIteration
        return message


async def _send(call: StreamCall, reply: Reply) -> None:
    """Sends one reply (waits while the caller's side pushes back)."""
    loop, bridge = running_bridge()
    future: asyncio.Future[None] = loop.create_future()
    await _settled(future, call._start_send(bridge, future, reply))


async def _serve_stream(handler: AsyncStreamHandler, call: StreamCall) -> None:
    """Runs an async streaming handler: its replies go out as it produces them."""
    replies = handler(call.context, _Requests(call))
    if inspect.isawaitable(replies):
        replies = await replies
    if not isinstance(replies, AsyncIterable):
        raise TypeError(
            f"the streaming handler of {call.context.method!r} produced "
            f"{type(replies).__qualname__}, not an async iterable of bytes"
        )
    try:
        async for reply in replies:
            await _send(call, reply)
    finally:
        # Cancelled while sending: the generator is closed now (GeneratorExit at its
        # yield), not whenever it is collected.
        aclose = getattr(replies, "aclose", None)
        if aclose is not None:
            await aclose()


def _stream_dispatcher(
    loop: asyncio.AbstractEventLoop, method: str, handler: AsyncStreamHandler
) -> Callable[[StreamCall], None]:
    """Starts `handler` as a task for each streaming call (run on `loop`)."""

    def done(call: StreamCall, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            call.fail(Cancelled("the handler was cancelled"))
            return
        exc = task.exception()
        if exc is None:
            call.finish()
            return
        if not isinstance(exc, RpcError):
            _log.error("streaming handler of %r raised", method, exc_info=exc)
        call.fail(exc)

    def dispatch(call: StreamCall) -> None:
        if call.cancelled:
            call.fail(Cancelled("the call ended before its handler started"))
            return
        task = loop.create_task(_serve_stream(handler, call))
        task.add_done_callback(lambda t: done(call, t))
        call._on_cancel(task.cancel)

    return dispatch
