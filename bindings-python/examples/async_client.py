"""Many concurrent calls from asyncio (`muxwire serve tcp://127.0.0.1:7000` first).

Usage: python async_client.py [URL]
"""

from __future__ import annotations

import asyncio
import sys

import muxwire


async def main(url: str) -> None:
    async with muxwire.AsyncClient(url) as client:
        replies = await asyncio.gather(*(client.call("echo", b"%d" % i) for i in range(100)))
        print(len(replies), "replies; the last:", replies[-1].decode())
        try:
            await client.call("delay", b"1000", timeout=0.01)
        except muxwire.DeadlineExceeded as e:
            print("as expected:", e)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:7000"))
