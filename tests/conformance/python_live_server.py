#!/usr/bin/env python3
"""The live scenarios' test methods (spec/CONFORMANCE.md, section 4) on the muxwire
package's AsyncServer, for `muxwire conformance live` against Python.

Usage: python_live_server.py URL   (prints "listening on URL"; stops when stdin closes)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import muxwire

counts = {"messages": 0, "bytes": 0}
server = muxwire.AsyncServer(sys.argv[1])


@server.method("echo")
async def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return data


@server.stream("echo.stream")
async def echo_stream(
    ctx: muxwire.CallContext, requests: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    async for message in requests:
        yield message


@server.method("sink")
async def sink(ctx: muxwire.CallContext, data: bytes) -> bytes:
    counts["messages"] += 1
    counts["bytes"] += len(data)
    return b""


@server.method("count")
async def count(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return f"{counts['messages']} {counts['bytes']}".encode()


@server.method("delay")
async def delay(ctx: muxwire.CallContext, data: bytes) -> bytes:
    try:
        ms = int(data.decode().strip())
    except ValueError:
        raise muxwire.RpcError(muxwire.StatusCode.INVALID_ARGUMENT, "delay takes milliseconds")
    # A cancelled call cancels this task: the sleep ends with CancelledError.
    await asyncio.sleep(ms / 1000)
    return data


async def main() -> None:
    async with server:
        print(f"listening on {server.url}", flush=True)
        # Until stdin closes (the runner's end).
        await asyncio.to_thread(sys.stdin.buffer.read)


if __name__ == "__main__":
    asyncio.run(main())
