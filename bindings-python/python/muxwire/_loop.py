"""The bridge that settles asyncio futures of the running event loop.

No loop is bound at import: each call finds the loop running when it is made. One
:class:`LoopBridge` serves each loop; bridges of closed loops are forgotten.
"""

from __future__ import annotations

import asyncio

from muxwire._muxwire import LoopBridge

# By loop id; the loop is kept beside its bridge to tell a new loop from a dead one that
# had the same id.
_bridges: dict[int, tuple[asyncio.AbstractEventLoop, LoopBridge]] = {}


def running_bridge() -> tuple[asyncio.AbstractEventLoop, LoopBridge]:
    """The running loop and its bridge (RuntimeError outside a running loop)."""
    loop = asyncio.get_running_loop()
    known = _bridges.get(id(loop))
    if known is not None and known[0] is loop:
        return known
    return _new_bridge(loop)


def _new_bridge(loop: asyncio.AbstractEventLoop) -> tuple[asyncio.AbstractEventLoop, LoopBridge]:
    """Makes the bridge of `loop` (forgetting those of closed loops)."""
    for key, (old, _) in list(_bridges.items()):
        if old.is_closed():
            del _bridges[key]
    bridge = LoopBridge(loop)
    fd = bridge.fileno()
    if fd >= 0:
        try:
            loop.add_reader(fd, bridge)
            bridge._wake_by_fd()
        except NotImplementedError:
            pass  # woken with call_soon_threadsafe instead
    _bridges[id(loop)] = (loop, bridge)
    return loop, bridge
