"""Type stubs of the extension module muxwire._muxwire (checked by mypy's stubtest)."""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

from typing_extensions import Buffer

_Metadata = Mapping[str, Buffer | str] | Sequence[tuple[str, Buffer | str]]

__version__: str
__all__ = [
    "CallContext",
    "CallGuard",
    "Client",
    "LoopBridge",
    "Responder",
    "ServerCore",
    "Stats",
    "Stream",
    "__version__",
    "_start_connect",
    "_stop_logging",
    "refresh_log_level",
    "set_runtime_threads",
]

def set_runtime_threads(threads: int) -> None: ...
def refresh_log_level() -> None: ...
def _stop_logging() -> None: ...
def _start_connect(
    bridge: LoopBridge,
    future: asyncio.Future[Client],
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
) -> CallGuard: ...
@final
class Stats:
    @property
    def calls_started(self) -> int: ...
    @property
    def calls_ok(self) -> int: ...
    @property
    def calls_failed(self) -> list[int]: ...
    @property
    def bytes_in(self) -> int: ...
    @property
    def bytes_out(self) -> int: ...
    @property
    def frames_in(self) -> int: ...
    @property
    def frames_out(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def connections(self) -> int: ...
    @property
    def limit_rejections(self) -> int: ...
    @property
    def one_way_dropped(self) -> int: ...

@final
class CallGuard:
    def cancel(self) -> None: ...

@final
class LoopBridge:
    def __new__(cls, event_loop: asyncio.AbstractEventLoop) -> LoopBridge: ...
    @property
    def event_loop(self) -> asyncio.AbstractEventLoop: ...
    def __call__(self) -> None: ...

@final
class Client:
    def __new__(
        cls,
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
    ) -> Client: ...
    @property
    def url(self) -> str: ...
    def call(
        self,
        method: str,
        data: Buffer,
        *,
        timeout: float | None = None,
        metadata: _Metadata | None = None,
        compression: str | None = None,
    ) -> bytes: ...
    def stream(
        self,
        method: str,
        *,
        timeout: float | None = None,
        metadata: _Metadata | None = None,
        compression: str | None = None,
    ) -> Stream: ...
    def notify(self, method: str, data: Buffer) -> None: ...
    def ping(self) -> float: ...
    def methods(self) -> list[str]: ...
    def stats(self) -> Stats: ...
    def close(self) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(self, *_exc: object) -> None: ...
    def _start_call(
        self,
        bridge: LoopBridge,
        future: asyncio.Future[bytes],
        method: str,
        data: Buffer,
        timeout: float | None = None,
        metadata: _Metadata | None = None,
        compression: str | None = None,
    ) -> CallGuard: ...
    def _start_stream(
        self,
        bridge: LoopBridge,
        future: asyncio.Future[Stream],
        method: str,
        timeout: float | None = None,
        metadata: _Metadata | None = None,
        compression: str | None = None,
    ) -> CallGuard: ...
    def _start_notify(
        self, bridge: LoopBridge, future: asyncio.Future[None], method: str, data: Buffer
    ) -> CallGuard: ...
    def _start_ping(self, bridge: LoopBridge, future: asyncio.Future[float]) -> CallGuard: ...
    def _start_close(self, bridge: LoopBridge, future: asyncio.Future[None]) -> CallGuard: ...

@final
class Stream:
    @property
    def method(self) -> str: ...
    def send(self, data: Buffer) -> None: ...
    def done_writing(self) -> None: ...
    def cancel(self) -> None: ...
    def __iter__(self) -> Stream: ...
    def __next__(self) -> bytes: ...
    def __enter__(self) -> Stream: ...
    def __exit__(self, *_exc: object) -> None: ...
    def _start_send(self, bridge: LoopBridge, future: asyncio.Future[None], data: Buffer) -> CallGuard: ...
    def _start_next(self, bridge: LoopBridge, future: asyncio.Future[bytes | None]) -> CallGuard: ...

@final
class CallContext:
    @property
    def method(self) -> str: ...
    @property
    def metadata(self) -> list[tuple[str, bytes]]: ...
    def get(self, key: str) -> bytes | None: ...
    @property
    def remaining(self) -> float | None: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def cancelled(self) -> bool: ...

@final
class Responder:
    def reply(self, data: Buffer) -> bool: ...
    def fail(self, error: BaseException) -> bool: ...
    @property
    def cancelled(self) -> bool: ...
    def _on_cancel(self, schedule: Callable[..., Any], callback: Callable[[], Any]) -> None: ...

@final
class ServerCore:
    def __new__(
        cls,
        url: str,
        methods: Sequence[tuple[str, Callable[..., Any], Callable[..., Any] | None]],
        *,
        compression: str | None = None,
        max_message_size: int | None = None,
        crc: bool = False,
        keepalive: float | None = None,
        agent: str | None = None,
        workers: int | None = None,
        worker_queue: int | None = None,
        max_concurrent_streams: int | None = None,
        idle_timeout: float | None = None,
    ) -> ServerCore: ...
    @property
    def url(self) -> str: ...
    def stats(self) -> Stats: ...
    def shutdown(self, grace: float = 5.0) -> None: ...
    @property
    def closed(self) -> bool: ...
    def wait_closed(self, timeout: float | None = None) -> bool: ...
