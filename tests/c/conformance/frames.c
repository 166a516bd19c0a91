/* The testee's `decode` and `encode` (spec/CONFORMANCE.md sections 2.2 and 2.3) through
 * muxwire_frame_decode, the metadata iterator and muxwire_frame_encode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "muxwire.h"
#include "testee.h"

/* The TLVs of a metadata block as a JSON list of {"tag", "value"}. */
static answer_kind write_metadata(answer *a, const uint8_t *block, size_t len) {
    muxwire_metadata_iter it;
    if (muxwire_metadata_iter_init(&it, block, len) != MUXWIRE_RESULT_OK) {
        return answer_with(a, ANSWER_FAILED, "metadata_iter_init: %s", muxwire_last_error());
    }
    json_key(a->w, "metadata");
    json_begin_array(a->w);
    muxwire_tlv tlv;
    muxwire_result r;
    while ((r = muxwire_metadata_next(&it, &tlv)) == MUXWIRE_RESULT_OK) {
        json_begin_object(a->w);
        json_key(a->w, "tag");
        json_write_uint(a->w, tlv.tag);
        json_key(a->w, "value");
        json_write_hex(a->w, tlv.value, tlv.value_len);
        json_end_object(a->w);
    }
    json_end_array(a->w);
    if (r != MUXWIRE_RESULT_AGAIN) {
        return answer_with(a, ANSWER_FAILED, "metadata_next: %s", muxwire_last_error());
    }
    return ANSWER_OK;
}

answer_kind op_decode(const json_value *req, answer *a) {
    uint8_t *input;
    size_t len;
    uint64_t max;
    if (!hex_field(req, "input", &input, &len)) {
        return answer_with(a, ANSWER_FAILED, "decode: input is not a hex string");
    }
    if (!json_uint(json_get(req, "max_frame_size"), &max) || max > UINT32_MAX) {
        free(input);
        return answer_with(a, ANSWER_FAILED, "decode: max_frame_size is not a u32");
    }
    muxwire_frame_decoded d;
    answer_kind kind = ANSWER_OK;
    if (muxwire_frame_decode(input, len, (uint32_t)max, &d) != MUXWIRE_RESULT_OK) {
        kind = answer_with(a, ANSWER_FAILED, "muxwire_frame_decode: %s", muxwire_last_error());
    } else if (d.outcome == MUXWIRE_DECODE_OUTCOME_INCOMPLETE) {
        json_key(a->w, "result");
        json_write_cstring(a->w, "incomplete");
        json_key(a->w, "needed");
        json_write_uint(a->w, d.needed);
    } else if (d.outcome == MUXWIRE_DECODE_OUTCOME_INVALID) {
        json_key(a->w, "result");
        json_write_cstring(a->w, "error");
        json_key(a->w, "code");
        json_write_cstring(a->w, muxwire_error_code_name(d.error_code));
    } else {
        const muxwire_frame_view *f = &d.frame;
        json_key(a->w, "result");
        json_write_cstring(a->w, "frame");
        json_key(a->w, "frame_len");
        json_write_uint(a->w, f->frame_len);
        json_key(a->w, "type");
        json_write_uint(a->w, f->frame_type);
        json_key(a->w, "flags");
        json_write_uint(a->w, f->flags);
        json_key(a->w, "meta_len");
        json_write_uint(a->w, f->meta_len);
        json_key(a->w, "stream_id");
        json_write_uint(a->w, f->stream_id);
        json_key(a->w, "arg");
        json_write_uint(a->w, f->arg);
        json_key(a->w, "crc");
        json_write_bool(a->w, f->crc);
        if (f->extension) {
            json_key(a->w, "payload");
            json_write_hex(a->w, f->body, f->body_len);
        } else {
            kind = write_metadata(a, f->metadata, f->metadata_len);
            json_key(a->w, "body");
            json_write_hex(a->w, f->body, f->body_len);
        }
    }
    free(input);
    return kind;
}

/* A header field of the frame being encoded, checked against `max`. */
static bool field(const json_value *frame, const char *key, uint64_t max, uint64_t *out) {
    return json_uint(json_get(frame, key), out) && *out <= max;
}

/* Reads the frame's metadata list into `tlvs` (values in `values`, all freed by the
 * caller, even on failure). */
static bool read_metadata(const json_value *list, muxwire_tlv *tlvs, uint8_t **values) {
    for (size_t i = 0; i < list->count; i++) {
        const json_value *item = &list->items[i];
        uint64_t tag;
        if (!json_uint(json_get(item, "tag"), &tag) || tag > UINT16_MAX ||
            !hex_field(item, "value", &values[i], &tlvs[i].value_len)) {
            return false;
        }
        tlvs[i].tag = (uint16_t)tag;
        tlvs[i].value = values[i];
    }
    return true;
}

answer_kind op_encode(const json_value *req, answer *a) {
    const json_value *frame = json_get(req, "frame");
    uint64_t ty, flags, meta_len = 0, stream, arg;
    if (!field(frame, "type", UINT8_MAX, &ty) || !field(frame, "flags", UINT8_MAX, &flags) ||
        !field(frame, "stream_id", UINT32_MAX, &stream) || !field(frame, "arg", UINT32_MAX, &arg)) {
        return answer_with(a, ANSWER_FAILED, "encode: a header field is missing or too large");
    }
    if (json_get(frame, "meta_len") != NULL && !field(frame, "meta_len", UINT16_MAX, &meta_len)) {
        return answer_with(a, ANSWER_FAILED, "encode: meta_len is not a u16");
    }
    const json_value *list = json_get(frame, "metadata");
    bool extension = json_get(frame, "payload") != NULL;
    if (!extension && (list == NULL || list->type != JSON_ARRAY)) {
        return answer_with(a, ANSWER_FAILED, "encode: neither payload nor a metadata list");
    }
    size_t count = extension ? 0 : list->count;
    muxwire_tlv *tlvs = calloc(count + 1, sizeof *tlvs);
    uint8_t **values = calloc(count + 1, sizeof *values);
    uint8_t *body = NULL, *out = NULL;
    size_t body_len = 0, need = 0;
    answer_kind kind = ANSWER_OK;
    if (tlvs == NULL || values == NULL) {
        kind = answer_with(a, ANSWER_FAILED, "encode: out of memory");
    } else if (!extension && !read_metadata(list, tlvs, values)) {
        kind = answer_with(a, ANSWER_FAILED, "encode: a bad metadata item");
    } else if (!hex_field(frame, extension ? "payload" : "body", &body, &body_len)) {
        kind = answer_with(a, ANSWER_FAILED, "encode: the body or payload is not hex");
    } else {
        muxwire_frame_fields f = {
            .frame_type = (uint8_t)ty,
            .flags = (uint8_t)flags,
            .meta_len = (uint16_t)meta_len,
            .stream_id = (uint32_t)stream,
            .arg = (uint32_t)arg,
            .metadata = tlvs,
            .metadata_count = count,
            .body = body,
            .body_len = body_len,
        };
        size_t written;
        if (muxwire_frame_encode(&f, NULL, 0, &need) != MUXWIRE_RESULT_OK ||
            (out = malloc(need)) == NULL ||
            muxwire_frame_encode(&f, out, need, &written) != MUXWIRE_RESULT_OK) {
            kind = answer_with(a, ANSWER_FAILED, "muxwire_frame_encode: %s", muxwire_last_error());
        } else {
            json_key(a->w, "bytes");
            json_write_hex(a->w, out, written);
        }
    }
    for (size_t i = 0; values != NULL && i < count; i++) {
        free(values[i]);
    }
    free(values);
    free(tlvs);
    free(body);
    free(out);
    return kind;
}
