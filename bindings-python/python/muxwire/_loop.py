"""The bridge that settles asyncio futures of the running event loop.

No loop is bound at import: each call finds the loop running when it is made. One
:class:`LoopBridge` serves each loop; bridges of closed loops are forgotten.
"""

from __future__ import annotations

import asyncio

from muxwire._muxwire import LoopBridge

_bridges: dict[int, LoopBridge] = {}


def running_bridge() -> tuple[asyncio.AbstractEventLoop, LoopBridge]:
    """The running loop and its bridge (RuntimeError outside a running loop)."""
    loop = asyncio.get_running_loop()
    bridge = _bridges.get(id(loop))
    if bridge is None or bridge.event_loop is not loop:
        for key, old in list(_bridges.items()):
            if old.event_loop.is_closed():
                del _bridges[key]
        bridge = LoopBridge(loop)
        fd = bridge.fileno()
        if fd >= 0:
            try:
                loop.add_reader(fd, bridge)
                bridge._wake_by_fd()
            except NotImplementedError:
                pass  # woken with call_soon_threadsafe instead
        _bridges[id(loop)] = bridge
    return loop, bridge
