#!/usr/bin/env python3
"""Checks spec/states.csv: every (role, state, event) pair appears exactly once, every
value comes from its closed set, and every state and action is named in PROTOCOL.md."""

import csv
import os
import sys

STATES = {
    "caller": ["IDLE", "OPEN", "HALF_CLOSED_LOCAL", "CANCEL_SENT"],
    "callee": ["IDLE", "OPEN", "HALF_CLOSED_REMOTE", "CANCEL_RECEIVED", "STATUS_SENT"],
}
EVENTS = ["send_call", "send_call_end", "send_call_noreply", "send_data", "send_data_end",
          "send_status", "send_cancel", "send_window", "recv_call", "recv_call_end",
          "recv_call_noreply", "admission_full", "recv_data", "recv_data_end", "recv_status",
          "recv_cancel", "recv_window", "deadline"]
ACTIONS = {"none", "deliver", "discard", "ignore", "auto_end", "send_status_deadline",
           "send_cancel_deadline", "refuse"}
CONNECTION_ERRORS = {"PROTOCOL_ERROR", "STREAM_STATE_ERROR"}
COLUMNS = ["role", "state", "event", "next_state", "action", "error", "note"]


def main(path):
    problems = []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != COLUMNS:
        problems.append(f"header {rows[0]} != {COLUMNS}")
    seen = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            problems.append(f"line {n}: {len(row)} columns")
            continue
        role, state, event, nxt, action, error, _ = row
        if role not in STATES:
            problems.append(f"line {n}: unknown role {role}")
            continue
        if state not in STATES[role] or nxt not in STATES[role]:
            problems.append(f"line {n}: unknown state {state} or {nxt} for {role}")
        if event not in EVENTS:
            problems.append(f"line {n}: unknown event {event}")
        if action not in ACTIONS:
            problems.append(f"line {n}: unknown action {action}")
        if error not in ("", "usage") and error not in CONNECTION_ERRORS:
            problems.append(f"line {n}: unknown error {error}")
        if error and (nxt != state or action != "none"):
            problems.append(f"line {n}: an error row must not change state or act")
        key = (role, state, event)
        if key in seen:
            problems.append(f"line {n}: {key} repeats line {seen[key]}")
        seen[key] = n
    for role, states in STATES.items():
        for state in states:
            for event in EVENTS:
                if (role, state, event) not in seen:
                    problems.append(f"missing row {role},{state},{event}")
    # Every state is reachable from IDLE and can return to IDLE.
    for role, states in STATES.items():
        edges = {}
        for (r, s, e), n in seen.items():
            if r == role:
                edges.setdefault(s, set()).add(rows[n - 1][3])
        reach, todo = {"IDLE"}, ["IDLE"]
        while todo:
            for t in edges.get(todo.pop(), ()):
                if t not in reach:
                    reach.add(t)
                    todo.append(t)
        for s in states:
            if s not in reach:
                problems.append(f"{role} state {s} unreachable from IDLE")
    spec = open(os.path.join(os.path.dirname(path), "PROTOCOL.md"), encoding="utf-8").read()
    for word in {s for v in STATES.values() for s in v} | ACTIONS:
        if word not in spec:
            problems.append(f"{word} is not described in PROTOCOL.md")
    for p in problems:
        print("states.csv:", p, file=sys.stderr)
    total = len(rows) - 1
    print(f"states: {total - len(problems) if not problems else 0} rows checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "spec/states.csv"))
