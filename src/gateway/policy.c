/* policy: privacy policies' mechanics -- scanning a request, masking and restoring (policy.h).
 *
 * Placeholders are "[" KIND "_" N "]" with KIND upper-case letters, digits and '_' and N from 1.
 * The restorer is a small state machine over an answer stream (the text, or one tool call's
 * arguments; its state is the caller's struct mask_stream): text before a '[' is released; from
 * a '[' on, bytes that may still form a placeholder are held (at most PLACEHOLDER_MAX); a
 * completed placeholder that this request issued is replaced by its value (JSON-escaped in
 * arguments), anything else is released as it was.
 */
#include "gateway/policy.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER_MAX 48
#define SPANS_MAX 1024 /* per string; beyond, the rest of the string is masked as one span */

struct mask_entry {
    char *placeholder;
    char *value;
    size_t value_len;
};

struct mask {
    struct mask_entry *v;
    size_t n, cap;
    int counter[PRIVACY_MAX_KINDS];
};

const char *policy_name(enum privacy_policy pol)
{
    switch (pol) {
    case PRIVACY_LOCAL_ONLY: return "local-only";
    case PRIVACY_MASK: return "mask";
    case PRIVACY_BLOCK: return "block";
    default: return "none";
    }
}

static void scan_one(struct privacy *p, const char *s, struct policy_findings *f)
{
    if (!s || !*s)
        return;
    struct privacy_span spans[64];
    size_t n = privacy_scan(p, s, strlen(s), spans, 64);
    f->n_spans += n;
    for (size_t i = 0; i < n && i < 64; i++)
        f->kinds |= UINT64_C(1) << spans[i].kind;
}

void policy_scan_request(struct privacy *p, const struct request *req, struct policy_findings *f)
{
    memset(f, 0, sizeof *f);
    scan_one(p, req->prompt, f);
    for (size_t i = 0; i < req->n_messages; i++)
        scan_one(p, req->messages[i].content, f);
}

void policy_kinds_str(const struct privacy *p, uint64_t kinds, char *out, size_t size)
{
    size_t n = 0;
    out[0] = 0;
    for (int k = 0; k < privacy_n_kinds(p) && n + 1 < size; k++)
        if (kinds & (UINT64_C(1) << k)) {
            int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", privacy_kind_name(p, k));
            if (w < 0 || (size_t)w >= size - n)
                break;
            n += (size_t)w;
        }
}

/* ---------------------------------------------------------------------------------------------
 * Masking */

struct mask *mask_new(void)
{
    return xcalloc(1, sizeof(struct mask));
}

void mask_free(struct mask *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        memset(m->v[i].value, 0, m->v[i].value_len);
        free(m->v[i].value);
        free(m->v[i].placeholder);
    }
    free(m->v);
    free(m);
}

static const char *placeholder_for(struct privacy *p, struct mask *m, int kind, const char *v,
                                   size_t len)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].value_len == len && memcmp(m->v[i].value, v, len) == 0)
            return m->v[i].placeholder;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->v = xrealloc_array(m->v, m->cap, sizeof *m->v);
    }
    char name[40];
    const char *kn = privacy_kind_name(p, kind);
    size_t k = 0;
    for (; kn[k] && k < 32; k++) {
        char c = kn[k];
        name[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32)
                  : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    name[k] = 0;
    char ph[64]; /* "[" + 32 + "_" + 10 digits + "]" < PLACEHOLDER_MAX */
    snprintf(ph, sizeof ph, "[%s_%d]", name, ++m->counter[kind]);
    struct mask_entry *e = &m->v[m->n++];
    e->placeholder = xstrdup(ph);
    e->value = xstrndup(v, len);
    e->value_len = len;
    return e->placeholder;
}

size_t mask_text(struct privacy *p, struct mask *m, const char *text, size_t len, struct buf *out)
{
    struct privacy_span spans[SPANS_MAX];
    size_t n = privacy_scan(p, text, len, spans, SPANS_MAX);
    size_t stored = n < SPANS_MAX ? n : SPANS_MAX, at = 0;
    for (size_t i = 0; i < stored; i++) {
        buf_append(out, text + at, spans[i].start - at);
        size_t end = (i + 1 == SPANS_MAX && n > SPANS_MAX) ? len : spans[i].end;
        buf_puts(out, placeholder_for(p, m, spans[i].kind, text + spans[i].start,
                                      end - spans[i].start));
        at = end;
    }
    buf_append(out, text + at, len - at);
    return stored;
}

/* Masks a heap string in place (replacing it); returns spans masked. */
static size_t mask_str(struct privacy *p, struct mask *m, char **s)
{
    if (!*s || !**s)
        return 0;
    struct buf b;
    buf_init(&b);
    size_t n = mask_text(p, m, *s, strlen(*s), &b);
    if (n) {
        free(*s);
        *s = buf_detach(&b);
    } else {
        buf_free(&b);
    }
    return n;
}

/* Masks a JSON string value in place. */
static void mask_json_string(struct privacy *p, struct mask *m, json_t *v)
{
    if (!json_is_string(v))
        return;
    struct buf b;
    buf_init(&b);
    if (mask_text(p, m, json_string_value(v), json_string_length(v), &b))
        json_string_setn(v, b.data ? b.data : "", b.len);
    buf_free(&b);
}

static void mask_json_content(struct privacy *p, struct mask *m, json_t *c)
{
    if (json_is_string(c)) {
        mask_json_string(p, m, c);
    } else if (json_is_array(c)) {
        size_t i;
        json_t *part;
        json_array_foreach(c, i, part) {
            if (json_is_string(part))
                mask_json_string(p, m, part);
            else if (json_is_object(part))
                mask_json_string(p, m, json_object_get(part, "text"));
        }
    }
}

size_t policy_mask_request(struct privacy *p, struct mask *m, struct request *req)
{
    size_t n = mask_str(p, m, &req->prompt);
    for (size_t i = 0; i < req->n_messages; i++)
        n += mask_str(p, m, &req->messages[i].content);
    if (json_is_object(req->body)) {
        mask_json_content(p, m, json_object_get(req->body, "prompt"));
        json_t *msgs = json_object_get(req->body, "messages");
        size_t i;
        json_t *msg;
        if (json_is_array(msgs))
            json_array_foreach(msgs, i, msg)
                if (json_is_object(msg))
                    mask_json_content(p, m, json_object_get(msg, "content"));
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Restoring */

static bool ph_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

void mask_stream_init(struct mask_stream *st) { buf_init(&st->held); }

void mask_stream_free(struct mask_stream *st) { buf_free(&st->held); }

/* Releases the text of `s` (len) into out, restoring placeholders; a trailing possible prefix is
 * kept in st->held (unless final: then it is released too). */
static void restore_run(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                        const char *s, size_t len, struct buf *out, bool final)
{
    size_t i = 0;
    while (i < len) {
        const char *lb = memchr(s + i, '[', len - i);
        if (!lb) {
            buf_append(out, s + i, len - i);
            return;
        }
        size_t b = (size_t)(lb - s);
        buf_append(out, s + i, b - i);
        size_t j = b + 1;
        while (j < len && j - b < PLACEHOLDER_MAX && ph_char(s[j]))
            j++;
        if (j >= len && j - b < PLACEHOLDER_MAX && !final) {
            buf_append(&st->held, s + b, len - b); /* may still become a placeholder */
            return;
        }
        if (j < len && s[j] == ']') {
            size_t plen = j + 1 - b;
            for (size_t k = 0; k < m->n; k++)
                if (strlen(m->v[k].placeholder) == plen &&
                    memcmp(m->v[k].placeholder, s + b, plen) == 0) {
                    if (esc == MASK_JSON)
                        buf_put_json_escaped(out, m->v[k].value, m->v[k].value_len);
                    else
                        buf_append(out, m->v[k].value, m->v[k].value_len);
                    i = j + 1;
                    goto next;
                }
        }
        buf_append(out, s + b, 1); /* not a placeholder: release the '[' and go on */
        i = b + 1;
    next:;
    }
}

/* Runs what st held, then text, through restore_run. */
static void restore_held(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                         const char *text, size_t len, struct buf *out, bool final)
{
    if (!st->held.len) {
        restore_run(m, st, esc, text, len, out, final);
        return;
    }
    struct buf all;
    buf_init(&all);
    buf_append(&all, st->held.data, st->held.len);
    buf_append(&all, text, len);
    buf_clear(&st->held);
    restore_run(m, st, esc, all.data, all.len, out, final);
    buf_free(&all);
}

void mask_restore(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                  const char *text, size_t len, struct buf *out)
{
    restore_held(m, st, esc, text, len, out, false);
}

void mask_restore_flush(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                        struct buf *out)
{
    restore_held(m, st, esc, "", 0, out, true);
}
