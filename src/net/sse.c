/* sse: the event stream interpretation of the WHATWG HTML standard (see sse.h).
 *
 * State between chunks: the bytes of the line being read (`line`), whether the last byte was a
 * CR (so an LF at the start of the next chunk ends nothing), how much of a leading BOM has been
 * seen, and the event being built (data, type) plus the stream-wide last event id and retry.
 * A completed line is UTF-8-decoded (invalid sequences to U+FFFD, the WHATWG decoder's
 * "maximal subpart" rule), then interpreted. The size bound is checked against the raw pending
 * bytes, so where it trips depends only on the stream, never on how it was chunked.
 */
#include "net/sse.h"

#include "base/alloc.h"
#include "base/buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const unsigned char bom_bytes[3] = {0xEF, 0xBB, 0xBF};

struct sse_parser {
    size_t max_bytes;
    sse_event_fn fn;
    void *arg;
    struct buf line;    /* raw bytes of the current line, without its terminator */
    struct buf decoded; /* scratch: the line after UTF-8 repair, when it needed any */
    struct buf data;    /* data buffer: each data line plus "\n" */
    struct buf type;    /* event type buffer */
    struct buf id;      /* last event id buffer (persists across events) */
    int64_t retry_ms;
    size_t n_bom;       /* leading bytes matched against the BOM so far */
    bool bom_done;
    bool after_cr;      /* the previous byte ended a line with CR */
    int state;          /* 0 parsing, 1 stopped by the callback, -1 failed */
    char msg[160];      /* the failure, repeated by later calls */
};

struct sse_parser *sse_new(size_t max_event_bytes, sse_event_fn fn, void *arg)
{
    struct sse_parser *p = xcalloc(1, sizeof *p);
    p->max_bytes = max_event_bytes;
    p->fn = fn;
    p->arg = arg;
    p->retry_ms = -1;
    buf_init(&p->line);
    buf_init(&p->decoded);
    buf_init(&p->data);
    buf_init(&p->type);
    buf_init(&p->id);
    return p;
}

void sse_free(struct sse_parser *p)
{
    if (!p)
        return;
    buf_free(&p->line);
    buf_free(&p->decoded);
    buf_free(&p->data);
    buf_free(&p->type);
    buf_free(&p->id);
    free(p);
}

/* The message names only the bound: how much was pending when it tripped depends on chunking. */
static int fail(struct sse_parser *p, struct err *e)
{
    snprintf(p->msg, sizeof p->msg, "SSE line or event over the limit of %zu bytes", p->max_bytes);
    p->state = -1;
    return err_set(e, "%s", p->msg);
}

/* ---- UTF-8 ---- */

static void put_replacement(struct buf *b) { buf_append(b, "\xEF\xBF\xBD", 3); }

/* The WHATWG UTF-8 decoder over s[0..n), re-encoding into out: a byte that cannot continue the
 * current sequence ends it with one U+FFFD and is then looked at again as a lead byte. */
static void utf8_repair(const unsigned char *s, size_t n, struct buf *out)
{
    size_t need = 0, seen = 0, start = 0;
    unsigned char lower = 0x80, upper = 0xBF;
    buf_clear(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (need == 0) {
            start = i;
            if (c < 0x80) {
                buf_putc(out, (char)c);
            } else if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                lower = c == 0xE0 ? 0xA0 : 0x80;
                upper = c == 0xED ? 0x9F : 0xBF;
                need = 2;
            } else if (c >= 0xF0 && c <= 0xF4) {
                lower = c == 0xF0 ? 0x90 : 0x80;
                upper = c == 0xF4 ? 0x8F : 0xBF;
                need = 3;
            } else {
                put_replacement(out);
            }
            continue;
        }
        if (c < lower || c > upper) {
            need = seen = 0;
            lower = 0x80, upper = 0xBF;
            put_replacement(out);
            i--; /* look at this byte again as a lead byte */
            continue;
        }
        lower = 0x80, upper = 0xBF;
        if (++seen == need) {
            buf_append(out, s + start, need + 1); /* a valid sequence: copy it as it was */
            need = seen = 0;
        }
    }
    if (need)
        put_replacement(out);
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80)
            goto slow;
    return true;
slow:;
    struct buf tmp;
    buf_init(&tmp);
    utf8_repair(s, n, &tmp);
    bool same = tmp.len == n && memcmp(tmp.data, s, n) == 0;
    buf_free(&tmp);
    return same;
}

/* ---- lines ---- */

static void set_buf(struct buf *b, const char *s, size_t n)
{
    buf_clear(b);
    buf_append(b, s, n);
}

static int dispatch(struct sse_parser *p)
{
    if (p->data.len == 0) {
        buf_clear(&p->type);
        return 0;
    }
    p->data.data[--p->data.len] = 0; /* the "\n" after the last data line */
    struct sse_event ev = {
        .type = p->type.len ? p->type.data : "message",
        .type_len = p->type.len ? p->type.len : 7,
        .data = p->data.data,
        .data_len = p->data.len,
        .id = p->id.len ? p->id.data : "",
        .id_len = p->id.len,
        .retry_ms = p->retry_ms,
    };
    int stop = p->fn(p->arg, &ev);
    buf_clear(&p->data);
    buf_clear(&p->type);
    if (stop) {
        p->state = 1;
        return 1;
    }
    return 0;
}

static void set_retry(struct sse_parser *p, const char *v, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return;
    int64_t ms = 0;
    for (size_t i = 0; i < n; i++) {
        int d = v[i] - '0';
        ms = ms > (INT64_MAX - d) / 10 ? INT64_MAX : ms * 10 + d;
    }
    p->retry_ms = ms;
}

/* Interprets the completed line in p->line. */
static int process_line(struct sse_parser *p, struct err *e)
{
    const char *s = p->line.data ? p->line.data : "";
    size_t n = p->line.len;
    if (n == 0)
        return dispatch(p);
    if (s[0] == ':')
        return 0;
    if (!utf8_valid((const unsigned char *)s, n)) {
        utf8_repair((const unsigned char *)s, n, &p->decoded);
        s = p->decoded.data;
        n = p->decoded.len;
    }
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vn = (size_t)(s + n - v);
    if (vn && v[0] == ' ')
        v++, vn--;
#define FIELD_IS(lit) (name_len == sizeof lit - 1 && memcmp(s, lit, sizeof lit - 1) == 0)
    if (FIELD_IS("data")) {
        if (p->data.len + vn + 1 + p->type.len > p->max_bytes)
            return fail(p, e);
        buf_append(&p->data, v, vn);
        buf_putc(&p->data, '\n');
    } else if (FIELD_IS("event")) {
        if (p->data.len + vn > p->max_bytes)
            return fail(p, e);
        set_buf(&p->type, v, vn);
    } else if (FIELD_IS("id")) {
        if (!memchr(v, 0, vn))
            set_buf(&p->id, v, vn);
    } else if (FIELD_IS("retry")) {
        set_retry(p, v, vn);
    }
#undef FIELD_IS
    return 0;
}

/* Splits s[0..n) into lines; the BOM has already been dealt with. */
static int feed_lines(struct sse_parser *p, const unsigned char *s, size_t n, struct err *e)
{
    size_t i = 0;
    while (i < n) {
        if (p->after_cr) {
            p->after_cr = false;
            if (s[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < n && s[j] != '\r' && s[j] != '\n')
            j++;
        size_t pending = p->line.len + (j - i) + p->data.len + p->type.len;
        if (pending > p->max_bytes)
            return fail(p, e);
        buf_append(&p->line, s + i, j - i);
        if (j == n)
            break;
        p->after_cr = s[j] == '\r';
        i = j + 1;
        int r = process_line(p, e);
        buf_clear(&p->line);
        if (r)
            return r;
    }
    return 0;
}

int sse_feed(struct sse_parser *p, const void *data, size_t len, struct err *e)
{
    if (p->state == 1)
        return 1;
    if (p->state == -1)
        return err_set(e, "%s", p->msg);
    const unsigned char *s = data;
    size_t i = 0;
    while (!p->bom_done && i < len) {
        if (s[i] == bom_bytes[p->n_bom]) {
            i++;
            if (++p->n_bom == sizeof bom_bytes) {
                p->bom_done = true; /* the whole BOM: dropped */
                p->n_bom = 0;
            }
            continue;
        }
        /* not a BOM after all: the bytes held back are ordinary stream bytes */
        p->bom_done = true;
        size_t held = p->n_bom;
        p->n_bom = 0;
        int r = feed_lines(p, bom_bytes, held, e);
        if (r)
            return r;
    }
    return feed_lines(p, s + i, len - i, e);
}
