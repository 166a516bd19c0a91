/* A small JSON reader and writer for the C conformance testee: enough of RFC 8259 for the
 * adapter protocol (spec/CONFORMANCE.md), nothing more. The reader builds a tree; the
 * writer appends to a growing buffer. Integers are kept exactly up to 2^64 - 1. */
#ifndef MUXWIRE_TESTEE_JSON_H
#define MUXWIRE_TESTEE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;

/* One value of a parsed document. Read it through the accessors below. */
struct json_value {
    json_type type;
    bool boolean;
    /* JSON_NUMBER: `is_uint` when the literal is a non-negative integer that fits 64 bits. */
    bool is_uint;
    uint64_t uint;
    double number;
    /* JSON_STRING: the decoded UTF-8 bytes (NUL-terminated, may contain NULs). */
    char *string;
    size_t string_len;
    /* JSON_ARRAY: `items`; JSON_OBJECT: `items` with `keys` beside them. */
    json_value *items;
    char **keys;
    size_t count;
};

/* Parses `len` bytes of `text` as one JSON value (nesting at most 64 deep). Returns the
 * tree (free it with json_free) or NULL with a static message in *error. */
json_value *json_parse(const char *text, size_t len, const char **error);

/* Frees a tree from json_parse; NULL is accepted. */
void json_free(json_value *v);

/* The member `key` of object `obj`, or NULL (also when `obj` is NULL or not an object). */
const json_value *json_get(const json_value *obj, const char *key);

/* True with *out set if `v` is a non-negative integer. */
bool json_uint(const json_value *v, uint64_t *out);

/* The string of `v` (length in *len if not NULL), or NULL if `v` is not a string. */
const char *json_string(const json_value *v, size_t *len);

/* True if `v` is the literal true. */
bool json_is_true(const json_value *v);

/* A JSON text being written. Errors (out of memory) stick: check `failed` at the end. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
    /* A value was written at this level, so the next one needs a comma. */
    bool need_comma;
} json_writer;

void json_writer_init(json_writer *w);
void json_writer_free(json_writer *w);

void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
/* An object member's key; the value follows with one of the functions below. */
void json_key(json_writer *w, const char *key);
void json_write_string(json_writer *w, const char *s, size_t len);
void json_write_cstring(json_writer *w, const char *s);
void json_write_uint(json_writer *w, uint64_t n);
void json_write_int(json_writer *w, int64_t n);
void json_write_bool(json_writer *w, bool b);
void json_write_null(json_writer *w);
/* `len` bytes of JSON text written by another writer, as one value. */
void json_write_raw(json_writer *w, const char *text, size_t len);
/* `len` bytes as a lower-case hexadecimal string. */
void json_write_hex(json_writer *w, const uint8_t *bytes, size_t len);

/* Decodes a hexadecimal string of `len` characters into a new buffer (free it with
 * free(); never NULL on success, even when empty) of *out_len bytes. False on odd length,
 * a non-hex character or no memory. */
bool hex_decode(const char *hex, size_t len, uint8_t **out, size_t *out_len);

#endif
