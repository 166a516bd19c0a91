/* echo_server: serves "echo" (replies with the request) and "reverse" (replies with the
 * request reversed, from a thread of its own) until its standard input closes.
 *
 *   echo_server [URL]      URL: tcp://127.0.0.1:0 (the default) or unix:///path
 *
 * Prints "listening on URL" once it serves, then waits; Ctrl-D (or closing its stdin)
 * shuts it down gracefully. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"

/* Runs on one of the server's worker threads: answer at once. */
static void echo(void *userdata, muxwire_responder *call) {
    (void)userdata;
    muxwire_responder_reply(call, muxwire_responder_request(call),
                            muxwire_responder_request_len(call));
}

/* A responder may be answered later, from any thread: here, a thread of our own. */
static void *reverse_later(void *arg) {
    muxwire_responder *call = arg;
    size_t len = muxwire_responder_request_len(call);
    const uint8_t *req = muxwire_responder_request(call);
    uint8_t *out = malloc(len ? len : 1);
    if (out == NULL) {
        muxwire_responder_fail(call, MUXWIRE_RESULT_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = req[len - 1 - i];
    }
    muxwire_responder_reply(call, out, len); /* frees the responder */
    free(out);
    return NULL;
}

static void reverse(void *userdata, muxwire_responder *call) {
    (void)userdata;
    pthread_t t;
    if (pthread_create(&t, NULL, reverse_later, call) != 0) {
        muxwire_responder_fail(call, MUXWIRE_RESULT_UNAVAILABLE, "cannot start a thread", NULL, 0);
        return;
    }
    pthread_detach(t);
}

static int fail(const char *what, muxwire_result r) {
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, muxwire_strerror(r), muxwire_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "tcp://127.0.0.1:0";
    muxwire_runtime *rt = NULL;
    muxwire_server *server = NULL;
    muxwire_result r;
    int status = 1;

    if ((r = muxwire_runtime_new(0, &rt)) != MUXWIRE_RESULT_OK) {
        return fail("runtime", r);
    }
    if ((r = muxwire_server_new(NULL, &server)) != MUXWIRE_RESULT_OK ||
        (r = muxwire_server_handle(server, "echo", echo, NULL)) != MUXWIRE_RESULT_OK ||
        (r = muxwire_server_handle(server, "reverse", reverse, NULL)) != MUXWIRE_RESULT_OK ||
        (r = muxwire_server_start(server, rt, url)) != MUXWIRE_RESULT_OK) {
        status = fail("server", r);
        goto out;
    }
    printf("listening on %s\n", muxwire_server_endpoint(server));
    fflush(stdout);

    while (getchar() != EOF) {
    }
    if ((r = muxwire_server_shutdown(server, 5000)) != MUXWIRE_RESULT_OK) {
        status = fail("shutdown", r);
        goto out;
    }
    status = 0;
out:
    muxwire_server_free(server);
    muxwire_runtime_free(rt);
    return status;
}
