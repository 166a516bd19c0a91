/* Per-call options from C (muxwire_call_options): request metadata entries reach the
 * handler (muxwire_responder_metadata, muxwire_server_stream_metadata) through every kind
 * of call (blocking, callback, queued, cancellable, streaming); a per-call codec
 * compresses the request (seen in the client's byte counters) and a per-call timeout
 * ends a slow call; bad options are refused.
 *
 *   test_metadata                 C client and C server, over TCP and a Unix socket
 *   test_metadata --against URL   the C client against `muxwire serve` (echo.metadata)
 *   test_metadata --serve URL     serve echo and echo.metadata for a Rust client until
 *                                 stdin closes */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* The request's entries as "key=value\n" lines (as `muxwire serve`'s echo.metadata). */
static size_t metadata_lines(const muxwire_entry *e, size_t count, uint8_t *out, size_t room) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        CHECK(n + e[i].key_len + e[i].value_len + 2 <= room);
        CHECK(strlen(e[i].key) == e[i].key_len);
        memcpy(out + n, e[i].key, e[i].key_len);
        n += e[i].key_len;
        out[n++] = '=';
        if (e[i].value_len > 0) {
            memcpy(out + n, e[i].value, e[i].value_len);
        }
        n += e[i].value_len;
        out[n++] = '\n';
    }
    return n;
}

static void echo_metadata(void *userdata, muxwire_responder *r) {
    (void)userdata;
    size_t count = 0;
    const muxwire_entry *e = muxwire_responder_metadata(r, &count);
    CHECK((e == NULL) == (count == 0));
    uint8_t out[1024];
    size_t n = metadata_lines(e, count, out, sizeof out);
    EXPECT_OK(muxwire_responder_reply(r, out, n));
}

static void echo(void *userdata, muxwire_responder *r) {
    (void)userdata;
    CHECK(muxwire_responder_metadata(r, NULL) == NULL);
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

static void slow(void *userdata, muxwire_responder *r) {
    (void)userdata;
    struct timespec t = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
    nanosleep(&t, NULL);
    muxwire_responder_reply(r, NULL, 0); /* CANCELLED: the caller gave up */
}

/* Streaming: sends the metadata lines back, then ends OK. */
static void stream_metadata(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    size_t count = 0;
    const muxwire_entry *e = muxwire_server_stream_metadata(call, &count);
    uint8_t out[1024];
    size_t n = metadata_lines(e, count, out, sizeof out);
    EXPECT_OK(muxwire_server_stream_send(call, out, n));
    EXPECT_OK(muxwire_server_stream_finish(call, 0, NULL));
}

static const char WANT[] = "trace-id=abc\nbin=x\0y\nempty=\n";
#define WANT_LEN (sizeof WANT - 1)

static muxwire_call_options *options_with_metadata(void) {
    muxwire_call_options *o = NULL;
    EXPECT_OK(muxwire_call_options_new(&o));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "trace-id", (const uint8_t *)"abc", 3));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "bin", (const uint8_t *)"x\0y", 3));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "empty", NULL, 0));
    return o;
}

static void expect_reply(muxwire_reply *r, const char *want, size_t len) {
    CHECK(r != NULL && muxwire_reply_len(r) == len);
    CHECK(memcmp(muxwire_reply_data(r), want, len) == 0);
    muxwire_reply_free(r);
}

/* One callback call's outcome. */
struct done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    int matched;
};

static void on_done(void *userdata, muxwire_result status, const uint8_t *body, size_t len,
                    const char *message) {
    struct done *d = userdata;
    (void)message;
    pthread_mutex_lock(&d->lock);
    d->matched = status == MUXWIRE_RESULT_OK && len == WANT_LEN && memcmp(body, WANT, len) == 0;
    d->finished++;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void wait_for(struct done *d, int n) {
    pthread_mutex_lock(&d->lock);
    while (d->finished < n) {
        pthread_cond_wait(&d->cond, &d->lock);
    }
    CHECK(d->matched);
    pthread_mutex_unlock(&d->lock);
}

/* Metadata through every kind of call to `echo.metadata` (and the streaming method when
 * `stream_method` is not NULL). */
static void metadata_everywhere(muxwire_client *c, const char *stream_method) {
    muxwire_call_options *o = options_with_metadata();
    muxwire_reply *r = NULL;
    EXPECT_OK(muxwire_client_call_with(c, "echo.metadata", NULL, 0, o, &r));
    expect_reply(r, WANT, WANT_LEN);
    EXPECT_OK(muxwire_client_call_with(c, "echo.metadata", NULL, 0, NULL, &r));
    expect_reply(r, "", 0); /* NULL options: none */

    struct done d = {.finished = 0};
    CHECK(pthread_mutex_init(&d.lock, NULL) == 0 && pthread_cond_init(&d.cond, NULL) == 0);
    EXPECT_OK(muxwire_client_call_async_with(c, "echo.metadata", NULL, 0, o, on_done, &d));
    wait_for(&d, 1);
    muxwire_call *call = NULL;
    EXPECT_OK(muxwire_client_call_start_with(c, "echo.metadata", NULL, 0, o, on_done, &d, &call));
    wait_for(&d, 2);
    muxwire_call_free(call);
    pthread_mutex_destroy(&d.lock);
    pthread_cond_destroy(&d.cond);

    muxwire_queue *q = NULL;
    EXPECT_OK(muxwire_queue_new(0, &q));
    EXPECT_OK(muxwire_client_call_queued_with(c, "echo.metadata", NULL, 0, o, q, 9));
    muxwire_completion done;
    EXPECT_OK(muxwire_queue_wait(q, 60000, &done));
    CHECK(done.tag == 9 && done.status == MUXWIRE_RESULT_OK && done.body_len == WANT_LEN);
    CHECK(memcmp(done.body, WANT, WANT_LEN) == 0);
    muxwire_queue_free(q);

    if (stream_method != NULL) {
        muxwire_stream *s = NULL;
        EXPECT_OK(muxwire_client_open_stream_with(c, stream_method, o, &s));
        EXPECT_OK(muxwire_stream_finish(s));
        EXPECT_OK(muxwire_stream_recv(s, 60000, &r));
        expect_reply(r, WANT, WANT_LEN);
        EXPECT_OK(muxwire_stream_recv(s, 60000, &r));
        CHECK(r == NULL);
        muxwire_stream_free(s);
    }

    /* Cleared, the options carry nothing; reused, they carry the new entry. */
    EXPECT_OK(muxwire_call_options_clear_metadata(o));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "k", (const uint8_t *)"v", 1));
    EXPECT_OK(muxwire_client_call_with(c, "echo.metadata", NULL, 0, o, &r));
    expect_reply(r, "k=v\n", 4);
    muxwire_call_options_free(o);
}

static uint64_t bytes_out(muxwire_client *c) {
    muxwire_stats st;
    EXPECT_OK(muxwire_client_stats(c, &st));
    return st.bytes_out;
}

/* 64 KiB of zeros: compressed per call, the client writes far fewer bytes. */
static void compression_per_call(muxwire_client *c) {
    enum { SIZE = 64 * 1024 };
    uint8_t *zeros = calloc(SIZE, 1);
    CHECK(zeros != NULL);
    muxwire_call_options *o = NULL;
    EXPECT_OK(muxwire_call_options_new(&o));
    muxwire_reply *r = NULL;
    const int codecs[2] = {MUXWIRE_CODEC_LZ4, MUXWIRE_CODEC_ZSTD};
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(muxwire_call_options_set_compression(o, codecs[i]));
        uint64_t before = bytes_out(c);
        EXPECT_OK(muxwire_client_call_with(c, "echo", zeros, SIZE, o, &r));
        CHECK(muxwire_reply_len(r) == SIZE && memcmp(muxwire_reply_data(r), zeros, SIZE) == 0);
        muxwire_reply_free(r);
        CHECK(bytes_out(c) - before < SIZE / 8);
    }
    EXPECT_OK(muxwire_call_options_set_compression(o, MUXWIRE_CODEC_IDENTITY));
    uint64_t before = bytes_out(c);
    EXPECT_OK(muxwire_client_call_with(c, "echo", zeros, SIZE, o, &r));
    muxwire_reply_free(r);
    CHECK(bytes_out(c) - before >= SIZE);
    muxwire_call_options_free(o);
    free(zeros);
}

static void timeout_and_misuse(muxwire_client *c) {
    muxwire_call_options *o = NULL;
    EXPECT_OK(muxwire_call_options_new(&o));
    EXPECT_OK(muxwire_call_options_set_timeout_ms(o, 50));
    muxwire_reply *r = NULL;
    EXPECT_RESULT(muxwire_client_call_with(c, "slow", NULL, 0, o, &r),
                  MUXWIRE_RESULT_DEADLINE_EXCEEDED);
    CHECK(r == NULL);

    EXPECT_RESULT(muxwire_call_options_add_metadata(o, "Bad Key", NULL, 0),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("not a metadata key");
    EXPECT_RESULT(muxwire_call_options_add_metadata(o, "", NULL, 0),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_add_metadata(o, NULL, NULL, 0),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_add_metadata(o, "k", NULL, 3), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_add_metadata(NULL, "k", NULL, 0),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_set_compression(o, 7), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("not a muxwire_codec");
    EXPECT_RESULT(muxwire_call_options_set_timeout_ms(NULL, 1), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_clear_metadata(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_options_new(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_call_with(c, "", NULL, 0, o, &r), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_client_call_with(NULL, "echo", NULL, 0, o, &r),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_call_async_with(c, "echo", NULL, 0, o, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_open_stream_with(c, "echo", o, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    /* Metadata larger than the server's MAX_METADATA_SIZE (8 KiB by default) fails the call. */
    static uint8_t big[16 * 1024];
    EXPECT_OK(muxwire_call_options_set_timeout_ms(o, 0));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "big", big, sizeof big));
    CHECK(muxwire_client_call_with(c, "echo.metadata", NULL, 0, o, &r) != MUXWIRE_RESULT_OK);
    CHECK(r == NULL);
    muxwire_call_options_free(o);
    muxwire_call_options_free(NULL);
    CHECK(muxwire_responder_metadata(NULL, NULL) == NULL);
    size_t count = 7;
    CHECK(muxwire_server_stream_metadata(NULL, &count) == NULL && count == 0);
}

static muxwire_server *serve(muxwire_runtime *rt, const char *url) {
    muxwire_options *opts = NULL;
    EXPECT_OK(muxwire_options_new(&opts));
    EXPECT_OK(muxwire_options_set_worker_threads(opts, 4));
    muxwire_server *s = NULL;
    EXPECT_OK(muxwire_server_new(opts, &s));
    muxwire_options_free(opts);
    EXPECT_OK(muxwire_server_handle(s, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_handle(s, "echo.metadata", echo_metadata, NULL));
    EXPECT_OK(muxwire_server_handle(s, "slow", slow, NULL));
    EXPECT_OK(muxwire_server_handle_stream(s, "stream.metadata", stream_metadata, NULL));
    EXPECT_OK(muxwire_server_start(s, rt, url));
    return s;
}

static void c_to_c(const char *url) {
    muxwire_runtime *rt = NULL;
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    muxwire_server *s = serve(rt, url);
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(s), NULL, &c));
    metadata_everywhere(c, "stream.metadata");
    compression_per_call(c);
    timeout_and_misuse(c);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(s, 1000));
    muxwire_server_free(s);
    muxwire_runtime_free(rt);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--against") == 0) {
        muxwire_runtime *rt = NULL;
        muxwire_client *c = NULL;
        EXPECT_OK(muxwire_runtime_new(1, &rt));
        EXPECT_OK(muxwire_client_connect(rt, argv[2], NULL, &c));
        metadata_everywhere(c, NULL);
        compression_per_call(c);
        muxwire_client_free(c);
        muxwire_runtime_free(rt);
        printf("test_metadata (against %s): ok\n", argv[2]);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
        muxwire_runtime *rt = NULL;
        EXPECT_OK(muxwire_runtime_new(1, &rt));
        muxwire_server *s = serve(rt, argv[2]);
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
    snprintf(path, sizeof path, "unix:///tmp/muxwire-test-metadata-%d.sock", (int)getpid());
    c_to_c("tcp://127.0.0.1:0");
    c_to_c(path);
    printf("test_metadata: ok\n");
    return 0;
}
