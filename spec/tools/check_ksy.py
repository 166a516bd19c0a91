#!/usr/bin/env python3
"""Checks spec/muxwire.ksy against the frame decode vectors (spec/vectors/frames.json).

Needs the Python parser generated from the .ksy (spec/tools/ksy/compile.js) and the
Kaitai Struct runtime (PyPI `kaitaistruct==0.11`). spec/tools/check_ksy.sh does all of
it in one command.

How each vector is judged (the parser reads ONE frame from the start of `input`;
bytes after the frame are ignored):

  valid, acceptable   must parse, and every field of `expect` must match;
  invalid             layer "frame" or "metadata": must fail with a Kaitai validation
                      error, at a field whose `-error-code` annotation in the .ksy is
                      the vector's error code; layer "crc" or "metadata-value":
                      skipped (the .ksy cannot compute CRC-32 and does not check
                      every value rule);
  incomplete          must fail with an end-of-stream error (the frame needs more bytes).

The last line is `ksy: N passed, M failed, K skipped`; the exit status is 1 if a
vector failed (or none was checked), 2 on a usage or setup error.
"""

import argparse
import json
import os
import sys
from enum import IntEnum

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_VECTORS = os.path.join(REPO, "spec", "vectors", "frames.json")
DEFAULT_PARSER_DIR = os.path.join(REPO, "target", "ksy")

SKIPPED_LAYERS = {"crc", "metadata-value"}
CHECKED_LAYERS = {"frame", "metadata"}
EXPECT_FIELDS = {
    "frame_len", "type", "type_name", "flags", "meta_len", "stream_id", "arg",
    "metadata", "body", "crc", "payload",
}


class Mismatch(Exception):
    pass


def load_parser(parser_dir):
    sys.path.insert(0, parser_dir)
    try:
        import kaitaistruct  # noqa: F401
    except ImportError:
        sys.exit("check_ksy: the Kaitai Struct runtime is missing (pip install kaitaistruct==0.11)")
    try:
        from muxwire_frame import MuxwireFrame
    except ImportError as e:
        sys.exit("check_ksy: cannot import the generated parser from %s: %s "
                 "(run spec/tools/ksy/compile.js first)" % (parser_dir, e))
    return MuxwireFrame


def load_error_codes(parser_dir):
    """Maps a validation error's src_path (e.g. /types/tlv/seq/1) to the
    `-error-code` of that field, using the JSON copy of the .ksy that compile.js
    writes next to the parser. None if that file is missing."""
    path = os.path.join(parser_dir, "muxwire_frame.ksy.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def error_field(spec, src_path):
    """(field id, error code or None) for a Kaitai src_path in the .ksy."""
    node = spec
    try:
        for part in src_path.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        return src_path, None
    code = node.get("-error-code")
    return node.get("id", src_path), code.upper() if code else None


def parse(MuxwireFrame, data, max_frame_size):
    from kaitaistruct import KaitaiStream, BytesIO
    return MuxwireFrame(max_frame_size, KaitaiStream(BytesIO(data)))


def compare(frame, expect):
    """Raises Mismatch naming the first expect field that differs from the parse."""

    def eq(field, got, want):
        if got != want:
            raise Mismatch("%s: ksy gives %r, vector expects %r" % (field, got, want))

    unknown = sorted(set(expect) - EXPECT_FIELDS)
    if unknown:
        raise Mismatch("expect has fields this check does not know: %s" % ", ".join(unknown))

    if "frame_len" in expect:
        eq("frame_len", frame.frame_len, expect["frame_len"])
        eq("frame_len (bytes consumed)", frame._io.pos(), expect["frame_len"])
    if "type" in expect:
        eq("type", int(frame.type), expect["type"])
    if "type_name" in expect:
        # Core types have an enum name; extension types (0x80..0xFF) have none
        # in the .ksy, whatever name the vector gives them.
        if isinstance(frame.type, IntEnum):
            eq("type_name", frame.type.name.upper(), expect["type_name"])
        elif not frame.is_extension:
            raise Mismatch("type_name: ksy has no name for type %d, vector says %r"
                           % (int(frame.type), expect["type_name"]))
    for field in ("flags", "meta_len", "stream_id", "arg"):
        if field in expect:
            eq(field, getattr(frame, field), expect[field])
    if "crc" in expect:
        eq("crc", frame.has_crc, bool(expect["crc"]))
        if frame.has_crc and not isinstance(frame.crc, int):
            raise Mismatch("crc: flag set but no trailer parsed")
    if "metadata" in expect:
        if not frame.is_core:
            raise Mismatch("metadata: expected for a frame the ksy parses as extension")
        got = [(int(t.tag), t.value.hex()) for t in frame.metadata]
        want = [(m["tag"], m["value"].lower()) for m in expect["metadata"]]
        eq("metadata", got, want)
    if "body" in expect:
        if not frame.is_core:
            raise Mismatch("body: expected for a frame the ksy parses as extension")
        eq("body", frame.body.hex(), expect["body"].lower())
    if "payload" in expect:
        if not frame.is_extension:
            raise Mismatch("payload: expected for a frame the ksy does not parse as extension")
        eq("payload", frame.ext_payload.hex(), expect["payload"].lower())


def check_one(MuxwireFrame, spec, test, max_frame_size):
    """Returns ("pass" | "fail" | "skip", reason)."""
    from kaitaistruct import EndOfStreamError, ValidationFailedError

    result = test.get("result")
    try:
        data = bytes.fromhex(test["input"])
    except (KeyError, ValueError) as e:
        return "fail", "bad input hex: %s" % e

    if result == "invalid":
        layer = (test.get("error") or {}).get("layer")
        if layer in SKIPPED_LAYERS:
            return "skip", "layer %s is not checked by the ksy" % layer
        if layer not in CHECKED_LAYERS:
            return "fail", "unknown error layer %r" % layer

    try:
        frame = parse(MuxwireFrame, data, max_frame_size)
        error = None
    except (ValidationFailedError, EndOfStreamError) as e:
        frame, error = None, e
    except Exception as e:  # a bug in the .ksy or the generated code
        return "fail", "parser crashed: %s: %s" % (type(e).__name__, e)

    if result in ("valid", "acceptable"):
        if error is not None:
            return "fail", "rejected a %s frame: %s: %s" % (result, type(error).__name__, error)
        try:
            compare(frame, test.get("expect") or {})
        except Mismatch as e:
            return "fail", str(e)
        except Exception as e:
            return "fail", "reading a field crashed: %s: %s" % (type(e).__name__, e)
        return "pass", ""
    if result == "invalid":
        code = (test.get("error") or {}).get("code")
        if error is None:
            return "fail", "accepted a frame the vector rejects with %s" % code
        if isinstance(error, EndOfStreamError):
            return "fail", "wanted a validation error (%s), got end of stream: %s" % (code, error)
        if spec is not None:
            field, got = error_field(spec, getattr(error, "src_path", "") or "")
            if got != code:
                return "fail", "rejected by %s (%s), the vector says %s" % (field, got, code)
        return "pass", ""
    if result == "incomplete":
        if error is None:
            return "fail", "accepted an incomplete frame (needed %s more bytes)" % test.get("needed")
        if not isinstance(error, EndOfStreamError):
            return "fail", "wanted end of stream, got %s: %s" % (type(error).__name__, error)
        return "pass", ""
    return "fail", "unknown result %r" % result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", default=DEFAULT_VECTORS, help="frames.json (default: %(default)s)")
    ap.add_argument("--parser-dir", default=DEFAULT_PARSER_DIR,
                    help="directory with the generated muxwire_frame.py (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every vector, not only failures")
    args = ap.parse_args()

    MuxwireFrame = load_parser(args.parser_dir)
    spec = load_error_codes(args.parser_dir)
    if spec is None:
        print("note: no muxwire_frame.ksy.json beside the parser; error codes are not compared")
    try:
        with open(args.vectors, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("check_ksy: cannot read %s: %s" % (args.vectors, e), file=sys.stderr)
        return 2

    counts = {"pass": 0, "fail": 0, "skip": 0}
    seen = 0
    for group in doc.get("testGroups", []):
        tests = group.get("tests", [])
        seen += len(tests)
        if group.get("type") != "FrameDecode":
            counts["skip"] += len(tests)
            print("skip group of type %r (%d tests)" % (group.get("type"), len(tests)))
            continue
        mfs = group.get("max_frame_size", doc.get("max_frame_size", 16384))
        for test in tests:
            status, reason = check_one(MuxwireFrame, spec, test, test.get("max_frame_size", mfs))
            counts[status] += 1
            if status == "fail" or args.verbose:
                print("%s tcId %s (%s, %s): %s" % (
                    status.upper(), test.get("tcId"), test.get("result"),
                    test.get("comment", ""), reason or "ok"))

    declared = doc.get("numberOfTests")
    if declared is not None and declared != seen:
        print("note: numberOfTests says %s, the file has %d tests" % (declared, seen))
    print("ksy: %d passed, %d failed, %d skipped" % (counts["pass"], counts["fail"], counts["skip"]))
    return 1 if counts["fail"] or not counts["pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
