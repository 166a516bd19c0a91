/* Described methods from C: muxwire_server_describe gives a method a description and its
 * request and reply types; the built-in muxwire.describe answers them as JSON (every
 * method, or the one named; NOT_FOUND for a name the server does not serve), called here
 * from a C client. Describing a method not registered, or after the start, is refused. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "check.h"

static void echo(void *userdata, muxwire_responder *r) {
    (void)userdata;
    EXPECT_OK(muxwire_responder_reply(r, muxwire_responder_request(r),
                                      muxwire_responder_request_len(r)));
}

static void feed(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    EXPECT_OK(muxwire_server_stream_finish(call, 0, NULL));
}

/* muxwire.describe with `body` as the request: its JSON, NUL-terminated (free it). */
static char *describe(muxwire_client *c, const char *body, muxwire_result want) {
    muxwire_reply *reply = NULL;
    EXPECT_RESULT(muxwire_client_call(c, "muxwire.describe", (const uint8_t *)body,
                                      strlen(body), 5000, &reply),
                  want);
    if (want != MUXWIRE_RESULT_OK) {
        return NULL;
    }
    size_t len = muxwire_reply_len(reply);
    char *text = malloc(len + 1);
    CHECK(text != NULL);
    memcpy(text, muxwire_reply_data(reply), len);
    text[len] = '\0';
    muxwire_reply_free(reply);
    return text;
}

static void expect_has(const char *json, const char *part) {
    if (strstr(json, part) == NULL) {
        printf("FAIL: %s\n  lacks %s\n", json, part);
        exit(1);
    }
}

#define ECHO_JSON                                                                          \
    "{\"name\":\"echo\",\"kind\":\"unary\",\"description\":\"says \\\"hi\\\"\\n back\","  \
    "\"request\":\"bytes\",\"reply\":\"bytes (the request)\"}"
#define FEED_JSON                                                                          \
    "{\"name\":\"feed\",\"kind\":\"streaming\",\"description\":\"\",\"request\":\"\","     \
    "\"reply\":\"example.Ack\"}"

int main(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_RESULT(muxwire_server_describe(server, "echo", "early", NULL, NULL),
                  MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_LAST_ERROR_HAS("register its handler first");
    EXPECT_OK(muxwire_server_handle(server, "echo", echo, NULL));
    EXPECT_OK(muxwire_server_handle(server, "plain", echo, NULL));
    EXPECT_OK(muxwire_server_handle_stream(server, "feed", feed, NULL));
    EXPECT_OK(muxwire_server_describe(server, "echo", "replaced", "x", "y"));
    EXPECT_OK(muxwire_server_describe(server, "echo", "says \"hi\"\n back", "bytes",
                                      "bytes (the request)"));
    EXPECT_OK(muxwire_server_describe(server, "feed", NULL, NULL, "example.Ack"));
    EXPECT_RESULT(muxwire_server_describe(server, NULL, "x", "y", "z"),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("method");
    EXPECT_RESULT(muxwire_server_describe(NULL, "echo", "x", "y", "z"),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    /* Registering after describing still works (the descriptions stay consistent). */
    EXPECT_OK(muxwire_server_handle(server, "late", echo, NULL));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    EXPECT_RESULT(muxwire_server_describe(server, "plain", "x", "y", "z"),
                  MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("started");

    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), NULL, &c));
    char *all = describe(c, "", MUXWIRE_RESULT_OK);
    CHECK(strncmp(all, "{\"methods\":[", 12) == 0);
    expect_has(all, ECHO_JSON);
    expect_has(all, FEED_JSON);
    expect_has(all, "{\"name\":\"plain\",\"kind\":\"unary\"}");
    expect_has(all, "{\"name\":\"late\",\"kind\":\"unary\"}");
    /* Sorted by name, as muxwire.list. */
    CHECK(strstr(all, "\"echo\"") < strstr(all, "\"feed\""));
    CHECK(strstr(all, "\"late\"") < strstr(all, "\"plain\""));
    free(all);

    char *one = describe(c, "echo", MUXWIRE_RESULT_OK);
    if (strcmp(one, "{\"methods\":[" ECHO_JSON "]}") != 0) {
        printf("FAIL: muxwire.describe echo said %s\n", one);
        return 1;
    }
    free(one);
    describe(c, "nosuch", MUXWIRE_RESULT_NOT_FOUND);
    EXPECT_LAST_ERROR_HAS("nosuch");

    muxwire_client_free(c);
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    muxwire_runtime_free(rt);
    printf("test_describe: all passed\n");
    return 0;
}
