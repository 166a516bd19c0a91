"""Ten lines of Python against a muxwire server (`muxwire serve tcp://127.0.0.1:7000`).

Usage: python hello.py [URL]
"""

from __future__ import annotations

import sys

import muxwire


def main(url: str) -> None:
    with muxwire.Client(url, timeout=5.0) as client:
        print("echo:", client.call("echo", b"hello from Python").decode())
        print(f"ping: {client.ping() * 1e6:.0f} us")
        try:
            client.call("no.such.method", b"")
        except muxwire.Unimplemented as e:
            print("as expected:", e)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:7000")
