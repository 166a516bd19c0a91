/* The interop client (tests/interop/README.md) in C, over libmuxwire's runtime layer:
 * serves client.echo on its connection and runs the seven checks against URL, printing
 * "PASS name" or "FAIL name: why" for each; exits 0 if and only if all passed.
 *
 *   c_client URL */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muxwire.h"

enum { PATIENCE_MS = 30000 };

static muxwire_client *client;
static char why[512];

static void nap_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Serves the server's calls back to this client. */
static void client_echo(void *u, muxwire_responder *r) {
    (void)u;
    muxwire_responder_reply(r, muxwire_responder_request(r), muxwire_responder_request_len(r));
}

/* Calls `method` with `body`; 0 and the reply, or -1 with `why` set. */
static int call(const char *method, const void *body, size_t len, uint64_t timeout_ms,
                muxwire_reply **reply) {
    muxwire_result r = muxwire_client_call(client, method, body, len, timeout_ms, reply);
    if (r != MUXWIRE_RESULT_OK) {
        snprintf(why, sizeof why, "%s: %s (%d): %s", method, muxwire_strerror(r), (int)r,
                 muxwire_last_error());
        return -1;
    }
    return 0;
}

/* The number a counting method replies with, or -1. */
static long number(const char *method) {
    muxwire_reply *r = NULL;
    if (call(method, NULL, 0, PATIENCE_MS, &r) != 0) {
        return -1;
    }
    char text[32] = {0};
    size_t n = muxwire_reply_len(r);
    memcpy(text, muxwire_reply_data(r), n < sizeof text - 1 ? n : sizeof text - 1);
    muxwire_reply_free(r);
    return strtol(text, NULL, 10);
}

/* Polls `method` until it reaches `target`, at most PATIENCE_MS. */
static int until_count(const char *method, long target) {
    double until = now_s() + PATIENCE_MS / 1000.0;
    for (;;) {
        long n = number(method);
        if (n < 0) {
            return -1;
        }
        if (n >= target) {
            return 0;
        }
        if (now_s() > until) {
            snprintf(why, sizeof why, "%s stayed at %ld, waiting for %ld", method, n, target);
            return -1;
        }
        nap_ms(5);
    }
}

static int check_unary(void) {
    uint8_t body[1000];
    for (uint32_t i = 0; i < 1000; i++) {
        body[i] = (uint8_t)((uint32_t)(i * 2654435761u) >> 24);
    }
    muxwire_reply *r = NULL;
    if (call("echo", body, sizeof body, PATIENCE_MS, &r) != 0) {
        return -1;
    }
    int same = muxwire_reply_len(r) == sizeof body && memcmp(muxwire_reply_data(r), body, sizeof body) == 0;
    muxwire_reply_free(r);
    if (!same) {
        snprintf(why, sizeof why, "the echo differs");
    }
    return same ? 0 : -1;
}

static int check_notify(void) {
    long before = number("count");
    if (before < 0) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        muxwire_result r = muxwire_client_notify(client, "sink", (const uint8_t *)"n", 1);
        if (r != MUXWIRE_RESULT_OK) {
            snprintf(why, sizeof why, "notify: %s", muxwire_last_error());
            return -1;
        }
    }
    return until_count("count", before + 3);
}

static int check_stream(void) {
    muxwire_stream *s = NULL;
    const char *msgs[] = {"a", "bb", "ccc"};
    muxwire_result r = muxwire_client_open_stream(client, "echo.stream", 0, &s);
    for (int i = 0; r == MUXWIRE_RESULT_OK && i < 3; i++) {
        r = muxwire_stream_send(s, (const uint8_t *)msgs[i], strlen(msgs[i]));
    }
    if (r == MUXWIRE_RESULT_OK) {
        r = muxwire_stream_finish(s);
    }
    int got = 0;
    while (r == MUXWIRE_RESULT_OK) {
        muxwire_reply *m = NULL;
        r = muxwire_stream_recv(s, PATIENCE_MS, &m);
        if (r != MUXWIRE_RESULT_OK || m == NULL) {
            break;
        }
        int ok = got < 3 && muxwire_reply_len(m) == strlen(msgs[got]) &&
                 memcmp(muxwire_reply_data(m), msgs[got], strlen(msgs[got])) == 0;
        muxwire_reply_free(m);
        if (!ok) {
            snprintf(why, sizeof why, "message %d differs", got);
            muxwire_stream_free(s);
            return -1;
        }
        got++;
    }
    if (r != MUXWIRE_RESULT_OK) {
        snprintf(why, sizeof why, "stream: %s (%d): %s", muxwire_strerror(r), (int)r, muxwire_last_error());
    } else if (got != 3) {
        snprintf(why, sizeof why, "got %d messages, expected 3", got);
    }
    muxwire_stream_free(s);
    return r == MUXWIRE_RESULT_OK && got == 3 ? 0 : -1;
}

static int check_callback(void) {
    muxwire_reply *r = NULL;
    if (call("callback", "ping", 4, PATIENCE_MS, &r) != 0) {
        return -1;
    }
    int same = muxwire_reply_len(r) == 4 && memcmp(muxwire_reply_data(r), "ping", 4) == 0;
    muxwire_reply_free(r);
    if (!same) {
        snprintf(why, sizeof why, "the callback's reply differs");
    }
    return same ? 0 : -1;
}

/* The cancelled call's outcome, delivered on a library thread. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    muxwire_result status;
} delayed = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void on_delay_done(void *u, muxwire_result status, const uint8_t *b, size_t len, const char *m) {
    (void)u, (void)b, (void)len, (void)m;
    pthread_mutex_lock(&delayed.lock);
    delayed.done = 1;
    delayed.status = status;
    pthread_cond_signal(&delayed.cond);
    pthread_mutex_unlock(&delayed.lock);
}

static int check_cancel(void) {
    long before = number("cancelled");
    long begun = number("started");
    if (before < 0 || begun < 0) {
        return -1;
    }
    muxwire_call *c = NULL;
    if (muxwire_client_call_start(client, "delay", (const uint8_t *)"30000", 5, 0, on_delay_done,
                                  NULL, &c) != MUXWIRE_RESULT_OK) {
        snprintf(why, sizeof why, "delay: %s", muxwire_last_error());
        return -1;
    }
    /* Cancel only once the handler runs (README: a call cancelled while it waits for a
     * handler thread may never run one). */
    int rc = until_count("started", begun + 1);
    muxwire_call_cancel(c);
    muxwire_call_free(c);
    pthread_mutex_lock(&delayed.lock);
    while (!delayed.done) {
        pthread_cond_wait(&delayed.cond, &delayed.lock); /* the cancel ends it at once */
    }
    pthread_mutex_unlock(&delayed.lock);
    if (rc != 0) {
        return -1;
    }
    if (delayed.status != MUXWIRE_RESULT_CANCELLED) {
        snprintf(why, sizeof why, "the cancelled call ended with %d", (int)delayed.status);
        return -1;
    }
    return until_count("cancelled", before + 1);
}

static int check_deadline(void) {
    muxwire_reply *r = NULL;
    muxwire_result res = muxwire_client_call(client, "delay", (const uint8_t *)"30000", 5, 200, &r);
    if (res == MUXWIRE_RESULT_DEADLINE_EXCEEDED) {
        return 0;
    }
    muxwire_reply_free(r);
    snprintf(why, sizeof why, "a 30 s call with a 200 ms timeout ended with %d", (int)res);
    return -1;
}

static int check_error(void) {
    muxwire_reply *r = NULL;
    muxwire_result res = muxwire_client_call(client, "fail", (const uint8_t *)"why", 3, PATIENCE_MS, &r);
    size_t dlen = 0;
    const uint8_t *details = muxwire_last_error_details(&dlen);
    if (res == MUXWIRE_RESULT_INVALID_ARGUMENT && strcmp(muxwire_last_error(), "interop failure") == 0 &&
        dlen == 3 && memcmp(details, "why", 3) == 0) {
        return 0;
    }
    muxwire_reply_free(r);
    snprintf(why, sizeof why, "fail ended with %d \"%s\", %zu bytes of details", (int)res,
             muxwire_last_error(), dlen);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: c_client URL\n");
        return 2;
    }
    muxwire_runtime *rt = NULL;
    muxwire_server *handlers = NULL;
    muxwire_result r = muxwire_runtime_new(2, &rt);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_new(NULL, &handlers);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_server_handle(handlers, "client.echo", client_echo, NULL);
    if (r == MUXWIRE_RESULT_OK) r = muxwire_client_connect_serving(rt, argv[1], NULL, handlers, &client);
    muxwire_server_free(handlers);
    if (r != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "c_client: %s: %s\n", muxwire_strerror(r), muxwire_last_error());
        muxwire_runtime_free(rt);
        return 1;
    }
    struct {
        const char *name;
        int (*run)(void);
    } checks[] = {{"unary", check_unary},       {"notify", check_notify},
                  {"stream", check_stream},     {"callback", check_callback},
                  {"cancel", check_cancel},     {"deadline", check_deadline},
                  {"error", check_error}};
    int failed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        why[0] = '\0';
        if (checks[i].run() == 0) {
            printf("PASS %s\n", checks[i].name);
        } else {
            printf("FAIL %s: %s\n", checks[i].name, why);
            failed++;
        }
        fflush(stdout);
    }
    muxwire_client_free(client);
    muxwire_runtime_free(rt);
    return failed ? 1 : 0;
}
