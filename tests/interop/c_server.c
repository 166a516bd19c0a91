/* The interop server (tests/interop/README.md) in C, over libmuxwire's runtime layer:
 * echo, echo.stream, sink, count, delay, started, cancelled, fail, callback.
 *
 *   c_server URL
 *
 * Prints "interop server (c) on URL" and serves until its stdin closes. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muxwire.h"

static atomic_ulong sunk, started, cancelled;

static void reply_number(muxwire_responder *r, unsigned long n) {
    char text[32];
    int len = snprintf(text, sizeof text, "%lu", n);
    muxwire_responder_reply(r, (const uint8_t *)text, (size_t)len);
}

static void echo(void *u, muxwire_responder *r) {
    (void)u;
    muxwire_responder_reply(r, muxwire_responder_request(r), muxwire_responder_request_len(r));
}

static void sink(void *u, muxwire_responder *r) {
    (void)u;
    atomic_fetch_add(&sunk, 1);
    muxwire_responder_free(r); /* one-way: nobody waits */
}

static void count(void *u, muxwire_responder *r) {
    (void)u;
    reply_number(r, atomic_load(&sunk));
}

static void count_started(void *u, muxwire_responder *r) {
    (void)u;
    reply_number(r, atomic_load(&started));
}

static void count_cancelled(void *u, muxwire_responder *r) {
    (void)u;
    reply_number(r, atomic_load(&cancelled));
}

/* delay runs on a thread of its own, so a long wait holds no worker thread. */
static void *delay_thread(void *arg) {
    muxwire_responder *r = arg;
    atomic_fetch_add(&started, 1);
    char text[32] = {0};
    size_t len = muxwire_responder_request_len(r);
    memcpy(text, muxwire_responder_request(r), len < sizeof text - 1 ? len : sizeof text - 1);
    char *end = NULL;
    long ms = strtol(text, &end, 10);
    if (end == text || ms < 0) {
        muxwire_responder_fail(r, MUXWIRE_RESULT_INVALID_ARGUMENT, "delay takes milliseconds", NULL, 0);
        return NULL;
    }
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 1000000};
    for (long waited = 0; waited < ms; waited++) {
        if (muxwire_responder_is_cancelled(r)) {
            atomic_fetch_add(&cancelled, 1);
            muxwire_responder_free(r);
            return NULL;
        }
        nanosleep(&nap, NULL);
    }
    echo(NULL, r);
    return NULL;
}

static void delay(void *u, muxwire_responder *r) {
    (void)u;
    pthread_t t;
    if (pthread_create(&t, NULL, delay_thread, r) != 0) {
        muxwire_responder_fail(r, MUXWIRE_RESULT_RESOURCE_EXHAUSTED, "no thread", NULL, 0);
        return;
    }
    pthread_detach(t);
}

static void fail(void *u, muxwire_responder *r) {
    (void)u;
    muxwire_responder_fail(r, MUXWIRE_RESULT_INVALID_ARGUMENT, "interop failure",
                           muxwire_responder_request(r), muxwire_responder_request_len(r));
}

static void callback(void *u, muxwire_responder *r) {
    (void)u;
    muxwire_reply *back = NULL;
    muxwire_result res = muxwire_responder_call_peer(r, "client.echo", muxwire_responder_request(r),
                                                     muxwire_responder_request_len(r), 30000, &back);
    if (res != MUXWIRE_RESULT_OK) {
        muxwire_responder_fail(r, (uint32_t)(res <= 16 ? res : MUXWIRE_RESULT_INTERNAL),
                               muxwire_last_error(), NULL, 0);
        return;
    }
    muxwire_responder_reply(r, muxwire_reply_data(back), muxwire_reply_len(back));
    muxwire_reply_free(back);
}

static void echo_stream(void *u, muxwire_server_stream *call) {
    (void)u;
    for (;;) {
        muxwire_reply *m = NULL;
        muxwire_result res = muxwire_server_stream_recv(call, 30000, &m);
        if (res != MUXWIRE_RESULT_OK) {
            muxwire_server_stream_finish(call, res <= 16 ? (uint32_t)res : MUXWIRE_RESULT_INTERNAL,
                                         muxwire_last_error());
            return;
        }
        if (m == NULL) {
            muxwire_server_stream_finish(call, 0, NULL);
            return;
        }
        res = muxwire_server_stream_send(call, muxwire_reply_data(m), muxwire_reply_len(m));
        muxwire_reply_free(m);
        if (res != MUXWIRE_RESULT_OK) {
            muxwire_server_stream_free(call);
            return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: c_server URL\n");
        return 2;
    }
    muxwire_runtime *rt = NULL;
    muxwire_options *opts = NULL;
    muxwire_server *s = NULL;
    muxwire_result r = muxwire_runtime_new(0, &rt);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_options_new(&opts);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_options_set_worker_threads(opts, 8);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_new(opts, &s);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "echo", echo, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle_stream(s, "echo.stream", echo_stream, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "sink", sink, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "count", count, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "delay", delay, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "started", count_started, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "cancelled", count_cancelled, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "fail", fail, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(s, "callback", callback, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_start(s, rt, argv[1]);
    muxwire_options_free(opts);
    if (r != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "c_server: %s: %s\n", muxwire_strerror(r), muxwire_last_error());
        muxwire_server_free(s);
        muxwire_runtime_free(rt);
        return 1;
    }
    printf("interop server (c) on %s\n", muxwire_server_endpoint(s));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    muxwire_server_shutdown(s, 1000);
    muxwire_server_free(s);
    muxwire_runtime_free(rt);
    return 0;
}
