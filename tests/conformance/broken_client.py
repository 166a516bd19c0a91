#!/usr/bin/env python3
"""A client broken on purpose, for `muxwire conformance live --listen`.

It makes one unary call to `echo` correctly, and skips frames it does not know, but it
never answers a PING, exits 0 on any STATUS (an error included), and after a GOAWAY sends
another CALL on the same connection. The client runner must pass C1, C2 and C6 and fail
C3, C4 and C5.

Usage: broken_client.py URL
"""

import socket
import struct
import sys

PREFACE = b"\x8bMXW\r\n\x1a\n"
HEADER = struct.Struct("<IBBHII")
HELLO, CALL, STATUS, GOAWAY = 1, 2, 4, 8
END_STREAM, MESSAGE = 0x01, 0x02


def frame(ty, flags, stream, arg, meta=b"", body=b""):
    return HEADER.pack(len(meta) + len(body), ty, flags, len(meta), stream, arg) + meta + body


def call(stream):
    method = b"echo"
    meta = struct.pack("<HH", 0x0010, len(method)) + method
    return frame(CALL, END_STREAM | MESSAGE, stream, 0, meta, b"hello")


def connect(url):
    if url.startswith("tcp://"):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        return socket.create_connection((host, int(port)))
    s = socket.socket(socket.AF_UNIX)
    s.connect(url[len("unix://"):])
    return s


def main():
    s = connect(sys.argv[1])
    s.settimeout(10)
    s.sendall(PREFACE + frame(HELLO, 0, 0, 1) + call(1))
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(3)
        buf += chunk
        if buf.startswith(PREFACE):
            buf = buf[len(PREFACE):]
        while len(buf) >= HEADER.size:
            length, ty, _flags, _meta, _stream, _arg = HEADER.unpack_from(buf)
            if len(buf) < HEADER.size + length:
                break
            buf = buf[HEADER.size + length:]
            if ty == GOAWAY:
                s.sendall(call(3))
            elif ty == STATUS:
                sys.exit(0)


if __name__ == "__main__":
    main()
