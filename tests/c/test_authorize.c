/* Authorization from C: a call check (a bearer token in the request metadata; admin.*
 * methods for nobody, the refusal naming the peer; a check answering a code that is no
 * status) and a connection check (a Unix socket peer's uid, as SO_PEERCRED gave it; a
 * check refusing every connection), run before any handler. Handlers see the peer's
 * address and Unix credentials. Refused calls never reach a handler; a refused one-way
 * message is dropped and counted. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static atomic_int handled;
static atomic_int checks_run;
static atomic_int connections_checked;

static void echo(void *userdata, muxwire_responder *r) {
    (void)userdata;
    atomic_fetch_add(&handled, 1);
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

/* Replies "uid gid pid" of the Unix socket peer, or the TCP peer's address. */
static void whoami(void *userdata, muxwire_responder *r) {
    (void)userdata;
    atomic_fetch_add(&handled, 1);
    const muxwire_peer *p = muxwire_responder_peer(r);
    char out[256];
    muxwire_unix_credentials c;
    int n;
    if (muxwire_peer_unix_credentials(p, &c) == MUXWIRE_RESULT_OK) {
        n = snprintf(out, sizeof out, "%u %u %d", c.uid, c.gid, c.pid);
    } else {
        n = snprintf(out, sizeof out, "%s", muxwire_peer_address(p));
    }
    CHECK(muxwire_peer_subject(p) == NULL); /* no TLS */
    EXPECT_OK(muxwire_responder_reply(r, (const uint8_t *)out, (size_t)n));
}

/* Calls need `authorization: Bearer s3cret`; admin.* is for nobody; "weird" gets a code
 * that is no status. Short and non-blocking: it runs on the connection's thread. */
static uint32_t bearer(void *userdata, const char *method, const muxwire_entry *metadata,
                       size_t count, const muxwire_peer *peer, char *message, size_t size) {
    CHECK(userdata == &checks_run);
    atomic_fetch_add(&checks_run, 1);
    CHECK(size == MUXWIRE_CHECK_MESSAGE_SIZE);
    CHECK(message[0] == '\0');
    CHECK((metadata == NULL) == (count == 0));
    if (strcmp(method, "weird") == 0) {
        return 99;
    }
    bool ok = false;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(metadata[i].key, "authorization") == 0 && metadata[i].value_len == 13 &&
            memcmp(metadata[i].value, "Bearer s3cret", 13) == 0) {
            ok = true;
        }
    }
    if (!ok) {
        snprintf(message, size, "a bearer token is needed for %s", method);
        return MUXWIRE_RESULT_UNAUTHENTICATED;
    }
    if (strncmp(method, "admin.", 6) == 0) {
        snprintf(message, size, "%s is not for %s", method, muxwire_peer_address(peer));
        return MUXWIRE_RESULT_PERMISSION_DENIED;
    }
    return 0;
}

/* Unix socket peers of this user only; anything else (TCP) is served. */
static uint32_t same_user(void *userdata, const muxwire_peer *peer, char *message,
                          size_t size) {
    (void)userdata;
    (void)message;
    (void)size;
    atomic_fetch_add(&connections_checked, 1);
    muxwire_unix_credentials c;
    if (muxwire_peer_unix_credentials(peer, &c) != MUXWIRE_RESULT_OK) {
        return 0;
    }
    return c.uid == (uint32_t)getuid() ? 0 : MUXWIRE_RESULT_PERMISSION_DENIED;
}

static uint32_t nobody(void *userdata, const muxwire_peer *peer, char *message, size_t size) {
    (void)userdata;
    snprintf(message, size, "%s is not on the list", muxwire_peer_address(peer));
    return MUXWIRE_RESULT_PERMISSION_DENIED;
}

static muxwire_call_options *token(const char *value) {
    muxwire_call_options *o = NULL;
    EXPECT_OK(muxwire_call_options_new(&o));
    EXPECT_OK(muxwire_call_options_add_metadata(o, "authorization", (const uint8_t *)value,
                                                strlen(value)));
    return o;
}

/* Calls `method` with `opts`, expecting `want` and, on failure, a message with `has`. */
static void expect_call(muxwire_client *c, const char *method, const muxwire_call_options *opts,
                        muxwire_result want, const char *has) {
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_client_call_with(c, method, (const uint8_t *)"hi", 2, opts, &reply),
                  want);
    if (want == MUXWIRE_RESULT_OK) {
        CHECK(muxwire_reply_len(reply) > 0);
        muxwire_reply_free(reply);
    } else {
        CHECK(reply == NULL);
        EXPECT_LAST_ERROR_HAS(has);
    }
}

static void sleep_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void test_checks(muxwire_runtime *rt, const char *url) {
    atomic_store(&handled, 0);
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_handle(server, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_handle(server, "whoami", whoami, NULL));
    EXPECT_OK(muxwire_server_handle(server, "admin.reset", echo, NULL));
    EXPECT_RESULT(muxwire_server_authorize_calls(server, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("check");
    EXPECT_OK(muxwire_server_authorize_calls(server, bearer, &checks_run));
    EXPECT_OK(muxwire_server_authorize_connections(server, same_user, NULL));
    EXPECT_OK(muxwire_server_start(server, rt, url));
    EXPECT_RESULT(muxwire_server_authorize_calls(server, bearer, NULL),
                  MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("started");
    EXPECT_RESULT(muxwire_server_authorize_connections(server, nobody, NULL),
                  MUXWIRE_RESULT_FAILED_PRECONDITION);

    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), NULL, &c));
    muxwire_call_options *good = token("Bearer s3cret");
    muxwire_call_options *bad = token("Bearer guess");
    expect_call(c, "echo", good, MUXWIRE_RESULT_OK, NULL);
    expect_call(c, "echo", NULL, MUXWIRE_RESULT_UNAUTHENTICATED, "a bearer token is needed for echo");
    expect_call(c, "echo", bad, MUXWIRE_RESULT_UNAUTHENTICATED, "bearer token");
    bool unix_socket = strncmp(url, "unix://", 7) == 0;
    expect_call(c, "admin.reset", good, MUXWIRE_RESULT_PERMISSION_DENIED,
                unix_socket ? "admin.reset is not for /" : "admin.reset is not for 127.0.0.1:");
    expect_call(c, "weird", good, MUXWIRE_RESULT_INTERNAL, "returned 99");
    /* Unregistered methods are checked too, before UNIMPLEMENTED. */
    expect_call(c, "nosuch", NULL, MUXWIRE_RESULT_UNAUTHENTICATED, "nosuch");
    expect_call(c, "nosuch", good, MUXWIRE_RESULT_UNIMPLEMENTED, "nosuch");

    /* The handler sees who called. */
    muxwire_reply *reply = NULL;
    EXPECT_OK(muxwire_client_call_with(c, "whoami", NULL, 0, good, &reply));
    char want[128];
    if (unix_socket) {
        snprintf(want, sizeof want, "%u %u %d", (unsigned)getuid(), (unsigned)getgid(),
                 (int)getpid());
    } else {
        snprintf(want, sizeof want, "127.0.0.1:");
    }
    CHECK(muxwire_reply_len(reply) >= strlen(want));
    CHECK(memcmp(muxwire_reply_data(reply), want, strlen(want)) == 0);
    muxwire_reply_free(reply);

    /* A one-way message without the token is dropped and counted; no handler runs. */
    EXPECT_OK(muxwire_client_notify(c, "echo", (const uint8_t *)"x", 1));
    muxwire_stats st;
    for (int i = 0; i < 500; i++) {
        EXPECT_OK(muxwire_server_stats(server, &st));
        if (st.one_way_dropped == 1) {
            break;
        }
        sleep_ms(10);
    }
    CHECK(st.one_way_dropped == 1);
    CHECK(atomic_load(&handled) == 2); /* the good echo and whoami */
    CHECK(atomic_load(&checks_run) >= 9);
    CHECK(atomic_load(&connections_checked) >= 1);

    muxwire_call_options_free(good);
    muxwire_call_options_free(bad);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    printf("ok  call and connection checks over %s\n", unix_socket ? "a Unix socket" : "TCP");
}

/* A connection check that refuses: every call on the connection gets its status. */
static void test_connection_refused(muxwire_runtime *rt) {
    atomic_store(&handled, 0);
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_handle(server, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_authorize_connections(server, nobody, NULL));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), NULL, &c));
    for (int i = 0; i < 2; i++) {
        expect_call(c, "echo", NULL, MUXWIRE_RESULT_PERMISSION_DENIED, "is not on the list");
    }
    CHECK(atomic_load(&handled) == 0);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    printf("ok  a refused connection: every call refused, no handler run\n");
}

int main(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    test_checks(rt, "tcp://127.0.0.1:0");
    char url[128];
    snprintf(url, sizeof url, "unix:///tmp/muxwire-ctest-auth-%ld.sock", (long)getpid());
    unlink(url + strlen("unix://"));
    test_checks(rt, url);
    test_connection_refused(rt);
    muxwire_runtime_free(rt);
    printf("test_authorize: all passed\n");
    return 0;
}
