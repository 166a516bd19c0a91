/* async_client: many concurrent calls over one connection, each finishing in a callback
 * on a library thread; the main thread waits on a condition variable.
 *
 *   async_client URL [CALLS]     (CALLS: 1 to 100000, default 1000)
 *
 * Calls "echo" CALLS times with "message N", checks every reply, prints a summary. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"

struct progress {
    pthread_mutex_t lock;
    pthread_cond_t all_done;
    int left;
    int failed;
};

struct call {
    struct progress *progress;
    char request[32];
};

/* Runs on a library thread: keep it short, never block. */
static void on_reply(void *userdata, muxwire_result status, const uint8_t *body, size_t len,
                     const char *message) {
    struct call *c = userdata;
    int ok = status == MUXWIRE_RESULT_OK && len == strlen(c->request) &&
             memcmp(body, c->request, len) == 0;
    if (!ok) {
        fprintf(stderr, "async_client: %s: %s (%s)\n", c->request, muxwire_strerror(status),
                message);
    }
    struct progress *p = c->progress;
    pthread_mutex_lock(&p->lock);
    p->failed += !ok;
    if (--p->left == 0) {
        pthread_cond_signal(&p->all_done);
    }
    pthread_mutex_unlock(&p->lock);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: async_client URL [CALLS]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "async_client: CALLS must be 1 to 100000\n");
        return 2;
    }
    struct call *calls = calloc((size_t)n, sizeof *calls);
    struct progress p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    muxwire_runtime *rt = NULL;
    muxwire_client *client = NULL;
    muxwire_result r = calls ? muxwire_runtime_new(2, &rt) : MUXWIRE_RESULT_RESOURCE_EXHAUSTED;
    if (r == MUXWIRE_RESULT_OK) {
        r = muxwire_client_connect(rt, argv[1], NULL, &client);
    }
    for (long i = 0; r == MUXWIRE_RESULT_OK && i < n; i++) {
        calls[i].progress = &p;
        snprintf(calls[i].request, sizeof calls[i].request, "message %ld", i);
        pthread_mutex_lock(&p.lock);
        p.left++;
        pthread_mutex_unlock(&p.lock);
        r = muxwire_client_call_async(client, "echo", (const uint8_t *)calls[i].request,
                                      strlen(calls[i].request), 10000, on_reply, &calls[i]);
        if (r != MUXWIRE_RESULT_OK) {
            pthread_mutex_lock(&p.lock);
            p.left--; /* not started: no callback will come */
            pthread_mutex_unlock(&p.lock);
        }
    }
    /* Wait for every call that started, even if starting one failed. */
    pthread_mutex_lock(&p.lock);
    while (p.left > 0) {
        pthread_cond_wait(&p.all_done, &p.lock);
    }
    pthread_mutex_unlock(&p.lock);
    if (r != MUXWIRE_RESULT_OK) {
        fprintf(stderr, "async_client: %s: %s\n", muxwire_strerror(r), muxwire_last_error());
    } else {
        printf("%ld calls, %d failed\n", n, p.failed);
    }
    muxwire_client_free(client);
    muxwire_runtime_free(rt);
    free(calls);
    return r != MUXWIRE_RESULT_OK || p.failed ? 1 : 0;
}
