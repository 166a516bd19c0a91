#!/usr/bin/env python3
"""Checks spec/states.csv against itself and against PROTOCOL.md.

Against itself: every (role, state, event) appears exactly once, every value comes from
its closed set, every state is reachable from IDLE and can return to IDLE, and each kind
of event only has the actions and errors that make sense for it (usage errors only for
local commands, connection errors only for received frames, `refuse` only for
admission_full, ...).

Against PROTOCOL.md: the states are the ones section 8.2 lists, the actions the ones
section 8.3 lists, the table size the one 8.3 states, error codes are section 9.2
connection error codes, every event's frame type is a section 5 frame type, the
directions of section 8.1 hold (a frame a role never sends is a usage error for it, a
frame it never receives is a connection error), section 7's rules for CALLs on the wrong
parity or an open stream and its table of frames for a stream that is not open hold, and
every transition drawn in section 8.2's diagram is a row.

Shown to fail (each on a copy of states.csv next to a copy of PROTOCOL.md): CANCEL_SENT
made a trap (its recv_status row going to CANCEL_SENT) fails "cannot return to IDLE" and
the diagram check; a `callee,OPEN,send_cancel` row without `usage` fails the direction
check; a duplicated row fails "repeats"; an `admission_full` row with `deliver` fails the
action check; `callee,IDLE,recv_cancel` as STREAM_STATE_ERROR fails the section 7 table.
"""

import csv
import os
import re
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
COLUMNS = ["role", "state", "event", "next_state", "action", "error", "note"]
PEER = {"caller": "callee", "callee": "caller"}

# The frame each event sends or receives, and whether it carries END_STREAM.
FRAME = {"call": ("CALL", False), "call_end": ("CALL", True), "call_noreply": ("CALL", True),
         "data": ("DATA", False), "data_end": ("DATA", True), "status": ("STATUS", False),
         "cancel": ("CANCEL", False), "window": ("WINDOW", False)}


def frame_of(event):
    """(direction, frame type, END_STREAM) of an event; None for `deadline`."""
    if event == "admission_full":
        return ("recv",) + FRAME["call_end"]
    if event == "deadline":
        return None
    way, _, kind = event.partition("_")
    return (way,) + FRAME[kind]


def section(spec, number):
    """The text of section `number` (e.g. "8.2") up to the next heading."""
    m = re.search(rf"^#+ {re.escape(number)}\b.*?$(.*?)(?=^#)", spec, re.S | re.M)
    return m.group(1) if m else ""


class Spec:
    """What PROTOCOL.md says that the table must agree with."""

    def __init__(self, text, problems):
        self.text = text
        s82, s83 = section(text, "8.2"), section(text, "8.3")
        # Section 8.2: "Caller states: IDLE, OPEN (...), ..."
        self.states = {}
        for role in STATES:
            m = re.search(rf"{role.capitalize()} states:(.*?)\.\n", s82, re.S)
            body = re.sub(r"\([^)]*\)", "", m.group(1)) if m else ""
            self.states[role] = [w.strip() for w in body.split(",") if w.strip()]
        # Section 8.3: the action column's backticked names.
        m = re.search(r"^\| action \|(.*)$", s83, re.M)
        self.actions = set(re.findall(r"`([a-z_]+)`", m.group(1))) if m else set()
        m = re.search(r"one row for each of the (\d+) x (\d+) caller and\s+(\d+) x (\d+) callee",
                      s83)
        self.sizes = ({"caller": (int(m[1]), int(m[2])), "callee": (int(m[3]), int(m[4]))}
                      if m else {})
        # Section 9.2: connection error code names.
        self.errors = set(re.findall(r"^\| \d+ \| ([A-Z_]+) \|", section(text, "9.2"), re.M))
        # Section 5: frame type names.
        self.frames = set(re.findall(r"^\| 0x[0-9A-F]{2} \| ([A-Z]+) \|", section(text, "5"),
                                     re.M))
        # Section 8.1: "- caller to callee: CALL (once, first), DATA, CANCEL, WINDOW;"
        self.sends = {}
        for role in STATES:
            m = re.search(rf"^- {role} to {PEER[role]}: (.*?)[;.]$", section(text, "8.1"), re.M)
            # frame -> may carry END_STREAM
            self.sends[role] = {
                name: "never with END_STREAM" not in note
                for name, note in re.findall(r"([A-Z]+)(?: \(([^)]*)\))?", m.group(1) if m else "")
            }
        self.diagram = self.parse_diagram(s82)
        self.not_open = self.parse_not_open(section(text, "7"))
        for what, got in [("states", self.states.get("caller")), ("actions", self.actions),
                          ("table size", self.sizes), ("error codes", self.errors),
                          ("frame types", self.frames), ("directions", self.sends["caller"]),
                          ("transition diagram", self.diagram),
                          ("not-open table", self.not_open)]:
            if not got:
                problems.append(f"PROTOCOL.md: could not read the {what}")

    @staticmethod
    def parse_not_open(s7):
        """Section 7's table of frames for a stream that is not open, as (role, event,
        action, error) tuples for the IDLE rows."""
        events = {"DATA": ["recv_data", "recv_data_end"], "CANCEL": ["recv_cancel"],
                  "STATUS": ["recv_status"], "WINDOW": ["recv_window"]}
        out = []
        for line in s7.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 3 or not all(f in events for f in cells[0].split(", ")):
                continue
            for role, cell in (("callee", cells[1]), ("caller", cells[2])):
                outcome = ("ignore", "") if cell.startswith("ignored") else ("none", cell)
                for frame in cells[0].split(", "):
                    out += [(role, ev) + outcome for ev in events[frame]]
        return out

    @staticmethod
    def parse_diagram(s82):
        """Section 8.2's diagram as (role, state, event, next) tuples."""
        m = re.search(r"```(?:text)?\n(.*?)```", s82, re.S)
        if not m:
            return []
        short = {"HCL": "HALF_CLOSED_LOCAL", "HCR": "HALF_CLOSED_REMOTE"}
        label = {"send CALL": ["send_call"], "send CALL+END": ["send_call_end"],
                 "send END_STREAM": ["send_data_end"], "send CANCEL": ["send_cancel"],
                 "send STATUS": ["send_status"], "recv STATUS [send END]": ["recv_status"],
                 "recv STATUS": ["recv_status"], "recv CALL": ["recv_call"],
                 "recv CALL+END": ["recv_call_end"], "recv END_STREAM": ["recv_data_end"],
                 "recv CANCEL": ["recv_cancel"],
                 "recv END_STREAM|CANCEL": ["recv_data_end", "recv_cancel"]}
        out = []
        for line in m.group(1).splitlines():
            for t in re.finditer(r"(\S+) --(.+?)--> (\S+)", line):
                # The callee column starts at character 44.
                role = "caller" if t.start() < 40 else "callee"
                events = label.get(t.group(2))
                if events is None:
                    out.append((role, "?", t.group(2), "?"))
                    continue
                for src in t.group(1).split("|"):
                    for ev in events:
                        out.append((role, short.get(src, src), ev,
                                    short.get(t.group(3), t.group(3))))
        return out


def check_row(n, row, spec, problems):
    role, state, event, nxt, action, error, _ = row
    if role not in STATES:
        problems.append(f"line {n}: unknown role {role}")
        return False
    if state not in STATES[role] or nxt not in STATES[role]:
        problems.append(f"line {n}: unknown state {state} or {nxt} for {role}")
    if event not in EVENTS:
        problems.append(f"line {n}: unknown event {event}")
        return False
    if action not in ACTIONS:
        problems.append(f"line {n}: unknown action {action}")
    if error not in ("", "usage") and error not in spec.errors:
        problems.append(f"line {n}: {error} is not a connection error code of section 9.2")
    if error and (nxt != state or action != "none"):
        problems.append(f"line {n}: an error row must not change state or act")
    local = event.startswith("send_")
    # Which errors and actions each kind of event can have.
    if error == "usage" and not local:
        problems.append(f"line {n}: only a local command can be a usage error")
    if error not in ("", "usage") and not (event.startswith("recv_") or event == "admission_full"):
        problems.append(f"line {n}: only a received frame can be a connection error")
    allowed = {
        "send": {"none"},
        "recv": {"none", "deliver", "discard", "ignore"} | ({"auto_end"} if role == "caller" and event == "recv_status" else set()),
        "admission_full": {"none", "refuse"},
        "deadline": {"none", "send_cancel_deadline" if role == "caller" else "send_status_deadline"},
    }
    kind = event if event in ("admission_full", "deadline") else event.split("_")[0]
    if action not in allowed[kind]:
        problems.append(f"line {n}: action {action} cannot follow {event} for a {role}")
    if event == "deadline" and error:
        problems.append(f"line {n}: a deadline is never an error")
    # Section 8.1 directions.
    f = frame_of(event)
    if f:
        way, ty, end = f
        if ty not in spec.frames:
            problems.append(f"line {n}: {ty} is not a frame type of section 5")
        sender = role if way == "send" else PEER[role]
        may = ty in spec.sends.get(sender, {}) and (not end or spec.sends[sender][ty])
        if not may and way == "send" and error != "usage":
            problems.append(f"line {n}: section 8.1: a {role} never sends {event[5:]}, "
                            f"so it must be a usage error")
        if not may and way == "recv" and error in ("", "usage"):
            problems.append(f"line {n}: section 8.1: a {sender} never sends {event[5:]}, "
                            f"so receiving it must be a connection error")
    return True


def check_graph(seen, problems):
    """Every state reachable from IDLE, and IDLE reachable from every state."""
    for role, states in STATES.items():
        edges = {}
        for (r, s, _e), nxt in seen.items():
            if r == role:
                edges.setdefault(s, set()).add(nxt)

        def reach(start, step):
            found, todo = {start}, [start]
            while todo:
                for t in step(todo.pop()):
                    if t not in found:
                        found.add(t)
                        todo.append(t)
            return found

        forward = reach("IDLE", lambda s: edges.get(s, ()))
        backward = reach("IDLE", lambda t: [s for s, ts in edges.items() if t in ts])
        for s in states:
            if s not in forward:
                problems.append(f"{role} state {s} unreachable from IDLE")
            if s not in backward:
                problems.append(f"{role} state {s} cannot return to IDLE")


def main(path):
    problems = []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    text = open(os.path.join(os.path.dirname(path), "PROTOCOL.md"), encoding="utf-8").read()
    spec = Spec(text, problems)
    for role in STATES:
        if spec.states.get(role) != STATES[role]:
            problems.append(f"PROTOCOL.md section 8.2 lists {role} states "
                            f"{spec.states.get(role)}, the checker {STATES[role]}")
        if spec.sizes and spec.sizes[role] != (len(STATES[role]), len(EVENTS)):
            problems.append(f"PROTOCOL.md section 8.3 says {spec.sizes[role]} {role} rows")
    if spec.actions and spec.actions != ACTIONS:
        problems.append(f"PROTOCOL.md section 8.3 lists actions {sorted(spec.actions)}")
    if rows[0] != COLUMNS:
        problems.append(f"header {rows[0]} != {COLUMNS}")
    seen, line = {}, {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            problems.append(f"line {n}: {len(row)} columns")
            continue
        if not check_row(n, row, spec, problems):
            continue
        key = tuple(row[:3])
        if key in seen:
            problems.append(f"line {n}: {key} repeats line {line[key]}")
        seen[key], line[key] = row[3], n
    for role, states in STATES.items():
        for state in states:
            for event in EVENTS:
                if (role, state, event) not in seen:
                    problems.append(f"missing row {role},{state},{event}")
    check_graph(seen, problems)
    for role, state, event, nxt in spec.diagram:
        got = seen.get((role, state, event))
        if got != nxt:
            problems.append(f"PROTOCOL.md section 8.2 draws {role} {state} --{event}--> {nxt}, "
                            f"states.csv says {got}")
    for role, event, action, error in spec.not_open:
        got = next((r[4:6] for r in rows[1:] if r[:3] == [role, "IDLE", event]), None)
        if got != [action, error]:
            problems.append(f"PROTOCOL.md section 7: {event} for a stream not open at the "
                            f"{role} is {action} {error}, states.csv says {got}")
    # Section 7: a CALL with the receiver's own parity, or on an open stream.
    for (role, state, event), _nxt in seen.items():
        if not (event.startswith("recv_call") or event == "admission_full"):
            continue
        want = ("PROTOCOL_ERROR" if role == "caller" else
                "STREAM_STATE_ERROR" if state != "IDLE" else None)
        got = rows[line[(role, state, event)] - 1][5]
        if want and got != want:
            problems.append(f"PROTOCOL.md section 7: {role},{state},{event} must be {want}, "
                            f"states.csv says {got or 'no error'}")
    for p in problems:
        print("states.csv:", p, file=sys.stderr)
    print(f"states: {len(rows) - 1} rows, {len(spec.diagram)} diagram transitions checked, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "spec/states.csv"))
