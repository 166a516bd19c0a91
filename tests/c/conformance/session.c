/* The testee's sessions (spec/CONFORMANCE.md section 2.4): one muxwire_conn driven as
 * the runner says, its events and output reported as the vectors name them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"
#include "testee.h"

/* Stream slots per session, as the reference testee gives its connections. */
#define SLOTS 64

typedef struct {
    muxwire_conn *conn;
    uint64_t now;
    /* Events reported since the last `events` request: JSON objects, comma-separated,
     * inside an array opened when the session began. */
    json_writer events;
    /* Input the runner was told was not consumed: the library holds these bytes (its
     * unprocessed input), so when the runner hands them in again they are not fed twice. */
    uint8_t *held;
    size_t held_len;
} session;

static session *current;

void session_end(void) {
    if (current != NULL) {
        muxwire_conn_free(current->conn);
        json_writer_free(&current->events);
        free(current->held);
        free(current);
        current = NULL;
    }
}

/* Settings and budgets of the session's `config` (vectors/README.md, "Session fields"). */
static answer_kind apply_config(const json_value *config, muxwire_conn_config *c, answer *a) {
    if (config == NULL) {
        return ANSWER_OK;
    }
    if (config->type != JSON_OBJECT) {
        return answer_with(a, ANSWER_FAILED, "config is not an object");
    }
    for (size_t i = 0; i < config->count; i++) {
        const char *k = config->keys[i];
        uint64_t n;
        if (!json_uint(&config->items[i], &n) || n > UINT32_MAX) {
            return answer_with(a, ANSWER_FAILED, "config %s is not a u32", k);
        }
        uint32_t v = (uint32_t)n;
        if (strcmp(k, "max_frame_size") == 0) c->max_frame_size = v;
        else if (strcmp(k, "max_message_size") == 0) c->max_message_size = v;
        else if (strcmp(k, "max_metadata_size") == 0) c->max_metadata_size = v;
        else if (strcmp(k, "max_concurrent_streams") == 0) c->max_concurrent_streams = v;
        else if (strcmp(k, "initial_stream_window") == 0) c->initial_stream_window = v;
        else if (strcmp(k, "initial_connection_window") == 0) c->initial_connection_window = v;
        else if (strcmp(k, "compression") == 0) c->compression = v;
        else if (strcmp(k, "features") == 0) c->features = v;
        else if (strcmp(k, "idle_timeout_ms") == 0) c->idle_timeout_ms = v;
        else if (strcmp(k, "cancel_budget") == 0) c->cancel_budget = v;
        else if (strcmp(k, "control_budget") == 0) c->control_budget = v;
        else if (strcmp(k, "ack_queue") == 0) c->ack_queue = v;
        else {
            return answer_with(a, ANSWER_UNSUPPORTED,
                               "config %s cannot be set through muxwire_conn_config", k);
        }
    }
    return ANSWER_OK;
}

answer_kind op_session(const json_value *req, answer *a) {
    session_end();
    const char *side = json_string(json_get(req, "side"), NULL);
    uint64_t now;
    if (side == NULL || (strcmp(side, "acceptor") != 0 && strcmp(side, "connector") != 0)) {
        return answer_with(a, ANSWER_FAILED, "session: side is neither acceptor nor connector");
    }
    if (!json_uint(json_get(req, "now_us"), &now)) {
        return answer_with(a, ANSWER_FAILED, "session: now_us is not a number");
    }
    muxwire_conn_config cfg;
    int32_t s = strcmp(side, "acceptor") == 0 ? MUXWIRE_SIDE_ACCEPTOR : MUXWIRE_SIDE_CONNECTOR;
    if (muxwire_conn_config_init(&cfg, s) != MUXWIRE_RESULT_OK) {
        return answer_with(a, ANSWER_FAILED, "conn_config_init: %s", muxwire_last_error());
    }
    cfg.stream_slots = SLOTS;
    answer_kind kind = apply_config(json_get(req, "config"), &cfg, a);
    if (kind != ANSWER_OK) {
        return kind;
    }
    session *ss = calloc(1, sizeof *ss);
    if (ss == NULL) {
        return answer_with(a, ANSWER_FAILED, "session: out of memory");
    }
    if (muxwire_conn_new(&cfg, now, &ss->conn) != MUXWIRE_RESULT_OK) {
        free(ss);
        return answer_with(a, ANSWER_FAILED, "conn_new: %s", muxwire_last_error());
    }
    ss->now = now;
    json_writer_init(&ss->events);
    json_begin_array(&ss->events);
    current = ss;
    return ANSWER_OK;
}

/* One event as the vectors name it (vectors/README.md, "Events"); false for the kinds
 * never listed, which are left out. */
static bool event_json(const muxwire_event *e, json_writer *w) {
    const char *name;
    switch (e->kind) {
    case MUXWIRE_EVENT_KIND_CONNECTED: name = "connected"; break;
    case MUXWIRE_EVENT_KIND_CALL: name = "call"; break;
    case MUXWIRE_EVENT_KIND_MESSAGE: name = "message"; break;
    case MUXWIRE_EVENT_KIND_HALF_CLOSED: name = "half_closed"; break;
    case MUXWIRE_EVENT_KIND_STATUS: name = "status"; break;
    case MUXWIRE_EVENT_KIND_CANCELLED: name = "cancelled"; break;
    case MUXWIRE_EVENT_KIND_DEADLINE_EXCEEDED: name = "deadline_exceeded"; break;
    case MUXWIRE_EVENT_KIND_CALL_FAILED: name = "call_failed"; break;
    case MUXWIRE_EVENT_KIND_CALL_ABORTED: name = "call_aborted"; break;
    case MUXWIRE_EVENT_KIND_GO_AWAY: name = "goaway"; break;
    case MUXWIRE_EVENT_KIND_PONG: name = "pong"; break;
    default: return false;
    }
    json_begin_object(w);
    json_key(w, "event");
    json_write_cstring(w, name);
    switch (e->kind) {
    case MUXWIRE_EVENT_KIND_CONNECTED:
    case MUXWIRE_EVENT_KIND_PONG:
        break;
    case MUXWIRE_EVENT_KIND_GO_AWAY:
        json_key(w, "code");
        json_write_uint(w, e->error_code);
        json_key(w, "accepted_calls");
        json_write_uint(w, e->accepted_calls);
        break;
    default:
        json_key(w, "stream");
        json_write_uint(w, e->stream);
        break;
    }
    switch (e->kind) {
    case MUXWIRE_EVENT_KIND_CALL:
        json_key(w, "one_way");
        json_write_bool(w, e->one_way);
        json_key(w, "end_stream");
        json_write_bool(w, e->end_stream);
        if (e->deadline_us >= 0) {
            json_key(w, "deadline_us");
            json_write_int(w, e->deadline_us);
        }
        if (e->has_message) {
            json_key(w, "data");
            json_write_hex(w, e->message, e->message_len);
            json_key(w, "more");
            json_write_bool(w, e->more);
        }
        break;
    case MUXWIRE_EVENT_KIND_MESSAGE:
        json_key(w, "data");
        json_write_hex(w, e->message, e->message_len);
        json_key(w, "more");
        json_write_bool(w, e->more);
        json_key(w, "end_stream");
        json_write_bool(w, e->end_stream);
        break;
    case MUXWIRE_EVENT_KIND_STATUS:
        json_key(w, "code");
        json_write_uint(w, e->status);
        json_key(w, "refused");
        json_write_bool(w, e->refused);
        if (e->has_message) {
            json_key(w, "data");
            json_write_hex(w, e->message, e->message_len);
        }
        break;
    case MUXWIRE_EVENT_KIND_CANCELLED:
    case MUXWIRE_EVENT_KIND_CALL_FAILED:
    case MUXWIRE_EVENT_KIND_CALL_ABORTED:
        json_key(w, "code");
        json_write_uint(w, e->status);
        break;
    default:
        break;
    }
    json_end_object(w);
    return true;
}

/* Takes every event the connection has (which also processes input that waited for
 * them) into the session's list. */
static void collect(session *s) {
    muxwire_event e;
    while (muxwire_conn_poll_event(s->conn, &e) == MUXWIRE_RESULT_OK) {
        event_json(&e, &s->events);
    }
}

/* `input`: the runner hands in what it has not seen consumed, the bytes held first. */
static answer_kind op_input(session *s, const json_value *req, answer *a) {
    uint8_t *data;
    size_t len;
    if (!hex_field(req, "data", &data, &len)) {
        return answer_with(a, ANSWER_FAILED, "input: data is not a hex string");
    }
    if (len < s->held_len || (s->held_len > 0 && memcmp(data, s->held, s->held_len) != 0)) {
        free(data);
        return answer_with(a, ANSWER_FAILED,
                           "input: the %zu unconsumed bytes were not handed in again first",
                           s->held_len);
    }
    size_t in_library = s->held_len;
    muxwire_result r = muxwire_conn_feed(s->conn, s->now, data + s->held_len, len - s->held_len);
    if (r == MUXWIRE_RESULT_OK) {
        in_library = len;
    } else if (r != MUXWIRE_RESULT_UNAVAILABLE) { /* UNAVAILABLE: closed, reads nothing */
        free(data);
        return answer_with(a, ANSWER_FAILED, "conn_feed: %s", muxwire_last_error());
    }
    collect(s);
    size_t unprocessed = muxwire_conn_unprocessed_input(s->conn);
    if (unprocessed > in_library) {
        unprocessed = in_library;
    }
    size_t consumed = in_library - unprocessed;
    free(s->held);
    s->held = malloc(unprocessed + 1);
    s->held_len = 0;
    if (s->held == NULL) {
        free(data);
        return answer_with(a, ANSWER_FAILED, "input: out of memory");
    }
    memcpy(s->held, data + consumed, unprocessed);
    s->held_len = unprocessed;
    free(data);
    json_key(a->w, "consumed");
    json_write_uint(a->w, consumed);
    return ANSWER_OK;
}

static answer_kind op_output(session *s, answer *a) {
    const uint8_t *data;
    size_t len;
    if (muxwire_conn_poll_transmit(s->conn, s->now, &data, &len) != MUXWIRE_RESULT_OK) {
        return answer_with(a, ANSWER_FAILED, "conn_poll_transmit: %s", muxwire_last_error());
    }
    json_key(a->w, "data");
    json_write_hex(a->w, data, len);
    if (muxwire_conn_transmitted(s->conn, len) != MUXWIRE_RESULT_OK) {
        return answer_with(a, ANSWER_FAILED, "conn_transmitted: %s", muxwire_last_error());
    }
    collect(s);
    return ANSWER_OK;
}

static answer_kind op_events(session *s, answer *a) {
    json_end_array(&s->events);
    if (s->events.failed) {
        return answer_with(a, ANSWER_FAILED, "events: out of memory");
    }
    json_key(a->w, "events");
    json_write_raw(a->w, s->events.buf, s->events.len);
    json_writer_free(&s->events);
    json_writer_init(&s->events);
    json_begin_array(&s->events);
    return ANSWER_OK;
}

static answer_kind op_state(session *s, answer *a) {
    uint32_t code;
    bool closed = muxwire_conn_is_closed(s->conn);
    json_key(a->w, "closed");
    json_write_bool(a->w, closed);
    json_key(a->w, "code");
    if (muxwire_conn_close_code(s->conn, &code) == MUXWIRE_RESULT_OK) {
        json_write_cstring(a->w, muxwire_error_code_name(code));
    } else {
        json_write_null(a->w);
    }
    return ANSWER_OK;
}

/* The vectors' name for the core's reason a command was refused
 * (muxwire_conn_last_error_kind); NULL for reasons that are not a rejection. */
static const char *rejection(uint32_t kind) {
    switch (kind) {
    case 2: return "unknown_stream";
    case 3: return "invalid_state";
    case 4: return "wrong_role";
    case 5: return "blocked";
    case 6: return "stream_limit";
    case 7: return "storage_full";
    case 8: return "not_accepting";
    case 9: return "closed";
    case 11: return "invalid_argument";
    case 12: return "too_large";
    default: return NULL;
    }
}

/* Runs one command (vectors/README.md, "Commands"). `body` is NULL when absent. */
static answer_kind run_command(session *s, const json_value *c, const char *op,
                               const uint8_t *body, size_t body_len, answer *a) {
    uint64_t stream = 0, code = 0, n = 0;
    json_uint(json_get(c, "stream"), &stream);
    uint32_t id = 0;
    muxwire_result r;
    if (strcmp(op, "call") == 0) {
        const char *method = json_string(json_get(c, "method"), NULL);
        uint64_t deadline = 0;
        bool has_deadline = json_uint(json_get(c, "deadline_us"), &deadline);
        if (method == NULL) {
            return answer_with(a, ANSWER_FAILED, "call without a method");
        }
        if (has_deadline && deadline == 0) {
            return answer_with(a, ANSWER_UNSUPPORTED,
                               "muxwire_conn_open_call reads a timeout of 0 as none, so it "
                               "cannot send a DEADLINE of 0");
        }
        uint32_t flags = 0;
        if (json_is_true(json_get(c, "one_way"))) flags |= MUXWIRE_CALL_ONE_WAY;
        if (!json_is_true(json_get(c, "end_stream"))) flags |= MUXWIRE_CALL_STREAMING;
        static const uint8_t empty[1] = {0};
        r = muxwire_conn_open_call(s->conn, s->now, method, body ? body : empty, body_len,
                                   deadline, flags, &id);
    } else if (strcmp(op, "send") == 0) {
        r = muxwire_conn_send(s->conn, s->now, (uint32_t)stream, body, body_len,
                              json_is_true(json_get(c, "more")),
                              json_is_true(json_get(c, "end_stream")));
    } else if (strcmp(op, "status") == 0) {
        json_uint(json_get(c, "code"), &code);
        if (code == 0) {
            r = muxwire_conn_reply(s->conn, s->now, (uint32_t)stream, body, body_len);
        } else if (body == NULL && code <= 16) {
            r = muxwire_conn_fail(s->conn, s->now, (uint32_t)stream, (uint32_t)code, NULL);
        } else {
            return answer_with(a, ANSWER_UNSUPPORTED,
                               "muxwire_conn_fail sends codes 1 to 16 without a message");
        }
    } else if (strcmp(op, "cancel") == 0) {
        json_uint(json_get(c, "code"), &code);
        r = muxwire_conn_cancel(s->conn, s->now, (uint32_t)stream, (uint32_t)code);
    } else if (strcmp(op, "ping") == 0) {
        r = muxwire_conn_ping(s->conn, s->now);
    } else if (strcmp(op, "drain") == 0) {
        r = muxwire_conn_drain(s->conn, s->now);
    } else if (strcmp(op, "consume") == 0) {
        json_uint(json_get(c, "n"), &n);
        r = muxwire_conn_consume(s->conn, (uint32_t)stream, (size_t)n);
    } else {
        return answer_with(a, ANSWER_UNSUPPORTED, "unknown command %s", op);
    }
    if (r == MUXWIRE_RESULT_OK) {
        collect(s);
        if (strcmp(op, "call") == 0) {
            json_key(a->w, "stream");
            json_write_uint(a->w, id);
        }
        return ANSWER_OK;
    }
    const char *kind = rejection(muxwire_conn_last_error_kind(s->conn));
    if (kind == NULL) {
        return answer_with(a, ANSWER_FAILED, "%s: %s (%s)", op, muxwire_strerror(r),
                           muxwire_last_error());
    }
    collect(s);
    json_key(a->w, "rejected");
    json_write_cstring(a->w, kind);
    return ANSWER_OK;
}

static answer_kind op_command(session *s, const json_value *req, answer *a) {
    const json_value *c = json_get(req, "command");
    const char *op = json_string(json_get(c, "op"), NULL);
    if (op == NULL) {
        return answer_with(a, ANSWER_FAILED, "command without op");
    }
    uint8_t *body = NULL;
    size_t body_len = 0;
    if (json_get(c, "body") != NULL && !hex_field(c, "body", &body, &body_len)) {
        return answer_with(a, ANSWER_FAILED, "command: body is not a hex string");
    }
    answer_kind kind = run_command(s, c, op, body, body_len, a);
    free(body);
    return kind;
}

answer_kind op_in_session(const char *op, const json_value *req, answer *a) {
    static const char *const known[] = {"input", "events", "output", "command",
                                        "state", "advance", "eof"};
    bool is_known = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        is_known = is_known || strcmp(op, known[i]) == 0;
    }
    if (!is_known) {
        return answer_with(a, ANSWER_UNSUPPORTED, "unknown op %s", op);
    }
    session *s = current;
    if (s == NULL) {
        return answer_with(a, ANSWER_FAILED, "%s before any session", op);
    }
    if (strcmp(op, "input") == 0) return op_input(s, req, a);
    if (strcmp(op, "events") == 0) return op_events(s, a);
    if (strcmp(op, "output") == 0) return op_output(s, a);
    if (strcmp(op, "command") == 0) return op_command(s, req, a);
    if (strcmp(op, "state") == 0) return op_state(s, a);
    if (strcmp(op, "advance") == 0 || strcmp(op, "eof") == 0) {
        muxwire_result r;
        if (op[0] == 'a') {
            if (!json_uint(json_get(req, "now_us"), &s->now)) {
                return answer_with(a, ANSWER_FAILED, "advance: now_us is not a number");
            }
            r = muxwire_conn_on_timeout(s->conn, s->now);
        } else {
            r = muxwire_conn_on_eof(s->conn, s->now);
        }
        if (r != MUXWIRE_RESULT_OK) {
            return answer_with(a, ANSWER_FAILED, "%s: %s", op, muxwire_last_error());
        }
        collect(s);
        return ANSWER_OK;
    }
    return answer_with(a, ANSWER_FAILED, "op %s is known but not handled", op);
}
