/* Streaming calls both ways from C: a C streaming handler (its own thread, blocking recv
 * and send) serving a C client over TCP and a Unix socket, and, given a URL, the C client
 * against the Rust server's echo.stream. Error paths: a handler that fails, one that
 * frees its call unfinished, sending after finish, NULL arguments. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { MESSAGES = 50, WAIT_MS = 60000 };

/* Handlers that saw their call cancelled. */
static atomic_int cancelled_seen;

/* Echoes every message, then ends OK once the caller half-closes. */
static void stream_echo(void *userdata, muxwire_server_stream *call) {
    CHECK(userdata == NULL);
    CHECK(strcmp(muxwire_server_stream_method(call), "stream.echo") == 0);
    for (;;) {
        muxwire_reply *m = NULL;
        muxwire_result r = muxwire_server_stream_recv(call, WAIT_MS, &m);
        if (r == MUXWIRE_RESULT_CANCELLED) {
            CHECK(m == NULL);
            muxwire_server_stream_free(call); /* the caller went away */
            atomic_fetch_add(&cancelled_seen, 1);
            return;
        }
        EXPECT_OK(r);
        if (m == NULL) {
            break; /* the caller half-closed */
        }
        r = muxwire_server_stream_send(call, muxwire_reply_data(m), muxwire_reply_len(m));
        muxwire_reply_free(m);
        if (r == MUXWIRE_RESULT_CANCELLED || r == MUXWIRE_RESULT_UNAVAILABLE) {
            muxwire_server_stream_free(call);
            atomic_fetch_add(&cancelled_seen, 1);
            return;
        }
        EXPECT_OK(r);
    }
    EXPECT_OK(muxwire_server_stream_finish(call, 0, NULL));
}

static void stream_fail(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    EXPECT_OK(muxwire_server_stream_finish(call, MUXWIRE_RESULT_FAILED_PRECONDITION, "not today"));
}

static void stream_drop(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    muxwire_server_stream_free(call);
}

/* Sends MESSAGES messages on `method`, half-closes, and checks they all come back. */
static void echo_stream(muxwire_client *c, const char *method) {
    muxwire_stream *s = NULL;
    EXPECT_OK(muxwire_client_open_stream(c, method, 0, &s));
    for (int i = 0; i < MESSAGES; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "message %d", i);
        EXPECT_OK(muxwire_stream_send(s, (const uint8_t *)msg, (size_t)n));
    }
    EXPECT_OK(muxwire_stream_finish(s));
    EXPECT_RESULT(muxwire_stream_send(s, (const uint8_t *)"late", 4), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("finished");
    EXPECT_RESULT(muxwire_stream_finish(s), MUXWIRE_RESULT_INVALID_ARGUMENT);
    for (int i = 0; i < MESSAGES; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "message %d", i);
        muxwire_reply *m = NULL;
        EXPECT_OK(muxwire_stream_recv(s, WAIT_MS, &m));
        CHECK(m != NULL && muxwire_reply_len(m) == (size_t)n);
        CHECK(memcmp(muxwire_reply_data(m), want, (size_t)n) == 0);
        muxwire_reply_free(m);
    }
    muxwire_reply *end = (muxwire_reply *)&end;
    EXPECT_OK(muxwire_stream_recv(s, WAIT_MS, &end));
    CHECK(end == NULL); /* ended OK */
    muxwire_stream_free(s);
}

static void expect_stream_status(muxwire_client *c, const char *method, muxwire_result want,
                                 const char *needle) {
    muxwire_stream *s = NULL;
    EXPECT_OK(muxwire_client_open_stream(c, method, 0, &s));
    muxwire_reply *m = NULL;
    EXPECT_RESULT(muxwire_stream_recv(s, WAIT_MS, &m), want);
    EXPECT_LAST_ERROR_HAS(needle);
    CHECK(m == NULL);
    muxwire_stream_free(s);
}

static void c_to_c(const char *url) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    muxwire_server *srv = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &srv));
    EXPECT_OK(muxwire_server_handle_stream(srv, "stream.echo", stream_echo, NULL));
    EXPECT_RESULT(muxwire_server_handle_stream(srv, "stream.echo", stream_echo, NULL),
                  MUXWIRE_RESULT_ALREADY_EXISTS);
    EXPECT_RESULT(muxwire_server_handle_stream(srv, "x", NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_OK(muxwire_server_handle_stream(srv, "stream.fail", stream_fail, NULL));
    EXPECT_OK(muxwire_server_handle_stream(srv, "stream.drop", stream_drop, NULL));
    EXPECT_OK(muxwire_server_start(srv, rt, url));
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(srv), NULL, &c));

    echo_stream(c, "stream.echo");
    expect_stream_status(c, "stream.fail", MUXWIRE_RESULT_FAILED_PRECONDITION, "not today");
    expect_stream_status(c, "stream.drop", MUXWIRE_RESULT_INTERNAL, "without finishing");
    expect_stream_status(c, "no.such.stream", MUXWIRE_RESULT_UNIMPLEMENTED, "no.such.stream");
    /* A stream freed before its end is cancelled; the connection carries on. */
    muxwire_stream *s = NULL;
    EXPECT_OK(muxwire_client_open_stream(c, "stream.echo", 0, &s));
    EXPECT_OK(muxwire_stream_send(s, (const uint8_t *)"x", 1));
    muxwire_stream_free(s);
    echo_stream(c, "stream.echo");
    /* The abandoned call's handler learns it is gone (polled: no timing assumed). */
    time_t until = time(NULL) + WAIT_MS / 1000;
    while (atomic_load(&cancelled_seen) < 1) {
        CHECK(time(NULL) < until);
        struct timespec t = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&t, NULL);
    }
    atomic_store(&cancelled_seen, 0);

    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(srv, 2000));
    muxwire_server_free(srv);
    muxwire_runtime_free(rt);
}

static void nulls(void) {
    muxwire_stream *s = NULL;
    muxwire_reply *m = NULL;
    EXPECT_RESULT(muxwire_client_open_stream(NULL, "m", 0, &s), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_stream_send(NULL, NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_stream_finish(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_stream_recv(NULL, 0, &m), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_stream_recv(NULL, 0, &m), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_stream_send(NULL, NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_stream_finish(NULL, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    CHECK(muxwire_server_stream_method(NULL) == NULL);
    muxwire_stream_free(NULL);
    muxwire_server_stream_free(NULL);
}

int main(int argc, char **argv) {
    nulls();
    if (argc > 1) {
        /* The Rust server's echo.stream at argv[1]. */
        muxwire_runtime *rt = NULL;
        EXPECT_OK(muxwire_runtime_new(1, &rt));
        muxwire_client *c = NULL;
        EXPECT_OK(muxwire_client_connect(rt, argv[1], NULL, &c));
        echo_stream(c, "echo.stream");
        muxwire_client_free(c);
        muxwire_runtime_free(rt);
        printf("test_streaming (against %s): ok\n", argv[1]);
        return 0;
    }
    c_to_c("tcp://127.0.0.1:0");
    char url[128];
    snprintf(url, sizeof url, "unix:///tmp/muxwire-cstream-%ld.sock", (long)getpid());
    c_to_c(url);
    unlink(url + strlen("unix://"));
    printf("test_streaming: ok\n");
    return 0;
}
