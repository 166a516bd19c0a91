#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the spec's vectors.

    python3 fuzz/seeds.py OUT_DIR

frame_decode: the input of every vector of spec/vectors/frames.json.
metadata:     the metadata block of every vector long enough to hold one, after the
              byte that picks the frame type it is validated for (src/metadata.rs).
connection:   every session of spec/vectors/sessions.json (each alternative apart) as a
              script in the format of src/session/script.rs: the peer's bytes and the
              commands, in order; what the session expects is left to the invariants.
              Then every frame vector after the peer's preface and HELLO, to each side.

Seeds are generated, never committed: the vectors are the source of truth.
"""

import itertools
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"

PREFACE = bytes([0x8B, ord("M"), ord("X"), ord("W"), 0x0D, 0x0A, 0x1A, 0x0A])
SETTING_TAGS = {
    "min_version": 1, "max_frame_size": 2, "max_message_size": 3,
    "max_metadata_size": 4, "max_concurrent_streams": 5, "initial_stream_window": 6,
    "initial_connection_window": 7, "compression": 8, "features": 9,
    "idle_timeout_ms": 10,
}
# Frame type -> index of its carrier in src/metadata.rs.
CARRIER = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 8: 5}

# Opcodes of src/session/script.rs.
RECV, ADVANCE, CALL, SEND, STATUS, CANCEL, CONSUME, PING, DRAIN = range(9)
EOF_OP, PEER_FRAME = 10, 11


def frame_seeds():
    frames = json.loads((VECTORS / "frames.json").read_text())
    for group in frames["testGroups"]:
        for case in group["tests"]:
            yield case["tcId"], bytes.fromhex(case["input"])


def metadata_seeds():
    for tc, data in frame_seeds():
        if len(data) < 16:
            continue
        ty = data[4]
        meta_len = struct.unpack_from("<H", data, 6)[0]
        block = data[16:16 + meta_len]
        if ty in CARRIER and block:
            yield tc, bytes([CARRIER[ty]]) + block


def hello(settings):
    meta = b"".join(struct.pack("<HHI", SETTING_TAGS[k], 4, v) for k, v in settings.items())
    header = struct.pack("<IBBHII", len(meta), 1, 0, len(meta), 0, 1)
    return PREFACE + header + meta


def header(session):
    """The script's 3-byte configuration header for a session's config."""
    cfg = session.get("config", {})
    a = 1 if session["side"] == "acceptor" else 0
    if cfg.get("features", 0) & 1:
        a |= 1 << 2
    if cfg.get("idle_timeout_ms"):
        a |= 1 << 4
    if cfg.get("initial_stream_window", 1 << 20) <= 65536:
        a |= 1 << 5
    if cfg.get("max_message_size", 1 << 22) <= 4096:
        a |= 1 << 6
    if min(cfg.get("control_budget", 1000), cfg.get("cancel_budget", 1000)) < 100:
        a |= 1 << 7
    streams = cfg.get("max_concurrent_streams", 100)
    b = 0xF0 | (streams if streams < 16 else 0)
    c = session["sId"] % 2  # half end with close, half with the peer's EOF
    return bytes([a, b, c])


def sel(stream):
    return stream if stream < 0x80 else 0x80


def step_bytes(step):
    if "recv" in step:
        data = bytes.fromhex(step["recv"])
        out = b""
        for i in range(0, len(data), 0xFFFF):
            chunk = data[i:i + 0xFFFF]
            out += bytes([RECV]) + struct.pack("<H", len(chunk)) + chunk
        return out
    if "advance_us" in step:
        return bytes([ADVANCE]) + struct.pack("<I", min(step["advance_us"], 0xFFFFFFFF))
    if "eof" in step:
        return bytes([EOF_OP])
    if "recv_ping_ack" in step:
        # A PING with ACK answering the last PING written (meta bit 6).
        return bytes([PEER_FRAME, 7, 0x20, 0]) + struct.pack("<I", 0) + bytes([0x40]) + b"\0\0"
    if "command" not in step:
        return b""  # sent, events, closed: expectations, left to the invariants
    c = step["command"]
    op = c["op"]
    body = min(len(c.get("body", "")) // 2, 0xFFFE)  # 0xFFFF means no message
    if op == "call":
        flags = (1 if c.get("end_stream") else 0) | (2 if c.get("one_way") else 0)
        out = struct.pack("<H", body)
        if "deadline_us" in c:
            flags |= 4
            out += struct.pack("<I", min(c["deadline_us"], 0xFFFFFFFF))
        return bytes([CALL, flags]) + out
    if op == "send":
        flags = (1 if c.get("end_stream") else 0) | (2 if "body" in c else 0)
        flags |= 4 if c.get("more") else 0
        return bytes([SEND, sel(c["stream"]), flags]) + struct.pack("<H", body)
    if op == "status":
        flags = 1 if "body" in c else 0
        return bytes([STATUS, sel(c["stream"]), c["code"] % 256, flags]) + struct.pack("<H", body)
    if op == "cancel":
        return bytes([CANCEL, sel(c["stream"]), c["code"] % 256])
    if op == "consume":
        return bytes([CONSUME, sel(c["stream"]), 0]) + struct.pack("<I", c["n"])
    if op == "ping":
        return bytes([PING])
    if op == "drain":
        return bytes([DRAIN])
    raise SystemExit(f"seeds.py: unknown command {op!r}")


def connection_seeds():
    sessions = json.loads((VECTORS / "sessions.json").read_text())["sessions"]
    for s in sessions:
        start = header(s)
        if s["handshake"] == "auto":
            start += step_bytes({"recv": hello(s.get("peer_settings", {})).hex()})
        common = b"".join(step_bytes(st) for st in s["steps"])
        for i, alt in enumerate(s.get("alternatives") or [[]]):
            yield f"{s['sId']}-{i}", start + common + b"".join(step_bytes(st) for st in alt)


def frame_session_seeds():
    for tc, data in frame_seeds():
        for side in (0, 1):
            script = bytes([side, 0xF0, 0]) + step_bytes({"recv": hello({}).hex()})
            yield f"frame-{tc}-{side}", script + step_bytes({"recv": data.hex()})


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = pathlib.Path(sys.argv[1])
    targets = {
        "frame_decode": frame_seeds(),
        "metadata": metadata_seeds(),
        "connection": itertools.chain(connection_seeds(), frame_session_seeds()),
    }
    for target, seeds in targets.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        n = 0
        for name, data in seeds:
            (d / f"vector-{name}").write_bytes(data)
            n += 1
        print(f"seeds: {n} for {target}")


if __name__ == "__main__":
    main()
