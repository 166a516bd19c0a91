/* The conventions every function keeps: result numbers and texts, the last error, NULL
 * checks, outputs untouched on failure, free(NULL), the version, the panic boundary and
 * the log callback. */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

static atomic_int panic_logs;

static void on_log(void *userdata, muxwire_log_level level, const char *target,
                   const char *message) {
    (void)target;
    CHECK(userdata == &panic_logs);
    if (level == MUXWIRE_LOG_LEVEL_ERROR && strstr(message, "muxwire_test_panic") != NULL) {
        atomic_fetch_add(&panic_logs, 1);
    }
}

static atomic_int listening_logs;

static void on_info(void *userdata, muxwire_log_level level, const char *target,
                    const char *message) {
    CHECK(userdata == &listening_logs);
    CHECK(level >= MUXWIRE_LOG_LEVEL_ERROR && level <= MUXWIRE_LOG_LEVEL_INFO);
    if (strncmp(target, "muxwire", 7) == 0 && strstr(message, "listening") != NULL &&
        strstr(message, "tcp://127.0.0.1:") != NULL) {
        atomic_fetch_add(&listening_logs, 1);
    }
}

/* The library's own log records reach the callback, at the level asked for, and stop
 * when it is removed. */
static void log_records_reach_the_callback(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(1, &rt));
    EXPECT_OK(muxwire_set_log_callback(on_info, &listening_logs, MUXWIRE_LOG_LEVEL_INFO));
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    CHECK(atomic_load(&listening_logs) == 1); /* logged before start returned */
    EXPECT_OK(muxwire_server_shutdown(server, 0));
    muxwire_server_free(server);
    /* WARN: the INFO record is not delivered. */
    EXPECT_OK(muxwire_set_log_callback(on_info, &listening_logs, MUXWIRE_LOG_LEVEL_WARN));
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    EXPECT_OK(muxwire_server_shutdown(server, 0));
    muxwire_server_free(server);
    CHECK(atomic_load(&listening_logs) == 1);
    EXPECT_OK(muxwire_set_log_callback(NULL, NULL, MUXWIRE_LOG_LEVEL_OFF));
    muxwire_runtime_free(rt);
}

static void results_and_texts(void) {
    CHECK(MUXWIRE_RESULT_OK == 0);
    CHECK(MUXWIRE_RESULT_CANCELLED == 1);
    CHECK(MUXWIRE_RESULT_DEADLINE_EXCEEDED == 4);
    CHECK(MUXWIRE_RESULT_UNAVAILABLE == 14);
    CHECK(MUXWIRE_RESULT_UNAUTHENTICATED == 16);
    CHECK(MUXWIRE_RESULT_NULL_ARGUMENT == 100);
    CHECK(MUXWIRE_RESULT_PANIC == 101);
    CHECK(strcmp(muxwire_strerror(MUXWIRE_RESULT_OK), "ok") == 0);
    CHECK(strcmp(muxwire_strerror(MUXWIRE_RESULT_DEADLINE_EXCEEDED), "deadline exceeded") == 0);
    CHECK(strcmp(muxwire_strerror(MUXWIRE_RESULT_NULL_ARGUMENT), "a required argument is NULL") == 0);
    CHECK(strcmp(muxwire_strerror(-7), "unrecognised result") == 0);
    CHECK(strcmp(muxwire_strerror(17), "unrecognised result") == 0);
    for (int r = 0; r <= 16; r++) {
        CHECK(strcmp(muxwire_strerror(r), "unrecognised result") != 0);
    }
}

static void version(void) {
    CHECK(strcmp(muxwire_version(), MUXWIRE_VERSION_STRING) == 0);
    CHECK(muxwire_version_number() == MUXWIRE_VERSION_NUMBER);
    CHECK(MUXWIRE_VERSION_NUMBER == MUXWIRE_VERSION_MAJOR * 10000 + MUXWIRE_VERSION_MINOR * 100 +
                                        MUXWIRE_VERSION_PATCH);
}

static void null_arguments_are_named(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_RESULT(muxwire_runtime_new(1, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("out is NULL");

    muxwire_client *client = (muxwire_client *)(uintptr_t)0x1;
    EXPECT_RESULT(muxwire_client_connect(NULL, "tcp://127.0.0.1:1", NULL, &client),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("rt is NULL");
    CHECK(client == (muxwire_client *)(uintptr_t)0x1); /* untouched on failure */

    EXPECT_OK(muxwire_runtime_new(1, &rt));
    EXPECT_RESULT(muxwire_client_connect(rt, NULL, NULL, &client), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("url is NULL");
    EXPECT_RESULT(muxwire_client_call(NULL, "echo", NULL, 0, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("client is NULL");
    EXPECT_RESULT(muxwire_client_notify(NULL, "m", NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_call_async(NULL, "m", NULL, 0, 0, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_stats(NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_close(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_new(NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_handle(NULL, "m", NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_start(NULL, rt, "tcp://127.0.0.1:0"), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_shutdown(NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_server_stats(NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_queue_new(0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_queue_next(NULL, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_queue_wait(NULL, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_options_new(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_timeout_ms(NULL, 5), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_responder_reply(NULL, NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("responder is NULL");
    EXPECT_RESULT(muxwire_responder_call_peer(NULL, "m", NULL, 0, 0, NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_client_call_start(NULL, "m", NULL, 0, 0, NULL, NULL, NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_call_cancel(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_call_free(NULL);
    EXPECT_RESULT(muxwire_responder_fail(NULL, 5, "x", NULL, 0), MUXWIRE_RESULT_NULL_ARGUMENT);

    /* Getters give their documented defaults for NULL. */
    CHECK(muxwire_reply_data(NULL) == NULL);
    CHECK(muxwire_reply_len(NULL) == 0);
    CHECK(muxwire_responder_method(NULL) == NULL);
    CHECK(muxwire_responder_request(NULL) == NULL);
    CHECK(muxwire_responder_request_len(NULL) == 0);
    CHECK(!muxwire_responder_is_cancelled(NULL));
    CHECK(muxwire_server_endpoint(NULL) == NULL);
    CHECK(muxwire_queue_fd(NULL) == -1);
    muxwire_runtime_free(rt);
}

static void free_accepts_null(void) {
    muxwire_runtime_free(NULL);
    muxwire_client_free(NULL);
    muxwire_server_free(NULL);
    muxwire_options_free(NULL);
    muxwire_reply_free(NULL);
    muxwire_responder_free(NULL);
    muxwire_queue_free(NULL);
}

static void bad_arguments_are_explained(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_RESULT(muxwire_runtime_new(100000, &rt), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("at most 1024");
    CHECK(rt == NULL);
    EXPECT_OK(muxwire_runtime_new(2, &rt));

    muxwire_client *client = NULL;
    EXPECT_RESULT(muxwire_client_connect(rt, "http://example", NULL, &client),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("unsupported endpoint");
    EXPECT_RESULT(muxwire_client_connect(rt, "tcp://127.0.0.1", NULL, &client),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("tcp://host:port");
    const char bad_utf8[] = {'t', 'c', 'p', (char)0xff, 0};
    EXPECT_RESULT(muxwire_client_connect(rt, bad_utf8, NULL, &client), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("url is not valid UTF-8");
    CHECK(client == NULL);

    muxwire_options *opts = NULL;
    EXPECT_OK(muxwire_options_new(&opts));
    EXPECT_RESULT(muxwire_options_set_compression(opts, 3), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("not a muxwire_codec");
    EXPECT_RESULT(muxwire_options_set_pool_size(opts, 0), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("pool size 0");
    EXPECT_RESULT(muxwire_options_set_worker_threads(opts, 0), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_max_message_size(opts, 0), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_worker_queue(opts, 0), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("worker queue 0");
    /* A failure without a status has no details. */
    size_t details_len = 99;
    CHECK(muxwire_last_error_details(&details_len) == NULL && details_len == 0);
    EXPECT_OK(muxwire_options_set_compression(opts, MUXWIRE_CODEC_LZ4));
    EXPECT_OK(muxwire_options_set_pool_size(opts, 2));
    EXPECT_OK(muxwire_options_set_timeout_ms(opts, 1000));
    muxwire_options_free(opts);

    EXPECT_RESULT(muxwire_set_log_callback(on_log, &panic_logs, 9), MUXWIRE_RESULT_INVALID_ARGUMENT);
    muxwire_runtime_free(rt);
}

static void a_refused_connection_is_unavailable(void) {
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(1, &rt));
    /* A port that was just listened on and is now closed refuses. */
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    char url[128];
    snprintf(url, sizeof url, "%s", muxwire_server_endpoint(server));
    EXPECT_OK(muxwire_server_shutdown(server, 0));
    muxwire_server_free(server);

    muxwire_client *client = NULL;
    EXPECT_RESULT(muxwire_client_connect(rt, url, NULL, &client), MUXWIRE_RESULT_UNAVAILABLE);
    CHECK(client == NULL);
    CHECK(strlen(muxwire_last_error()) > 0);
    EXPECT_RESULT(muxwire_client_connect(rt, "unix:///nonexistent/muxwire.sock", NULL, &client),
                  MUXWIRE_RESULT_UNAVAILABLE);
    muxwire_runtime_free(rt);
}

static void a_panic_is_a_result_and_goes_to_the_log(void) {
    EXPECT_OK(muxwire_set_log_callback(on_log, &panic_logs, MUXWIRE_LOG_LEVEL_ERROR));
    EXPECT_RESULT(muxwire_test_panic(), MUXWIRE_RESULT_PANIC);
    EXPECT_LAST_ERROR_HAS("muxwire panicked: a panic provoked by muxwire_test_panic");
    CHECK(atomic_load(&panic_logs) == 1);
    /* The library still works after a panic. */
    EXPECT_RESULT(muxwire_test_panic(), MUXWIRE_RESULT_PANIC);
    CHECK(atomic_load(&panic_logs) == 2);
    /* With the callback removed, nothing is logged (and nothing is printed). */
    EXPECT_OK(muxwire_set_log_callback(NULL, NULL, MUXWIRE_LOG_LEVEL_OFF));
    EXPECT_RESULT(muxwire_test_panic(), MUXWIRE_RESULT_PANIC);
    CHECK(atomic_load(&panic_logs) == 2);
}

int main(void) {
    results_and_texts();
    version();
    null_arguments_are_named();
    free_accepts_null();
    bad_arguments_are_explained();
    a_refused_connection_is_unavailable();
    log_records_reach_the_callback();
    a_panic_is_a_result_and_goes_to_the_log();
    printf("test_conventions: ok\n");
    return 0;
}
