"""Echo servers for the peers, each run as its own process: `python peers.py grpc|zmq CPU`.

Each prints the URL it listens on, then serves until its stdin closes.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent import futures


def pin(cpu: int) -> None:
    """Pins this process to `cpu` when the machine has more than one."""
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})


def serve_grpc() -> None:
    import grpc

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"127.0.0.1:{port}", flush=True)
    sys.stdin.read()
    server.stop(0)


def serve_zmq() -> None:
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    print(f"tcp://127.0.0.1:{port}", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while not stop.is_set():
        if not poller.poll(100):
            continue
        # Everything queued, echoed back as it came (identity, [empty], payload...).
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            sock.send_multipart(frames)
    sock.close(0)
    ctx.term()


if __name__ == "__main__":
    pin(int(sys.argv[2]))
    {"grpc": serve_grpc, "zmq": serve_zmq}[sys.argv[1]]()
