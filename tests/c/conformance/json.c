/* The JSON reader and writer of json.h. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
    const char *p;
    const char *end;
    const char *error;
} parser;

static bool parse_value(parser *ps, json_value *out, int depth);

static void skip_space(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static bool fail(parser *ps, const char *why) {
    if (ps->error == NULL) {
        ps->error = why;
    }
    return false;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        return fail(ps, "unknown literal");
    }
    ps->p += n;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_u16_escape(parser *ps, unsigned *out) {
    if (ps->end - ps->p < 4) {
        return fail(ps, "short \\u escape");
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[i]);
        if (d < 0) {
            return fail(ps, "bad \\u escape");
        }
        v = v * 16 + (unsigned)d;
    }
    ps->p += 4;
    *out = v;
    return true;
}

/* Appends code point `cp` as UTF-8 to buf (room for 4 bytes is guaranteed). */
static size_t put_utf8(char *buf, unsigned cp) {
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string starting at the opening quote into a new NUL-terminated buffer. */
static bool parse_string(parser *ps, char **out, size_t *out_len) {
    ps->p++; /* the opening quote */
    /* The decoded text is never longer than the source text. */
    const char *close = ps->p;
    while (close < ps->end && *close != '"') {
        close += (*close == '\\' && close + 1 < ps->end) ? 2 : 1;
    }
    if (close >= ps->end) {
        return fail(ps, "unterminated string");
    }
    char *buf = malloc((size_t)(close - ps->p) + 1);
    if (buf == NULL) {
        return fail(ps, "out of memory");
    }
    size_t n = 0;
    while (ps->p < close) {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) {
            free(buf);
            return fail(ps, "control character in a string");
        }
        if (c != '\\') {
            buf[n++] = c;
            continue;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_u16_escape(ps, &cp)) {
                free(buf);
                return false;
            }
            if (cp >= 0xD800 && cp < 0xDC00 && close - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                ps->p += 2;
                unsigned lo;
                if (!read_u16_escape(ps, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return fail(ps, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* \uXXXX is 6 source bytes and at most 3 output bytes; a pair 12 and 4. */
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            free(buf);
            return fail(ps, "bad escape");
        }
    }
    ps->p = close + 1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
}

static bool parse_number(parser *ps, json_value *out) {
    const char *start = ps->p;
    bool integer = true, negative = false;
    if (ps->p < ps->end && *ps->p == '-') {
        negative = true;
        ps->p++;
    }
    uint64_t u = 0;
    bool overflow = false;
    const char *digits = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        unsigned d = (unsigned)(*ps->p - '0');
        if (u > (UINT64_MAX - d) / 10) {
            overflow = true;
        }
        u = u * 10 + d;
        ps->p++;
    }
    if (ps->p == digits) {
        return fail(ps, "a number without digits");
    }
    while (ps->p < ps->end && *ps->p != '\0' && strchr(".eE+-0123456789", *ps->p) != NULL) {
        integer = false;
        ps->p++;
    }
    char tmp[64];
    size_t n = (size_t)(ps->p - start);
    if (n >= sizeof tmp) {
        n = sizeof tmp - 1;
    }
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    out->type = JSON_NUMBER;
    out->number = strtod(tmp, NULL);
    out->is_uint = integer && !negative && !overflow;
    out->uint = out->is_uint ? u : 0;
    return true;
}

static void free_contents(json_value *v) {
    if (v->type == JSON_STRING) {
        free(v->string);
    } else if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->count; i++) {
            free_contents(&v->items[i]);
            if (v->keys != NULL) {
                free(v->keys[i]);
            }
        }
        free(v->items);
        free(v->keys);
    }
}

/* Parses an array or object (ps->p at its opening bracket). */
static bool parse_container(parser *ps, json_value *out, int depth, bool object) {
    char close = object ? '}' : ']';
    out->type = object ? JSON_OBJECT : JSON_ARRAY;
    size_t cap = 0;
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return true;
    }
    for (;;) {
        if (out->count == cap) {
            cap = cap ? cap * 2 : 4;
            json_value *items = realloc(out->items, cap * sizeof *items);
            if (items == NULL) {
                return fail(ps, "out of memory");
            }
            out->items = items;
            if (object) {
                char **keys = realloc(out->keys, cap * sizeof *keys);
                if (keys == NULL) {
                    return fail(ps, "out of memory");
                }
                out->keys = keys;
            }
        }
        char *key = NULL;
        if (object) {
            skip_space(ps);
            size_t key_len;
            if (ps->p >= ps->end || *ps->p != '"' || !parse_string(ps, &key, &key_len)) {
                return fail(ps, "an object key must be a string");
            }
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return fail(ps, "missing ':' after a key");
            }
            ps->p++;
        }
        json_value item;
        memset(&item, 0, sizeof item);
        if (!parse_value(ps, &item, depth + 1)) {
            free_contents(&item);
            free(key);
            return false;
        }
        out->items[out->count] = item;
        if (object) {
            out->keys[out->count] = key;
        }
        out->count++;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return true;
        }
        return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool parse_value(parser *ps, json_value *out, int depth) {
    if (depth > MAX_DEPTH) {
        return fail(ps, "nested too deep");
    }
    skip_space(ps);
    if (ps->p >= ps->end) {
        return fail(ps, "unexpected end of input");
    }
    switch (*ps->p) {
    case '{': return parse_container(ps, out, depth, true);
    case '[': return parse_container(ps, out, depth, false);
    case '"':
        out->type = JSON_STRING;
        return parse_string(ps, &out->string, &out->string_len);
    case 't':
        out->type = JSON_BOOL;
        out->boolean = true;
        return literal(ps, "true");
    case 'f':
        out->type = JSON_BOOL;
        return literal(ps, "false");
    case 'n':
        out->type = JSON_NULL;
        return literal(ps, "null");
    default: return parse_number(ps, out);
    }
}

json_value *json_parse(const char *text, size_t len, const char **error) {
    parser ps = {text, text + len, NULL};
    json_value *v = calloc(1, sizeof *v);
    if (v == NULL) {
        *error = "out of memory";
        return NULL;
    }
    if (parse_value(&ps, v, 0)) {
        skip_space(&ps);
        if (ps.p == ps.end) {
            return v;
        }
        fail(&ps, "text after the value");
    }
    json_free(v);
    *error = ps.error != NULL ? ps.error : "malformed JSON";
    return NULL;
}

void json_free(json_value *v) {
    if (v != NULL) {
        free_contents(v);
        free(v);
    }
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (obj == NULL || obj->type != JSON_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < obj->count; i++) {
        if (strcmp(obj->keys[i], key) == 0) {
            return &obj->items[i];
        }
    }
    return NULL;
}

bool json_uint(const json_value *v, uint64_t *out) {
    if (v == NULL || v->type != JSON_NUMBER || !v->is_uint) {
        return false;
    }
    *out = v->uint;
    return true;
}

const char *json_string(const json_value *v, size_t *len) {
    if (v == NULL || v->type != JSON_STRING) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->string_len;
    }
    return v->string;
}

bool json_is_true(const json_value *v) {
    return v != NULL && v->type == JSON_BOOL && v->boolean;
}

/* The writer. */

void json_writer_init(json_writer *w) {
    memset(w, 0, sizeof *w);
}

void json_writer_free(json_writer *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static bool reserve(json_writer *w, size_t more) {
    if (w->failed) {
        return false;
    }
    if (w->len + more <= w->cap) {
        return true;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more) {
        cap *= 2;
    }
    char *buf = realloc(w->buf, cap);
    if (buf == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = buf;
    w->cap = cap;
    return true;
}

static void put(json_writer *w, const char *s, size_t n) {
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

/* Starts a value: a comma if one came before at this level. */
static void value_start(json_writer *w) {
    if (w->need_comma) {
        put(w, ",", 1);
    }
    w->need_comma = true;
}

void json_begin_object(json_writer *w) {
    value_start(w);
    put(w, "{", 1);
    w->need_comma = false;
}

void json_end_object(json_writer *w) {
    put(w, "}", 1);
    w->need_comma = true;
}

void json_begin_array(json_writer *w) {
    value_start(w);
    put(w, "[", 1);
    w->need_comma = false;
}

void json_end_array(json_writer *w) {
    put(w, "]", 1);
    w->need_comma = true;
}

void json_key(json_writer *w, const char *key) {
    json_write_cstring(w, key);
    put(w, ":", 1);
    w->need_comma = false;
}

void json_write_string(json_writer *w, const char *s, size_t len) {
    static const char digits[] = "0123456789abcdef";
    value_start(w);
    put(w, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
            put(w, esc, 6);
        } else {
            put(w, (const char *)&s[i], 1);
        }
    }
    put(w, "\"", 1);
}

void json_write_cstring(json_writer *w, const char *s) {
    json_write_string(w, s, strlen(s));
}

void json_write_uint(json_writer *w, uint64_t n) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    value_start(w);
    put(w, tmp, (size_t)k);
}

void json_write_int(json_writer *w, int64_t n) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%lld", (long long)n);
    value_start(w);
    put(w, tmp, (size_t)k);
}

void json_write_bool(json_writer *w, bool b) {
    value_start(w);
    put(w, b ? "true" : "false", b ? 4 : 5);
}

void json_write_null(json_writer *w) {
    value_start(w);
    put(w, "null", 4);
}

void json_write_raw(json_writer *w, const char *text, size_t len) {
    value_start(w);
    put(w, text, len);
}

void json_write_hex(json_writer *w, const uint8_t *bytes, size_t len) {
    static const char digits[] = "0123456789abcdef";
    value_start(w);
    if (!reserve(w, 2 * len + 2)) {
        return;
    }
    w->buf[w->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        w->buf[w->len++] = digits[bytes[i] >> 4];
        w->buf[w->len++] = digits[bytes[i] & 15];
    }
    w->buf[w->len++] = '"';
}

bool hex_decode(const char *hex, size_t len, uint8_t **out, size_t *out_len) {
    if (len % 2 != 0) {
        return false;
    }
    uint8_t *buf = malloc(len / 2 + 1);
    if (buf == NULL) {
        return false;
    }
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return false;
        }
        buf[i] = (uint8_t)(hi * 16 + lo);
    }
    *out = buf;
    *out_len = len / 2;
    return true;
}
