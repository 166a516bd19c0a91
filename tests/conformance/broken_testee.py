#!/usr/bin/env python3
"""A deliberately broken testee for `muxwire conformance adapter`.

It relays the adapter protocol (spec/CONFORMANCE.md) to the reference testee
(`MUXWIRE conformance testee`) and gets a few things wrong on purpose, so that the
runner's test can check that exactly the right vectors fail:

- decode: a WINDOW frame's Argument (its increment) is reported one too high;
- sessions: `half_closed` events are never reported;
- commands: a `blocked` rejection is reported as `invalid_state`;
- decode of the empty input hangs (the runner's answer timeout must end it);
- decode of the 1-byte input 0d crashes the process with status 3 (the runner must
  report it and restart the testee for the next vector).

Usage: broken_testee.py PATH_TO_MUXWIRE
"""

import json
import os
import struct
import subprocess
import sys
import time

WINDOW = 6


def read_message(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return json.loads(stream.read(n))


def write_message(stream, value):
    data = json.dumps(value).encode()
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def main():
    reference = subprocess.Popen(
        [sys.argv[1], "conformance", "testee"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    runner_in, runner_out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        req = read_message(runner_in)
        if req is None:
            break
        if req.get("op") == "decode" and req.get("input") == "":
            time.sleep(3600)
        if req.get("op") == "decode" and req.get("input") == "0d":
            os._exit(3)
        write_message(reference.stdin, req)
        answer = read_message(reference.stdout)
        if req.get("op") == "hello":
            answer["name"] = "broken-on-purpose"
        if req.get("op") == "decode" and answer.get("result") == "frame" and answer["type"] == WINDOW:
            answer["arg"] += 1
        if req.get("op") == "events":
            answer["events"] = [e for e in answer["events"] if e["event"] != "half_closed"]
        if req.get("op") == "command" and answer.get("rejected") == "blocked":
            answer["rejected"] = "invalid_state"
        write_message(runner_out, answer)
    reference.stdin.close()
    reference.wait()


if __name__ == "__main__":
    main()
