/* A failed call's whole status reaches C on every path: a C handler fails with a code,
 * a message, DETAILS and trailers (muxwire_responder_fail_with_trailers, and
 * muxwire_server_stream_fail_with for a streaming one); the C client reads them after a
 * blocking call or a stream's end (muxwire_last_error, _details, _trailers), inside a
 * completion callback (the same functions, during the callback), and from a completion
 * queue entry (its details and trailers fields). Bad trailers are refused and end the call
 * with INTERNAL. Over TCP and a Unix socket. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const uint8_t DETAILS[] = {'w', 'h', 'y', 0, 'n', 'o', 't'};

static void fail_rich(void *userdata, muxwire_responder *r) {
    (void)userdata;
    muxwire_entry trailers[2] = {
        {.key = "retry-after-ms", .value = (const uint8_t *)"50", .value_len = 2},
        {.key = "where", .key_len = 5, .value = (const uint8_t *)"shelf\0 3", .value_len = 8},
    };
    EXPECT_OK(muxwire_responder_fail_with_trailers(r, MUXWIRE_RESULT_NOT_FOUND, "no such thing",
                                                   DETAILS, sizeof DETAILS, trailers, 2));
}

/* A streaming handler failing the same way (muxwire_server_stream_fail_with). */
static void stream_fail_rich(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    muxwire_entry trailers[2] = {
        {.key = "retry-after-ms", .value = (const uint8_t *)"50", .value_len = 2},
        {.key = "where", .value = (const uint8_t *)"shelf\0 3", .value_len = 8},
    };
    EXPECT_OK(muxwire_server_stream_fail_with(call, MUXWIRE_RESULT_NOT_FOUND, "no such thing",
                                              DETAILS, sizeof DETAILS, trailers, 2));
}

static void stream_fail_bad(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    EXPECT_RESULT(muxwire_server_stream_fail_with(call, 0, "ok is no failure", NULL, 0, NULL, 0),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
}

static void fail_bad_trailer(void *userdata, muxwire_responder *r) {
    (void)userdata;
    muxwire_entry bad = {.key = "Not A Key", .value = NULL, .value_len = 0};
    EXPECT_RESULT(muxwire_responder_fail_with_trailers(r, 5, "x", NULL, 0, &bad, 1),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("trailers[0].key \"Not A Key\" is not a metadata key");
}

static void fail_plain(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_fail(r, MUXWIRE_RESULT_UNAVAILABLE, "plain", NULL, 0));
}

static void echo(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

/* Checks a rich failure's details and trailers, however they were delivered. */
static void expect_rich(const uint8_t *details, size_t details_len, const muxwire_entry *t,
                        size_t count) {
    CHECK(details_len == sizeof DETAILS && memcmp(details, DETAILS, sizeof DETAILS) == 0);
    CHECK(count == 2 && t != NULL);
    CHECK(strcmp(t[0].key, "retry-after-ms") == 0 && t[0].key_len == 14);
    CHECK(t[0].value_len == 2 && memcmp(t[0].value, "50", 2) == 0);
    CHECK(strcmp(t[1].key, "where") == 0 && t[1].key_len == 5);
    CHECK(t[1].value_len == 8 && memcmp(t[1].value, "shelf\0 3", 8) == 0);
}

static void blocking(muxwire_client *c) {
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_client_call(c, "fail.rich", NULL, 0, 0, &reply),
                  MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_LAST_ERROR_HAS("no such thing");
    size_t len = 0, count = 0;
    const uint8_t *details = muxwire_last_error_details(&len);
    const muxwire_entry *trailers = muxwire_last_error_trailers(&count);
    expect_rich(details, len, trailers, count);
    CHECK(muxwire_last_error_trailers(NULL) == trailers);

    EXPECT_RESULT(muxwire_client_call(c, "fail.bad", NULL, 0, 0, &reply), MUXWIRE_RESULT_INTERNAL);
    EXPECT_LAST_ERROR_HAS("the handler's status was bad");
    CHECK(muxwire_last_error_trailers(&count) == NULL && count == 0);

    EXPECT_RESULT(muxwire_client_call(c, "fail.plain", NULL, 0, 0, &reply),
                  MUXWIRE_RESULT_UNAVAILABLE);
    CHECK(muxwire_last_error_details(&len) == NULL && len == 0);
    CHECK(muxwire_last_error_trailers(&count) == NULL && count == 0);
    CHECK(reply == NULL);
}

/* What a callback saw, copied out while it ran. */
struct seen {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    muxwire_result status;
    int rich_ok;
    size_t details_len, trailers_count;
};

static void on_done(void *userdata, muxwire_result status, const uint8_t *body, size_t len,
                    const char *message) {
    struct seen *s = userdata;
    (void)body;
    (void)len;
    size_t dlen = 0, count = 0;
    const uint8_t *details = muxwire_last_error_details(&dlen);
    const muxwire_entry *t = muxwire_last_error_trailers(&count);
    int rich = status == MUXWIRE_RESULT_NOT_FOUND && strcmp(message, "no such thing") == 0 &&
               dlen == sizeof DETAILS && details != NULL &&
               memcmp(details, DETAILS, dlen) == 0 && count == 2 &&
               strcmp(t[1].key, "where") == 0 && t[1].value_len == 8;
    pthread_mutex_lock(&s->lock);
    s->status = status;
    s->rich_ok = rich;
    s->details_len = dlen;
    s->trailers_count = count;
    s->done = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void callback_call(muxwire_client *c, const char *method, struct seen *s) {
    memset(s, 0, sizeof *s);
    CHECK(pthread_mutex_init(&s->lock, NULL) == 0);
    CHECK(pthread_cond_init(&s->cond, NULL) == 0);
    EXPECT_OK(muxwire_client_call_async(c, method, (const uint8_t *)"x", 1, 0, on_done, s));
    pthread_mutex_lock(&s->lock);
    while (!s->done) {
        pthread_cond_wait(&s->cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

static void callbacks(muxwire_client *c) {
    struct seen s;
    callback_call(c, "fail.rich", &s);
    CHECK(s.rich_ok);
    /* A success carries none; a later failure without them shows none (nothing stale). */
    callback_call(c, "echo", &s);
    CHECK(s.status == MUXWIRE_RESULT_OK && s.details_len == 0 && s.trailers_count == 0);
    callback_call(c, "fail.plain", &s);
    CHECK(s.status == MUXWIRE_RESULT_UNAVAILABLE && s.details_len == 0 && s.trailers_count == 0);
}

static void queued(muxwire_client *c) {
    muxwire_queue *q = NULL;
    EXPECT_OK(muxwire_queue_new(0, &q));
    EXPECT_OK(muxwire_client_call_queued(c, "fail.rich", NULL, 0, 0, q, 1));
    EXPECT_OK(muxwire_client_call_queued(c, "echo", (const uint8_t *)"e", 1, 0, q, 2));
    EXPECT_OK(muxwire_client_call_queued(c, "fail.plain", NULL, 0, 0, q, 3));
    for (int i = 0; i < 3; i++) {
        muxwire_completion done;
        EXPECT_OK(muxwire_queue_wait(q, 60000, &done));
        if (done.tag == 1) {
            EXPECT_RESULT(done.status, MUXWIRE_RESULT_NOT_FOUND);
            CHECK(strcmp(done.message, "no such thing") == 0);
            expect_rich(done.details, done.details_len, done.trailers, done.trailers_count);
        } else {
            CHECK(done.tag == 2 || done.tag == 3);
            CHECK(done.status == (done.tag == 2 ? MUXWIRE_RESULT_OK : MUXWIRE_RESULT_UNAVAILABLE));
            CHECK(done.details == NULL && done.details_len == 0);
            CHECK(done.trailers == NULL && done.trailers_count == 0);
        }
    }
    muxwire_queue_free(q);
}

static void streaming(muxwire_client *c) {
    muxwire_stream *s = NULL;
    muxwire_reply *m = NULL;
    EXPECT_OK(muxwire_client_open_stream(c, "stream.fail", 0, &s));
    EXPECT_OK(muxwire_stream_finish(s));
    EXPECT_RESULT(muxwire_stream_recv(s, 60000, &m), MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_LAST_ERROR_HAS("no such thing");
    size_t len = 0, count = 0;
    const uint8_t *details = muxwire_last_error_details(&len);
    const muxwire_entry *trailers = muxwire_last_error_trailers(&count);
    expect_rich(details, len, trailers, count);
    muxwire_stream_free(s);

    EXPECT_OK(muxwire_client_open_stream(c, "stream.bad", 0, &s));
    EXPECT_OK(muxwire_stream_finish(s));
    EXPECT_RESULT(muxwire_stream_recv(s, 60000, &m), MUXWIRE_RESULT_INTERNAL);
    EXPECT_LAST_ERROR_HAS("bad status");
    CHECK(m == NULL);
    muxwire_stream_free(s);
    EXPECT_RESULT(muxwire_server_stream_fail_with(NULL, 5, NULL, NULL, 0, NULL, 0),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
}

static void run(const char *url) {
    muxwire_runtime *rt = NULL;
    muxwire_server *s = NULL;
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    EXPECT_OK(muxwire_server_new(NULL, &s));
    EXPECT_OK(muxwire_server_handle(s, "fail.rich", fail_rich, NULL));
    EXPECT_OK(muxwire_server_handle(s, "fail.bad", fail_bad_trailer, NULL));
    EXPECT_OK(muxwire_server_handle(s, "fail.plain", fail_plain, NULL));
    EXPECT_OK(muxwire_server_handle(s, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_handle_stream(s, "stream.fail", stream_fail_rich, NULL));
    EXPECT_OK(muxwire_server_handle_stream(s, "stream.bad", stream_fail_bad, NULL));
    EXPECT_OK(muxwire_server_start(s, rt, url));
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(s), NULL, &c));
    blocking(c);
    callbacks(c);
    queued(c);
    streaming(c);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(s, 1000));
    muxwire_server_free(s);
    muxwire_runtime_free(rt);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        /* Serve the failing methods on argv[1] for another client (a Rust one) until
         * stdin closes. */
        muxwire_runtime *rt = NULL;
        muxwire_server *s = NULL;
        EXPECT_OK(muxwire_runtime_new(1, &rt));
        EXPECT_OK(muxwire_server_new(NULL, &s));
        EXPECT_OK(muxwire_server_handle(s, "fail.rich", fail_rich, NULL));
        EXPECT_OK(muxwire_server_start(s, rt, argv[1]));
        printf("listening on %s\n", muxwire_server_endpoint(s));
        fflush(stdout);
        char buf[64];
        while (read(0, buf, sizeof buf) > 0) {
        }
        EXPECT_OK(muxwire_server_shutdown(s, 1000));
        muxwire_server_free(s);
        muxwire_runtime_free(rt);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "unix:///tmp/muxwire-test-status-%d.sock", (int)getpid());
    run("tcp://127.0.0.1:0");
    run(path);
    printf("test_status: ok\n");
    return 0;
}
