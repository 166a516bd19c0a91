/* TLS from C: a C server on a tls:// URL with its certificate from PEM files (or PEM in
 * memory) requiring client certificates signed by the test CA, and C clients trusting
 * that CA (a file or PEM in memory) and presenting their own certificate (mutual TLS);
 * handlers (unary and streaming) see the client's verified subject, DNS names and chain
 * through muxwire_peer. Refusals: a client without a certificate, a client trusting
 * another CA. A certificate reloaded from its files while serving. Every setter's
 * errors name the file and the problem.
 *
 *   test_tls CERT_DIR    (tests/c/tls_certs.sh makes the certificates there) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "check.h"

static const char *cert_dir;

/* CERT_DIR/name, in one of a few static buffers. */
static const char *path(const char *name) {
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    int n = snprintf(p, sizeof bufs[0], "%s/%s", cert_dir, name);
    CHECK(n > 0 && (size_t)n < sizeof bufs[0]);
    return p;
}

/* The whole file `name` in CERT_DIR (free it). */
static uint8_t *slurp(const char *name, size_t *len) {
    FILE *f = fopen(path(name), "rb");
    CHECK(f != NULL);
    uint8_t *buf = malloc(16384);
    CHECK(buf != NULL);
    *len = fread(buf, 1, 16384, f);
    CHECK(*len > 0 && *len < 16384);
    fclose(f);
    return buf;
}

/* "subject|dns,dns|certs=N" of the peer (subject "-" without a certificate). */
static size_t describe_peer(const muxwire_peer *p, char *out, size_t room) {
    CHECK(p != NULL);
    const char *address = muxwire_peer_address(p);
    CHECK(address != NULL && strncmp(address, "127.0.0.1:", 10) == 0);
    muxwire_unix_credentials creds;
    EXPECT_RESULT(muxwire_peer_unix_credentials(p, &creds), MUXWIRE_RESULT_NOT_FOUND);
    const char *subject = muxwire_peer_subject(p);
    int n = snprintf(out, room, "%s|", subject ? subject : "-");
    for (size_t i = 0; i < muxwire_peer_dns_name_count(p); i++) {
        n += snprintf(out + n, room - (size_t)n, "%s%s", i ? "," : "", muxwire_peer_dns_name(p, i));
    }
    CHECK(muxwire_peer_dns_name(p, muxwire_peer_dns_name_count(p)) == NULL);
    size_t count = muxwire_peer_certificate_count(p);
    for (size_t i = 0; i < count; i++) {
        size_t len = 0;
        const uint8_t *der = muxwire_peer_certificate(p, i, &len);
        CHECK(der != NULL && len > 100 && der[0] == 0x30); /* a DER SEQUENCE */
    }
    n += snprintf(out + n, room - (size_t)n, "|certs=%zu", count);
    CHECK(n > 0 && (size_t)n < room);
    return (size_t)n;
}

static void whoami(void *userdata, muxwire_responder *r) {
    (void)userdata;
    char out[512];
    size_t n = describe_peer(muxwire_responder_peer(r), out, sizeof out);
    CHECK(muxwire_responder_peer(r) == muxwire_responder_peer(r)); /* made once */
    EXPECT_OK(muxwire_responder_reply(r, (const uint8_t *)out, n));
}

static void whoami_stream(void *userdata, muxwire_server_stream *call) {
    (void)userdata;
    char out[512];
    size_t n = describe_peer(muxwire_server_stream_peer(call), out, sizeof out);
    EXPECT_OK(muxwire_server_stream_send(call, (const uint8_t *)out, n));
    EXPECT_OK(muxwire_server_stream_finish(call, 0, NULL));
}

/* Calls whoami and compares the reply with `want`. */
static void expect_whoami(muxwire_client *c, const char *want) {
    muxwire_reply *reply = NULL;
    EXPECT_OK(muxwire_client_call(c, "whoami", NULL, 0, 5000, &reply));
    size_t len = muxwire_reply_len(reply);
    if (len != strlen(want) || memcmp(muxwire_reply_data(reply), want, len) != 0) {
        printf("FAIL: whoami said \"%.*s\", expected \"%s\"\n", (int)len,
               (const char *)muxwire_reply_data(reply), want);
        exit(1);
    }
    muxwire_reply_free(reply);
}

static void expect_whoami_stream(muxwire_client *c, const char *want) {
    muxwire_stream *s = NULL;
    EXPECT_OK(muxwire_client_open_stream(c, "whoami.stream", 5000, &s));
    EXPECT_OK(muxwire_stream_finish(s));
    muxwire_reply *m = NULL;
    EXPECT_OK(muxwire_stream_recv(s, 5000, &m));
    CHECK(m != NULL);
    CHECK(muxwire_reply_len(m) == strlen(want));
    CHECK(memcmp(muxwire_reply_data(m), want, strlen(want)) == 0);
    muxwire_reply_free(m);
    muxwire_reply *end = NULL;
    EXPECT_OK(muxwire_stream_recv(s, 5000, &end));
    CHECK(end == NULL);
    muxwire_stream_free(s);
}

/* Every setter checks its input now and names the file and the problem. */
static void test_setter_errors(void) {
    muxwire_options *o = NULL;
    EXPECT_OK(muxwire_options_new(&o));
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_files(
                      o, "/nonexistent/cert.pem", path("server.key")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("/nonexistent/cert.pem");
    EXPECT_LAST_ERROR_HAS("cannot read the certificate file");
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_files(o, path("garbage.pem"),
                                                                   path("server.key")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("garbage.pem");
    EXPECT_LAST_ERROR_HAS("no CERTIFICATE");
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_files(o, path("server.pem"),
                                                                   path("client.key")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("client.key");
    EXPECT_LAST_ERROR_HAS("does not match");
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_files(o, path("server.pem"),
                                                                   path("server.pem")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("private key");
    EXPECT_RESULT(muxwire_options_set_tls_server_client_ca_file(o, path("garbage.pem")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("garbage.pem");
    EXPECT_RESULT(muxwire_options_set_tls_client_ca_file(o, "/nonexistent/ca.pem"),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("cannot read the CA file \"/nonexistent/ca.pem\"");
    EXPECT_RESULT(muxwire_options_set_tls_client_ca_pem(o, (const uint8_t *)"junk", 4),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("ca_pem");
    EXPECT_RESULT(muxwire_options_set_tls_client_certificate_files(o, path("client.pem"),
                                                                   "/nonexistent/key.pem"),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("/nonexistent/key.pem");
    EXPECT_OK(muxwire_options_set_tls_client_insecure_tests_only(o));
    EXPECT_RESULT(muxwire_options_set_tls_client_certificate_files(o, path("client.pem"),
                                                                   path("server.key")),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("does not match");
    EXPECT_RESULT(muxwire_options_set_tls_client_server_name(o, ""),
                  MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_files(o, NULL, path("server.key")),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("cert_path");
    EXPECT_RESULT(muxwire_options_set_tls_server_certificate_pem(o, NULL, 5, NULL, 0),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_tls_client_ca_file(NULL, path("ca.pem")),
                  MUXWIRE_RESULT_NULL_ARGUMENT);
    EXPECT_RESULT(muxwire_options_set_tls_client_platform_roots(NULL),
                  MUXWIRE_RESULT_NULL_ARGUMENT);

    /* A server without a certificate cannot start on a tls:// URL. */
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(1, &rt));
    muxwire_server *s = NULL;
    EXPECT_OK(muxwire_server_new(NULL, &s));
    CHECK(muxwire_server_start(s, rt, "tls://127.0.0.1:0") != MUXWIRE_RESULT_OK);
    EXPECT_LAST_ERROR_HAS("certificate");
    muxwire_server_free(s);
    muxwire_runtime_free(rt);
    muxwire_options_free(o);
    printf("ok  setter errors name the file and the problem\n");
}

/* A client with options for the test server: trusting `ca` (a file in CERT_DIR), with the
 * client certificate if `with_cert`. */
static muxwire_options *client_options(const char *ca, bool with_cert) {
    muxwire_options *o = NULL;
    EXPECT_OK(muxwire_options_new(&o));
    EXPECT_OK(muxwire_options_set_tls_client_ca_file(o, path(ca)));
    if (with_cert) {
        EXPECT_OK(muxwire_options_set_tls_client_certificate_files(o, path("client.pem"),
                                                                   path("client.key")));
    }
    return o;
}

static void test_mutual_tls(muxwire_runtime *rt) {
    muxwire_options *so = NULL;
    EXPECT_OK(muxwire_options_new(&so));
    /* The client CA first, the certificate after: the order does not matter. */
    EXPECT_OK(muxwire_options_set_tls_server_client_ca_file(so, path("ca.pem")));
    EXPECT_OK(muxwire_options_set_tls_server_certificate_files(so, path("server.pem"),
                                                               path("server.key")));
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(so, &server));
    muxwire_options_free(so);
    EXPECT_OK(muxwire_server_handle(server, "whoami", whoami, NULL));
    EXPECT_OK(muxwire_server_handle_stream(server, "whoami.stream", whoami_stream, NULL));
    EXPECT_OK(muxwire_server_start(server, rt, "tls://127.0.0.1:0"));
    const char *url = muxwire_server_endpoint(server);
    CHECK(strncmp(url, "tls://127.0.0.1:", 16) == 0);

    const char *want = "O=Example, CN=client-1|client1.example,client1.internal|certs=1";
    muxwire_options *co = client_options("ca.pem", true);
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, url, co, &c));
    expect_whoami(c, want);
    expect_whoami_stream(c, want);
    muxwire_client_free(c);

    /* The server's name checked instead of the URL's host. */
    EXPECT_OK(muxwire_options_set_tls_client_server_name(co, "localhost"));
    EXPECT_OK(muxwire_client_connect(rt, url, co, &c));
    expect_whoami(c, want);
    muxwire_client_free(c);
    EXPECT_OK(muxwire_options_set_tls_client_server_name(co, "elsewhere.example"));
    c = NULL;
    CHECK(muxwire_client_connect(rt, url, co, &c) != MUXWIRE_RESULT_OK);
    CHECK(c == NULL);
    muxwire_options_free(co);

    /* Tests only: any server certificate trusted, the client's own still presented. */
    muxwire_options *insecure = NULL;
    EXPECT_OK(muxwire_options_new(&insecure));
    EXPECT_OK(muxwire_options_set_tls_client_insecure_tests_only(insecure));
    EXPECT_OK(muxwire_options_set_tls_client_certificate_files(insecure, path("client.pem"),
                                                               path("client.key")));
    EXPECT_OK(muxwire_client_connect(rt, url, insecure, &c));
    expect_whoami(c, want);
    muxwire_client_free(c);
    muxwire_options_free(insecure);

    /* A client trusting another CA refuses the server. */
    co = client_options("other-ca.pem", true);
    c = NULL;
    CHECK(muxwire_client_connect(rt, url, co, &c) != MUXWIRE_RESULT_OK);
    CHECK(c == NULL);
    muxwire_options_free(co);

    /* A client without a certificate is refused by the server: at the handshake, or
     * (TLS 1.3 finishes the client's side first) at its first call. */
    co = client_options("ca.pem", false);
    c = NULL;
    if (muxwire_client_connect(rt, url, co, &c) == MUXWIRE_RESULT_OK) {
        muxwire_reply *reply = NULL;
        CHECK(muxwire_client_call(c, "whoami", NULL, 0, 5000, &reply) != MUXWIRE_RESULT_OK);
        CHECK(reply == NULL);
        muxwire_client_free(c);
    }
    muxwire_options_free(co);

    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    printf("ok  mutual TLS: C client and C server, the client's identity in handlers\n");
}

/* PEM in memory on both sides, no client certificates: handlers see none. */
static void test_pem_in_memory(muxwire_runtime *rt) {
    size_t cert_len, key_len, ca_len;
    uint8_t *cert = slurp("server.pem", &cert_len);
    uint8_t *key = slurp("server.key", &key_len);
    uint8_t *ca = slurp("ca.pem", &ca_len);
    muxwire_options *so = NULL;
    EXPECT_OK(muxwire_options_new(&so));
    EXPECT_OK(muxwire_options_set_tls_server_certificate_pem(so, cert, cert_len, key, key_len));
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(so, &server));
    muxwire_options_free(so);
    EXPECT_OK(muxwire_server_handle(server, "whoami", whoami, NULL));
    EXPECT_OK(muxwire_server_start(server, rt, "tls://127.0.0.1:0"));

    muxwire_options *co = NULL;
    EXPECT_OK(muxwire_options_new(&co));
    EXPECT_OK(muxwire_options_set_tls_client_ca_pem(co, ca, ca_len));
    muxwire_client *c = NULL;
    EXPECT_OK(muxwire_client_connect(rt, muxwire_server_endpoint(server), co, &c));
    expect_whoami(c, "-||certs=0");
    muxwire_client_free(c);
    muxwire_options_free(co);
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);
    free(cert);
    free(key);
    free(ca);
    printf("ok  PEM in memory; no client certificate, no subject\n");
}

/* Copies CERT_DIR/from to CERT_DIR/to. */
static void copy(const char *from, const char *to) {
    size_t len;
    uint8_t *data = slurp(from, &len);
    FILE *f = fopen(path(to), "wb");
    CHECK(f != NULL);
    CHECK(fwrite(data, 1, len, f) == len);
    CHECK(fclose(f) == 0);
    free(data);
}

/* Connects a client trusting `ca` (no client certificate): OK or not. */
static muxwire_result try_connect(muxwire_runtime *rt, const char *url, const char *ca) {
    muxwire_options *co = client_options(ca, false);
    muxwire_client *c = NULL;
    muxwire_result r = muxwire_client_connect(rt, url, co, &c);
    if (r == MUXWIRE_RESULT_OK) {
        expect_whoami(c, "-||certs=0");
    }
    muxwire_client_free(c);
    muxwire_options_free(co);
    return r;
}

/* A running server's certificate replaced through its files: new connections get it. */
static void test_reload(muxwire_runtime *rt) {
    copy("server.pem", "live.pem");
    copy("server.key", "live.key");
    muxwire_options *so = NULL;
    EXPECT_OK(muxwire_options_new(&so));
    EXPECT_OK(muxwire_options_set_tls_server_certificate_files(so, path("live.pem"),
                                                               path("live.key")));
    muxwire_server *server = NULL;
    EXPECT_OK(muxwire_server_new(so, &server));
    muxwire_options_free(so);
    EXPECT_OK(muxwire_server_handle(server, "whoami", whoami, NULL));
    EXPECT_RESULT(muxwire_server_reload_tls(server), MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("not running");
    EXPECT_OK(muxwire_server_start(server, rt, "tls://127.0.0.1:0"));
    const char *url = muxwire_server_endpoint(server);
    EXPECT_OK(try_connect(rt, url, "ca.pem"));
    CHECK(try_connect(rt, url, "other-ca.pem") != MUXWIRE_RESULT_OK);

    copy("other-server.pem", "live.pem");
    copy("other-server.key", "live.key");
    EXPECT_OK(muxwire_server_reload_tls(server));
    EXPECT_OK(try_connect(rt, url, "other-ca.pem"));
    CHECK(try_connect(rt, url, "ca.pem") != MUXWIRE_RESULT_OK);

    /* A broken file: refused, naming it; the certificate in use stays. */
    copy("garbage.pem", "live.pem");
    EXPECT_RESULT(muxwire_server_reload_tls(server), MUXWIRE_RESULT_INVALID_ARGUMENT);
    EXPECT_LAST_ERROR_HAS("live.pem");
    EXPECT_OK(try_connect(rt, url, "other-ca.pem"));
    EXPECT_OK(muxwire_server_shutdown(server, 1000));
    muxwire_server_free(server);

    /* Nothing to reload: a plain server, and one given PEM in memory. */
    EXPECT_OK(muxwire_server_new(NULL, &server));
    EXPECT_OK(muxwire_server_start(server, rt, "tcp://127.0.0.1:0"));
    EXPECT_RESULT(muxwire_server_reload_tls(server), MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("no TLS certificate");
    muxwire_server_free(server);
    size_t cert_len, key_len;
    uint8_t *cert = slurp("server.pem", &cert_len);
    uint8_t *key = slurp("server.key", &key_len);
    EXPECT_OK(muxwire_options_new(&so));
    EXPECT_OK(muxwire_options_set_tls_server_certificate_pem(so, cert, cert_len, key, key_len));
    EXPECT_OK(muxwire_server_new(so, &server));
    muxwire_options_free(so);
    EXPECT_OK(muxwire_server_start(server, rt, "tls://127.0.0.1:0"));
    EXPECT_RESULT(muxwire_server_reload_tls(server), MUXWIRE_RESULT_FAILED_PRECONDITION);
    EXPECT_LAST_ERROR_HAS("PEM");
    EXPECT_RESULT(muxwire_server_reload_tls(NULL), MUXWIRE_RESULT_NULL_ARGUMENT);
    muxwire_server_free(server);
    free(cert);
    free(key);
    printf("ok  a certificate reloaded from its files while serving\n");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CERT_DIR\n", argv[0]);
        return 2;
    }
    cert_dir = argv[1];
    test_setter_errors();
    muxwire_runtime *rt = NULL;
    EXPECT_OK(muxwire_runtime_new(2, &rt));
    test_mutual_tls(rt);
    test_pem_in_memory(rt);
    test_reload(rt);
    muxwire_runtime_free(rt);
    printf("test_tls: all passed\n");
    return 0;
}
