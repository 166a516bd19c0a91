#!/usr/bin/env python3
"""A server broken on purpose, for `muxwire conformance live`.

It handshakes correctly and answers PINGs, but answers every two-way CALL with STATUS
OK and an empty message (echo included), ignores CANCEL and deadlines, and never sends
GOAWAY. The live runner must pass the handshake and PING scenarios and fail every other. Prints its URL on the first line; serves one connection at a time.

Usage: broken_server.py
"""

import socket
import struct

PREFACE_LEN = 8
HEADER = struct.Struct("<IBBHII")
CALL, STATUS, PING = 2, 4, 7
NO_REPLY = ACK = 0x20
MESSAGE = 0x02


def frame(ty, flags, stream, arg, body=b""):
    return HEADER.pack(len(body), ty, flags, 0, stream, arg) + body


def serve(conn):
    with conn:
        preface = b""
        while len(preface) < PREFACE_LEN:
            chunk = conn.recv(PREFACE_LEN - len(preface))
            if not chunk:
                return
            preface += chunk
        # Our preface is the peer's (the same magic both ways), then a bare HELLO.
        conn.sendall(preface + frame(1, 0, 0, 1))
        buf = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
            while len(buf) >= HEADER.size:
                length, ty, flags, _meta, stream, _arg = HEADER.unpack_from(buf)
                if length > (1 << 20):
                    return
                if len(buf) < HEADER.size + length:
                    break
                buf = buf[HEADER.size + length:]
                if ty == CALL and not flags & NO_REPLY:
                    conn.sendall(frame(STATUS, MESSAGE, stream, 0))
                if ty == PING and not flags & ACK:
                    conn.sendall(frame(PING, ACK, 0, _arg))


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(f"tcp://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            serve(conn)
        except OSError:
            pass


if __name__ == "__main__":
    main()
