/* The C client of the benchmark, through the runtime layer, on the workloads the Rust
 * client runs (cli/src/bench/mux.rs), printing the same JSON:
 *
 *   bench_client URL W1|W2 [quick]
 *
 * W1: one call in flight, 64 B echo, blocking calls: p50 and p99 latency in us.
 * W2: 128 calls in flight on one connection, 64 B echo, callback calls (each completion
 *     starts the next call): calls per second. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muxwire.h"

enum { IN_FLIGHT = 128, BODY = 64 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint8_t body[BODY];

static int w1(muxwire_client *c, int quick) {
    int n = quick ? 3000 : 20000;
    double *lat = malloc(sizeof *lat * (size_t)n);
    if (lat == NULL) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        double t = now_s();
        muxwire_reply *r = NULL;
        muxwire_result res = muxwire_client_call(c, "echo", body, BODY, 0, &r);
        if (res != MUXWIRE_RESULT_OK) {
            fprintf(stderr, "bench_client: %s\n", muxwire_last_error());
            free(lat);
            return 1;
        }
        muxwire_reply_free(r);
        lat[i] = (now_s() - t) * 1e6;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("{\"p50_us\": %.2f, \"p99_us\": %.2f, \"calls\": %d}\n", lat[n / 2],
           lat[(int)((double)(n - 1) * 0.99)], n);
    free(lat);
    return 0;
}

/* W2's shared state: calls keep starting until `stop`, then the last ones drain. */
static struct {
    muxwire_client *client;
    atomic_bool stop;
    atomic_ulong calls;
    atomic_int failed;
    atomic_int in_flight;
    pthread_mutex_t lock;
    pthread_cond_t drained;
} w2s = {.lock = PTHREAD_MUTEX_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER};

static void start_one(void);

/* Runs on a runtime thread: count, then start the next call. */
static void on_done(void *userdata, muxwire_result status, const uint8_t *b, size_t len,
                    const char *message) {
    (void)userdata, (void)b, (void)len, (void)message;
    if (status != MUXWIRE_RESULT_OK) {
        atomic_fetch_add(&w2s.failed, 1);
    } else {
        atomic_fetch_add(&w2s.calls, 1);
    }
    if (!atomic_load(&w2s.stop) && status == MUXWIRE_RESULT_OK) {
        start_one();
        return;
    }
    if (atomic_fetch_sub(&w2s.in_flight, 1) == 1) {
        pthread_mutex_lock(&w2s.lock);
        pthread_cond_signal(&w2s.drained);
        pthread_mutex_unlock(&w2s.lock);
    }
}

static void start_one(void) {
    if (muxwire_client_call_async(w2s.client, "echo", body, BODY, 0, on_done, NULL) !=
        MUXWIRE_RESULT_OK) {
        atomic_fetch_add(&w2s.failed, 1);
        if (atomic_fetch_sub(&w2s.in_flight, 1) == 1) {
            pthread_mutex_lock(&w2s.lock);
            pthread_cond_signal(&w2s.drained);
            pthread_mutex_unlock(&w2s.lock);
        }
    }
}

static int w2(muxwire_client *c, int quick) {
    double dur = quick ? 0.5 : 3.0;
    for (int i = 0; i < 1000; i++) { /* warm up */
        muxwire_reply *r = NULL;
        if (muxwire_client_call(c, "echo", body, BODY, 0, &r) != MUXWIRE_RESULT_OK) {
            return 1;
        }
        muxwire_reply_free(r);
    }
    w2s.client = c;
    atomic_store(&w2s.in_flight, IN_FLIGHT);
    double start = now_s();
    for (int i = 0; i < IN_FLIGHT; i++) {
        start_one();
    }
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    while (now_s() - start < dur) {
        nanosleep(&nap, NULL);
    }
    atomic_store(&w2s.stop, true);
    unsigned long calls = atomic_load(&w2s.calls);
    double secs = now_s() - start;
    pthread_mutex_lock(&w2s.lock);
    while (atomic_load(&w2s.in_flight) > 0) {
        pthread_cond_wait(&w2s.drained, &w2s.lock);
    }
    pthread_mutex_unlock(&w2s.lock);
    if (atomic_load(&w2s.failed) > 0) {
        fprintf(stderr, "bench_client: %d calls failed\n", atomic_load(&w2s.failed));
        return 1;
    }
    printf("{\"calls_per_s\": %.0f, \"calls\": %lu}\n", (double)calls / secs, calls);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_client URL W1|W2 [quick]\n");
        return 2;
    }
    int quick = argc > 3 && strcmp(argv[3], "quick") == 0;
    memset(body, 7, sizeof body);
    muxwire_runtime *rt = NULL;
    muxwire_options *opts = NULL;
    muxwire_client *c = NULL;
    /* One runtime thread, as the Rust client's multi-thread scheduler with one worker. */
    if (muxwire_runtime_new(1, &rt) != MUXWIRE_RESULT_OK ||
        muxwire_options_new(&opts) != MUXWIRE_RESULT_OK ||
        muxwire_client_connect(rt, argv[1], opts, &c) != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "bench_client: %s\n", muxwire_last_error());
        return 1;
    }
    int rc = strcmp(argv[2], "W1") == 0 ? w1(c, quick) : strcmp(argv[2], "W2") == 0 ? w2(c, quick) : 2;
    muxwire_client_free(c);
    muxwire_options_free(opts);
    muxwire_runtime_free(rt);
    return rc;
}
