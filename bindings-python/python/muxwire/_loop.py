"""The bridge that settles asyncio futures of the running event loop.

No loop is bound at import: each call finds the loop running when it is made. One
:class:`LoopBridge` serves each loop; bridges of closed loops are forgotten.
"""

from __future__ import annotations

import asyncio
import threading

from muxwire._muxwire import LoopBridge

# By loop id; the loop is kept beside its bridge to tell a new loop from a dead one that
# had the same id.
_bridges: dict[int, tuple[asyncio.AbstractEventLoop, LoopBridge]] = {}


# The bridge used last, and the loop it serves. asyncio's own `get_running_loop` makes a
# system call (getpid) in Python 3.11, once per call, so a loop that runs on this thread
# is recognised by its thread id instead: a loop whose `_thread_id` (set by asyncio's
# BaseEventLoop while it runs) is this thread's is the one running here.
_last: tuple[asyncio.AbstractEventLoop, LoopBridge] | None = None


def running_bridge() -> tuple[asyncio.AbstractEventLoop, LoopBridge]:
    """The running loop and its bridge (RuntimeError outside a running loop)."""
    global _last
    last = _last
    if last is not None and getattr(last[0], "_thread_id", None) == threading.get_ident():
        return last
    loop = asyncio.get_running_loop()
    known = _bridges.get(id(loop))
    if known is None or known[0] is not loop:
        known = _new_bridge(loop)
    _last = known
    return known


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
