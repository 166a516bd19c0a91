"""``AsyncClient``: the :class:`muxwire.Client` calls as coroutines.

Works with whichever event loop is running when a call is made. Cancelling the task that
awaits a call cancels the call on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from muxwire._loop import running_bridge
from muxwire._muxwire import CallContext, CallGuard, Client, Stats, Stream, _start_connect

_T = TypeVar("_T")

Metadata = Mapping[str, bytes | str] | Sequence[tuple[str, bytes | str]]


async def _settled(future: asyncio.Future[_T], guard: CallGuard) -> _T:
    """Awaits `future`; cancelling the awaiting task cancels the work behind it."""
    try:
        return await future
    except asyncio.CancelledError:
        guard.cancel()
        raise


class AsyncClient:
    """A client for asyncio code: ``async with AsyncClient(url) as client: ...``.

    The connection is made by ``async with`` (or ``await client.connect()``); the options
    are those of :class:`muxwire.Client` (``handlers`` are sync functions, run on worker
    threads, that the server may call back).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float | None = None,
        compression: str | None = None,
        pool: int = 1,
        max_message_size: int | None = None,
        crc: bool = False,
        wait_for_ready: bool = False,
        keepalive: float | None = None,
        agent: str | None = None,
        handlers: Mapping[str, Callable[[CallContext, bytes], bytes]] | None = None,
    ) -> None:
        self._url = url
        # What `Client(...)` takes, checked when connecting.
        self._options: dict[str, Any] = dict(
            timeout=timeout,
            compression=compression,
            pool=pool,
            max_message_size=max_message_size,
            crc=crc,
            wait_for_ready=wait_for_ready,
            keepalive=keepalive,
            agent=agent,
            handlers=handlers,
        )
        self._client: Client | None = None

    @property
    def url(self) -> str:
        """The URL this client connects to."""
        return self._url

    async def connect(self) -> AsyncClient:
        """Connects (once); returns the client itself."""
        if self._client is None:
            loop, bridge = running_bridge()
            future: asyncio.Future[Client] = loop.create_future()
            guard = _start_connect(bridge, future, self._url, **self._options)
            self._client = await _settled(future, guard)
        return self

    def _connected(self) -> Client:
        if self._client is None:
            raise RuntimeError("AsyncClient is not connected: use 'async with' or 'await connect()'")
        return self._client

    async def call(
        self,
        method: str,
        data: bytes | bytearray | memoryview,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        compression: str | None = None,
    ) -> bytes:
        """A unary call: sends `data` to `method` and returns the reply."""
        client = self._client
        if client is None:
            client = self._connected()
        loop, bridge = running_bridge()
        future: asyncio.Future[bytes] = loop.create_future()
        guard = client._start_call(bridge, future, method, data, timeout, metadata, compression)
        try:
            return await future
        except asyncio.CancelledError:
            guard.cancel()
            raise

    async def stream(
        self,
        method: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        compression: str | None = None,
    ) -> AsyncStream:
        """Opens a streaming call to `method`: ``await send(...)`` requests on it,
        ``async for`` over the replies."""
        client = self._connected()
        loop, bridge = running_bridge()
        future: asyncio.Future[Stream] = loop.create_future()
        guard = client._start_stream(bridge, future, method, timeout, metadata, compression)
        return AsyncStream(await _settled(future, guard))

    async def notify(self, method: str, data: bytes | bytearray | memoryview) -> None:
        """A one-way call: returns once the message is queued on a live connection."""
        client = self._connected()
        loop, bridge = running_bridge()
        future: asyncio.Future[None] = loop.create_future()
        guard = client._start_notify(bridge, future, method, data)
        await _settled(future, guard)

    async def ping(self) -> float:
        """The round-trip time of a PING, in seconds."""
        client = self._connected()
        loop, bridge = running_bridge()
        future: asyncio.Future[float] = loop.create_future()
        guard = client._start_ping(bridge, future)
        return await _settled(future, guard)

    def stats(self) -> Stats:
        """The client's counters."""
        return self._connected().stats()

    async def close(self) -> None:
        """Drains and closes every connection; later calls fail with Unavailable."""
        client = self._client
        if client is None:
            return
        loop, bridge = running_bridge()
        future: asyncio.Future[None] = loop.create_future()
        guard = client._start_close(bridge, future)
        await _settled(future, guard)

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({self._url!r})"


class AsyncStream:
    """A streaming call for asyncio code. Cancelling a task that awaits ``send`` or the
    next reply cancels the call; leaving ``async with`` cancels it if it has not ended."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    @property
    def method(self) -> str:
        """The method called."""
        return self._stream.method

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Sends one request message; waits while the peer's flow control pushes back."""
        loop, bridge = running_bridge()
        future: asyncio.Future[None] = loop.create_future()
        guard = self._stream._start_send(bridge, future, data)
        await self._cancelling(future, guard)

    def done_writing(self) -> None:
        """Half-closes: no more requests from this side (replies keep coming)."""
        self._stream.done_writing()

    def cancel(self) -> None:
        """Cancels the call; a reader gets Cancelled."""
        self._stream.cancel()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> bytes:
        loop, bridge = running_bridge()
        future: asyncio.Future[bytes | None] = loop.create_future()
        guard = self._stream._start_next(bridge, future)
        reply = await self._cancelling(future, guard)
        if reply is None:
            raise StopAsyncIteration
        return reply

    async def _cancelling(self, future: asyncio.Future[_T], guard: CallGuard) -> _T:
        try:
            return await future
        except asyncio.CancelledError:
            guard.cancel()
            self._stream.cancel()
            raise

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stream.cancel()
