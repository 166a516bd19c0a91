/* The sans-IO layer from C: two connections (a client and a server end) joined in
 * memory, bytes moved between them by hand as a program moves them between sockets.
 * Unary calls, a failed call, a streaming call, a cancelled call, a deadline from the
 * timer, a ping, a drain, misuse refused with the core's reason, NULL arguments. */
#include <stdint.h>

#include "check.h"

static uint64_t now_us = 1000000;

/* Moves everything `from` has to send into `to`. Returns the number of bytes moved. */
static size_t pump(muxwire_conn *from, muxwire_conn *to) {
    const uint8_t *data = NULL;
    size_t len = 0;
    EXPECT_OK(muxwire_conn_poll_transmit(from, now_us, &data, &len));
    if (len > 0) {
        EXPECT_OK(muxwire_conn_feed(to, now_us, data, len));
        EXPECT_OK(muxwire_conn_transmitted(from, len));
    }
    return len;
}

/* Pumps both ways until neither has anything to send. */
static void settle(muxwire_conn *a, muxwire_conn *b) {
    for (int round = 0; round < 100; round++) {
        /* Events must be polled before more input; callers poll them between pumps. */
        if (pump(a, b) == 0 && pump(b, a) == 0) {
            return;
        }
    }
    CHECK(0 && "the connections did not settle in 100 rounds");
}

static int next_event(muxwire_conn *c, muxwire_event *ev) {
    return muxwire_conn_poll_event(c, ev) == MUXWIRE_RESULT_OK;
}

static void expect_event(muxwire_conn *c, muxwire_event *ev, int kind) {
    CHECK(next_event(c, ev));
    if (ev->kind != kind) {
        printf("FAIL: event kind %d, expected %d\n", ev->kind, kind);
        exit(1);
    }
}

int main(void) {
    muxwire_conn_config cfg;
    muxwire_conn *client = NULL, *server = NULL;
    muxwire_event ev;

    EXPECT_RESULT(muxwire_conn_config_init(&cfg, 7), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("not a muxwire_side");
    EXPECT_OK(muxwire_conn_config_init(&cfg, MUXWIRE_SIDE_ACCEPTOR));
    cfg.max_frame_size = 10; /* below the protocol's minimum */
    EXPECT_RESULT(muxwire_conn_new(&cfg, now_us, &server), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("max_frame_size");
    CHECK(server == NULL);
    EXPECT_OK(muxwire_conn_config_init(&cfg, MUXWIRE_SIDE_ACCEPTOR));
    EXPECT_OK(muxwire_conn_new(&cfg, now_us, &server));
    EXPECT_OK(muxwire_conn_new(NULL, now_us, &client)); /* NULL: the connector's defaults */

    /* Handshake. */
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CONNECTED);
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_CONNECTED);
    CHECK(!next_event(client, &ev) && !next_event(server, &ev));

    /* A unary call answered OK. */
    uint32_t s1 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "echo", (const uint8_t *)"ping", 4, 0, 0, &s1));
    CHECK(s1 == 1);
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.stream == s1 && ev.method_len == 4 && memcmp(ev.method, "echo", 4) == 0);
    CHECK(ev.has_message && ev.message_len == 4 && memcmp(ev.message, "ping", 4) == 0);
    CHECK(ev.end_stream && !ev.one_way && ev.deadline_us == -1);
    EXPECT_OK(muxwire_conn_consume(server, ev.stream, ev.message_len));
    EXPECT_OK(muxwire_conn_reply(server, now_us, ev.stream, (const uint8_t *)"pong", 4));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == s1 && ev.status == 0 && ev.has_message && ev.message_len == 4);
    CHECK(memcmp(ev.message, "pong", 4) == 0);
    EXPECT_OK(muxwire_conn_consume(client, ev.stream, ev.message_len));

    /* A failed call carries its code and reason. */
    uint32_t s2 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "missing", NULL, 0, 0, 0, &s2));
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    EXPECT_RESULT(muxwire_conn_fail(server, now_us, ev.stream, 0, "x"), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_OK(muxwire_conn_fail(server, now_us, ev.stream, MUXWIRE_RESULT_UNIMPLEMENTED, "no such method"));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == s2 && ev.status == 12 && !ev.has_message);
    CHECK(ev.reason_len == strlen("no such method") && memcmp(ev.reason, "no such method", ev.reason_len) == 0);

    /* A streaming call: two messages up, one down, both ends half-close. */
    uint32_t s3 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "chat", (const uint8_t *)"a", 1, 0,
                                     MUXWIRE_CALL_STREAMING, &s3));
    EXPECT_OK(muxwire_conn_send(client, now_us, s3, (const uint8_t *)"b", 1, false, true));
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(!ev.end_stream && ev.message_len == 1 && ev.message[0] == 'a');
    uint32_t served = ev.stream;
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_MESSAGE);
    CHECK(ev.end_stream && ev.message_len == 1 && ev.message[0] == 'b');
    EXPECT_OK(muxwire_conn_send(server, now_us, served, (const uint8_t *)"c", 1, false, false));
    EXPECT_OK(muxwire_conn_reply(server, now_us, served, NULL, 0));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_MESSAGE);
    CHECK(ev.stream == s3 && ev.message_len == 1 && ev.message[0] == 'c');
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    CHECK(ev.stream == s3 && ev.status == 0 && !ev.has_message);

    /* Misuse is refused with the core's reason: the client cannot reply to its own call. */
    uint32_t s4 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "slow", NULL, 0, 0, 0, &s4));
    EXPECT_RESULT(muxwire_conn_reply(client, now_us, s4, NULL, 0), MUXWIRE_RESULT_FAILED_PRECONDITION);
    CHECK(muxwire_conn_last_error_kind(client) == 4); /* wrong role */
    EXPECT_RESULT(muxwire_conn_send(client, now_us, 999, NULL, 0, false, true), MUXWIRE_RESULT_NOT_FOUND);
    CHECK(muxwire_conn_last_error_kind(client) == 2); /* unknown stream */
    /* Cancelled by the caller: the server is told. */
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    EXPECT_OK(muxwire_conn_cancel(client, now_us, s4, MUXWIRE_RESULT_CANCELLED));
    CHECK(muxwire_conn_last_error_kind(client) == 0);
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CANCELLED);
    CHECK(ev.stream == s4 && ev.status == 1);
    EXPECT_OK(muxwire_conn_fail(server, now_us, s4, MUXWIRE_RESULT_CANCELLED, NULL));
    settle(client, server);
    while (next_event(client, &ev)) {
    }

    /* A deadline: the timer fires and the call fails locally. */
    uint32_t s5 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "slow", NULL, 0, 5000, 0, &s5));
    pump(client, server);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.deadline_us > 0 && ev.deadline_us <= 5000);
    uint64_t at = 0;
    EXPECT_OK(muxwire_conn_timeout(client, &at));
    CHECK(at > now_us && at <= now_us + 5000);
    now_us = at;
    EXPECT_OK(muxwire_conn_on_timeout(client, now_us));
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_CALL_FAILED);
    CHECK(ev.stream == s5 && ev.status == 4 && ev.fail_reason == 1);
    EXPECT_OK(muxwire_conn_on_timeout(server, now_us));
    settle(client, server);
    while (next_event(server, &ev)) {
    }
    while (next_event(client, &ev)) {
    }

    /* A frame split anywhere waits for its rest; bytes fed while events wait are kept. */
    uint32_t s6 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "split", (const uint8_t *)"xyz", 3, 0, 0, &s6));
    const uint8_t *bytes = NULL;
    size_t len = 0;
    EXPECT_OK(muxwire_conn_poll_transmit(client, now_us, &bytes, &len));
    CHECK(len > 10);
    EXPECT_OK(muxwire_conn_feed(server, now_us, bytes, 5));
    EXPECT_RESULT(muxwire_conn_poll_event(server, &ev), MUXWIRE_RESULT_AGAIN);
    EXPECT_OK(muxwire_conn_feed(server, now_us, bytes + 5, len - 5));
    EXPECT_OK(muxwire_conn_transmitted(client, len));
    /* A second call fed before the first's event is taken. */
    uint32_t s7 = 0;
    EXPECT_OK(muxwire_conn_open_call(client, now_us, "split", (const uint8_t *)"second", 6, 0, 0, &s7));
    EXPECT_OK(muxwire_conn_poll_transmit(client, now_us, &bytes, &len));
    EXPECT_OK(muxwire_conn_feed(server, now_us, bytes, len));
    EXPECT_OK(muxwire_conn_transmitted(client, len));
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.stream == s6 && ev.message_len == 3 && memcmp(ev.message, "xyz", 3) == 0);
    expect_event(server, &ev, MUXWIRE_EVENT_KIND_CALL);
    CHECK(ev.stream == s7 && ev.message_len == 6 && memcmp(ev.message, "second", 6) == 0);
    EXPECT_RESULT(muxwire_conn_poll_event(server, &ev), MUXWIRE_RESULT_AGAIN);
    EXPECT_OK(muxwire_conn_reply(server, now_us, s6, NULL, 0));
    EXPECT_OK(muxwire_conn_reply(server, now_us, s7, NULL, 0));
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_STATUS);

    /* Ping. */
    EXPECT_OK(muxwire_conn_ping(client, now_us));
    pump(client, server);
    pump(server, client);
    expect_event(client, &ev, MUXWIRE_EVENT_KIND_PONG);

    /* NULL arguments. */
    EXPECT_RESULT(muxwire_conn_feed(NULL, now_us, NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("conn is NULL");
    EXPECT_RESULT(muxwire_conn_feed(client, now_us, NULL, 3), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_conn_poll_event(client, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_conn_open_call(client, now_us, NULL, NULL, 0, 0, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_conn_open_call(client, now_us, "m", NULL, 0, 0, 64, NULL), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_conn_transmitted(client, 1u << 30), MUXWIRE_RESULT_INVALID_ARGUMENT);
    CHECK(!muxwire_conn_is_closed(NULL));
    CHECK(muxwire_conn_last_error_kind(NULL) == 0);

    /* Drain: the connection closes once no call is left. */
    uint32_t code = 99;
    EXPECT_RESULT(muxwire_conn_close_code(client, &code), MUXWIRE_RESULT_AGAIN);
    CHECK(code == 99);
    EXPECT_OK(muxwire_conn_drain(server, now_us));
    settle(client, server);
    int closed = 0;
    while (next_event(server, &ev)) {
        closed |= ev.kind == MUXWIRE_EVENT_KIND_CLOSED;
    }
    CHECK(closed && muxwire_conn_is_closed(server));
    EXPECT_OK(muxwire_conn_close_code(server, &code));
    CHECK(code == 0);
    EXPECT_RESULT(muxwire_conn_feed(server, now_us, (const uint8_t *)"x", 1), MUXWIRE_RESULT_UNAVAILABLE);

    /* Garbage closes a connection with a protocol error, reported as an event. */
    muxwire_conn *victim = NULL;
    EXPECT_OK(muxwire_conn_new(&cfg, now_us, &victim));
    EXPECT_OK(muxwire_conn_feed(victim, now_us, (const uint8_t *)"GARBAGE!", 8));
    expect_event(victim, &ev, MUXWIRE_EVENT_KIND_CLOSED);
    CHECK(ev.error_code != 0 && !ev.by_peer && ev.reason_len > 0);
    CHECK(muxwire_conn_is_closed(victim));

    muxwire_conn_free(victim);
    muxwire_conn_free(client);
    muxwire_conn_free(server);
    muxwire_conn_free(NULL);
    printf("test_sansio: ok\n");
    return 0;
}
