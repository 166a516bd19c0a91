/* The C conformance testee (spec/CONFORMANCE.md): libmuxwire's frame codec and sans-IO
 * connection behind the adapter protocol. testee.c reads requests and writes answers;
 * frames.c answers decode and encode; session.c runs sessions. */
#ifndef MUXWIRE_TESTEE_H
#define MUXWIRE_TESTEE_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* What an operation came to. */
typedef enum {
    /* Done: the fields written to the answer stand beside "ok": true. */
    ANSWER_OK,
    /* The request could not be carried out: `why` says why ("ok": false). */
    ANSWER_FAILED,
    /* The operation (or this form of it) is not implemented: `why` says what. */
    ANSWER_UNSUPPORTED,
} answer_kind;

/* An answer being made: fields go into `w` (an object already open); `why` holds the
 * text of a failure or an unsupported request. */
typedef struct {
    json_writer *w;
    char why[512];
} answer;

/* Sets `a->why` (printf-style) and returns `kind`, for one-line failure returns. */
answer_kind answer_with(answer *a, answer_kind kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The bytes of the hex string member `key` of `obj` (free them with free()). */
bool hex_field(const json_value *obj, const char *key, uint8_t **out, size_t *len);

/* `decode` and `encode` (frames.c). */
answer_kind op_decode(const json_value *req, answer *a);
answer_kind op_encode(const json_value *req, answer *a);

/* `session` and the session operations (session.c). */
answer_kind op_session(const json_value *req, answer *a);
answer_kind op_in_session(const char *op, const json_value *req, answer *a);
/* Frees the current session, if any. */
void session_end(void);

#endif
