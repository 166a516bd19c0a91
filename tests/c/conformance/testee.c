/* The C conformance testee: speaks the adapter protocol of spec/CONFORMANCE.md on stdin
 * and stdout (each message a 32-bit little-endian length, then that many bytes of JSON)
 * and carries requests out with libmuxwire alone: decode and encode through
 * muxwire_frame_decode / muxwire_frame_encode, sessions through the sans-IO muxwire_conn.
 *
 *     muxwire conformance adapter -- target/c-tests/conformance_testee
 *
 * It writes nothing to stderr, so a sanitizer report is the only thing that can appear
 * there. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"
#include "testee.h"

/* The protocol's bound on one message. */
#define MAX_MESSAGE (16u << 20)

answer_kind answer_with(answer *a, answer_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->why, sizeof a->why, fmt, ap);
    va_end(ap);
    return kind;
}

bool hex_field(const json_value *obj, const char *key, uint8_t **out, size_t *len) {
    size_t n;
    const char *s = json_string(json_get(obj, key), &n);
    return s != NULL && hex_decode(s, n, out, len);
}

/* Reads one message into a new buffer; false at the end of input (or on a short read). */
static bool read_message(char **out, size_t *len) {
    uint8_t head[4];
    if (fread(head, 1, 4, stdin) != 4) {
        return false;
    }
    uint32_t n = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
                 (uint32_t)head[3] << 24;
    if (n > MAX_MESSAGE) {
        return false;
    }
    char *buf = malloc(n + 1u);
    if (buf == NULL) {
        return false;
    }
    if (fread(buf, 1, n, stdin) != n) {
        free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

static bool write_message(const char *data, size_t len) {
    uint8_t head[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                       (uint8_t)(len >> 24)};
    return fwrite(head, 1, 4, stdout) == 4 && fwrite(data, 1, len, stdout) == len &&
           fflush(stdout) == 0;
}

static answer_kind op_hello(answer *a) {
    char name[96];
    snprintf(name, sizeof name, "libmuxwire %s (C frame codec and sans-IO connection)",
             muxwire_version());
    json_key(a->w, "name");
    json_write_cstring(a->w, name);
    json_key(a->w, "supports");
    json_begin_array(a->w);
    json_write_cstring(a->w, "decode");
    json_write_cstring(a->w, "encode");
    json_write_cstring(a->w, "session");
    json_end_array(a->w);
    return ANSWER_OK;
}

static answer_kind dispatch(const json_value *req, answer *a) {
    const char *op = json_string(json_get(req, "op"), NULL);
    if (op == NULL) {
        return answer_with(a, ANSWER_FAILED, "a request without op");
    }
    if (strcmp(op, "hello") == 0) return op_hello(a);
    if (strcmp(op, "decode") == 0) return op_decode(req, a);
    if (strcmp(op, "encode") == 0) return op_encode(req, a);
    if (strcmp(op, "session") == 0) return op_session(req, a);
    return op_in_session(op, req, a);
}

/* Answers one request; false if the answer could not be written. */
static bool serve(const char *text, size_t len) {
    json_writer w;
    json_writer_init(&w);
    answer a = {&w, ""};
    const char *parse_error = NULL;
    json_value *req = json_parse(text, len, &parse_error);
    answer_kind kind;
    json_begin_object(&w);
    if (req == NULL) {
        kind = answer_with(&a, ANSWER_FAILED, "the request is not JSON: %s", parse_error);
    } else {
        json_key(&w, "ok");
        json_write_bool(&w, true);
        kind = dispatch(req, &a);
    }
    json_free(req);
    if (kind != ANSWER_OK) {
        /* Start again: only the failure goes out. */
        json_writer_free(&w);
        json_writer_init(&w);
        json_begin_object(&w);
        if (kind == ANSWER_UNSUPPORTED) {
            json_key(&w, "unsupported");
        } else {
            json_key(&w, "ok");
            json_write_bool(&w, false);
            json_key(&w, "error");
        }
        json_write_cstring(&w, a.why);
    }
    json_end_object(&w);
    bool ok = !w.failed && write_message(w.buf, w.len);
    json_writer_free(&w);
    return ok;
}

int main(void) {
    int status = 0;
    for (;;) {
        char *text;
        size_t len;
        if (!read_message(&text, &len)) {
            break;
        }
        bool ok = serve(text, len);
        free(text);
        if (!ok) {
            status = 2;
            break;
        }
    }
    session_end();
    return status;
}
