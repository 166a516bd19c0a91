/* The frame codec from C: muxwire_frame_encode into a caller's buffer (size query,
 * too-small buffer, CRC trailer, extension frames), muxwire_frame_decode back into views
 * of that buffer (frame, incomplete with the bytes needed, invalid with the error code),
 * the metadata iterator (including a malformed block), error code names, NULL arguments.
 * The spec's vectors run through the same functions in tests/c/conformance. */
#include <stdint.h>

#include "check.h"

#define TAG_METHOD 0x0010
#define TAG_ENTRY 0x0014

static void round_trip_a_call(void) {
    static const uint8_t method[] = "echo";
    static const uint8_t entry[] = "\x05trace" "abc";
    static const uint8_t body[] = "hello";
    muxwire_tlv tlvs[2] = {{TAG_METHOD, method, 4}, {TAG_ENTRY, entry, 9}};
    muxwire_frame_fields f = {
        .frame_type = 2, /* CALL */
        .flags = 0x02 | 0x01 | 0x80, /* MESSAGE, END_STREAM, CRC */
        .stream_id = 1,
        .metadata = tlvs,
        .metadata_count = 2,
        .body = body,
        .body_len = 5,
    };
    size_t need = 0, len = 0;
    EXPECT_OK(muxwire_frame_encode(&f, NULL, 0, &need));
    CHECK(need == 16 + (4 + 4) + (4 + 9) + 5 + 4);
    uint8_t small[8];
    EXPECT_RESULT(muxwire_frame_encode(&f, small, sizeof small, &len),
                  MUXWIRE_RESULT_RESOURCE_EXHAUSTED);
    EXPECT_LAST_ERROR_HAS("takes 46 bytes");
    CHECK(len == 0); /* outputs only on success */
    uint8_t buf[64];
    EXPECT_OK(muxwire_frame_encode(&f, buf, sizeof buf, &len));
    CHECK(len == need);

    muxwire_frame_decoded d;
    EXPECT_OK(muxwire_frame_decode(buf, len, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_FRAME);
    CHECK(d.frame.frame_len == len && d.frame.frame_type == 2 && d.frame.flags == 0x83);
    CHECK(d.frame.stream_id == 1 && d.frame.arg == 0 && d.frame.crc && !d.frame.extension);
    CHECK(d.frame.meta_len == 21 && d.frame.metadata_len == 21);
    CHECK(d.frame.metadata == buf + 16); /* a view into the caller's buffer */
    CHECK(d.frame.body_len == 5 && memcmp(d.frame.body, "hello", 5) == 0);

    muxwire_metadata_iter it;
    muxwire_tlv t;
    EXPECT_OK(muxwire_metadata_iter_init(&it, d.frame.metadata, d.frame.metadata_len));
    EXPECT_OK(muxwire_metadata_next(&it, &t));
    CHECK(t.tag == TAG_METHOD && t.value_len == 4 && memcmp(t.value, "echo", 4) == 0);
    EXPECT_OK(muxwire_metadata_next(&it, &t));
    CHECK(t.tag == TAG_ENTRY && t.value_len == 9 && t.value[0] == 5);
    EXPECT_RESULT(muxwire_metadata_next(&it, &t), MUXWIRE_RESULT_AGAIN);
    EXPECT_RESULT(muxwire_metadata_next(&it, &t), MUXWIRE_RESULT_AGAIN);

    /* A prefix is incomplete and says how much more it needs; a flipped byte fails the
     * CRC; a tiny MAX_FRAME_SIZE is a FRAME_SIZE_ERROR before the payload arrives. */
    EXPECT_OK(muxwire_frame_decode(buf, 10, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_INCOMPLETE && d.needed == 6);
    EXPECT_OK(muxwire_frame_decode(buf, len - 1, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_INCOMPLETE && d.needed == 1);
    buf[len - 5] ^= 1;
    EXPECT_OK(muxwire_frame_decode(buf, len, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_INVALID);
    CHECK(strcmp(muxwire_error_code_name(d.error_code), "CRC_ERROR") == 0);
    CHECK(d.error_rule == 3);
    EXPECT_OK(muxwire_frame_decode(buf, 16, 10, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_INVALID);
    CHECK(strcmp(muxwire_error_code_name(d.error_code), "FRAME_SIZE_ERROR") == 0);
    EXPECT_OK(muxwire_frame_decode(NULL, 0, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_INCOMPLETE && d.needed == 16);
}

static void extension_frames(void) {
    static const uint8_t payload[] = {1, 2, 3};
    muxwire_frame_fields f = {.frame_type = 0x9a, .meta_len = 7, .stream_id = 3,
                              .arg = 42, .body = payload, .body_len = 3};
    uint8_t buf[32];
    size_t len;
    EXPECT_OK(muxwire_frame_encode(&f, buf, sizeof buf, &len));
    CHECK(len == 19);
    muxwire_frame_decoded d;
    EXPECT_OK(muxwire_frame_decode(buf, len, 16384, &d));
    CHECK(d.outcome == MUXWIRE_DECODE_OUTCOME_FRAME && d.frame.extension);
    CHECK(d.frame.meta_len == 7 && d.frame.metadata == NULL && d.frame.metadata_len == 0);
    CHECK(d.frame.body_len == 3 && d.frame.body[2] == 3 && d.frame.arg == 42);
    muxwire_tlv tlv = {TAG_METHOD, payload, 3};
    f.metadata = &tlv;
    f.metadata_count = 1;
    EXPECT_RESULT(muxwire_frame_encode(&f, buf, sizeof buf, &len),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("extension frame carries no metadata");
}

static void misuse(void) {
    muxwire_frame_decoded d;
    muxwire_frame_fields f = {.frame_type = 7};
    size_t len;
    uint8_t buf[32];
    EXPECT_RESULT(muxwire_frame_decode(buf, 16, 16384, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_frame_decode(NULL, 16, 16384, &d), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("input");
    EXPECT_RESULT(muxwire_frame_encode(NULL, buf, sizeof buf, &len), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_frame_encode(&f, buf, sizeof buf, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_frame_encode(&f, NULL, 16, &len), MUXWIRE_RESULT_NULL_ARGUMENT);
    f.metadata_count = 2; /* with a NULL list */
    EXPECT_RESULT(muxwire_frame_encode(&f, buf, sizeof buf, &len), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("frame->metadata");

    /* A block no decoder checked: the second TLV claims more bytes than there are. */
    static const uint8_t bad[] = {0x10, 0, 1, 0, 'x', 0x12, 0, 9, 0, 'y'};
    muxwire_metadata_iter it;
    muxwire_tlv t;
    EXPECT_OK(muxwire_metadata_iter_init(&it, bad, sizeof bad));
    EXPECT_OK(muxwire_metadata_next(&it, &t));
    CHECK(t.tag == 0x10 && t.value_len == 1 && t.value[0] == 'x');
    EXPECT_RESULT(muxwire_metadata_next(&it, &t), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("malformed at byte 5");
    EXPECT_RESULT(muxwire_metadata_next(&it, &t), MUXWIRE_RESULT_AGAIN);
    EXPECT_RESULT(muxwire_metadata_iter_init(NULL, bad, 1), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_metadata_iter_init(&it, NULL, 1), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_metadata_next(NULL, &t), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_metadata_next(&it, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_OK(muxwire_metadata_iter_init(&it, NULL, 0));
    EXPECT_RESULT(muxwire_metadata_next(&it, &t), MUXWIRE_RESULT_AGAIN);

    CHECK(strcmp(muxwire_error_code_name(0), "NO_ERROR") == 0);
    CHECK(strcmp(muxwire_error_code_name(11), "ENHANCE_YOUR_CALM") == 0);
    CHECK(strcmp(muxwire_error_code_name(999), "RESERVED") == 0);
    CHECK(muxwire_conn_unprocessed_input(NULL) == 0);
}

int main(void) {
    round_trip_a_call();
    extension_frames();
    misuse();
    printf("test_frame: ok\n");
    return 0;
}
