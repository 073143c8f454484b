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

/* Adds to f the spans of text (len) that reach into [from, to): the rest is context
 * (with_key). Returns how many. */
static size_t scan_spans(struct privacy *p, const char *text, size_t len, size_t from, size_t to,
                         struct policy_findings *f)
{
    struct privacy_span spans[64];
    size_t n = privacy_scan(p, text, len, spans, 64), found = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (spans[i].end > from && spans[i].start < to) {
            f->kinds |= UINT64_C(1) << spans[i].kind;
            found++;
        }
    f->n_spans += found;
    return found;
}

static void scan_one(struct privacy *p, const char *s, struct policy_findings *f)
{
    if (s && *s)
        scan_spans(p, s, strlen(s), 0, strlen(s), f);
}

static void scan_arguments(struct privacy *p, json_t *args, struct policy_findings *f);

void policy_scan_request(struct privacy *p, const struct request *req, struct policy_findings *f)
{
    memset(f, 0, sizeof *f);
    scan_one(p, req->prompt, f);
    for (size_t i = 0; i < req->n_messages; i++) {
        scan_one(p, req->messages[i].content, f);
        size_t k;
        json_t *tc;
        json_array_foreach(req->messages[i].tool_calls, k, tc)
            scan_arguments(p, json_object_get(json_object_get(tc, "function"), "arguments"), f);
    }
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

/* Masks text[from..to) into out and returns the spans masked. Spans are found in all of text
 * (len): what is around [from, to) is context only (with_key), and a span reaching into it is
 * masked where it overlaps. */
static size_t mask_spans(struct privacy *p, struct mask *m, const char *text, size_t len,
                         size_t from, size_t to, struct buf *out)
{
    struct privacy_span spans[SPANS_MAX];
    size_t n = privacy_scan(p, text, len, spans, SPANS_MAX);
    size_t stored = n < SPANS_MAX ? n : SPANS_MAX, at = from, masked = 0;
    for (size_t i = 0; i < stored; i++) {
        size_t end = (i + 1 == SPANS_MAX && n > SPANS_MAX) ? len : spans[i].end;
        size_t start = spans[i].start > from ? spans[i].start : from;
        end = end < to ? end : to;
        if (end <= start)
            continue; /* all in the context */
        buf_append(out, text + at, start - at);
        buf_puts(out, placeholder_for(p, m, spans[i].kind, text + start, end - start));
        at = end;
        masked++;
    }
    buf_append(out, text + at, to - at);
    return masked;
}

size_t mask_text(struct privacy *p, struct mask *m, const char *text, size_t len, struct buf *out)
{
    return mask_spans(p, m, text, len, 0, len, out);
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

/* Masks a JSON string value in place; returns spans masked. */
static size_t mask_json_string(struct privacy *p, struct mask *m, json_t *v)
{
    if (!json_is_string(v))
        return 0;
    struct buf b;
    buf_init(&b);
    size_t n = mask_text(p, m, json_string_value(v), json_string_length(v), &b);
    if (n)
        json_string_setn(v, b.data ? b.data : "", b.len);
    buf_free(&b);
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Tool-call arguments
 *
 * A client sends earlier calls back in the conversation with the values the restorer put in, so
 * the arguments of an assistant message's tool calls are scanned and masked too. They are JSON
 * text: each string in it is read decoded -- so a value gets the placeholder it has in message
 * text, and an escape next to it ("\n" before an address) is not taken for part of it -- in its
 * member's shape (with_key), so a key word before a secret counts as it does in JSON text; a
 * placeholder goes inside the string, so the arguments stay JSON (written again, compact, when
 * something was masked). Arguments that are not JSON are handled as text. */

/* Calls fn on every string inside v, with the key it is the value of (NULL in an array or at the
 * top); returns the sum of what fn returned. */
static size_t json_strings_walk(json_t *v, const char *key,
                                size_t (*fn)(json_t *s, const char *key, void *ctx), void *ctx)
{
    size_t n = 0, i;
    const char *k;
    json_t *e;
    if (json_is_string(v))
        n = fn(v, key, ctx);
    else if (json_is_array(v))
        json_array_foreach(v, i, e)
            n += json_strings_walk(e, NULL, fn, ctx);
    else if (json_is_object(v))
        json_object_foreach(v, k, e)
            n += json_strings_walk(e, k, fn, ctx);
    return n;
}

/* A string of JSON, decoded, in its member's shape for the detector: "KEY": "VALUE" (or "VALUE"
 * outside an object). The key and quotes are context -- after "password": a quoted value is a
 * secret up to its closing quote -- and the value has no escapes to be taken for part of it.
 * Returns where the value starts; it ends 1 byte before out's end. */
static size_t with_key(const char *key, json_t *s, struct buf *out)
{
    if (key) {
        buf_putc(out, '"');
        buf_puts(out, key);
        buf_puts(out, "\": ");
    }
    buf_putc(out, '"');
    size_t from = out->len;
    buf_append(out, json_string_value(s), json_string_length(s));
    buf_putc(out, '"');
    return from;
}

/* One pass over arguments: scanning (m NULL: findings into f) or masking (into m). */
struct args_pass {
    struct privacy *p;
    struct mask *m;
    struct policy_findings *f;
};

static size_t args_string(json_t *s, const char *key, void *ctx)
{
    struct args_pass *a = ctx;
    struct buf t, b;
    buf_init(&t);
    buf_init(&b);
    size_t from = with_key(key, s, &t), n;
    if (a->m) {
        n = mask_spans(a->p, a->m, t.data, t.len, from, t.len - 1, &b);
        if (n)
            json_string_setn(s, b.data ? b.data : "", b.len);
    } else {
        n = scan_spans(a->p, t.data, t.len, from, t.len - 1, a->f);
    }
    buf_free(&t);
    buf_free(&b);
    return n;
}

/* Scans or masks (in place) one call's arguments; returns the spans. */
static size_t args_run(struct args_pass *a, json_t *args)
{
    if (!json_is_string(args))
        return 0;
    json_t *v = json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY,
                           NULL);
    if (!v) { /* not JSON: as text */
        if (a->m)
            return mask_json_string(a->p, a->m, args);
        size_t len = json_string_length(args);
        return scan_spans(a->p, json_string_value(args), len, 0, len, a->f);
    }
    size_t n = json_strings_walk(v, NULL, args_string, a);
    if (a->m && n) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_string_set(args, text ? text : ""); /* out of memory: empty, never the values */
        free(text);
    }
    json_decref(v);
    return n;
}

static void scan_arguments(struct privacy *p, json_t *args, struct policy_findings *f)
{
    struct args_pass a = {p, NULL, f};
    args_run(&a, args);
}

/* Masks the arguments of each call of an OpenAI tool_calls array, in place; returns spans
 * masked. */
static size_t mask_tool_calls(struct privacy *p, struct mask *m, json_t *calls)
{
    struct args_pass a = {p, m, NULL};
    size_t n = 0, i;
    json_t *tc;
    json_array_foreach(calls, i, tc)
        n += args_run(&a, json_object_get(json_object_get(tc, "function"), "arguments"));
    return n;
}

/* Whether calls is one of req's messages' own tool_calls (the OpenAI dialect shares them with
 * the body): those are masked already, and masking twice would take a placeholder after a key
 * word ("password": "[SECRET_1]") for a secret. */
static bool request_owns_calls(const struct request *req, const json_t *calls)
{
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].tool_calls == calls)
            return true;
    return false;
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
    for (size_t i = 0; i < req->n_messages; i++) {
        n += mask_str(p, m, &req->messages[i].content);
        n += mask_tool_calls(p, m, req->messages[i].tool_calls);
    }
    if (json_is_object(req->body)) {
        mask_json_content(p, m, json_object_get(req->body, "prompt"));
        json_t *msgs = json_object_get(req->body, "messages");
        size_t i;
        json_t *msg;
        if (json_is_array(msgs))
            json_array_foreach(msgs, i, msg)
                if (json_is_object(msg)) {
                    mask_json_content(p, m, json_object_get(msg, "content"));
                    json_t *calls = json_object_get(msg, "tool_calls");
                    if (!request_owns_calls(req, calls))
                        mask_tool_calls(p, m, calls);
                }
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
