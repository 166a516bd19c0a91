/* Everything a CALL or STATUS may carry, through the sans-IO layer from C: request
 * metadata entries (muxwire_conn_open_call_with) read on the other end with the metadata
 * iterator (muxwire_metadata_next_entry), compressed messages (muxwire_compress, then
 * muxwire_decompress of what the event reports, per its codec), a reply with trailers
 * (muxwire_conn_reply_with), a compressed DATA message (muxwire_conn_send_with), a
 * failure with a reason, DETAILS and trailers (muxwire_conn_fail_with); and the refusals: a codec the peer did not offer, a bad key,
 * corrupt or oversized compressed input. Two connections joined in memory. */
#include <stdint.h>

#include "check.h"

#define TAG_DETAILS 0x0013
#define BIG 4096

static uint64_t now_us = 1000000;

static void pump(muxwire_conn *from, muxwire_conn *to) {
    const uint8_t *data = NULL;
    size_t len = 0;
    EXPECT_OK(muxwire_conn_poll_transmit(from, now_us, &data, &len));
    if (len > 0) {
        EXPECT_OK(muxwire_conn_feed(to, now_us, data, len));
        EXPECT_OK(muxwire_conn_transmitted(from, len));
    }
}

static void expect_event(muxwire_conn *c, muxwire_event *ev, int kind) {
    EXPECT_OK(muxwire_conn_poll_event(c, ev));
    if (ev->kind != kind) {
        printf("FAIL: event kind %d, expected %d\n", ev->kind, kind);
        exit(1);
    }
}

/* The next entry of a walk is key=value (the key is a view: compared by length). */
static void expect_entry(muxwire_metadata_iter *it, const char *key, const char *value,
                         size_t value_len) {
    muxwire_entry e;
    EXPECT_OK(muxwire_metadata_next_entry(it, &e));
    CHECK(e.key_len == strlen(key) && memcmp(e.key, key, e.key_len) == 0);
    CHECK(e.value_len == value_len && (value_len == 0 || memcmp(e.value, value, value_len) == 0));
}

/* The event's message, decompressed per its codec, equals `want` (BIG bytes of 'a'). */
static void expect_message(const muxwire_event *ev, int codec, const uint8_t *want) {
    CHECK(ev->has_message && ev->codec == codec && ev->message_len < BIG / 4);
    muxwire_reply *plain = NULL;
    EXPECT_OK(muxwire_decompress(ev->codec, ev->message, ev->message_len, 1 << 20, &plain));
    CHECK(muxwire_reply_len(plain) == BIG && memcmp(muxwire_reply_data(plain), want, BIG) == 0);
    muxwire_reply_free(plain);
}

static muxwire_reply *compressed(int codec, const uint8_t *data) {
    muxwire_reply *out = NULL;
    EXPECT_OK(muxwire_compress(codec, data, BIG, &out));
    CHECK(muxwire_reply_len(out) < BIG / 4);
    return out;
}

static muxwire_conn *conn(int side, uint32_t codecs) {
    muxwire_conn_config cfg;
    muxwire_conn *c = NULL;
    EXPECT_OK(muxwire_conn_config_init(&cfg, side));
    cfg.compression = codecs;
    EXPECT_OK(muxwire_conn_new(&cfg, now_us, &c));
    return c;
}

static void codec_errors(const uint8_t *plain) {
    muxwire_reply *out = NULL;
    muxwire_reply *lz4 = compressed(MUXWIRE_CODEC_LZ4, plain);
    EXPECT_RESULT(muxwire_decompress(MUXWIRE_CODEC_LZ4, muxwire_reply_data(lz4),
                                     muxwire_reply_len(lz4), BIG - 1, &out),
                  MUXWIRE_RESULT_RESOURCE_EXHAUSTED);
    EXPECT_LAST_ERROR_HAS("exceeds 4095 bytes");
    muxwire_reply_free(lz4);
    static const uint8_t junk[] = "not a zstd frame";
    EXPECT_RESULT(muxwire_decompress(MUXWIRE_CODEC_ZSTD, junk, sizeof junk, BIG, &out),
                  MUXWIRE_RESULT_INTERNAL);
    EXPECT_RESULT(muxwire_decompress(MUXWIRE_CODEC_LZ4, junk, sizeof junk, BIG, &out),
                  MUXWIRE_RESULT_INTERNAL);
    EXPECT_RESULT(muxwire_decompress(3, junk, sizeof junk, BIG, &out),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_compress(9, junk, sizeof junk, &out), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_decompress(MUXWIRE_CODEC_LZ4, junk, sizeof junk, BIG, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_compress(MUXWIRE_CODEC_LZ4, NULL, 3, &out), MUXWIRE_RESULT_NULL_ARGUMENT);
    CHECK(out == NULL);
    /* Identity is a copy. */
    EXPECT_OK(muxwire_decompress(MUXWIRE_CODEC_IDENTITY, junk, 3, 3, &out));
    CHECK(muxwire_reply_len(out) == 3 && memcmp(muxwire_reply_data(out), "not", 3) == 0);
    muxwire_reply_free(out);
}

int main(void) {
    static uint8_t plain[BIG];
    memset(plain, 'a', sizeof plain);
    /* The client accepts LZ4 only; the server LZ4 and Zstandard. */
    muxwire_conn *client = conn(MUXWIRE_SIDE_CONNECTOR, 1u << 1);
    muxwire_conn *server = conn(MUXWIRE_SIDE_ACCEPTOR, (1u << 1) | (1u << 2));
    muxwire_event ev;
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CONNECTED);
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_CONNECTED);

    /* A call with metadata and a Zstandard request; the reply in LZ4 with trailers. */
    muxwire_reply *zst = compressed(MUXWIRE_CODEC_ZSTD, plain);
    muxwire_entry meta[2] = {
        {.key = "trace-id", .value = (const uint8_t *)"abc", .value_len = 3},
        {.key = "bin", .key_len = 3, .value = (const uint8_t *)"x\0y", .value_len = 3},
    };
    muxwire_conn_call call = {
        .method = "m",
        .body = muxwire_reply_data(zst),
        .body_len = muxwire_reply_len(zst),
        .codec = MUXWIRE_CODEC_ZSTD,
        .timeout_us = 5000000,
        .metadata = meta,
        .metadata_count = 2,
    };
    uint32_t id = 0;
    EXPECT_OK(muxwire_conn_open_call_with(client, now_us, &call, &id));
    muxwire_reply_free(zst);
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.stream == id && ev.deadline_us == 5000000 && ev.end_stream);
    expect_message(&ev, MUXWIRE_CODEC_ZSTD, plain);
    muxwire_metadata_iter it;
    EXPECT_OK(muxwire_metadata_iter_init(&it, ev.metadata, ev.metadata_len));
    expect_entry(&it, "trace-id", "abc", 3); /* METHOD and DEADLINE are skipped */
    expect_entry(&it, "bin", "x\0y", 3);
    muxwire_entry e;
    EXPECT_RESULT(muxwire_metadata_next_entry(&it, &e), MUXWIRE_RESULT_AGAIN);
    EXPECT_OK(muxwire_conn_consume(server, ev.stream, ev.message_len));

    /* Zstandard is not among the client's codecs: refused with the core's reason. */
    muxwire_reply *lz4 = compressed(MUXWIRE_CODEC_LZ4, plain);
    muxwire_entry trailer = {.key = "took-us", .value = (const uint8_t *)"12", .value_len = 2};
    EXPECT_RESULT(muxwire_conn_reply_with(server, now_us, id, muxwire_reply_data(lz4),
                                          muxwire_reply_len(lz4), MUXWIRE_CODEC_ZSTD, &trailer, 1),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    CHECK(muxwire_conn_last_error_kind(server) == 11);
    muxwire_entry bad = {.key = "No-Caps"};
    EXPECT_RESULT(muxwire_conn_reply_with(server, now_us, id, NULL, 0, 0, &bad, 1),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("trailers[0].key \"No-Caps\" is not a metadata key");
    EXPECT_OK(muxwire_conn_reply_with(server, now_us, id, muxwire_reply_data(lz4),
                                      muxwire_reply_len(lz4), MUXWIRE_CODEC_LZ4, &trailer, 1));
    muxwire_reply_free(lz4);
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == id && ev.status == 0);
    expect_message(&ev, MUXWIRE_CODEC_LZ4, plain);
    EXPECT_OK(muxwire_metadata_iter_init(&it, ev.metadata, ev.metadata_len));
    expect_entry(&it, "took-us", "12", 2);
    EXPECT_RESULT(muxwire_metadata_next_entry(&it, &e), MUXWIRE_RESULT_AGAIN);
    EXPECT_OK(muxwire_conn_consume(client, ev.stream, ev.message_len));

    /* A failure with a reason, DETAILS and trailers. */
    call = (muxwire_conn_call){.method = "n"};
    EXPECT_OK(muxwire_conn_open_call_with(client, now_us, &call, &id));
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.has_message && ev.message_len == 0 && ev.codec == 0);
    muxwire_entry retry = {.key = "retry-after-ms", .value = (const uint8_t *)"50", .value_len = 2};
    EXPECT_RESULT(muxwire_conn_fail_with(server, now_us, id, 0, "x", NULL, 0, NULL, 0),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_OK(muxwire_conn_fail_with(server, now_us, id, MUXWIRE_RESULT_NOT_FOUND, "nope",
                                     (const uint8_t *)"d\0d", 3, &retry, 1));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == id && ev.status == 5 && !ev.has_message);
    CHECK(ev.reason_len == 4 && memcmp(ev.reason, "nope", 4) == 0);
    EXPECT_OK(muxwire_metadata_iter_init(&it, ev.metadata, ev.metadata_len));
    int saw_details = 0;
    muxwire_tlv t;
    while (muxwire_metadata_next(&it, &t) == MUXWIRE_RESULT_OK) {
        if (t.tag == TAG_DETAILS) {
            saw_details = t.value_len == 3 && memcmp(t.value, "d\0d", 3) == 0;
        }
    }
    CHECK(saw_details);
    EXPECT_OK(muxwire_metadata_iter_init(&it, ev.metadata, ev.metadata_len));
    expect_entry(&it, "retry-after-ms", "50", 2);

    /* A streaming call whose second message is an LZ4 DATA frame. */
    call = (muxwire_conn_call){.method = "s", .flags = MUXWIRE_CALL_STREAMING};
    EXPECT_OK(muxwire_conn_open_call_with(client, now_us, &call, &id));
    lz4 = compressed(MUXWIRE_CODEC_LZ4, plain);
    EXPECT_OK(muxwire_conn_send_with(client, now_us, id, muxwire_reply_data(lz4),
                                     muxwire_reply_len(lz4), MUXWIRE_CODEC_LZ4, false, true));
    muxwire_reply_free(lz4);
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(!ev.end_stream);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_MESSAGE);
    CHECK(ev.stream == id && ev.end_stream);
    expect_message(&ev, MUXWIRE_CODEC_LZ4, plain);
    EXPECT_OK(muxwire_conn_consume(server, ev.stream, ev.message_len));
    EXPECT_OK(muxwire_conn_reply_with(server, now_us, id, NULL, 0, 0, NULL, 0));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == id && ev.status == 0 && !ev.has_message);
    EXPECT_RESULT(muxwire_conn_send_with(client, now_us, id, NULL, 0, 9, false, true),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);

    /* The call struct's own checks. */
    EXPECT_RESULT(muxwire_conn_open_call_with(client, now_us, NULL, &id),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    call = (muxwire_conn_call){.method = NULL};
    EXPECT_RESULT(muxwire_conn_open_call_with(client, now_us, &call, &id),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("call->method");
    call = (muxwire_conn_call){.method = "m", .metadata_count = 1};
    EXPECT_RESULT(muxwire_conn_open_call_with(client, now_us, &call, &id),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    call = (muxwire_conn_call){.method = "m", .codec = 7};
    EXPECT_RESULT(muxwire_conn_open_call_with(client, now_us, &call, &id),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    /* A malformed ENTRY in a block nobody validated ends the walk. */
    static const uint8_t broken[] = {0x14, 0, 2, 0, 9, 'k'};
    EXPECT_OK(muxwire_metadata_iter_init(&it, broken, sizeof broken));
    EXPECT_RESULT(muxwire_metadata_next_entry(&it, &e), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("malformed ENTRY");
    EXPECT_RESULT(muxwire_metadata_next_entry(&it, &e), MUXWIRE_RESULT_AGAIN);
    EXPECT_RESULT(muxwire_metadata_next_entry(&it, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);

    codec_errors(plain);
    muxwire_conn_free(client);
    muxwire_conn_free(server);
    printf("test_sansio_meta: ok\n");
    return 0;
}
