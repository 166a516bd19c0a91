meta:
  id: muxwire_frame
  title: muxwire frame, protocol version 1
  application: muxwire binary RPC protocol
  license: MIT
  ks-version: '0.11'
  endian: le
doc: |
  One muxwire frame: the machine-readable twin of PROTOCOL.md section 4 (frame
  layout), section 5 (frame types) and section 6 (metadata), checked in the order
  of section 17 (frame validation order).

  The top-level type parses exactly one frame from the start of the stream,
  `16 + payload_len` bytes; bytes after it are left unread (they belong to the next
  frame). The parameter `max_frame_size` is the receiver's MAX_FRAME_SIZE setting
  (16 384 until the peer's HELLO says otherwise).

  How the outcome of section 17 maps onto a Kaitai parse:

  * steps 1 and 3 (fewer bytes than the frame needs): the parse ends with an
    end-of-stream error; a decoder would report "incomplete" and wait for more bytes.
    Nothing is validated before the 16 header bytes are there, and nothing but
    step 2 before the whole frame is there;
  * steps 2, 4 to 12 and most of 13: a validation error, raised in the order of
    section 17, so the first failure is the one PROTOCOL.md makes a decoder report.
    The `check_*` fields are zero-length pseudo-fields that exist only to carry a
    `valid` expression at the right point of that order;
  * every field that carries a `valid` has an `-error-code` annotation (a user key,
    ignored by the compiler): the connection error code of section 9.2 that a
    decoder reports when that validation fails, as an id of the enum
    `connection_error_code`. `spec/tools/check_ksy.py` compares it with the vectors;
  * extension frames (types 0x80 to 0xFF) stop after step 5: only the header, the
    payload size and the presence of the CRC trailer are interpreted.

  Not expressed here (a complete decoder MUST still check them): the CRC-32 value
  itself (section 11: CRC_ERROR), UTF-8 validity of METHOD and REASON, the
  character set of ENTRY keys, repeated tags, and the required METHOD of CALL.
  Setting values out of range (section 3.4, HANDSHAKE_ERROR) are checked.

  All checks of this file depend only on the frame's bytes and MAX_FRAME_SIZE, like
  `vectors/frames.json`. Stream states, credit, parity and budgets are not frame
  properties and are not described here.
doc-ref:
  - PROTOCOL.md section 4 (frame layout)
  - PROTOCOL.md section 5 (frame types)
  - PROTOCOL.md section 6 (metadata)
  - PROTOCOL.md section 17 (frame validation order)
  - vectors/frames.json (decode vectors this file is checked against)

params:
  - id: max_frame_size
    type: u4
    doc: |
      The receiver's MAX_FRAME_SIZE (section 3.4): the largest Payload Length it
      accepts. 16 384 is the initial value; an endpoint may advertise up to
      16 777 215.

seq:
  - id: payload_len
    type: u4
    doc: |
      Payload Length: the number of bytes after the 16-byte header (metadata, body
      and, if the CRC flag is set, the 4-byte trailer). The frame occupies exactly
      `16 + payload_len` bytes, whatever its type, so every frame can be skipped.
    doc-ref: PROTOCOL.md section 4.1
  - id: type
    type: u1
    enum: frame_type
    doc: |
      Frame type (section 5). 0x00 and 0x09..0x7F are invalid (PROTOCOL_ERROR, step 5);
      0x80..0xFF are extension frames (section 19.3).
    doc-ref: PROTOCOL.md section 5
  - id: flags
    type: u1
    doc: |
      Flag bits (section 4.2). 0x80 (CRC) is defined for every type; the meaning of
      the other bits depends on the type, see the `flag_*` instances and
      `allowed_flags`. 0x40 is reserved on every core type.
    doc-ref: PROTOCOL.md section 4.2
  - id: meta_len
    type: u2
    doc: |
      Metadata Length: number of bytes of TLV metadata at the start of the payload.
      `meta_len + crc_len <= payload_len` (FRAME_SIZE_ERROR, step 6). Not interpreted
      for extension frames.
    doc-ref: PROTOCOL.md section 4.1
  - id: stream_id
    type: u4
    doc: |
      Stream ID; 0 is the connection itself. HELLO, PING and GOAWAY require 0; CALL,
      DATA, STATUS and CANCEL require a non-zero id; WINDOW takes either (step 8).
    doc-ref: PROTOCOL.md section 7
  - id: arg
    type: u4
    doc: |
      Argument, type-specific: HELLO highest version (>= 1), CALL and DATA 0, STATUS
      and CANCEL a status code (see `status_code`), WINDOW the credit increment
      (1 .. 2^31-1), PING opaque, GOAWAY a connection error code (see `error_code`).
    doc-ref: PROTOCOL.md section 5
  - id: check_frame_size
    -error-code: frame_size_error
    size: 0
    valid:
      expr: payload_len <= max_frame_size
    doc: |
      Section 17 step 2: Payload Length above the receiver's MAX_FRAME_SIZE is a
      FRAME_SIZE_ERROR. Checked once the 16-byte header is complete (step 1) and
      before the payload is read (step 3), so an oversized frame is rejected without
      waiting for its payload.
  - id: payload
    size: payload_len
    type: frame_payload
    doc: |
      Everything after the header. Reading it first makes an incomplete frame an
      end-of-stream error (step 3) before any check on its content; the
      remaining checks (steps 4 to 13) are the first fields of `frame_payload`.

instances:
  frame_len:
    value: 16 + payload_len
    doc: Total size of the frame in bytes, header included.
  has_crc:
    value: (flags & 0x80) != 0
    doc: Flag 0x80 CRC, on every type; the last 4 bytes of the payload are a CRC-32 trailer (section 11).
  crc_len:
    value: 'has_crc ? 4 : 0'
    doc: Size of the CRC trailer in bytes (4 if `has_crc`, otherwise 0).
  is_core:
    value: type.to_i >= 1 and type.to_i <= 8
    doc: The type is one of the core frame types 0x01..0x08 of section 5.
  is_extension:
    value: type.to_i >= 0x80
    doc: The type is an extension frame type 0x80..0xFF (section 19.3).
  body_len:
    value: payload_len - meta_len - crc_len
    doc: |
      Body size of a core frame: `payload_len - meta_len - crc_len` (section 4.1).
      Meaningful only once step 6 has passed.
  flag_end_stream:
    value: (flags & 0x01) != 0
    doc: 'Flag 0x01 END_STREAM (CALL, DATA): the caller''s last frame on this stream.'
  flag_message:
    value: (flags & 0x02) != 0
    doc: 'Flag 0x02 MESSAGE (CALL, DATA, STATUS): the body carries message bytes.'
  flag_more:
    value: (flags & 0x04) != 0
    doc: 'Flag 0x04 MORE (CALL, DATA): the message continues in the next DATA frame.'
  flag_bit5:
    value: (flags & 0x20) != 0
    doc: Flag 0x20, meaning NO_REPLY on CALL, REFUSED on STATUS and ACK on PING; undefined elsewhere.
  codec_bits:
    value: (flags >> 3) & 3
    doc: Flags 0x08 and 0x10, the two-bit compression codec `(flags >> 3) & 3` (section 10) as a number.
  codec:
    value: codec_bits
    enum: codec
    doc: The compression codec of the message (CALL, DATA, STATUS), as an enum.
  allowed_flags:
    value: >-
      type == frame_type::call ? 0xbf :
      type == frame_type::data ? 0x9f :
      type == frame_type::status ? 0xba :
      type == frame_type::ping ? 0xa0 :
      0x80
    doc: |
      Flag bits defined for the type (section 4.2 and section 5): CALL END_STREAM,
      MESSAGE, MORE, CODEC, NO_REPLY, CRC (0xBF); DATA END_STREAM, MESSAGE, MORE,
      CODEC, CRC (0x9F); STATUS MESSAGE, CODEC, REFUSED, CRC (0xBA); PING ACK, CRC
      (0xA0); HELLO, CANCEL, WINDOW and GOAWAY CRC only (0x80).
  status_code:
    value: arg
    enum: status_code
    if: type == frame_type::status or type == frame_type::cancel
    doc: The Argument of STATUS and CANCEL, a status code (section 9.1). Codes 17 and above are reserved and read as UNKNOWN.
  error_code:
    value: arg
    enum: connection_error_code
    if: type == frame_type::goaway
    doc: The Argument of GOAWAY, a connection error code (section 9.2). Codes 13 and above are reserved and read as INTERNAL_ERROR.
  metadata:
    value: payload.metadata.tlvs
    if: is_core
    doc: The metadata TLVs of a core frame, in wire order (section 6).
  body:
    value: payload.body
    if: is_core
    doc: The body of a core frame (message bytes, or GOAWAY's Accepted Calls).
  ext_payload:
    value: payload.ext_payload
    if: is_extension
    doc: The payload of an extension frame, without the CRC trailer (section 19.3).
  crc:
    value: payload.crc
    if: has_crc
    doc: The CRC-32 trailer, u4 little-endian (section 11). Its value is not verified by this file.

types:
  frame_payload:
    doc: |
      The `payload_len` bytes after the header. Its first fields are zero-length
      checks in the order of section 17 steps 4 to 12; then metadata, body and CRC
      trailer of a core frame, or the opaque payload of an extension frame.
    seq:
      - id: check_crc_room
        -error-code: frame_size_error
        size: 0
        valid:
          expr: not _parent.has_crc or _io.size >= 4
        doc: |
          Step 4: a frame with the CRC flag and a Payload Length below 4 is a
          FRAME_SIZE_ERROR (section 11), extension frames included. The trailer's
          value (CRC_ERROR) is not checked here.
      - id: check_type
        -error-code: protocol_error
        size: 0
        valid:
          expr: _parent.is_core or _parent.is_extension
        doc: |
          Step 5: type 0x00 and the reserved types 0x09..0x7F are a PROTOCOL_ERROR.
          Extension types (0x80 and above) skip steps 6 to 13.
      - id: check_meta_len
        -error-code: frame_size_error
        size: 0
        if: _parent.is_core
        valid:
          expr: _parent.meta_len + _parent.crc_len <= _io.size
        doc: 'Step 6: Metadata Length + CRC size > Payload Length is a FRAME_SIZE_ERROR.'
      - id: check_flags
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: (_parent.flags | _parent.allowed_flags) == _parent.allowed_flags
        doc: 'Step 7: a flag bit that is undefined for the type (see `allowed_flags`) is a PROTOCOL_ERROR.'
      - id: check_stream_id
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: >-
            (_parent.type == frame_type::hello or _parent.type == frame_type::ping
             or _parent.type == frame_type::goaway) ? _parent.stream_id == 0 :
            _parent.type == frame_type::window ? true :
            _parent.stream_id != 0
        doc: |
          Step 8: HELLO, PING and GOAWAY need Stream ID 0; CALL, DATA, STATUS and
          CANCEL a non-zero one; WINDOW either. Otherwise PROTOCOL_ERROR.
      - id: check_payload_size
        -error-code: frame_size_error
        size: 0
        if: _parent.is_core
        valid:
          expr: >-
            (_parent.type == frame_type::hello or _parent.type == frame_type::cancel)
              ? _parent.body_len == 0 :
            (_parent.type == frame_type::window or _parent.type == frame_type::ping)
              ? _io.size == _parent.crc_len :
            _parent.type == frame_type::goaway ? _parent.body_len == 8 :
            true
        doc: |
          Step 9: HELLO and CANCEL have an empty body; WINDOW and PING an empty payload
          apart from a CRC trailer (so no metadata either); GOAWAY a body of exactly
          8 bytes. Otherwise FRAME_SIZE_ERROR.
      - id: check_rule1_more_needs_message
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: not _parent.flag_more or _parent.flag_message
        doc: 'Step 10, section 4.2 rule 1: MORE requires MESSAGE (PROTOCOL_ERROR).'
      - id: check_rule2_more_not_end
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: not (_parent.flag_more and _parent.flag_end_stream)
        doc: 'Step 10, rule 2: MORE and END_STREAM are not both set (PROTOCOL_ERROR).'
      - id: check_rule3_codec
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: (_parent.codec_bits == 0 or _parent.flag_message) and _parent.codec_bits != 3
        doc: 'Step 10, rule 3: CODEC is 0 unless MESSAGE is set, and the value 3 is reserved (PROTOCOL_ERROR).'
      - id: check_rule4_body_needs_message
        -error-code: protocol_error
        size: 0
        if: >-
          _parent.type == frame_type::call or _parent.type == frame_type::data
          or _parent.type == frame_type::status
        valid:
          expr: _parent.body_len == 0 or _parent.flag_message
        doc: |
          Step 10, rule 4: the body of CALL, DATA and STATUS is empty unless MESSAGE
          is set (PROTOCOL_ERROR). The bodies of the other types are fixed by step 9.
      - id: check_rule5_no_reply
        -error-code: protocol_error
        size: 0
        if: _parent.type == frame_type::call
        valid:
          expr: not _parent.flag_bit5 or (_parent.flag_end_stream and _parent.flag_message)
        doc: 'Step 10, rule 5: NO_REPLY requires END_STREAM and MESSAGE (PROTOCOL_ERROR).'
      - id: check_rule6_data_not_empty
        -error-code: protocol_error
        size: 0
        if: _parent.type == frame_type::data
        valid:
          expr: _parent.flag_message or _parent.flag_end_stream
        doc: 'Step 10, rule 6: a DATA frame sets MESSAGE or END_STREAM or both (PROTOCOL_ERROR).'
      - id: check_rule7_refused
        -error-code: protocol_error
        size: 0
        if: _parent.type == frame_type::status
        valid:
          expr: not _parent.flag_bit5 or (not _parent.flag_message and _parent.arg != 0)
        doc: |
          Step 10, rule 7: REFUSED is not combined with MESSAGE, and a STATUS with
          REFUSED does not carry status OK (PROTOCOL_ERROR).
      - id: check_version
        -error-code: version_error
        size: 0
        if: _parent.type == frame_type::hello
        valid:
          expr: _parent.arg != 0
        doc: 'Step 11: a HELLO whose Argument (highest supported version) is 0 is a VERSION_ERROR (section 3.3).'
      - id: check_argument
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: >-
            (_parent.type == frame_type::call or _parent.type == frame_type::data)
              ? _parent.arg == 0 :
            _parent.type == frame_type::cancel ? _parent.arg != 0 :
            _parent.type == frame_type::window
              ? (_parent.arg >= 1 and _parent.arg <= 0x7fffffff) :
            true
        doc: |
          Step 11: a non-zero Argument on CALL or DATA, a zero one (OK) on CANCEL and a
          WINDOW increment outside 1 .. 2^31-1 are a PROTOCOL_ERROR.
      - id: check_min_chunk
        -error-code: protocol_error
        size: 0
        if: _parent.is_core
        valid:
          expr: not _parent.flag_more or _parent.body_len >= 1024
        doc: 'Step 12, section 4.2 rule 8: a frame with MORE carries a body of at least 1 024 bytes, MIN_CHUNK (PROTOCOL_ERROR).'
      - id: metadata
        size: _parent.meta_len
        type: metadata(_parent.type, _parent.arg)
        if: _parent.is_core
        doc: Step 13, the metadata block of a core frame (section 6).
      - id: body
        size: _parent.body_len
        if: _parent.is_core
        doc: |
          Body of a core frame: the message bytes (or a chunk of a message, possibly
          compressed) of CALL, DATA and STATUS with MESSAGE; empty for HELLO, CANCEL,
          WINDOW and PING; GOAWAY's Accepted Calls (see `accepted_calls`).
      - id: ext_payload
        size: _io.size - _parent.crc_len
        if: _parent.is_extension
        doc: |
          Payload of an extension frame, uninterpreted: everything after the header
          except the CRC trailer (section 19.3).
      - id: crc
        type: u4
        if: _parent.has_crc
        doc: |
          CRC-32 (ISO-HDLC / zlib) of every frame byte before it, header included,
          u4 little-endian (section 11). Its value is not verified here.
    instances:
      accepted_calls:
        pos: _parent.meta_len
        type: u8
        if: _parent.type == frame_type::goaway
        doc: |
          GOAWAY body: the number of CALL frames the sender had received from the
          receiver when it sent the GOAWAY (section 5.8).

  metadata:
    doc: |
      The metadata block: a sequence of TLVs that fills exactly Metadata Length
      bytes, without padding (section 6.1). Parsed from a substream of exactly
      `meta_len` bytes, so a TLV cannot reach into the body.
    doc-ref: PROTOCOL.md section 6
    params:
      - id: frame_type
        type: u1
        enum: frame_type
        doc: Type of the frame that carries the block; decides which tags are allowed (section 6.3).
      - id: argument
        type: u4
        doc: Argument of the frame; HELLO's bounds the MIN_VERSION setting (section 3.4).
    seq:
      - id: tlvs
        type: tlv
        repeat: eos
        doc: The TLVs in wire order.

  tlv:
    doc: |
      One metadata entry: Tag (16), Length (16), Value (Length bytes), integers
      little-endian (section 6.1).
    doc-ref: PROTOCOL.md section 6
    seq:
      - id: check_header_fits
        -error-code: metadata_error
        size: 0
        valid:
          expr: _io.size - _io.pos >= 4
        doc: 'Step 13: a TLV whose 4-byte header does not fit in the remaining metadata bytes is a METADATA_ERROR.'
      - id: tag
        -error-code: metadata_error
        type: u2
        enum: tlv_tag
        valid:
          expr: >-
            tag.to_i != 0 and (
              tag.to_i >= 0x4000 ? true :
              tag.to_i <= 0x000a ? _parent.frame_type == frame_type::hello :
              (tag == tlv_tag::method or tag == tlv_tag::deadline)
                ? _parent.frame_type == frame_type::call :
              tag == tlv_tag::reason
                ? (_parent.frame_type == frame_type::status
                   or _parent.frame_type == frame_type::cancel
                   or _parent.frame_type == frame_type::goaway) :
              tag == tlv_tag::details ? _parent.frame_type == frame_type::status :
              tag == tlv_tag::entry
                ? (_parent.frame_type == frame_type::call
                   or _parent.frame_type == frame_type::data
                   or _parent.frame_type == frame_type::status) :
              false)
        doc: |
          Tag (section 6.2). METADATA_ERROR for tag 0, for an unknown must-understand
          tag (0x0001..0x3FFF not in section 6.3) and for a known must-understand tag
          in a frame type not listed for it. Ignorable tags (0x4000..0xFFFF), known
          or not, are accepted anywhere and skipped by a receiver that does not use
          them. (Step 13 puts the structure check of `value_len` first; as both are
          METADATA_ERROR, checking the tag first is not observable.)
      - id: value_len
        -error-code: metadata_error
        type: u2
        valid:
          expr: >-
            value_len <= _io.size - _io.pos and (
              is_setting ? value_len == 4 :
              tag == tlv_tag::deadline ? value_len == 8 :
              (tag == tlv_tag::method or tag == tlv_tag::entry) ? value_len >= 1 :
              true)
        doc: |
          Length of the value in bytes. METADATA_ERROR if the value does not fit in
          the remaining metadata bytes, or if a known tag has a value of the wrong
          size: 4 bytes for settings, 8 for DEADLINE, at least 1 for METHOD and ENTRY.
      - id: value
        -error-code: metadata_error
        size: value_len
        valid:
          expr: 'tag == tlv_tag::entry ? (value[0] != 0 and value[0] < value_len) : true'
        doc: |
          The value bytes. ENTRY: a Key Length byte (1 .. 255), the key, then the
          entry's value; a Key Length of 0 or a key that does not fit in the TLV is a
          METADATA_ERROR (the key's character set `[a-z0-9._-]` is not checked here).
          Settings: a u4 (see `setting_value`). METHOD and REASON are UTF-8 (not
          checked here). Ignorable tags (AGENT, TRACE, 0x4000 and above) are never
          validated, whatever their frame type, size or content (section 6.2).
      - id: check_setting_range
        -error-code: handshake_error
        size: 0
        if: is_setting
        valid:
          expr: setting_in_range
        doc: |
          Step 13, value content of a setting: a value outside the allowed range of
          section 3.4 is a HANDSHAKE_ERROR (MIN_VERSION 1 .. HELLO's Argument,
          MAX_FRAME_SIZE 16 384 .. 16 777 215, MAX_METADATA_SIZE 256 .. 65 535,
          INITIAL_STREAM_WINDOW 65 536 .. 2^31-1, INITIAL_CONNECTION_WINDOW
          262 144 .. 2^31-1; the other settings take any value).
    instances:
      is_setting:
        value: tag.to_i >= 0x0001 and tag.to_i <= 0x000a
        doc: The tag is one of the HELLO settings 0x0001..0x000A (section 3.4).
      setting_value:
        value: value[0] + (value[1] << 8) + (value[2] << 16) + (value[3] << 24)
        if: is_setting
        doc: The value of a setting, u4 little-endian.
      setting_in_range:
        value: >-
          tag == tlv_tag::min_version ? (setting_value >= 1 and setting_value <= _parent.argument) :
          tag == tlv_tag::max_frame_size ? (setting_value >= 16384 and setting_value <= 16777215) :
          tag == tlv_tag::max_metadata_size ? (setting_value >= 256 and setting_value <= 65535) :
          tag == tlv_tag::initial_stream_window ? (setting_value >= 65536 and setting_value <= 0x7fffffff) :
          tag == tlv_tag::initial_connection_window ? (setting_value >= 262144 and setting_value <= 0x7fffffff) :
          true
        if: is_setting
        doc: The setting's value lies in its allowed range (section 3.4 table).
      entry_key_len:
        value: value[0]
        if: tag == tlv_tag::entry
        doc: ENTRY Key Length, the first value byte; the key is the next `entry_key_len` bytes, the entry's value the rest.

enums:
  frame_type:
    0x01:
      id: hello
      doc: First frame in each direction; carries the highest version and the settings (section 5.1).
    0x02:
      id: call
      doc: Opens a stream (or makes a one-way call) with its method and first message (section 5.2).
    0x03:
      id: data
      doc: A message or chunk on an open stream, or the caller's half-close (section 5.3).
    0x04:
      id: status
      doc: The callee's terminal frame with the status code and final message (section 5.4).
    0x05:
      id: cancel
      doc: The caller's cancellation of a stream (section 5.5).
    0x06:
      id: window
      doc: Flow-control credit for a stream or the connection (section 5.6).
    0x07:
      id: ping
      doc: Keepalive and round-trip probe; ACK answers one (section 5.7).
    0x08:
      id: goaway
      doc: Starts a drain or reports a connection error (section 5.8).
    0x09:
      id: reserved_blob_ref
      doc: Reserved for a shared-memory reference frame; invalid in version 1 (section 19.1).

  tlv_tag:
    0x0001:
      id: min_version
      doc: HELLO setting, lowest supported version, 1 .. Argument.
    0x0002:
      id: max_frame_size
      doc: HELLO setting, 16 384 .. 16 777 215.
    0x0003:
      id: max_message_size
      doc: HELLO setting, 0 .. 2^32-1.
    0x0004:
      id: max_metadata_size
      doc: HELLO setting, 256 .. 65 535.
    0x0005:
      id: max_concurrent_streams
      doc: HELLO setting, 0 .. 2^32-1.
    0x0006:
      id: initial_stream_window
      doc: HELLO setting, 65 536 .. 2^31-1.
    0x0007:
      id: initial_connection_window
      doc: HELLO setting, 262 144 .. 2^31-1.
    0x0008:
      id: compression
      doc: HELLO setting, bitmap of codecs the sender can decompress.
    0x0009:
      id: features
      doc: HELLO setting, bitmap; bit 0 CRC_REQUESTED.
    0x000a:
      id: idle_timeout
      doc: HELLO setting, milliseconds, 0 = never.
    0x0010:
      id: method
      doc: CALL, required, once; UTF-8 procedure name, 1 .. 65 535 bytes.
    0x0011:
      id: deadline
      doc: CALL, once; u64 microseconds remaining (section 12).
    0x0012:
      id: reason
      doc: STATUS, CANCEL, GOAWAY, once; UTF-8 human-readable text, may be empty.
    0x0013:
      id: details
      doc: STATUS, once; opaque bytes (e.g. an encoded google.rpc.Status).
    0x0014:
      id: entry
      doc: CALL, DATA, STATUS, repeatable; Key Length (8), Key, Value.
    0x4001:
      id: agent
      doc: HELLO, once, ignorable; UTF-8 implementation name and version.
    0x4002:
      id: trace
      doc: CALL, once, ignorable; W3C trace context (version, trace-id, parent-id, trace-flags).

  codec:
    0:
      id: identity
      doc: Uncompressed.
    1:
      id: lz4
      doc: One LZ4 frame (LZ4 Frame Format 1.6).
    2:
      id: zstd
      doc: One Zstandard frame (RFC 8878).
    3:
      id: reserved
      doc: Reserved; PROTOCOL_ERROR (section 4.2 rule 3).

  status_code:
    0:
      id: ok
      doc: Success.
    1:
      id: cancelled
      doc: The caller cancelled (CANCEL, section 13).
    2:
      id: unknown
      doc: Unknown error; also how a receiver treats reserved codes 17 and above.
    3: invalid_argument
    4:
      id: deadline_exceeded
      doc: The deadline passed (section 12), on either side.
    5: not_found
    6: already_exists
    7: permission_denied
    8:
      id: resource_exhausted
      doc: A message or the metadata is over the receiver's limit (section 16).
    9: failed_precondition
    10: aborted
    11: out_of_range
    12:
      id: unimplemented
      doc: Unknown method.
    13:
      id: internal
      doc: Decompression failure, handler failure.
    14:
      id: unavailable
      doc: REFUSED calls; calls failed by a closed connection.
    15: data_loss
    16: unauthenticated

  connection_error_code:
    0:
      id: no_error
      doc: Graceful drain or close.
    1:
      id: protocol_error
      doc: A rule of PROTOCOL.md was broken (generic).
    2:
      id: internal_error
      doc: The sender failed internally; also how a receiver treats reserved codes 13 and above.
    3:
      id: flow_control_error
      doc: Credit exceeded or window overflow.
    4:
      id: frame_size_error
      doc: A frame or one of its parts has a forbidden size.
    5:
      id: stream_state_error
      doc: A frame not allowed in the stream's state.
    6:
      id: crc_error
      doc: A CRC trailer did not match.
    7:
      id: compression_error
      doc: A codec the receiver did not offer.
    8:
      id: version_error
      doc: No common protocol version (or HELLO Argument 0).
    9:
      id: handshake_error
      doc: Bad preface, missing or repeated HELLO, setting out of range.
    10:
      id: metadata_error
      doc: Malformed metadata block or tag.
    11:
      id: enhance_your_calm
      doc: A budget was exceeded (section 18).
    12:
      id: timeout
      doc: Handshake, keepalive or frame-completion timeout.
