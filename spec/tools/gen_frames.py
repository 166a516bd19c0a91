#!/usr/bin/env python3
"""Generates spec/vectors/frames.json from the hand-written cases below.

Every case states its bytes through a tiny encoder written here from PROTOCOL.md alone
(independent of the Rust codec), and states its expected outcome by hand: the decoded
fields of a valid frame are the fields it was built from, and the error of an invalid one
is the code PROTOCOL.md section 17 assigns. Nothing here decodes anything.

    gen_frames.py OUT.json          write the file
    gen_frames.py --check OUT.json  fail if the committed file differs from the cases
"""

import json
import struct
import sys
import zlib

MAX_FRAME_SIZE = 16384

# Frame types (section 5).
HELLO, CALL, DATA, STATUS, CANCEL, WINDOW, PING, GOAWAY = range(1, 9)
TYPE_NAMES = {1: "HELLO", 2: "CALL", 3: "DATA", 4: "STATUS", 5: "CANCEL", 6: "WINDOW",
              7: "PING", 8: "GOAWAY"}

# Flags (section 4.2).
END, MSG, MORE, LZ4, ZSTD, CODEC3 = 0x01, 0x02, 0x04, 0x08, 0x10, 0x18
NO_REPLY = REFUSED = ACK = 0x20
RSV, CRC = 0x40, 0x80

# Tags (section 6.3).
MIN_VERSION, MAX_FRAME, MAX_MESSAGE, MAX_META, MAX_STREAMS = 1, 2, 3, 4, 5
STREAM_WINDOW, CONN_WINDOW, COMPRESSION, FEATURES, IDLE = 6, 7, 8, 9, 10
METHOD, DEADLINE, REASON, DETAILS, ENTRY = 0x10, 0x11, 0x12, 0x13, 0x14
AGENT, TRACE = 0x4001, 0x4002

# Connection error codes (section 9.2).
CODES = {"NO_ERROR": 0, "PROTOCOL_ERROR": 1, "INTERNAL_ERROR": 2, "FLOW_CONTROL_ERROR": 3,
         "FRAME_SIZE_ERROR": 4, "STREAM_STATE_ERROR": 5, "CRC_ERROR": 6,
         "COMPRESSION_ERROR": 7, "VERSION_ERROR": 8, "HANDSHAKE_ERROR": 9,
         "METADATA_ERROR": 10, "ENHANCE_YOUR_CALM": 11, "TIMEOUT": 12}

NOTES = {
    "Hello": "HELLO frame and its settings (sections 3.4, 5.1)",
    "Unary": "the one-frame-each-way unary fast path (CALL with END_STREAM|MESSAGE, STATUS with MESSAGE)",
    "Streaming": "frames of a streaming call: CALL without END_STREAM, DATA, half-close",
    "OneWay": "one-way call: CALL with NO_REPLY (section 5.2)",
    "Chunk": "a message split over frames with MORE (section 8.4) and the MIN_CHUNK rule",
    "Codec": "CODEC flag bits (section 10); the codec layer does not decompress",
    "Crc": "CRC-32 trailer (section 11)",
    "CrcMismatch": "the CRC trailer does not match; CRC is checked before every other rule but the size",
    "Status": "STATUS frame and status codes (sections 5.4, 9.1)",
    "Cancel": "CANCEL frame (sections 5.5, 13)",
    "Window": "WINDOW frame (sections 5.6, 14)",
    "Ping": "PING frame (sections 5.7, 15.1)",
    "Goaway": "GOAWAY frame (sections 5.8, 15.3)",
    "Extension": "extension frame type >= 0x80: skipped, nothing but size and CRC interpreted (section 19.3)",
    "ReservedType": "type 0x00 or a reserved core type (section 5)",
    "ReservedBits": "a flag bit the type does not define (section 4.1)",
    "FlagRule": "a flag combination rule of section 4.2",
    "StreamIdRule": "the stream-id rule of the frame type (section 5)",
    "ArgumentRule": "the Argument rule of the frame type (section 17 step 11)",
    "PayloadSize": "a size rule for a frame part (section 5, section 17 step 9)",
    "Boundary": "a length exactly at, or one past, a limit",
    "Truncated": "not enough bytes yet: incomplete, not an error (section 17 steps 1 and 3)",
    "TrailingBytes": "the input holds more than one frame; only frame_len bytes belong to it",
    "Metadata": "metadata TLV structure (section 6.1)",
    "MetadataOverrun": "metadata length or a TLV overruns its container",
    "WellKnownTag": "a well-known tag (section 6.3)",
    "IgnorableTag": "a tag in an ignorable range, skipped (section 6.2)",
    "UnknownTag": "an unknown must-understand tag (section 6.2)",
    "MisplacedTag": "a known tag in a frame type that does not list it",
    "RepeatedTag": "a tag that may appear once appears twice",
    "SettingRange": "a setting value outside its range (section 3.4)",
    "Entry": "ENTRY application metadata (section 6.3)",
    "ValidationOrder": "several rules broken at once; section 17 decides which code wins",
    "ShouldNotSend": "well-formed, must decode, but a sender SHOULD NOT produce it (result acceptable)",
}


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def tlv(tag, value):
    return u16(tag) + u16(len(value)) + value


def entry(key, value):
    return tlv(ENTRY, bytes([len(key)]) + key + value)


def raw(ty, flags, sid, arg, meta=b"", body=b"", payload_len=None, meta_len=None,
        trailer=None):
    """Builds a frame from its fields. With CRC in flags a correct trailer is appended
    unless `trailer` overrides it; `payload_len` and `meta_len` override the counts."""
    has_crc = bool(flags & CRC)
    if payload_len is None:
        payload_len = len(meta) + len(body) + (4 if has_crc else 0)
    if meta_len is None:
        meta_len = len(meta)
    head = u32(payload_len) + bytes([ty, flags]) + u16(meta_len) + u32(sid) + u32(arg)
    frame = head + meta + body
    if has_crc:
        frame += u32(zlib.crc32(frame) if trailer is None else trailer)
    return frame


class Cases:
    def __init__(self):
        self.tests = []

    def _add(self, comment, labels, data, result, **extra):
        for label in labels:
            assert label in NOTES, label
        case = {"tcId": len(self.tests) + 1, "comment": comment, "flags": labels,
                "input": data.hex(), "result": result}
        case.update(extra)
        self.tests.append(case)

    def valid(self, comment, labels, ty, flags=0, sid=0, arg=0, tlvs=(), body=b"",
              trailing=b"", acceptable=False):
        meta = b"".join(tlv(t, v) for t, v in tlvs)
        frame = raw(ty, flags, sid, arg, meta, body)
        expect = {"frame_len": len(frame), "type": ty, "type_name": TYPE_NAMES[ty],
                  "flags": flags, "meta_len": len(meta), "stream_id": sid, "arg": arg,
                  "metadata": [{"tag": t, "value": v.hex()} for t, v in tlvs],
                  "body": body.hex(), "crc": bool(flags & CRC)}
        self._add(comment, labels, frame + trailing,
                  "acceptable" if acceptable else "valid", expect=expect)

    def extension(self, comment, labels, ty, flags, sid, arg, payload, meta_len=0):
        frame = raw(ty, flags, sid, arg, b"", payload, meta_len=meta_len)
        expect = {"frame_len": len(frame), "type": ty, "type_name": "EXTENSION",
                  "flags": flags, "meta_len": meta_len, "stream_id": sid, "arg": arg,
                  "payload": payload.hex(), "crc": bool(flags & CRC)}
        self._add(comment, labels, frame, "valid", expect=expect)

    def invalid(self, comment, labels, data, code, layer="frame"):
        assert layer in ("frame", "crc", "metadata", "metadata-value")
        self._add(comment, labels, data, "invalid",
                  error={"code": code, "value": CODES[code], "scope": "connection",
                         "layer": layer})

    def incomplete(self, comment, labels, data, needed):
        self._add(comment, labels, data, "incomplete", needed=needed)


def build():
    c = Cases()
    m_echo = (METHOD, b"echo")

    # --- HELLO -----------------------------------------------------------------------
    c.valid("HELLO, version 1, no settings: every setting takes its initial value",
            ["Hello"], HELLO, arg=1)
    c.valid("HELLO with every setting and AGENT",
            ["Hello", "WellKnownTag", "IgnorableTag"], HELLO, arg=1, tlvs=[
                (MIN_VERSION, u32(1)), (MAX_FRAME, u32(65536)), (MAX_MESSAGE, u32(16 << 20)),
                (MAX_META, u32(16384)), (MAX_STREAMS, u32(1024)),
                (STREAM_WINDOW, u32(1 << 20)), (CONN_WINDOW, u32(16 << 20)),
                (COMPRESSION, u32(0b110)), (FEATURES, u32(1)), (IDLE, u32(300000)),
                (AGENT, b"muxwire-rust/0.1.0")])
    c.valid("HELLO with a CRC trailer", ["Hello", "Crc"], HELLO, flags=CRC, arg=1,
            tlvs=[(MAX_FRAME, u32(65536))])
    c.valid("HELLO from a version-3 peer that also speaks 1", ["Hello", "WellKnownTag"],
            HELLO, arg=3, tlvs=[(MIN_VERSION, u32(1))])
    c.valid("HELLO MAX_FRAME_SIZE at its minimum 16384", ["Hello", "Boundary"], HELLO,
            arg=1, tlvs=[(MAX_FRAME, u32(16384))])
    c.valid("HELLO MAX_FRAME_SIZE at its maximum 2^24-1", ["Hello", "Boundary"], HELLO,
            arg=1, tlvs=[(MAX_FRAME, u32(16777215))])
    c.valid("HELLO windows at their minimum", ["Hello", "Boundary"], HELLO, arg=1,
            tlvs=[(STREAM_WINDOW, u32(65536)), (CONN_WINDOW, u32(262144))])
    c.valid("HELLO windows at 2^31-1", ["Hello", "Boundary"], HELLO, arg=1,
            tlvs=[(STREAM_WINDOW, u32(0x7FFFFFFF)), (CONN_WINDOW, u32(0x7FFFFFFF))])
    c.valid("HELLO MAX_METADATA_SIZE 256 and MAX_MESSAGE_SIZE 0", ["Hello", "Boundary"],
            HELLO, arg=1, tlvs=[(MAX_META, u32(256)), (MAX_MESSAGE, u32(0))])
    c.valid("HELLO MAX_METADATA_SIZE 65535, MAX_CONCURRENT_STREAMS 0", ["Hello", "Boundary"],
            HELLO, arg=1, tlvs=[(MAX_META, u32(65535)), (MAX_STREAMS, u32(0))])
    c.valid("HELLO with unknown COMPRESSION and FEATURES bits (ignored)", ["Hello"], HELLO,
            arg=1, tlvs=[(COMPRESSION, u32(0xFFFFFFFF)), (FEATURES, u32(0xFFFFFFFF))])
    c.valid("HELLO with settings in descending tag order", ["Hello"], HELLO, arg=1,
            tlvs=[(IDLE, u32(1000)), (MAX_STREAMS, u32(7))])

    # --- CALL ------------------------------------------------------------------------
    c.valid("unary CALL: METHOD echo, request 'hello'", ["Unary", "WellKnownTag"], CALL,
            END | MSG, 1, tlvs=[m_echo], body=b"hello")
    c.valid("unary CALL with an empty request message", ["Unary"], CALL, END | MSG, 3,
            tlvs=[m_echo])
    c.valid("streaming CALL without a first message", ["Streaming"], CALL, 0, 5,
            tlvs=[(METHOD, b"chat")])
    c.valid("streaming CALL with a first message", ["Streaming"], CALL, MSG, 7,
            tlvs=[(METHOD, b"chat")], body=b"first")
    c.valid("CALL with DEADLINE 250 ms", ["Unary", "WellKnownTag"], CALL, END | MSG, 9,
            tlvs=[m_echo, (DEADLINE, u64(250000))], body=b"x")
    c.valid("CALL with DEADLINE 0 (already expired)", ["Unary", "WellKnownTag",
            "ShouldNotSend"], CALL, END | MSG, 11, tlvs=[m_echo, (DEADLINE, u64(0))],
            acceptable=True)
    c.valid("CALL with DEADLINE 2^64-1", ["Unary", "WellKnownTag", "Boundary"], CALL,
            END | MSG, 13, tlvs=[m_echo, (DEADLINE, u64(2**64 - 1))])
    c.valid("CALL with two ENTRY tags, same key twice", ["Unary", "Entry", "WellKnownTag"],
            CALL, END | MSG, 15, tlvs=[m_echo,
                                       (ENTRY, b"\x0dauthorization" + b"Bearer t"),
                                       (ENTRY, b"\x03x-a" + b"1"), (ENTRY, b"\x03x-a" + b"2")])
    c.valid("CALL with TRACE (ignorable, 26 bytes)", ["Unary", "WellKnownTag",
            "IgnorableTag"], CALL, END | MSG, 17,
            tlvs=[(TRACE, bytes([0]) + bytes(range(16)) + bytes(range(8)) + b"\x01"), m_echo])
    c.valid("CALL with unknown ignorable tags 0x4fff and private-use 0x8001 (skipped)",
            ["Unary", "IgnorableTag"], CALL, END | MSG, 19,
            tlvs=[(0x4FFF, b"zz"), m_echo, (0x8001, b"")])
    c.valid("ignorable tag with a malformed value is not inspected (AGENT in CALL)",
            ["Unary", "IgnorableTag"], CALL, END | MSG, 21, tlvs=[m_echo, (AGENT, b"\xff\xfe")])
    c.valid("one-way CALL (NO_REPLY)", ["OneWay"], CALL, NO_REPLY | END | MSG, 23,
            tlvs=[(METHOD, b"log")], body=b"event")
    c.valid("CALL starting a chunked message: MORE with exactly 1024 bytes",
            ["Chunk", "Boundary", "Streaming"], CALL, MSG | MORE, 25,
            tlvs=[(METHOD, b"upload")], body=bytes(1024))
    c.valid("CALL with an lz4-flagged message", ["Codec", "Unary"], CALL,
            END | MSG | LZ4, 27, tlvs=[m_echo], body=bytes.fromhex("04224d18"))
    c.valid("CALL with a zstd-flagged message", ["Codec", "Unary"], CALL,
            END | MSG | ZSTD, 29, tlvs=[m_echo], body=bytes.fromhex("28b52ffd"))
    c.valid("unary CALL with a CRC trailer", ["Unary", "Crc"], CALL, END | MSG | CRC, 31,
            tlvs=[m_echo], body=b"hello")
    c.valid("CALL on the largest stream id 2^32-1", ["Unary", "Boundary"], CALL, END | MSG,
            0xFFFFFFFF, tlvs=[m_echo])
    c.valid("CALL on an even id (opened by the acceptor)", ["Unary"], CALL, END | MSG, 2,
            tlvs=[m_echo], body=b"back")
    c.valid("CALL with a multi-byte UTF-8 method name", ["Unary", "WellKnownTag"], CALL,
            END | MSG, 33, tlvs=[(METHOD, "grüße.命令".encode())])
    c.valid("CALL with an ENTRY key of 255 bytes and an empty value",
            ["Unary", "Entry", "Boundary"], CALL, END | MSG, 35,
            tlvs=[m_echo, (ENTRY, b"\xff" + b"k" * 255)])
    c.valid("CALL with ENTRY key in the reserved mw- space", ["Unary", "Entry",
            "ShouldNotSend"], CALL, END | MSG, 37, tlvs=[m_echo, (ENTRY, b"\x06mw-foo1")],
            acceptable=True)
    c.valid("CALL with a METHOD of 300 bytes", ["Unary", "WellKnownTag"], CALL, END | MSG,
            39, tlvs=[(METHOD, b"m" * 300)])

    # --- DATA ------------------------------------------------------------------------
    c.valid("DATA carrying one message", ["Streaming"], DATA, MSG, 1, body=b"chunk")
    c.valid("DATA half-close without a message", ["Streaming"], DATA, END, 1)
    c.valid("DATA with the last message and half-close", ["Streaming"], DATA, END | MSG, 1,
            body=b"bye")
    c.valid("DATA with an empty message", ["Streaming"], DATA, MSG, 1)
    c.valid("DATA chunk with MORE and 1024 bytes", ["Chunk", "Boundary"], DATA, MSG | MORE,
            1, body=b"\xaa" * 1024)
    c.valid("DATA last chunk shorter than MIN_CHUNK (allowed without MORE)", ["Chunk"],
            DATA, MSG, 1, body=b"\x01")
    c.valid("DATA from the callee with ENTRY (response metadata)", ["Streaming", "Entry"],
            DATA, MSG, 2, tlvs=[(ENTRY, b"\x04rows" + b"42")], body=b"r")
    c.valid("DATA with a CRC trailer", ["Streaming", "Crc"], DATA, MSG | CRC, 9,
            body=b"protected")
    c.valid("DATA with a body filling MAX_FRAME_SIZE exactly (payload 16384)",
            ["Streaming", "Boundary"], DATA, MSG, 1, body=bytes(MAX_FRAME_SIZE))
    c.valid("DATA with MESSAGE, CRC filling MAX_FRAME_SIZE exactly",
            ["Streaming", "Boundary", "Crc"], DATA, MSG | CRC, 1, body=bytes(MAX_FRAME_SIZE - 4))
    c.valid("two frames back to back: the first is decoded", ["Streaming", "TrailingBytes"],
            DATA, MSG, 1, body=b"a", trailing=raw(DATA, MSG, 1, 0, b"", b"b"))

    # --- STATUS ----------------------------------------------------------------------
    c.valid("unary reply: STATUS OK with the reply message", ["Unary", "Status"], STATUS,
            MSG, 1, 0, body=b"hello")
    c.valid("STATUS OK with an empty reply message", ["Unary", "Status"], STATUS, MSG, 1, 0)
    c.valid("STATUS OK without a message (end of a stream)", ["Streaming", "Status"],
            STATUS, 0, 1, 0)
    c.valid("STATUS INVALID_ARGUMENT with REASON, DETAILS and ENTRY",
            ["Status", "WellKnownTag", "Entry"], STATUS, 0, 1, 3,
            tlvs=[(REASON, b"bad field 'x'"), (DETAILS, b"\x08\x03"),
                  (ENTRY, b"\x05retry" + b"no")])
    c.valid("STATUS with an empty REASON", ["Status", "WellKnownTag"], STATUS, 0, 1, 13,
            tlvs=[(REASON, b"")])
    c.valid("STATUS REFUSED UNAVAILABLE (admission limit)", ["Status"], STATUS, REFUSED, 5,
            14, tlvs=[(REASON, b"max_concurrent_streams 100")])
    for code in (1, 4, 5, 8, 12, 16):
        c.valid(f"STATUS with status code {code}", ["Status"], STATUS, 0, 1, code)
    c.valid("STATUS with reserved code 17 (treated as UNKNOWN)", ["Status"], STATUS, 0, 1, 17)
    c.valid("STATUS with code 2^32-1", ["Status", "Boundary"], STATUS, 0, 1, 0xFFFFFFFF)
    c.valid("STATUS with a zstd-flagged reply", ["Status", "Codec"], STATUS, MSG | ZSTD, 1, 0,
            body=b"\x28\xb5\x2f\xfd")
    c.valid("STATUS with a CRC trailer", ["Status", "Crc"], STATUS, MSG | CRC, 1, 0, body=b"ok")

    # --- CANCEL, WINDOW, PING, GOAWAY ------------------------------------------------
    c.valid("CANCEL with CANCELLED", ["Cancel"], CANCEL, 0, 1, 1)
    c.valid("CANCEL with DEADLINE_EXCEEDED and REASON", ["Cancel", "WellKnownTag"],
            CANCEL, 0, 3, 4, tlvs=[(REASON, b"deadline")])
    c.valid("CANCEL with a CRC trailer", ["Cancel", "Crc"], CANCEL, CRC, 3, 1)
    c.valid("WINDOW on the connection, 64 KiB", ["Window"], WINDOW, 0, 0, 65536)
    c.valid("WINDOW on a stream, increment 2^31-1", ["Window", "Boundary"], WINDOW, 0, 7,
            0x7FFFFFFF)
    c.valid("WINDOW increment 1 (counts against control_budget)", ["Window", "Boundary",
            "ShouldNotSend"], WINDOW, 0, 7, 1, acceptable=True)
    c.valid("WINDOW with a CRC trailer", ["Window", "Crc"], WINDOW, CRC, 0, 4096)
    c.valid("PING", ["Ping"], PING, 0, 0, 0xDEADBEEF)
    c.valid("PING ACK", ["Ping"], PING, ACK, 0, 0xDEADBEEF)
    c.valid("PING with a CRC trailer", ["Ping", "Crc"], PING, CRC, 0, 7)
    c.valid("GOAWAY NO_ERROR, 0 calls accepted", ["Goaway"], GOAWAY, 0, 0, 0, body=u64(0))
    c.valid("GOAWAY PROTOCOL_ERROR with REASON, 2^40 calls accepted",
            ["Goaway", "WellKnownTag"], GOAWAY, 0, 0, 1,
            tlvs=[(REASON, b"undefined flag bits 0x40 set")], body=u64(1 << 40))
    c.valid("GOAWAY with reserved code 99", ["Goaway"], GOAWAY, 0, 0, 99, body=u64(5))
    c.valid("GOAWAY with a CRC trailer", ["Goaway", "Crc"], GOAWAY, CRC, 0, 0, body=u64(3))

    # --- extensions ------------------------------------------------------------------
    c.extension("extension type 0x80 with an opaque payload", ["Extension"], 0x80, 0, 0, 0,
                b"\x01\x02\x03")
    c.extension("extension type 0xff, every flag set, valid CRC", ["Extension", "Crc"],
                0xFF, 0xFF, 12345, 0xFFFFFFFF, b"ext")
    c.extension("extension with a Metadata Length larger than its payload (not interpreted)",
                ["Extension"], 0x9A, 0x40, 1, 7, b"", meta_len=500)

    # --- truncated: incomplete, not an error -------------------------------------------
    unary = raw(CALL, END | MSG, 1, 0, tlv(METHOD, b"echo"), b"hello")
    c.incomplete("empty input", ["Truncated"], b"", 16)
    c.incomplete("one byte of a header", ["Truncated"], unary[:1], 15)
    c.incomplete("fifteen bytes of a header", ["Truncated"], unary[:15], 1)
    c.incomplete("header and part of the payload", ["Truncated"], unary[:20],
                 len(unary) - 20)
    c.incomplete("all but the last byte", ["Truncated"], unary[:-1], 1)
    c.incomplete("header of a frame at MAX_FRAME_SIZE, payload not yet here",
                 ["Truncated", "Boundary"], raw(DATA, MSG, 1, 0, b"", bytes(MAX_FRAME_SIZE))[:16],
                 MAX_FRAME_SIZE)
    c.incomplete("CRC frame missing its trailer: not checked until complete",
                 ["Truncated", "Crc"], raw(PING, CRC, 0, 1)[:16], 4)
    c.incomplete("extension frame, payload missing", ["Truncated", "Extension"],
                 raw(0x80, 0, 0, 0, b"", b"abcdef")[:18], 4)

    # --- size ------------------------------------------------------------------------
    c.invalid("Payload Length one past MAX_FRAME_SIZE: rejected on the header alone",
              ["Boundary", "PayloadSize"], raw(DATA, MSG, 1, 0, payload_len=MAX_FRAME_SIZE + 1),
              "FRAME_SIZE_ERROR")
    c.invalid("Payload Length 2^32-1", ["Boundary", "PayloadSize"],
              raw(DATA, MSG, 1, 0, payload_len=0xFFFFFFFF), "FRAME_SIZE_ERROR")
    c.invalid("oversized extension frame", ["Extension", "PayloadSize"],
              raw(0x80, 0, 0, 0, payload_len=MAX_FRAME_SIZE + 1), "FRAME_SIZE_ERROR")
    c.invalid("CRC flag on an empty payload", ["Crc", "PayloadSize"],
              raw(PING, CRC, 0, 0, payload_len=0)[:16], "FRAME_SIZE_ERROR")
    c.invalid("CRC flag on a 3-byte payload", ["Crc", "PayloadSize"],
              raw(0x80, CRC, 0, 0, payload_len=3)[:16] + b"abc", "FRAME_SIZE_ERROR")
    c.invalid("Metadata Length larger than Payload Length", ["MetadataOverrun", "PayloadSize"],
              raw(CALL, END | MSG, 1, 0, tlv(METHOD, b"echo"), meta_len=9), "FRAME_SIZE_ERROR")
    c.invalid("Metadata Length fits, but not with the CRC trailer",
              ["MetadataOverrun", "Crc", "PayloadSize"],
              raw(CALL, END | MSG | CRC, 1, 0, tlv(METHOD, b"echo"), b"ab", meta_len=8 + 3),
              "FRAME_SIZE_ERROR")
    c.invalid("HELLO with a body", ["Hello", "PayloadSize"], raw(HELLO, 0, 0, 1, b"", b"x"),
              "FRAME_SIZE_ERROR")
    c.invalid("CANCEL with a body", ["Cancel", "PayloadSize"], raw(CANCEL, 0, 1, 1, b"", b"x"),
              "FRAME_SIZE_ERROR")
    c.invalid("WINDOW with a body", ["Window", "PayloadSize"],
              raw(WINDOW, 0, 0, 10, b"", b"\x00\x00\x00\x00"), "FRAME_SIZE_ERROR")
    c.invalid("WINDOW with metadata", ["Window", "PayloadSize", "Metadata"],
              raw(WINDOW, 0, 0, 10, tlv(REASON, b"")), "FRAME_SIZE_ERROR")
    c.invalid("PING with an 8-byte body", ["Ping", "PayloadSize"],
              raw(PING, 0, 0, 0, b"", bytes(8)), "FRAME_SIZE_ERROR")
    c.invalid("GOAWAY without its 8-byte body", ["Goaway", "PayloadSize"],
              raw(GOAWAY, 0, 0, 0), "FRAME_SIZE_ERROR")
    c.invalid("GOAWAY with a 7-byte body", ["Goaway", "PayloadSize", "Boundary"],
              raw(GOAWAY, 0, 0, 0, b"", bytes(7)), "FRAME_SIZE_ERROR")
    c.invalid("GOAWAY with a 9-byte body", ["Goaway", "PayloadSize", "Boundary"],
              raw(GOAWAY, 0, 0, 0, b"", bytes(9)), "FRAME_SIZE_ERROR")

    # --- CRC ---------------------------------------------------------------------------
    c.invalid("CRC trailer off by one bit", ["CrcMismatch", "Crc"],
              raw(CALL, END | MSG | CRC, 1, 0, tlv(METHOD, b"echo"), b"hello",
                  trailer=zlib.crc32(raw(CALL, END | MSG | CRC, 1, 0, tlv(METHOD, b"echo"),
                                         b"hello")[:-4]) ^ 1), "CRC_ERROR", "crc")
    c.invalid("CRC trailer of zero on a PING", ["CrcMismatch", "Ping"],
              raw(PING, CRC, 0, 5, trailer=0), "CRC_ERROR", "crc")
    c.invalid("CRC mismatch on an extension frame", ["CrcMismatch", "Extension"],
              raw(0xC0, CRC, 0, 0, b"", b"payload", trailer=0x12345678), "CRC_ERROR", "crc")
    c.invalid("CRC mismatch on a frame of reserved type: CRC is checked first",
              ["CrcMismatch", "ReservedType", "ValidationOrder"],
              raw(0x30, CRC, 0, 0, b"", b"", trailer=0xFFFFFFFF), "CRC_ERROR", "crc")

    # --- types ---------------------------------------------------------------------------
    c.invalid("frame type 0x00 (all-zero header)", ["ReservedType"], bytes(16),
              "PROTOCOL_ERROR")
    c.invalid("reserved frame type 0x09", ["ReservedType"], raw(0x09, 0, 0, 0),
              "PROTOCOL_ERROR")
    c.invalid("reserved frame type 0x7f", ["ReservedType", "Boundary"], raw(0x7F, 0, 1, 0),
              "PROTOCOL_ERROR")

    # --- flags ---------------------------------------------------------------------------
    c.invalid("reserved bit 0x40 on CALL", ["ReservedBits", "Unary"],
              raw(CALL, END | MSG | RSV, 1, 0, tlv(METHOD, b"echo")), "PROTOCOL_ERROR")
    c.invalid("reserved bit 0x40 on PING", ["ReservedBits", "Ping"], raw(PING, RSV, 0, 0),
              "PROTOCOL_ERROR")
    c.invalid("END_STREAM on STATUS", ["ReservedBits", "Status"], raw(STATUS, END, 1, 0),
              "PROTOCOL_ERROR")
    c.invalid("MORE on STATUS", ["ReservedBits", "Status", "Chunk"],
              raw(STATUS, MSG | MORE, 1, 0, b"", bytes(1024)), "PROTOCOL_ERROR")
    c.invalid("NO_REPLY bit on DATA", ["ReservedBits", "Streaming"],
              raw(DATA, MSG | 0x20, 1, 0, b"", b"x"), "PROTOCOL_ERROR")
    c.invalid("ACK bit on CANCEL", ["ReservedBits", "Cancel"], raw(CANCEL, ACK, 1, 1),
              "PROTOCOL_ERROR")
    c.invalid("END_STREAM on HELLO", ["ReservedBits", "Hello"], raw(HELLO, END, 0, 1),
              "PROTOCOL_ERROR")
    c.invalid("MESSAGE on WINDOW", ["ReservedBits", "Window"], raw(WINDOW, MSG, 0, 1),
              "PROTOCOL_ERROR")
    c.invalid("flag 0x01 on GOAWAY", ["ReservedBits", "Goaway"],
              raw(GOAWAY, END, 0, 0, b"", bytes(8)), "PROTOCOL_ERROR")
    c.invalid("MORE without MESSAGE", ["FlagRule", "Chunk"], raw(DATA, MORE, 1, 0),
              "PROTOCOL_ERROR")
    c.invalid("MORE with END_STREAM", ["FlagRule", "Chunk"],
              raw(DATA, MSG | MORE | END, 1, 0, b"", bytes(2048)), "PROTOCOL_ERROR")
    c.invalid("CODEC without MESSAGE", ["FlagRule", "Codec"], raw(DATA, END | LZ4, 1, 0),
              "PROTOCOL_ERROR")
    c.invalid("reserved CODEC value 3", ["FlagRule", "Codec"],
              raw(DATA, MSG | CODEC3, 1, 0, b"", b"x"), "PROTOCOL_ERROR")
    c.invalid("body without MESSAGE on CALL", ["FlagRule", "Unary"],
              raw(CALL, END, 1, 0, tlv(METHOD, b"echo"), b"x"), "PROTOCOL_ERROR")
    c.invalid("body without MESSAGE on STATUS", ["FlagRule", "Status"],
              raw(STATUS, 0, 1, 0, b"", b"x"), "PROTOCOL_ERROR")
    c.invalid("NO_REPLY without END_STREAM", ["FlagRule", "OneWay"],
              raw(CALL, NO_REPLY | MSG, 1, 0, tlv(METHOD, b"log"), b"x"), "PROTOCOL_ERROR")
    c.invalid("NO_REPLY without MESSAGE", ["FlagRule", "OneWay"],
              raw(CALL, NO_REPLY | END, 1, 0, tlv(METHOD, b"log")), "PROTOCOL_ERROR")
    c.invalid("DATA with neither MESSAGE nor END_STREAM", ["FlagRule", "Streaming"],
              raw(DATA, 0, 1, 0), "PROTOCOL_ERROR")
    c.invalid("STATUS REFUSED with MESSAGE", ["FlagRule", "Status"],
              raw(STATUS, REFUSED | MSG, 1, 14, b"", b"x"), "PROTOCOL_ERROR")
    c.invalid("STATUS REFUSED with status OK", ["FlagRule", "Status"],
              raw(STATUS, REFUSED, 1, 0), "PROTOCOL_ERROR")
    c.invalid("MORE chunk of 1023 bytes (MIN_CHUNK)", ["Chunk", "Boundary"],
              raw(DATA, MSG | MORE, 1, 0, b"", bytes(1023)), "PROTOCOL_ERROR")
    c.invalid("CALL starting a chunked message with an empty first chunk", ["Chunk"],
              raw(CALL, MSG | MORE, 1, 0, tlv(METHOD, b"up")), "PROTOCOL_ERROR")

    # --- stream ids ------------------------------------------------------------------------
    c.invalid("HELLO on stream 1", ["StreamIdRule", "Hello"], raw(HELLO, 0, 1, 1),
              "PROTOCOL_ERROR")
    c.invalid("PING on stream 3", ["StreamIdRule", "Ping"], raw(PING, 0, 3, 0),
              "PROTOCOL_ERROR")
    c.invalid("GOAWAY on stream 1", ["StreamIdRule", "Goaway"],
              raw(GOAWAY, 0, 1, 0, b"", bytes(8)), "PROTOCOL_ERROR")
    c.invalid("CALL on stream 0", ["StreamIdRule", "Unary"],
              raw(CALL, END | MSG, 0, 0, tlv(METHOD, b"echo")), "PROTOCOL_ERROR")
    c.invalid("DATA on stream 0", ["StreamIdRule", "Streaming"], raw(DATA, MSG, 0, 0),
              "PROTOCOL_ERROR")
    c.invalid("STATUS on stream 0", ["StreamIdRule", "Status"], raw(STATUS, 0, 0, 0),
              "PROTOCOL_ERROR")
    c.invalid("CANCEL on stream 0", ["StreamIdRule", "Cancel"], raw(CANCEL, 0, 0, 1),
              "PROTOCOL_ERROR")

    # --- arguments -------------------------------------------------------------------------
    c.invalid("HELLO with version 0", ["ArgumentRule", "Hello"], raw(HELLO, 0, 0, 0),
              "VERSION_ERROR")
    c.invalid("CALL with a non-zero Argument", ["ArgumentRule", "Unary"],
              raw(CALL, END | MSG, 1, 1, tlv(METHOD, b"echo")), "PROTOCOL_ERROR")
    c.invalid("DATA with a non-zero Argument", ["ArgumentRule", "Streaming"],
              raw(DATA, MSG, 1, 0x80000000), "PROTOCOL_ERROR")
    c.invalid("CANCEL with status OK", ["ArgumentRule", "Cancel"], raw(CANCEL, 0, 1, 0),
              "PROTOCOL_ERROR")
    c.invalid("WINDOW increment 0", ["ArgumentRule", "Window", "Boundary"],
              raw(WINDOW, 0, 1, 0), "PROTOCOL_ERROR")
    c.invalid("WINDOW increment 2^31", ["ArgumentRule", "Window", "Boundary"],
              raw(WINDOW, 0, 0, 0x80000000), "PROTOCOL_ERROR")

    # --- metadata structure ----------------------------------------------------------------
    c.invalid("metadata of 3 bytes: a TLV header does not fit", ["Metadata", "MetadataOverrun"],
              raw(CALL, 0, 1, 0, b"\x10\x00\x01"), "METADATA_ERROR", "metadata")
    c.invalid("TLV value runs past Metadata Length", ["Metadata", "MetadataOverrun"],
              raw(CALL, 0, 1, 0, u16(METHOD) + u16(10) + b"echo"), "METADATA_ERROR",
              "metadata")
    c.invalid("TLV value runs past Metadata Length into the body",
              ["Metadata", "MetadataOverrun"],
              raw(CALL, END | MSG, 1, 0, u16(METHOD) + u16(8) + b"echo", b"body"),
              "METADATA_ERROR", "metadata")
    c.invalid("tag 0", ["Metadata"], raw(CALL, 0, 1, 0, tlv(0, b"") + tlv(METHOD, b"a")),
              "METADATA_ERROR", "metadata")
    c.invalid("unknown must-understand tag 0x0015", ["Metadata", "UnknownTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(0x0015, b"")), "METADATA_ERROR",
              "metadata")
    c.invalid("unknown must-understand tag 0x3fff (last of the range)",
              ["Metadata", "UnknownTag", "Boundary"],
              raw(STATUS, 0, 1, 0, tlv(0x3FFF, b"x")), "METADATA_ERROR", "metadata")
    c.invalid("unknown must-understand tag in HELLO (0x000b)", ["Hello", "UnknownTag"],
              raw(HELLO, 0, 0, 1, tlv(0x000B, u32(1))), "METADATA_ERROR", "metadata")
    c.invalid("METHOD in DATA", ["Metadata", "MisplacedTag"],
              raw(DATA, MSG, 1, 0, tlv(METHOD, b"echo")), "METADATA_ERROR", "metadata")
    c.invalid("a setting in CALL", ["Metadata", "MisplacedTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(MAX_FRAME, u32(65536))),
              "METADATA_ERROR", "metadata")
    c.invalid("DETAILS in CALL", ["Metadata", "MisplacedTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(DETAILS, b"")), "METADATA_ERROR",
              "metadata")
    c.invalid("ENTRY in CANCEL", ["Metadata", "MisplacedTag", "Entry"],
              raw(CANCEL, 0, 1, 1, tlv(ENTRY, b"\x01kv")), "METADATA_ERROR", "metadata")
    c.invalid("REASON in HELLO", ["Metadata", "MisplacedTag", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(REASON, b"hi")), "METADATA_ERROR", "metadata")
    c.invalid("DEADLINE of 4 bytes", ["Metadata", "WellKnownTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(DEADLINE, u32(5))), "METADATA_ERROR",
              "metadata")
    c.invalid("a setting of 2 bytes", ["Hello", "Metadata"],
              raw(HELLO, 0, 0, 1, tlv(MAX_STREAMS, u16(5))), "METADATA_ERROR", "metadata")
    c.invalid("ENTRY with key length 0", ["Entry", "Metadata"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(ENTRY, b"\x00v")), "METADATA_ERROR",
              "metadata")
    c.invalid("ENTRY whose key length exceeds its value", ["Entry", "Metadata",
              "MetadataOverrun"], raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(ENTRY, b"\x05abc")),
              "METADATA_ERROR", "metadata")
    c.invalid("ENTRY whose key is one byte longer than its value", ["Entry", "Metadata",
              "MetadataOverrun", "Boundary"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(ENTRY, b"\x04abc")), "METADATA_ERROR",
              "metadata")
    c.invalid("empty ENTRY value", ["Entry", "Metadata"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(ENTRY, b"")), "METADATA_ERROR",
              "metadata")

    # --- metadata values --------------------------------------------------------------------
    c.invalid("METHOD twice", ["Metadata", "RepeatedTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(METHOD, b"b")), "METADATA_ERROR",
              "metadata-value")
    c.invalid("REASON twice in STATUS", ["Metadata", "RepeatedTag", "Status"],
              raw(STATUS, 0, 1, 2, tlv(REASON, b"a") + tlv(REASON, b"b")), "METADATA_ERROR",
              "metadata-value")
    c.invalid("a setting twice", ["Hello", "RepeatedTag"],
              raw(HELLO, 0, 0, 1, tlv(IDLE, u32(1)) + tlv(IDLE, u32(2))), "METADATA_ERROR",
              "metadata-value")
    c.invalid("empty METHOD", ["Metadata", "WellKnownTag"], raw(CALL, 0, 1, 0, tlv(METHOD, b"")),
              "METADATA_ERROR", "metadata-value")
    c.invalid("METHOD not UTF-8", ["Metadata", "WellKnownTag"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"ech\xff")), "METADATA_ERROR", "metadata-value")
    c.invalid("REASON not UTF-8 (overlong encoding)", ["Metadata", "WellKnownTag"],
              raw(CANCEL, 0, 1, 1, tlv(REASON, b"\xc0\xaf")), "METADATA_ERROR",
              "metadata-value")
    c.invalid("ENTRY key with an upper-case byte", ["Entry", "Metadata"],
              raw(CALL, 0, 1, 0, tlv(METHOD, b"a") + tlv(ENTRY, b"\x03Key1")),
              "METADATA_ERROR", "metadata-value")
    c.invalid("CALL without METHOD", ["Metadata", "Unary"], raw(CALL, END | MSG, 1, 0),
              "METADATA_ERROR", "metadata-value")
    c.invalid("CALL with ENTRY but no METHOD", ["Metadata", "Entry"],
              raw(CALL, 0, 1, 0, tlv(ENTRY, b"\x01ab")), "METADATA_ERROR", "metadata-value")
    c.invalid("HELLO MAX_FRAME_SIZE 16383", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(MAX_FRAME, u32(16383))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO MAX_FRAME_SIZE 2^24", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(MAX_FRAME, u32(1 << 24))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO INITIAL_STREAM_WINDOW 65535", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(STREAM_WINDOW, u32(65535))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO INITIAL_CONNECTION_WINDOW 2^31", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(CONN_WINDOW, u32(1 << 31))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO INITIAL_CONNECTION_WINDOW 262143", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(CONN_WINDOW, u32(262143))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO MAX_METADATA_SIZE 255", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(MAX_META, u32(255))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO MAX_METADATA_SIZE 65536", ["SettingRange", "Boundary", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(MAX_META, u32(65536))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO MIN_VERSION 0", ["SettingRange", "Hello"],
              raw(HELLO, 0, 0, 1, tlv(MIN_VERSION, u32(0))), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("HELLO MIN_VERSION above its own version", ["SettingRange", "Hello"],
              raw(HELLO, 0, 0, 2, tlv(MIN_VERSION, u32(3))), "HANDSHAKE_ERROR",
              "metadata-value")

    # --- several faults at once: section 17 picks the code ------------------------------------
    c.invalid("metadata overrun (step 6) beats an undefined flag (step 7)",
              ["ValidationOrder", "MetadataOverrun", "ReservedBits"],
              raw(CALL, RSV, 1, 0, b"", meta_len=4), "FRAME_SIZE_ERROR")
    c.invalid("HELLO body (step 9) beats version 0 (step 11)",
              ["ValidationOrder", "Hello", "PayloadSize"], raw(HELLO, 0, 0, 0, b"", b"x"),
              "FRAME_SIZE_ERROR")
    c.invalid("stream 0 (step 8) beats a flag rule (step 10)",
              ["ValidationOrder", "StreamIdRule", "FlagRule"], raw(DATA, MORE, 0, 0),
              "PROTOCOL_ERROR")
    c.invalid("version 0 (step 11) beats a bad setting (step 13)",
              ["ValidationOrder", "Hello", "SettingRange"],
              raw(HELLO, 0, 0, 0, tlv(MAX_FRAME, u32(1))), "VERSION_ERROR")
    c.invalid("a setting out of range before a malformed TLV: the first TLV decides",
              ["ValidationOrder", "SettingRange", "MetadataOverrun"],
              raw(HELLO, 0, 0, 1, tlv(MAX_FRAME, u32(1)) + b"\x02\x00"), "HANDSHAKE_ERROR",
              "metadata-value")
    c.invalid("a malformed TLV before a missing METHOD",
              ["ValidationOrder", "Metadata", "UnknownTag"],
              raw(CALL, 0, 1, 0, tlv(0x0020, b"")), "METADATA_ERROR", "metadata")
    # Protocol 1.1 clarifications (section 6.2): ignorable tags, known or not, are never
    # validated by the decoder, in HELLO as anywhere else.
    c.valid("HELLO with an AGENT that is not UTF-8: ignorable, not inspected",
            ["Hello", "IgnorableTag"], HELLO, arg=1, tlvs=[(AGENT, b"\xff\xfe")])
    c.valid("CALL with a TRACE of the wrong size (3 bytes): ignorable, not inspected",
            ["Unary", "IgnorableTag"], CALL, END | MSG, 27,
            tlvs=[m_echo, (TRACE, b"\x00\x01\x02")])
    c.valid("HELLO offering an extension with an ignorable tag (section 19.3)",
            ["Hello", "IgnorableTag"], HELLO, arg=1, tlvs=[(0x4F00, u32(1))])
    return c.tests


def document(tests):
    invalid = sum(1 for t in tests if t["result"] == "invalid")
    return {
        "algorithm": "muxwire-frame",
        "version": 1,
        "generatorVersion": "1",
        "header": [
            "Single-frame decode vectors for muxwire version 1 (spec/PROTOCOL.md).",
            "Decode `input` with the given max_frame_size; see spec/vectors/README.md.",
        ],
        "max_frame_size": MAX_FRAME_SIZE,
        "numberOfTests": len(tests),
        "numberOfInvalid": invalid,
        "notes": NOTES,
        "schema": "frames.schema.json",
        "testGroups": [{"type": "FrameDecode", "max_frame_size": MAX_FRAME_SIZE,
                        "tests": tests}],
    }


def main(argv):
    check = "--check" in argv
    out = [a for a in argv if not a.startswith("--")][0]
    text = json.dumps(document(build()), indent=1, ensure_ascii=False) + "\n"
    if check:
        with open(out, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{out} is stale: run `make vectors` and commit it", file=sys.stderr)
                return 1
        print(f"vectors: {out} is up to date")
        return 0
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    d = document(build())
    print(f"wrote {out}: {d['numberOfTests']} tests, {d['numberOfInvalid']} invalid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
