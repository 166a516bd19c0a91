"""The frame codec: decode_frame and encode_frame (every spec vector goes through them in
test_connection.py; these are the API's own promises)."""

from __future__ import annotations

import pytest

import muxwire

PING, CALL, GOAWAY = 0x07, 0x02, 0x08
END_STREAM, MESSAGE, CRC = 0x01, 0x02, 0x80
METHOD = 0x0010


def test_a_call_round_trips() -> None:
    data = muxwire.encode_frame(
        CALL, flags=END_STREAM | MESSAGE, stream_id=1, metadata=[(METHOD, b"echo")], body=b"hi"
    )
    frame = muxwire.decode_frame(data + b"next frame's bytes")
    assert (frame.type, frame.flags, frame.stream_id, frame.arg) == (CALL, 3, 1, 0)
    assert frame.metadata == [(METHOD, b"echo")]
    assert frame.meta_len == 8 and frame.size == len(data)
    assert bytes(frame.body) == b"hi" and not frame.crc and not frame.is_extension
    assert frame.encode() == data
    assert "CALL" in repr(frame)


def test_the_body_is_a_read_only_view_of_the_input() -> None:
    data = bytearray(muxwire.encode_frame(CALL, flags=3, stream_id=1, metadata=[(METHOD, b"m")], body=b"abc"))
    frame = muxwire.decode_frame(data)
    assert isinstance(frame.body, memoryview) and frame.body.readonly
    data[-1:] = b"z"  # the same bytes: a view, not a copy
    assert bytes(frame.body) == b"abz"


def test_crc_trailer() -> None:
    data = muxwire.encode_frame(PING, flags=CRC, arg=7)
    frame = muxwire.decode_frame(data)
    assert frame.crc and frame.size == 16 + 4 and frame.encode() == data
    broken = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(muxwire.ProtocolError) as info:
        muxwire.decode_frame(broken)
    assert info.value.code is muxwire.ErrorCode.CRC_ERROR
    assert info.value.kind == "frame"


def test_extension_frames_keep_their_payload_whole() -> None:
    data = muxwire.encode_frame(0x9A, flags=0x40, stream_id=5, arg=9, meta_len=3, body=b"\x01\x02\x03\x04")
    frame = muxwire.decode_frame(data)
    assert frame.is_extension and frame.metadata == [] and frame.meta_len == 3
    assert bytes(frame.body) == b"\x01\x02\x03\x04" and frame.encode() == data


def test_part_of_a_frame_is_incomplete() -> None:
    data = muxwire.encode_frame(GOAWAY, body=bytes(8))
    with pytest.raises(muxwire.Incomplete) as info:
        muxwire.decode_frame(data[:10])
    assert info.value.needed == 6
    with pytest.raises(muxwire.Incomplete) as info:
        muxwire.decode_frame(data[:-3])
    assert info.value.needed == 3
    assert not isinstance(info.value, muxwire.ProtocolError)


def test_broken_rules_raise_protocol_error_with_the_code() -> None:
    with pytest.raises(muxwire.ProtocolError, match="PROTOCOL_ERROR") as info:
        muxwire.decode_frame(muxwire.encode_frame(PING, stream_id=1))
    assert info.value.code is muxwire.ErrorCode.PROTOCOL_ERROR
    big = muxwire.encode_frame(CALL, flags=3, stream_id=1, metadata=[(METHOD, b"m")], body=bytes(20_000))
    with pytest.raises(muxwire.ProtocolError) as info:
        muxwire.decode_frame(big)
    assert info.value.code is muxwire.ErrorCode.FRAME_SIZE_ERROR
    assert muxwire.decode_frame(big, max_frame_size=32_768).size == len(big)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="type must be between 0 and 255, not 256"):
        muxwire.encode_frame(256)
    with pytest.raises(ValueError, match="stream_id must be between 0 and 4294967295, not -1"):
        muxwire.encode_frame(PING, stream_id=-1)
    with pytest.raises(ValueError, match="metadata must be"):
        muxwire.encode_frame(CALL, metadata=[b"x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="metadata tag must be"):
        muxwire.encode_frame(CALL, metadata=[(70_000, b"x")])
    with pytest.raises(ValueError, match="meta_len is 1 but the metadata given takes 0 bytes"):
        muxwire.encode_frame(PING, meta_len=1)
    with pytest.raises(ValueError, match="extension frame .* has no metadata"):
        muxwire.encode_frame(0x80, metadata=[(1, b"")])
    with pytest.raises(ValueError, match="max_frame_size must be between 16384 and 16777215"):
        muxwire.decode_frame(b"", max_frame_size=100)
    with pytest.raises(TypeError, match="buffer of bytes"):
        muxwire.decode_frame("text")  # type: ignore[arg-type]
