/* Every counter from C through muxwire_stats_snapshot: per-method counts by status and
 * latency histograms (with muxwire_options_set_method_metrics; none without), calls to
 * unregistered methods under "(unknown)", any counter by name, connections closed by
 * side and code, a keepalive timeout (a server process stopped with SIGSTOP answers no
 * PING), and the muxwire_stats counters; keepalive settings; bad arguments. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The connection error code TIMEOUT (PROTOCOL.md section 9.2). */
#define CLOSE_TIMEOUT 12

#include "check.h"

static void echo(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

static void missing(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_fail(r, MUXWIRE_RESULT_NOT_FOUND, "no such thing", NULL, 0));
}

static void sleep_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A server serving echo and missing with `opts`. */
static muxwire_server *serve(muxwire_runtime *rt, const muxwire_options *opts) {
    muxwire_server *s = NULL;
    EXPECT_OK(muxwire_server_new(opts, &s));
    EXPECT_OK(muxwire_server_handle(s, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_handle(s, "missing", missing, NULL));
    EXPECT_OK(muxwire_server_start(s, rt, "tcp://127.0.0.1:0"));
    return s;
}

static void call(muxwire_client *c, const char *method, muxwire_result want) {
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_client_call(c, method, (const uint8_t *)"hi", 2, 5000, &reply), want);
    muxwire_reply_free(reply);
}

/* The method named `name` in `snap`, copied into `*out`; false if it is not there. */
static bool find(const muxwire_stats_snapshot *snap, const char *name, muxwire_method_stats *out) {
    for (size_t i = 0; i < muxwire_stats_snapshot_method_count(snap); i++) {
        EXPECT_OK(muxwire_stats_snapshot_method(snap, i, out));
        if (strcmp(out->method, name) == 0) {
            return true;
        }
    }
    return false;
}

static uint64_t histogram_total(const muxwire_method_stats *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < MUXWIRE_LATENCY_BUCKETS; i++) {
        n += m->latency_buckets[i];
    }
    return n;
}

static uint64_t closed(const muxwire_stats_snapshot *s, bool by_peer) {
    uint64_t n = 0;
    for (uint32_t code = 0; code < MUXWIRE_CLOSE_CODES; code++) {
        n += muxwire_stats_snapshot_connections_closed(s, by_peer, code);
    }
    return n;
}

static void test_method_metrics(muxwire_runtime *rt) {
    muxwire_options *o = NULL;
    EXPECT_OK(muxwire_options_new(&o));
    EXPECT_OK(muxwire_options_set_method_metrics(o, true));
    EXPECT_OK(muxwire_options_set_keepalive_ms(o, 50, 5000));
    muxwire_server *server = serve(rt, o);
    muxwire_options_free(o);
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), NULL, &c));
    for (int i = 0; i < 3; i++) {
        call(c, "echo", MUXWIRE_RESULT_OK);
    }
    call(c, "missing", MUXWIRE_RESULT_NOT_FOUND);
    call(c, "nosuch", MUXWIRE_RESULT_UNIMPLEMENTED);
    sleep_ms(200); /* keepalive PINGs go by, answered */
    call(c, "echo", MUXWIRE_RESULT_OK);

    muxwire_stats_snapshot *snap = NULL;
    EXPECT_OK(muxwire_server_stats_snapshot(server, &snap));
    muxwire_method_stats m;
    CHECK(find(snap, "echo", &m));
    CHECK(m.started == 4 && m.ended[0] == 4);
    CHECK(histogram_total(&m) == 4);
    CHECK(m.latency_sum_us > 0);
    CHECK(find(snap, "missing", &m));
    CHECK(m.started == 1 && m.ended[MUXWIRE_RESULT_NOT_FOUND] == 1 && m.ended[0] == 0);
    /* Calls to unregistered methods are counted last, under "(unknown)". */
    size_t n = muxwire_stats_snapshot_method_count(snap);
    CHECK(n >= 3);
    EXPECT_OK(muxwire_stats_snapshot_method(snap, n - 1, &m));
    CHECK(strcmp(m.method, "(unknown)") == 0);
    CHECK(m.ended[MUXWIRE_RESULT_UNIMPLEMENTED] == 1);
    EXPECT_RESULT(muxwire_stats_snapshot_method(snap, n, &m), MUXWIRE_RESULT_OUT_OF_RANGE);
    EXPECT_LAST_ERROR_HAS("method index");
    CHECK(muxwire_stats_snapshot_keepalive_timeouts(snap) == 0);

    /* The muxwire_stats counters are in the snapshot too. */
    muxwire_stats st;
    EXPECT_OK(muxwire_stats_snapshot_counters(snap, &st));
    CHECK(st.calls_started == 6 && st.calls_ok == 4 && st.connections == 1);
    /* Any counter by name, those without a muxwire_stats field too. */
    uint64_t v = 99;
    EXPECT_OK(muxwire_stats_snapshot_counter(snap, "calls_started", &v));
    CHECK(v == 6);
    EXPECT_OK(muxwire_stats_snapshot_counter(snap, "write_queue_peak", &v));
    CHECK(v > 0);
    EXPECT_OK(muxwire_stats_snapshot_counter(snap, "refused_max_connections", &v));
    CHECK(v == 0);
    v = 99;
    EXPECT_RESULT(muxwire_stats_snapshot_counter(snap, "nosuch", &v), MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_LAST_ERROR_HAS("bytes_in_place");
    CHECK(v == 99);
    EXPECT_RESULT(muxwire_stats_snapshot_counter(snap, NULL, &v), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_stats_snapshot_free(snap);

    /* The client closes: the server counts a connection closed by its peer. */
    EXPECT_OK(muxwire_client_close(c));
    muxwire_stats_snapshot *mine = NULL;
    EXPECT_OK(muxwire_client_stats_snapshot(c, &mine));
    CHECK(closed(mine, false) + closed(mine, true) == 1);
    CHECK(muxwire_stats_snapshot_method_count(mine) == 0); /* it served nothing */
    muxwire_stats_snapshot_free(mine);
    uint64_t by_peer = 0;
    for (int i = 0; i < 500 && by_peer == 0; i++) {
        EXPECT_OK(muxwire_server_stats_snapshot(server, &snap));
        by_peer = closed(snap, true);
        CHECK(closed(snap, false) == 0);
        muxwire_stats_snapshot_free(snap);
        if (by_peer == 0) {
            sleep_ms(10);
        }
    }
    CHECK(by_peer == 1);
    muxwire_client_free(c);

    /* After shutdown: the counters as they were when it began. */
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    EXPECT_OK(muxwire_server_stats_snapshot(server, &snap));
    CHECK(find(snap, "echo", &m) && m.started == 4);
    muxwire_stats_snapshot_free(snap);
    muxwire_server_free(server);
    printf("ok  per-method metrics, connection closes, keepalive\n");
}

static void test_without_metrics(muxwire_runtime *rt) {
    muxwire_server *server = serve(rt, NULL);
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), NULL, &c));
    call(c, "echo", MUXWIRE_RESULT_OK);
    muxwire_stats_snapshot *snap = NULL;
    EXPECT_OK(muxwire_server_stats_snapshot(server, &snap));
    CHECK(muxwire_stats_snapshot_method_count(snap) == 0);
    muxwire_stats st;
    EXPECT_OK(muxwire_stats_snapshot_counters(snap, &st));
    CHECK(st.calls_ok == 1);
    muxwire_stats_snapshot_free(snap);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    printf("ok  no per-method metrics unless asked for\n");
}

/* A server in a child process, stopped: the client's keepalive PING goes unanswered, so
 * it closes the connection and counts a keepalive timeout. Runs before this process has
 * any thread (fork). */
static void test_keepalive_timeout(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(fds[0]);
        muxwire_runtime *rt = NULL;
        EXPECT_OK(muxwire_runtime_new(1, &rt));
        muxwire_server *s = serve(rt, NULL);
        const char *url = muxwire_server_endpoint(s);
        CHECK(write(fds[1], url, strlen(url) + 1) == (ssize_t)(strlen(url) + 1));
        for (;;) {
            pause(); /* until SIGKILL */
        }
    }
    close(fds[1]);
    char url[128] = {0};
    size_t got = 0;
    while (got < sizeof url - 1) {
        ssize_t n = read(fds[0], url + got, sizeof url - 1 - got);
        CHECK(n > 0);
        got += (size_t)n;
        if (memchr(url, '\0', got) != NULL) {
            break;
        }
    }
    close(fds[0]);

    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    muxwire_options *o = NULL;
    EXPECT_OK(muxwire_options_new(&o));
    EXPECT_OK(muxwire_options_set_keepalive_ms(o, 50, 300));
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, url, o, &c));
    muxwire_options_free(o);
    call(c, "echo", MUXWIRE_RESULT_OK);
    CHECK(kill(child, SIGSTOP) == 0);
    uint64_t timeouts = 0, closed_timeout = 0;
    for (int i = 0; i < 500 && timeouts == 0; i++) {
        sleep_ms(10);
        muxwire_stats_snapshot *snap = NULL;
        EXPECT_OK(muxwire_client_stats_snapshot(c, &snap));
        timeouts = muxwire_stats_snapshot_keepalive_timeouts(snap);
        closed_timeout = muxwire_stats_snapshot_connections_closed(snap, false, CLOSE_TIMEOUT);
        muxwire_stats_snapshot_free(snap);
    }
    CHECK(timeouts >= 1);
    CHECK(closed_timeout >= timeouts);
    CHECK(kill(child, SIGKILL) == 0);
    CHECK(waitpid(child, NULL, 0) == child);
    muxwire_client_free(c);
    muxwire_runtime_free(rt);
    printf("ok  a keepalive timeout, counted\n");
}

static void test_arguments(void) {
    CHECK(muxwire_latency_bound_us(0) == 25);
    CHECK(muxwire_latency_bound_us(MUXWIRE_LATENCY_BUCKETS - 2) == 10000000);
    CHECK(muxwire_latency_bound_us(MUXWIRE_LATENCY_BUCKETS - 1) == UINT64_MAX);
    CHECK(muxwire_stats_snapshot_method_count(NULL) == 0);
    CHECK(muxwire_stats_snapshot_keepalive_timeouts(NULL) == 0);
    CHECK(muxwire_stats_snapshot_connections_closed(NULL, true, 0) == 0);
    muxwire_stats_snapshot_free(NULL);
    muxwire_stats st;
    EXPECT_RESULT(muxwire_stats_snapshot_counters(NULL, &st), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_stats_snapshot(NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_server *s = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &s));
    EXPECT_RESULT(muxwire_server_stats_snapshot(s, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("out");
    muxwire_stats_snapshot *snap = NULL;
    EXPECT_OK(muxwire_server_stats_snapshot(s, &snap)); /* not started: all zero */
    CHECK(muxwire_stats_snapshot_connections_closed(snap, false, 99) == 0);
    muxwire_stats_snapshot_free(snap);
    muxwire_server_free(s);
    muxwire_options *o = NULL;
    EXPECT_OK(muxwire_options_new(&o));
    EXPECT_RESULT(muxwire_options_set_keepalive_ms(o, 100, 0), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("keepalive timeout 0");
    EXPECT_RESULT(muxwire_options_set_method_metrics(NULL, true), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_options_free(o);
    printf("ok  arguments\n");
}

int main(void) {
    test_keepalive_timeout();
    test_arguments();
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    test_method_metrics(rt);
    test_without_metrics(rt);
    muxwire_runtime_free(rt);
    printf("test_stats: all passed\n");
    return 0;
}
