/* Many servers behind one C client (muxwire_balanced): three C servers, calls spread
 * round robin over them (request metadata carried; blocking, callback and queued
 * calls), one server shut down and the calls
 * going to the other two, a server down at the start not failing the connect, each
 * endpoint's state and counts, the argument errors. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define SERVERS 3

/* Replies with the server's number (its userdata points to it) and the metadata count. */
static void which(void *userdata, muxwire_responder *r) {
    size_t count = 0;
    muxwire_responder_metadata(r, &count);
    uint8_t out[2] = {(uint8_t)(*(const int *)userdata), (uint8_t)count};
    EXPECT_OK(muxwire_responder_reply(r, out, sizeof out));
}

static void sleep_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Makes `calls` calls and counts which server answered each. */
static void spread(muxwire_balanced *b, int calls, const muxwire_call_options *opts,
                   int counts[SERVERS]) {
    for (int i = 0; i < SERVERS; i++) {
        counts[i] = 0;
    }
    for (int i = 0; i < calls; i++) {
        muxwire_reply *reply = NULL;
        EXPECT_OK(muxwire_balanced_call(b, "which", NULL, 0, opts, &reply));
        CHECK(muxwire_reply_len(reply) == 2);
        const uint8_t *d = muxwire_reply_data(reply);
        CHECK(d[0] < SERVERS);
        CHECK(d[1] == (opts ? 1 : 0));
        counts[d[0]]++;
        muxwire_reply_free(reply);
    }
}

/* Callback calls: each counts the server that answered. */
static atomic_int answered[SERVERS];
static atomic_int callbacks;

static void on_reply(void *userdata, muxwire_result status, const uint8_t *body, size_t len,
                     const char *message) {
    (void)userdata;
    (void)message;
    CHECK(status == MUXWIRE_RESULT_OK && len == 2 && body[0] < SERVERS);
    atomic_fetch_add(&answered[body[0]], 1);
    atomic_fetch_add(&callbacks, 1);
}

/* 30 callback calls and 30 queued ones, round robin: 10 and 10 per server. */
static void test_async(muxwire_balanced *b) {
    for (int i = 0; i < SERVERS; i++) {
        atomic_store(&answered[i], 0);
    }
    atomic_store(&callbacks, 0);
    for (int i = 0; i < 30; i++) {
        EXPECT_OK(muxwire_balanced_call_async(b, "which", NULL, 0, NULL, on_reply, NULL));
    }
    for (int t = 0; t < 1000 && atomic_load(&callbacks) < 30; t++) {
        sleep_ms(5);
    }
    CHECK(atomic_load(&callbacks) == 30);
    for (int i = 0; i < SERVERS; i++) {
        CHECK(atomic_load(&answered[i]) == 10);
    }
    EXPECT_RESULT(muxwire_balanced_call_async(b, "which", NULL, 0, NULL, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);

    muxwire_queue *q = NULL;
    EXPECT_OK(muxwire_queue_new(64, &q));
    for (uint64_t i = 0; i < 30; i++) {
        EXPECT_OK(muxwire_balanced_call_queued(b, "which", NULL, 0, NULL, q, 1000 + i));
    }
    int counts[SERVERS] = {0};
    uint64_t tags = 0;
    for (int i = 0; i < 30; i++) {
        muxwire_completion done;
        EXPECT_OK(muxwire_queue_wait(q, 5000, &done));
        CHECK(done.status == MUXWIRE_RESULT_OK && done.body_len == 2);
        CHECK(done.tag >= 1000 && done.tag < 1030);
        tags += done.tag - 1000;
        counts[done.body[0]]++;
    }
    CHECK(tags == 29 * 30 / 2);
    for (int i = 0; i < SERVERS; i++) {
        CHECK(counts[i] == 10);
    }
    EXPECT_RESULT(muxwire_balanced_call_queued(b, "which", NULL, 0, NULL, NULL, 0),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_queue_free(q);
    printf("ok  callback and queued calls, round robin\n");
}

static void test_arguments(muxwire_runtime *rt) {
    muxwire_balanced *b = NULL;
    const char *bad[] = {"tcp://127.0.0.1:1", "http://nowhere"};
    EXPECT_RESULT(muxwire_balanced_connect(rt, bad, 0, NULL, 0, &b),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("0 URLs");
    EXPECT_RESULT(muxwire_balanced_connect(rt, bad, 2, NULL, 0, &b),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_balanced_connect(rt, bad, 1, NULL, 7, &b),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("policy 7");
    EXPECT_RESULT(muxwire_balanced_connect(rt, NULL, 1, NULL, 0, &b),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    const char *with_null[] = {"tcp://127.0.0.1:1", NULL};
    EXPECT_RESULT(muxwire_balanced_connect(rt, with_null, 2, NULL, 0, &b),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("urls[1]");
    CHECK(b == NULL);
    muxwire_balanced_free(NULL);
    EXPECT_RESULT(muxwire_balanced_call(NULL, "x", NULL, 0, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);

    /* Nobody up: the connect succeeds (servers join later), calls fail fast. */
    const char *down[] = {"tcp://127.0.0.1:1"};
    EXPECT_OK(muxwire_balanced_connect(rt, down, 1, NULL, 0, &b));
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_balanced_call(b, "which", NULL, 0, NULL, &reply),
                  MUXWIRE_RESULT_UNAVAILABLE);
    EXPECT_RESULT(muxwire_balanced_call(b, "", NULL, 0, NULL, &reply),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("method is empty");
    muxwire_endpoint_stats st;
    EXPECT_OK(muxwire_balanced_endpoint_stats(b, "tcp://127.0.0.1:1", &st));
    CHECK(st.state != MUXWIRE_ENDPOINT_STATE_READY);
    EXPECT_RESULT(muxwire_balanced_endpoint_stats(b, "tcp://elsewhere:1", &st),
                  MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_OK(muxwire_balanced_close(b));
    muxwire_balanced_free(b);
    printf("ok  arguments; no server up\n");
}

int main(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    test_arguments(rt);

    static const int numbers[SERVERS] = {0, 1, 2};
    muxwire_server *servers[SERVERS];
    const char *urls[SERVERS];
    for (int i = 0; i < SERVERS; i++) {
        EXPECT_OK(muxwire_server_new(NULL, &servers[i]));
        EXPECT_OK(muxwire_server_handle(servers[i], "which", which, (void *)&numbers[i]));
        EXPECT_OK(muxwire_server_start(servers[i], rt, "tcp://127.0.0.1:0"));
        urls[i] = muxwire_server_endpoint(servers[i]);
    }
    muxwire_balanced *b = NULL;
    EXPECT_OK(muxwire_balanced_connect(rt, urls, SERVERS, NULL,
                                       MUXWIRE_BALANCE_POLICY_ROUND_ROBIN, &b));
    /* Every server joins (connections come up in the background). */
    for (int i = 0; i < SERVERS; i++) {
        muxwire_endpoint_stats st = {0};
        for (int t = 0; t < 500; t++) {
            EXPECT_OK(muxwire_balanced_endpoint_stats(b, urls[i], &st));
            if (st.state == MUXWIRE_ENDPOINT_STATE_READY) {
                break;
            }
            sleep_ms(10);
        }
        CHECK(st.state == MUXWIRE_ENDPOINT_STATE_READY);
    }
    muxwire_call_options *opts = NULL;
    EXPECT_OK(muxwire_call_options_new(&opts));
    EXPECT_OK(muxwire_call_options_add_metadata(opts, "trace-id", (const uint8_t *)"t", 1));
    int counts[SERVERS];
    spread(b, 30, opts, counts);
    for (int i = 0; i < SERVERS; i++) {
        CHECK(counts[i] == 10); /* round robin */
    }
    spread(b, 3, NULL, counts);
    muxwire_endpoint_stats st;
    EXPECT_OK(muxwire_balanced_endpoint_stats(b, urls[0], &st));
    CHECK(st.calls == 11 && st.failures == 0 && !st.ejected && st.in_flight == 0);
    EXPECT_OK(muxwire_balanced_notify(b, "nosuch", NULL, 0)); /* dropped by the server */
    printf("ok  round robin over three C servers\n");
    test_async(b);

    /* Server 1 goes away: every call still succeeds, on the other two. */
    char gone[128];
    snprintf(gone, sizeof gone, "%s", urls[1]);
    EXPECT_OK(muxwire_server_shutdown(servers[1], 1000));
    for (int t = 0; t < 500; t++) {
        EXPECT_OK(muxwire_balanced_endpoint_stats(b, gone, &st));
        if (st.state != MUXWIRE_ENDPOINT_STATE_READY) {
            break;
        }
        sleep_ms(10);
    }
    CHECK(st.state != MUXWIRE_ENDPOINT_STATE_READY);
    spread(b, 20, opts, counts);
    CHECK(counts[1] == 0 && counts[0] + counts[2] == 20 && counts[0] > 0 && counts[2] > 0);
    printf("ok  a server shut down: its calls go to the others\n");

    muxwire_call_options_free(opts);
    EXPECT_OK(muxwire_balanced_close(b));
    muxwire_reply *reply = NULL;
    CHECK(muxwire_balanced_call(b, "which", NULL, 0, NULL, &reply) != MUXWIRE_RESULT_OK);
    muxwire_balanced_free(b);
    for (int i = 0; i < SERVERS; i++) {
        EXPECT_OK(muxwire_server_shutdown(servers[i], 1000));
        muxwire_server_free(servers[i]);
    }
    muxwire_runtime_free(rt);
    printf("test_balanced: all passed\n");
    return 0;
}
