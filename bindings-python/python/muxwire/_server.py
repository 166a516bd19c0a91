"""``Server`` and ``AsyncServer``: methods served by Python functions.

Handlers take ``(ctx, data)`` and return the reply bytes; raising :class:`RpcError` ends
the call with its status, any other exception ends it with INTERNAL (and is logged to
``logging.getLogger("muxwire")``). Sync handlers run on the runtime's worker threads
(``workers`` of them at most), async handlers on the event loop the server was started on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from muxwire._errors import Cancelled, RpcError
from muxwire._muxwire import CallContext, Responder, ServerCore, Stats

_log = logging.getLogger("muxwire")

SyncHandler = Callable[[CallContext, bytes], bytes | bytearray | memoryview]
StreamHandler = Callable[[CallContext, Iterator[bytes]], Iterable[bytes | bytearray | memoryview]]
AsyncHandler = Callable[[CallContext, bytes], Awaitable[bytes | bytearray | memoryview]]
_H = TypeVar("_H", bound=Callable[..., Any])


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


class Server:
    """A server whose methods are sync functions::

        server = muxwire.Server("tcp://127.0.0.1:7000")

        @server.method("echo")
        def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
            return data

        server.serve_forever()
    """

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
        self._methods: dict[str, SyncHandler] = {}
        self._streams: dict[str, StreamHandler] = {}
        self._core: ServerCore | None = None

    def stream(self, name: str) -> Callable[[_H], _H]:
        """Registers the decorated function as the streaming handler of `name`: it gets
        ``(ctx, requests)``, an iterator over the caller's messages, and returns (or
        yields) the replies. Each call runs on a thread of its own, at most ``workers``
        at once."""

        def register(handler: _H) -> _H:
            self._check_name(name)
            self._streams[name] = handler
            return handler

        return register

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

    def add_method(self, name: str, handler: SyncHandler) -> None:
        """Registers `handler` for `name` (before the server starts)."""
        self._check_name(name)
        if inspect.iscoroutinefunction(handler):
            raise TypeError(f"the handler of {name!r} is async: serve it with AsyncServer")
        self._methods[name] = handler

    def start(self) -> None:
        """Binds and starts serving (once); handlers run on worker threads from now on."""
        if self._core is None:
            methods = [(n, _logged(n, h), None) for n, h in self._methods.items()]
            streams = [(n, _logged_stream(n, h)) for n, h in self._streams.items()]
            self._core = ServerCore(self._url, methods, streams=streams, **self._options)

    @property
    def url(self) -> str:
        """The URL the server listens on once started (with the port chosen for port 0)."""
        return self._core.url if self._core is not None else self._url

    def stats(self) -> Stats:
        """The server's counters."""
        if self._core is None:
            raise RuntimeError("the server has not started")
        return self._core.stats()

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

    def __repr__(self) -> str:
        return f"Server({self.url!r})"


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


class AsyncServer:
    """A server whose methods are coroutine functions, run on the event loop that
    started it::

        async with muxwire.AsyncServer("tcp://127.0.0.1:7000") as server:
            @server.method("echo")  # registered before the server starts
            ...

    Register methods, then ``await server.start()`` (or ``async with``). A call cancelled
    by its caller (or past its deadline) cancels its handler's task.
    """

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
        self._methods: dict[str, AsyncHandler] = {}
        self._core: ServerCore | None = None
        self._closed: asyncio.Event | None = None

    def method(self, name: str) -> Callable[[_H], _H]:
        """Registers the decorated coroutine function as the handler of `name`."""

        def register(handler: _H) -> _H:
            self.add_method(name, handler)
            return handler

        return register

    def add_method(self, name: str, handler: AsyncHandler) -> None:
        """Registers `handler` for `name` (before the server starts)."""
        if self._core is not None:
            raise RuntimeError("methods must be registered before the server starts")
        if name in self._methods:
            raise ValueError(f"method {name!r} is registered twice")
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"the handler of {name!r} is not async: serve it with Server")
        self._methods[name] = handler

    async def start(self) -> None:
        """Binds and starts serving (once) on the running event loop."""
        if self._core is not None:
            return
        loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        methods = [
            (name, self._dispatcher(loop, name, handler), loop.call_soon_threadsafe)
            for name, handler in self._methods.items()
        ]
        core = await asyncio.to_thread(ServerCore, self._url, methods, **self._options)
        self._core = core

    @staticmethod
    def _dispatcher(
        loop: asyncio.AbstractEventLoop, method: str, handler: AsyncHandler
    ) -> Callable[[CallContext, bytes, Responder], None]:
        """Starts `handler` as a task for each call (run on `loop`)."""

        async def run(ctx: CallContext, data: bytes) -> bytes | bytearray | memoryview:
            return await handler(ctx, data)

        def dispatch(ctx: CallContext, data: bytes, responder: Responder) -> None:
            if responder.cancelled:
                responder.fail(Cancelled("the call ended before its handler started"))
                return
            task = loop.create_task(run(ctx, data))
            task.add_done_callback(lambda t: _finish(method, responder, t))
            responder._on_cancel(loop.call_soon_threadsafe, task.cancel)

        return dispatch

    @property
    def url(self) -> str:
        """The URL the server listens on once started (with the port chosen for port 0)."""
        return self._core.url if self._core is not None else self._url

    def stats(self) -> Stats:
        """The server's counters."""
        if self._core is None:
            raise RuntimeError("the server has not started")
        return self._core.stats()

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

    def __repr__(self) -> str:
        return f"AsyncServer({self.url!r})"
