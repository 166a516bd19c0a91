/* A C server and a C client over TCP and over a Unix socket: blocking, callback and
 * queued calls, notify, handlers answering now, later, from another thread, with a
 * status, or never; and every error path a call can take. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void nap_1ms(void) {
    struct timespec t = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&t, NULL);
}

/* ---- the server's handlers ---- */

static atomic_int notified;
/* A responder a handler keeps without answering ("hold"). */
static muxwire_responder *_Atomic held;

static void echo(void *userdata, muxwire_responder *r) {
    CHECK(userdata == (void *)&notified);
    CHECK(strcmp(muxwire_responder_method(r), "echo") == 0);
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

static void fail_not_found(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_fail(r, MUXWIRE_RESULT_NOT_FOUND, "no such thing",
                                     (const uint8_t *)"why\0not", 7));
}

static void drop_unanswered(void *userdata, muxwire_responder *r) {
    (void)userdata;
    muxwire_responder_free(r);
}

static void hold(void *userdata, muxwire_responder *r) {
    (void)userdata;
    muxwire_responder *expected = NULL;
    CHECK(atomic_compare_exchange_strong(&held, &expected, r));
}

static void count(void *userdata, muxwire_responder *r) {
    (void)userdata;
    atomic_fetch_add(&notified, 1);
    muxwire_responder_free(r); /* one-way: nobody waits for an answer */
}

static void get_count(void *userdata, muxwire_responder *r) {
    (void)userdata;
    char text[32];
    int n = snprintf(text, sizeof text, "%d", atomic_load(&notified));
    EXPECT_OK(muxwire_responder_reply(r, (const uint8_t *)text, (size_t)n));
}

/* A client the "nested" handler calls through (set while a test uses it). */
static muxwire_client *_Atomic nested_client;

/* A handler may block and make blocking calls: it holds a worker thread meanwhile. */
static void nested(void *userdata, muxwire_responder *r) {
    (void)userdata;
    muxwire_reply *inner = NULL;
    EXPECT_OK(muxwire_client_call(atomic_load(&nested_client), "echo",
                                  muxwire_responder_request(r), muxwire_responder_request_len(r),
                                  0, &inner));
    EXPECT_OK(muxwire_responder_reply(r, muxwire_reply_data(inner), muxwire_reply_len(inner)));
    muxwire_reply_free(inner);
}

static void *reply_later(void *arg) {
    muxwire_responder *r = arg;
    const char suffix[] = " (from another thread)";
    size_t len = muxwire_responder_request_len(r);
    uint8_t *buf = malloc(len + sizeof suffix);
    CHECK(buf != NULL);
    memcpy(buf, muxwire_responder_request(r), len);
    memcpy(buf + len, suffix, sizeof suffix - 1);
    EXPECT_OK(muxwire_responder_reply(r, buf, len + sizeof suffix - 1));
    free(buf);
    return NULL;
}

static void later(void *userdata, muxwire_responder *r) {
    (void)userdata;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, reply_later, r) == 0);
    CHECK(pthread_detach(t) == 0);
}

static muxwire_server *start_server(muxwire_runtime *rt, const char *url) {
    muxwire_options *opts = NULL;
    EXPECT_OK(muxwire_options_new(&opts));
    EXPECT_OK(muxwire_options_set_max_message_size(opts, 64 * 1024));
    EXPECT_OK(muxwire_options_set_worker_threads(opts, 4));
    muxwire_server *s = NULL;
    EXPECT_OK(muxwire_server_new(opts, &s));
    muxwire_options_free(opts);
    EXPECT_OK(muxwire_server_handle(s, "echo", echo, &notified));
    EXPECT_RESULT(muxwire_server_handle(s, "echo", echo, &notified), MUXWIRE_RESULT_ALREADY_EXISTS);
    EXPECT_LAST_ERROR_HAS("\"echo\" already has a handler");
    EXPECT_RESULT(muxwire_server_handle(s, "x", NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("handler is NULL");
    EXPECT_OK(muxwire_server_handle(s, "fail", fail_not_found, NULL));
    EXPECT_OK(muxwire_server_handle(s, "drop", drop_unanswered, NULL));
    EXPECT_OK(muxwire_server_handle(s, "hold", hold, NULL));
    EXPECT_OK(muxwire_server_handle(s, "count", count, NULL));
    EXPECT_OK(muxwire_server_handle(s, "get_count", get_count, NULL));
    EXPECT_OK(muxwire_server_handle(s, "later", later, NULL));
    EXPECT_OK(muxwire_server_handle(s, "nested", nested, NULL));
    CHECK(muxwire_server_endpoint(s) == NULL);
    EXPECT_OK(muxwire_server_start(s, rt, url));
    EXPECT_RESULT(muxwire_server_start(s, rt, url), MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_RESULT(muxwire_server_handle(s, "late", echo, NULL), MUXWIRE_RESULT_FAILED_PRECONDITION);
    CHECK(muxwire_server_endpoint(s) != NULL);
    return s;
}

/* ---- the client's side ---- */

static void call_expect(muxwire_client *c, const char *method, const char *body,
                        uint64_t timeout_ms, muxwire_result want, const char *want_reply) {
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_client_call(c, method, (const uint8_t *)body, strlen(body), timeout_ms,
                                      &reply),
                  want);
    if (want == MUXWIRE_RESULT_OK) {
        CHECK(muxwire_reply_len(reply) == strlen(want_reply));
        CHECK(memcmp(muxwire_reply_data(reply), want_reply, strlen(want_reply)) == 0);
        muxwire_reply_free(reply);
    } else {
        CHECK(reply == NULL);
    }
}

/* One asynchronous call's state, shared with its callback. */
struct pending {
    char request[32];
    muxwire_result status;
    int matched;
    int done;
    muxwire_result blocking_inside; /* a blocking call tried inside the callback */
    muxwire_client *client;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
};

static void on_done(void *userdata, muxwire_result status, const uint8_t *body, size_t len,
                    const char *message) {
    struct pending *p = userdata;
    CHECK(message != NULL);
    int matched = status == MUXWIRE_RESULT_OK && len == strlen(p->request) &&
                  memcmp(body, p->request, len) == 0;
    muxwire_reply *r = NULL;
    muxwire_result inside = muxwire_client_call(p->client, "echo", NULL, 0, 0, &r);
    pthread_mutex_lock(p->lock);
    p->status = status;
    p->matched = matched;
    p->blocking_inside = inside;
    p->done = 1;
    pthread_cond_broadcast(p->cond);
    pthread_mutex_unlock(p->lock);
}

enum { ASYNC_CALLS = 64, QUEUED_CALLS = 48, NOTIFIES = 100 };
/* Generous: no test waits this long unless something is broken. */
enum { DEADLINE_S = 60 };

static void async_calls_with_callbacks(muxwire_client *c) {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    static struct pending calls[ASYNC_CALLS];
    for (int i = 0; i < ASYNC_CALLS; i++) {
        struct pending *p = &calls[i];
        memset(p, 0, sizeof *p);
        snprintf(p->request, sizeof p->request, "async %d", i);
        p->client = c;
        p->lock = &lock;
        p->cond = &cond;
        EXPECT_OK(muxwire_client_call_async(c, "echo", (const uint8_t *)p->request,
                                            strlen(p->request), 0, on_done, p));
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE_S;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < ASYNC_CALLS; i++) {
        while (!calls[i].done) {
            CHECK(pthread_cond_timedwait(&cond, &lock, &until) == 0);
        }
        EXPECT_OK(calls[i].status);
        CHECK(calls[i].matched);
        EXPECT_RESULT(calls[i].blocking_inside, MUXWIRE_RESULT_FAILED_PRECONDITION);
    }
    pthread_mutex_unlock(&lock);
    EXPECT_RESULT(muxwire_client_call_async(c, "echo", NULL, 0, 0, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("callback is NULL");
}

static void queued_calls_on_poll(muxwire_client *c) {
    muxwire_queue *q = NULL;
    EXPECT_OK(muxwire_queue_new(QUEUED_CALLS, &q));
    int fd = muxwire_queue_fd(q);
    CHECK(fd >= 0);
    muxwire_completion done;
    EXPECT_RESULT(muxwire_queue_next(q, &done), MUXWIRE_RESULT_AGAIN);
    for (int i = 0; i < QUEUED_CALLS; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "queued %d", i);
        /* Odd calls go to a method that fails, so both outcomes travel the queue. */
        const char *method = i % 2 ? "fail" : "echo";
        EXPECT_OK(muxwire_client_call_queued(c, method, (const uint8_t *)body, (size_t)n, 0, q,
                                             (uint64_t)i));
    }
    /* The queue is at its capacity: one more is refused and names the bound. */
    EXPECT_RESULT(muxwire_client_call_queued(c, "echo", NULL, 0, 0, q, 999),
                  MUXWIRE_RESULT_RESOURCE_EXHAUSTED);
    EXPECT_LAST_ERROR_HAS("completion queue full: 48");

    int seen[QUEUED_CALLS] = {0};
    int taken = 0;
    while (taken < QUEUED_CALLS) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        CHECK(poll(&pfd, 1, DEADLINE_S * 1000) == 1);
        while (muxwire_queue_next(q, &done) == MUXWIRE_RESULT_OK) {
            CHECK(done.tag < QUEUED_CALLS && !seen[done.tag]);
            seen[done.tag] = 1;
            char want[32];
            snprintf(want, sizeof want, "queued %d", (int)done.tag);
            if (done.tag % 2) {
                EXPECT_RESULT(done.status, MUXWIRE_RESULT_NOT_FOUND);
                CHECK(done.body == NULL);
                CHECK(strcmp(done.message, "no such thing") == 0);
            } else {
                EXPECT_OK(done.status);
                CHECK(done.body_len == strlen(want) && memcmp(done.body, want, done.body_len) == 0);
                CHECK(strcmp(done.message, "") == 0);
            }
            taken++;
        }
    }
    /* Empty again: the fd is no longer readable. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    CHECK(poll(&pfd, 1, 0) == 0);
    EXPECT_RESULT(muxwire_queue_wait(q, 1, &done), MUXWIRE_RESULT_AGAIN);
    /* muxwire_queue_wait takes what arrives while it waits. */
    EXPECT_OK(muxwire_client_call_queued(c, "echo", (const uint8_t *)"w", 1, 0, q, 7));
    EXPECT_OK(muxwire_queue_wait(q, DEADLINE_S * 1000, &done));
    CHECK(done.tag == 7 && done.status == MUXWIRE_RESULT_OK && done.body_len == 1);
    muxwire_queue_free(q);
}

static void notifies_arrive(muxwire_client *c) {
    int before = atomic_load(&notified);
    for (int i = 0; i < NOTIFIES; i++) {
        EXPECT_OK(muxwire_client_notify(c, "count", (const uint8_t *)"n", 1));
    }
    /* Polled with a generous deadline: one-way messages have no reply to wait for. */
    time_t until = time(NULL) + DEADLINE_S;
    while (atomic_load(&notified) < before + NOTIFIES) {
        CHECK(time(NULL) < until);
        nap_1ms();
    }
    char want[32];
    snprintf(want, sizeof want, "%d", before + NOTIFIES);
    call_expect(c, "get_count", "", 0, MUXWIRE_RESULT_OK, want);
}

static void error_paths(muxwire_client *c) {
    call_expect(c, "no.such.method", "x", 0, MUXWIRE_RESULT_UNIMPLEMENTED, NULL);
    EXPECT_LAST_ERROR_HAS("no.such.method");
    call_expect(c, "fail", "x", 0, MUXWIRE_RESULT_NOT_FOUND, NULL);
    EXPECT_LAST_ERROR_HAS("no such thing");
    size_t details_len = 0;
    const uint8_t *details = muxwire_last_error_details(&details_len);
    CHECK(details_len == 7 && memcmp(details, "why\0not", 7) == 0); /* opaque bytes, NUL kept */
    CHECK(muxwire_last_error_details(NULL) == details);
    call_expect(c, "drop", "x", 0, MUXWIRE_RESULT_INTERNAL, NULL);
    EXPECT_LAST_ERROR_HAS("without answering");
    call_expect(c, "", "x", 0, MUXWIRE_RESULT_INVALID_ARGUMENT, NULL);
    EXPECT_LAST_ERROR_HAS("method is empty");
    EXPECT_RESULT(muxwire_client_call(c, "echo", NULL, 5, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_reply *unused = NULL;
    EXPECT_RESULT(muxwire_client_call(c, "echo", NULL, 5, 0, &unused), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("body (with length 5) is NULL");
    CHECK(unused == NULL);

    /* A handler that never replies: the call ends at its timeout. */
    call_expect(c, "hold", "x", 200, MUXWIRE_RESULT_DEADLINE_EXCEEDED, NULL);
    muxwire_responder *r = atomic_exchange(&held, NULL);
    CHECK(r != NULL);
    /* The call is gone: answering it now says so, and frees the responder. */
    time_t until = time(NULL) + DEADLINE_S;
    while (!muxwire_responder_is_cancelled(r)) {
        CHECK(time(NULL) < until);
        nap_1ms();
    }
    EXPECT_RESULT(muxwire_responder_reply(r, (const uint8_t *)"late", 4), MUXWIRE_RESULT_CANCELLED);

    /* A started call cancelled by its caller once the server has it: the callback gets
     * CANCELLED, and the handler sees the cancellation. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct pending p;
    memset(&p, 0, sizeof p);
    p.client = c;
    p.lock = &lock;
    p.cond = &cond;
    muxwire_call *call = NULL;
    EXPECT_OK(muxwire_client_call_start(c, "hold", (const uint8_t *)"x", 1, 0, on_done, &p, &call));
    until = time(NULL) + DEADLINE_S;
    while ((r = atomic_load(&held)) == NULL) {
        CHECK(time(NULL) < until);
        nap_1ms();
    }
    EXPECT_OK(muxwire_call_cancel(call));
    EXPECT_RESULT(muxwire_call_cancel(call), MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("cancelled before");
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += DEADLINE_S;
    pthread_mutex_lock(&lock);
    while (!p.done) {
        CHECK(pthread_cond_timedwait(&cond, &lock, &deadline) == 0);
    }
    pthread_mutex_unlock(&lock);
    EXPECT_RESULT(p.status, MUXWIRE_RESULT_CANCELLED);
    while (!muxwire_responder_is_cancelled(r)) {
        CHECK(time(NULL) < until);
        nap_1ms();
    }
    CHECK(atomic_exchange(&held, NULL) == r);
    muxwire_responder_free(r);
    muxwire_call_free(call);
    /* A handle freed without cancelling leaves its call running to the end. */
    memset(&p, 0, sizeof p);
    p.client = c;
    p.lock = &lock;
    p.cond = &cond;
    EXPECT_OK(muxwire_client_call_start(c, "echo", (const uint8_t *)"kept", 4, 0, on_done, &p, &call));
    muxwire_call_free(call);
    pthread_mutex_lock(&lock);
    while (!p.done) {
        CHECK(pthread_cond_timedwait(&cond, &lock, &deadline) == 0);
    }
    pthread_mutex_unlock(&lock);
    EXPECT_OK(p.status);

    /* An oversized request (the server accepts 64 KiB messages). */
    size_t big = 256 * 1024;
    uint8_t *body = calloc(big, 1);
    CHECK(body != NULL);
    muxwire_reply *reply = NULL;
    muxwire_result got = muxwire_client_call(c, "echo", body, big, 0, &reply);
    free(body);
    EXPECT_RESULT(got, MUXWIRE_RESULT_RESOURCE_EXHAUSTED);
    EXPECT_LAST_ERROR_HAS("max_message_size");
    CHECK(reply == NULL);
    /* The connection is still good. */
    call_expect(c, "echo", "still here", 0, MUXWIRE_RESULT_OK, "still here");
}

static void client_against(muxwire_runtime *rt, const char *url) {
    muxwire_options *opts = NULL;
    EXPECT_OK(muxwire_options_new(&opts));
    EXPECT_OK(muxwire_options_set_pool_size(opts, 2));
    EXPECT_OK(muxwire_options_set_compression(opts, MUXWIRE_CODEC_LZ4));
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, url, opts, &c));
    muxwire_options_free(opts);

    call_expect(c, "echo", "hello", 0, MUXWIRE_RESULT_OK, "hello");
    call_expect(c, "echo", "", 0, MUXWIRE_RESULT_OK, "");
    call_expect(c, "later", "hi", 0, MUXWIRE_RESULT_OK, "hi (from another thread)");
    atomic_store(&nested_client, c);
    call_expect(c, "nested", "inner", 0, MUXWIRE_RESULT_OK, "inner");
    atomic_store(&nested_client, NULL);
    async_calls_with_callbacks(c);
    queued_calls_on_poll(c);
    notifies_arrive(c);
    error_paths(c);

    muxwire_stats st;
    EXPECT_OK(muxwire_client_stats(c, &st));
    CHECK(st.calls_ok >= ASYNC_CALLS);
    CHECK(st.calls_failed[MUXWIRE_RESULT_NOT_FOUND] >= 1);
    CHECK(st.connections >= 1);

    /* Use after close: later calls fail with UNAVAILABLE. */
    EXPECT_OK(muxwire_client_close(c));
    call_expect(c, "echo", "x", 0, MUXWIRE_RESULT_UNAVAILABLE, NULL);
    muxwire_client_free(c);
}

static void serve_and_call(const char *url) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    muxwire_server *s = start_server(rt, url);
    client_against(rt, muxwire_server_endpoint(s));

    muxwire_stats st;
    EXPECT_OK(muxwire_server_stats(s, &st));
    CHECK(st.calls_started > ASYNC_CALLS + QUEUED_CALLS);

    /* A client of a server that shut down gets UNAVAILABLE. */
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(s), NULL, &c));
    EXPECT_OK(muxwire_server_shutdown(s, 1000));
    EXPECT_OK(muxwire_server_shutdown(s, 1000)); /* again: nothing left to do */
    EXPECT_RESULT(muxwire_server_start(s, rt, url), MUXWIRE_RESULT_FAILED_PRECONDITION);
    CHECK(muxwire_server_endpoint(s) != NULL);
    muxwire_reply *reply = NULL;
    muxwire_result got = muxwire_client_call(c, "echo", NULL, 0, 0, &reply);
    CHECK(got == MUXWIRE_RESULT_UNAVAILABLE || got == MUXWIRE_RESULT_CANCELLED);
    muxwire_client_free(c);
    muxwire_server_free(s);
    muxwire_runtime_free(rt);
}

/* Objects outlive their runtime safely: every use fails with UNAVAILABLE. */
static void use_after_runtime_free(void) {
    muxwire_runtime *rt = NULL, *rt2 = NULL;
    EXPECT_OK(muxwire_runtime_new(1, &rt));
    EXPECT_OK(muxwire_runtime_new(1, &rt2));
    muxwire_server *s = start_server(rt2, "tcp://127.0.0.1:0");
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(s), NULL, &c));
    call_expect(c, "echo", "x", 0, MUXWIRE_RESULT_OK, "x");
    muxwire_runtime_free(rt);
    call_expect(c, "echo", "x", 0, MUXWIRE_RESULT_UNAVAILABLE, NULL);
    EXPECT_LAST_ERROR_HAS("runtime");
    EXPECT_RESULT(muxwire_client_notify(c, "count", NULL, 0), MUXWIRE_RESULT_UNAVAILABLE);
    /* Asynchronous calls still complete exactly once, with UNAVAILABLE. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct pending p;
    memset(&p, 0, sizeof p);
    p.client = c;
    p.lock = &lock;
    p.cond = &cond;
    muxwire_result started = muxwire_client_call_async(c, "echo", NULL, 0, 0, on_done, &p);
    if (started == MUXWIRE_RESULT_OK) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += DEADLINE_S;
        pthread_mutex_lock(&lock);
        while (!p.done) {
            CHECK(pthread_cond_timedwait(&cond, &lock, &until) == 0);
        }
        pthread_mutex_unlock(&lock);
        EXPECT_RESULT(p.status, MUXWIRE_RESULT_UNAVAILABLE);
    } else {
        EXPECT_RESULT(started, MUXWIRE_RESULT_UNAVAILABLE); /* refused: no callback */
    }
    muxwire_queue *q = NULL;
    EXPECT_OK(muxwire_queue_new(0, &q));
    muxwire_completion done;
    if (muxwire_client_call_queued(c, "echo", NULL, 0, 0, q, 5) == MUXWIRE_RESULT_OK) {
        EXPECT_OK(muxwire_queue_wait(q, DEADLINE_S * 1000, &done));
        CHECK(done.tag == 5);
        EXPECT_RESULT(done.status, MUXWIRE_RESULT_UNAVAILABLE);
    }
    muxwire_queue_free(q);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(s, 1000));
    muxwire_server_free(s);
    muxwire_runtime_free(rt2);
}

int main(void) {
    serve_and_call("tcp://127.0.0.1:0");
    char url[128];
    snprintf(url, sizeof url, "unix:///tmp/muxwire-ctest-%ld.sock", (long)getpid());
    serve_and_call(url);
    unlink(url + strlen("unix://"));
    use_after_runtime_free();
    printf("test_client_server: ok\n");
    return 0;
}
