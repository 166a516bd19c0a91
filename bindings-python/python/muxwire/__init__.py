"""muxwire: multiplexed binary RPC for Python.

Blocking calls (:class:`Client`), asyncio calls (:class:`AsyncClient`), servers with sync
or async handlers (:class:`Server`, :class:`AsyncServer`), all on the muxwire runtime
(Rust), which owns the sockets on its own threads. The GIL is released while a call waits.
For code that owns its IO: the sans-IO :class:`Connection`, and the frame codec
(:func:`decode_frame`, :func:`encode_frame`).

Logs go to ``logging.getLogger("muxwire")`` (nothing reaches stderr unless the application
configures logging). After ``fork()``, objects made in the parent raise
:class:`MuxwireError` in the child: make clients and servers after forking.
"""

from __future__ import annotations

import atexit as _atexit
import logging as _logging

_logging.getLogger("muxwire").addHandler(_logging.NullHandler())

from muxwire._errors import (  # noqa: E402
    Cancelled,
    DeadlineExceeded,
    ErrorCode,
    Incomplete,
    MuxwireError,
    ProtocolError,
    ResourceExhausted,
    RpcError,
    StatusCode,
    Unavailable,
    Unimplemented,
)
from muxwire._muxwire import (  # noqa: E402
    CallContext,
    Client,
    Connection,
    Event,
    Frame,
    Peer,
    Stats,
    Stream,
    __version__,
    decode_frame,
    encode_frame,
    refresh_log_level,
    set_runtime_threads,
)
from muxwire._muxwire import _stop_logging  # noqa: E402
from muxwire._aio import AsyncClient, AsyncStream  # noqa: E402
from muxwire._server import AsyncServer, Server  # noqa: E402

_atexit.register(_stop_logging)

__all__ = [
    "AsyncClient",
    "AsyncServer",
    "AsyncStream",
    "CallContext",
    "Cancelled",
    "Client",
    "Connection",
    "DeadlineExceeded",
    "ErrorCode",
    "Event",
    "Frame",
    "Incomplete",
    "MuxwireError",
    "Peer",
    "ProtocolError",
    "ResourceExhausted",
    "RpcError",
    "Server",
    "Stats",
    "StatusCode",
    "Stream",
    "Unavailable",
    "Unimplemented",
    "__version__",
    "decode_frame",
    "encode_frame",
    "refresh_log_level",
    "set_runtime_threads",
]
