#!/usr/bin/env python3
"""Validates spec/vectors/frames.json and sessions.json against their JSON Schemas and
checks the invariants a schema cannot express: consecutive ids, flags explained in
`notes`, counts."""

import json
import os
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")


def main():
    doc = json.load(open(os.path.join(VECTORS, "frames.json"), encoding="utf-8"))
    schema = json.load(open(os.path.join(VECTORS, "frames.schema.json"), encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    problems = [f"schema: {e.message} at {list(e.absolute_path)}" for e in errors[:20]]
    tests = [t for g in doc["testGroups"] for t in g["tests"]]
    if [t["tcId"] for t in tests] != list(range(1, len(tests) + 1)):
        problems.append("tcIds are not 1..N in order")
    if doc["numberOfTests"] != len(tests):
        problems.append("numberOfTests is wrong")
    for t in tests:
        for flag in t["flags"]:
            if flag not in doc["notes"]:
                problems.append(f"tcId {t['tcId']}: flag {flag} has no note")
    problems += check_sessions()
    for p in problems:
        print("vectors:", p, file=sys.stderr)
    print(f"schema: {len(tests)} frame vectors and sessions checked, {len(problems)} problems")
    return 1 if problems else 0


def check_sessions():
    doc = json.load(open(os.path.join(VECTORS, "sessions.json"), encoding="utf-8"))
    schema = json.load(open(os.path.join(VECTORS, "sessions.schema.json"), encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    problems = [f"sessions schema: {e.message} at {list(e.absolute_path)}" for e in errors[:20]]
    sessions = doc["sessions"]
    if [s["sId"] for s in sessions] != list(range(1, len(sessions) + 1)):
        problems.append("sIds are not 1..N in order")
    if doc["numberOfSessions"] != len(sessions):
        problems.append("numberOfSessions is wrong")
    for s in sessions:
        for flag in s["flags"]:
            if flag not in doc["notes"]:
                problems.append(f"sId {s['sId']}: flag {flag} has no note")
    return problems


if __name__ == "__main__":
    sys.exit(main())
