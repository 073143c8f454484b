/* http_parse: request heads and chunked bodies (see http_parse.h for the contract).
 *
 * The head parser is a single forward scan that stops at the first byte that cannot belong to a
 * valid head (error) or at the end of the input (incomplete). Because it never looks ahead, a
 * prefix of the input that it refuses or accepts is refused or accepted the same way with more
 * bytes appended -- the property the fuzz target checks. Framing and keep-alive semantics are
 * decided after the scan, from the collected fields (interpret()).
 */
#include "net/http_parse.h"

#include <limits.h>
#include <string.h>

/* tchar (RFC 9110 5.6.2): ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~ */
static const unsigned char tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};

/* field-vchar, SP, HTAB and obs-text: the bytes a field value (or trailer line) may hold. */
static bool is_field_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static int fail(struct http_parse_error *pe, int status, const char *reason)
{
    pe->status = status;
    pe->reason = reason;
    return HTTP_PARSE_ERROR;
}

bool http_name_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

#define LIT(s) s, sizeof s - 1

/* ---- the scan ---- */

enum { STAGE_REQUEST_LINE, STAGE_FIELDS };

#define MAX_EMPTY_LINES 8

/* Expects CRLF at *p. Returns 1 (advanced past it), 0 (incomplete) or -1 (pe filled). */
static int eat_crlf(const char **p, const char *end, struct http_parse_error *pe)
{
    if (*p == end)
        return 0;
    if (**p == '\n')
        return fail(pe, 400, "bare LF line ending (lines must end in CRLF)");
    if (**p != '\r')
        return fail(pe, 400, "malformed request line");
    if (*p + 1 == end)
        return 0;
    if ((*p)[1] != '\n')
        return fail(pe, 400, "bare CR in request head");
    *p += 2;
    return 1;
}

/* The request line: method SP target SP "HTTP/" DIGIT "." DIGIT CRLF. */
static int scan_request_line(const char **pp, const char *end, struct http_head *h,
                             const char **target, size_t *target_len, struct http_parse_error *pe)
{
    const char *p = *pp;
    /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line. A few
     * are; more are refused, which keeps the number of lines in a head (and so of full re-parses,
     * see http_parse_request) bounded. */
    for (int n_empty = 0; p < end && *p == '\r'; n_empty++) {
        if (n_empty == MAX_EMPTY_LINES)
            return fail(pe, 400, "too many empty lines before the request line");
        if (p + 1 == end)
            return HTTP_PARSE_INCOMPLETE;
        if (p[1] != '\n')
            return fail(pe, 400, "bare CR in request head");
        p += 2;
    }
    const char *m = p;
    while (p < end && tchar[(unsigned char)*p])
        p++;
    if (p == end)
        return HTTP_PARSE_INCOMPLETE;
    if (*p != ' ' || p == m)
        return fail(pe, 400, *p == '\n' ? "bare LF line ending (lines must end in CRLF)"
                                        : "invalid character in method");
    h->method = m;
    h->method_len = (size_t)(p - m);
    p++;

    const char *t = p;
    while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == end)
        return HTTP_PARSE_INCOMPLETE;
    if (*p != ' ' || p == t)
        return fail(pe, 400, p == t ? "empty request target" : "invalid character in request target");
    *target = t;
    *target_len = (size_t)(p - t);
    p++;

    static const char proto[] = "HTTP/";
    for (int i = 0; i < 5; i++, p++) {
        if (p == end)
            return HTTP_PARSE_INCOMPLETE;
        if (*p != proto[i])
            return fail(pe, 400, "malformed HTTP version");
    }
    int major = 0, minor = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return HTTP_PARSE_INCOMPLETE;
        if (i == 1 ? *p != '.' : (*p < '0' || *p > '9'))
            return fail(pe, 400, "malformed HTTP version");
        if (i == 0)
            major = *p - '0';
        else if (i == 2)
            minor = *p - '0';
    }
    int r = eat_crlf(&p, end, pe);
    if (r <= 0)
        return r == 0 ? HTTP_PARSE_INCOMPLETE : HTTP_PARSE_ERROR;
    if (major != 1)
        return fail(pe, 505, "HTTP version not supported (use HTTP/1.1)");
    h->minor_version = minor > 1 ? 1 : minor;
    *pp = p;
    return 0;
}

/* Header fields up to and including the blank line. */
static int scan_fields(const char **pp, const char *end, struct http_header *hs, size_t max_h,
                       size_t *n_out, struct http_parse_error *pe)
{
    const char *p = *pp;
    size_t n = 0;
    for (;;) {
        if (p == end)
            return HTTP_PARSE_INCOMPLETE;
        if (*p == '\r' || *p == '\n') {
            int r = eat_crlf(&p, end, pe);
            if (r <= 0)
                return r == 0 ? HTTP_PARSE_INCOMPLETE : HTTP_PARSE_ERROR;
            break;
        }
        if (is_ows(*p))
            return fail(pe, 400, "obsolete line folding (or whitespace before a field name)");
        const char *name = p;
        while (p < end && tchar[(unsigned char)*p])
            p++;
        if (p == end)
            return HTTP_PARSE_INCOMPLETE;
        if (*p != ':')
            return fail(pe, 400, is_ows(*p) ? "whitespace between header name and colon"
                                 : p == name ? "empty header name"
                                             : "invalid character in header name");
        if (p == name)
            return fail(pe, 400, "empty header name");
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && is_ows(*p))
            p++;
        const char *v = p;
        while (p < end && is_field_byte((unsigned char)*p))
            p++;
        if (p == end)
            return HTTP_PARSE_INCOMPLETE;
        if (*p != '\r')
            return fail(pe, 400, *p == '\n' ? "bare LF line ending (lines must end in CRLF)"
                                 : *p == 0  ? "NUL byte in header value"
                                            : "control character in header value");
        if (p + 1 == end)
            return HTTP_PARSE_INCOMPLETE;
        if (p[1] != '\n')
            return fail(pe, 400, "bare CR in header value");
        const char *ve = p;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        p += 2;
        if (n == max_h)
            return fail(pe, 431, "too many header fields");
        hs[n++] = (struct http_header){name, name_len, v, (size_t)(ve - v)};
    }
    *n_out = n;
    *pp = p;
    return 0;
}

/* ---- semantics ---- */

/* Next element of a comma-separated list (RFC 9110 5.6.1), trimmed; empty elements are skipped.
 * Returns false at the end. */
static bool next_item(const char **p, const char *end, const char **item, size_t *item_len)
{
    for (;;) {
        while (*p < end && (is_ows(**p) || **p == ','))
            (*p)++;
        if (*p == end)
            return false;
        const char *s = *p;
        while (*p < end && **p != ',')
            (*p)++;
        const char *e = *p;
        while (e > s && is_ows(e[-1]))
            e--;
        *item = s;
        *item_len = (size_t)(e - s);
        return true;
    }
}

struct fields {
    int n_host;
    int n_content_length;
    uint64_t content_length;
    bool te_seen, te_unsupported;
    int n_chunked;
    bool conn_close, conn_keep_alive;
    bool expect_continue, expect_other;
};

/* Content-Length: 1*DIGIT, possibly repeated as a list; every value must agree. Values past
 * 64 bits saturate (they are over any body limit). */
static int field_content_length(struct fields *f, const struct http_header *hd,
                                struct http_parse_error *pe)
{
    const char *p = hd->value, *end = hd->value + hd->value_len, *item;
    size_t len;
    bool any = false;
    while (next_item(&p, end, &item, &len)) {
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            if (item[i] < '0' || item[i] > '9')
                return fail(pe, 400, "invalid Content-Length");
            unsigned d = (unsigned)(item[i] - '0');
            v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        }
        if (f->n_content_length++ && v != f->content_length)
            return fail(pe, 400, "conflicting Content-Length values");
        f->content_length = v;
        any = true;
    }
    return any ? 0 : fail(pe, 400, "empty Content-Length");
}

static void field_transfer_encoding(struct fields *f, const struct http_header *hd)
{
    const char *p = hd->value, *end = hd->value + hd->value_len, *item;
    size_t len;
    f->te_seen = true;
    while (next_item(&p, end, &item, &len)) {
        if (http_name_eq(item, len, LIT("chunked")))
            f->n_chunked++;
        else
            f->te_unsupported = true;
    }
}

static void field_connection(struct fields *f, const struct http_header *hd)
{
    const char *p = hd->value, *end = hd->value + hd->value_len, *item;
    size_t len;
    while (next_item(&p, end, &item, &len)) {
        if (http_name_eq(item, len, LIT("close")))
            f->conn_close = true;
        else if (http_name_eq(item, len, LIT("keep-alive")))
            f->conn_keep_alive = true;
    }
}

static void field_expect(struct fields *f, const struct http_header *hd)
{
    if (http_name_eq(hd->value, hd->value_len, LIT("100-continue")))
        f->expect_continue = true;
    else
        f->expect_other = true;
}

static int interpret(const struct http_header *hs, size_t n, const struct http_limits *lim,
                     struct http_head *h, struct http_parse_error *pe)
{
    struct fields f = {0};
    for (size_t i = 0; i < n; i++) {
        const struct http_header *hd = &hs[i];
        if (http_name_eq(hd->name, hd->name_len, LIT("content-length"))) {
            if (field_content_length(&f, hd, pe) != 0)
                return HTTP_PARSE_ERROR;
        } else if (http_name_eq(hd->name, hd->name_len, LIT("transfer-encoding"))) {
            field_transfer_encoding(&f, hd);
        } else if (http_name_eq(hd->name, hd->name_len, LIT("connection"))) {
            field_connection(&f, hd);
        } else if (http_name_eq(hd->name, hd->name_len, LIT("expect"))) {
            field_expect(&f, hd);
        } else if (http_name_eq(hd->name, hd->name_len, LIT("host"))) {
            f.n_host++;
        }
    }
    bool v11 = h->minor_version >= 1;
    if (f.n_host > 1)
        return fail(pe, 400, "more than one Host header");
    if (v11 && f.n_host == 0)
        return fail(pe, 400, "missing Host header (required in HTTP/1.1)");
    if (f.te_seen) {
        if (!v11)
            return fail(pe, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f.n_content_length)
            return fail(pe, 400, "both Transfer-Encoding and Content-Length");
        if (f.te_unsupported)
            return fail(pe, 501, "transfer coding not implemented (only chunked is supported)");
        if (f.n_chunked != 1)
            return fail(pe, 400, f.n_chunked ? "chunked applied more than once"
                                             : "empty Transfer-Encoding");
        h->body = HTTP_BODY_CHUNKED;
    } else if (f.n_content_length && f.content_length > 0) {
        if (f.content_length > lim->max_body_bytes)
            return fail(pe, 413, "request body larger than the server's limit");
        h->body = HTTP_BODY_LENGTH;
        h->content_length = f.content_length;
    }
    if (f.expect_other)
        return fail(pe, 417, "unsupported Expect (only 100-continue is)");
    h->expect_continue = v11 && f.expect_continue;
    h->keep_alive = !f.conn_close && (v11 || f.conn_keep_alive);
    return 0;
}

/* Splits the target into path and query. Origin-form "/p?q"; absolute-form "http://host/p?q"
 * (RFC 9112 3.2.2: servers must accept it) reduced to its path; "*" for OPTIONS; authority-form
 * for CONNECT, passed whole as the path. */
static int split_target(const char *t, size_t len, struct http_head *h, struct http_parse_error *pe)
{
    const char *end = t + len, *p = t;
    if (*t != '/') {
        size_t skip = 0;
        if (len > 7 && http_name_eq(t, 7, LIT("http://")))
            skip = 7;
        else if (len > 8 && http_name_eq(t, 8, LIT("https://")))
            skip = 8;
        if (skip) {
            p = t + skip;
            while (p < end && *p != '/' && *p != '?')
                p++;
        } else if ((len == 1 && *t == '*' && http_name_eq(h->method, h->method_len, LIT("OPTIONS"))) ||
                   http_name_eq(h->method, h->method_len, LIT("CONNECT"))) {
            h->path = t;
            h->path_len = len;
            return 0;
        } else {
            return fail(pe, 400, "invalid request target");
        }
    }
    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *path_end = q ? q : end;
    if (path_end == p) {
        h->path = "/"; /* "http://host" or "http://host?q" */
        h->path_len = 1;
    } else {
        h->path = p;
        h->path_len = (size_t)(path_end - p);
    }
    if (q) {
        h->query = q + 1;
        h->query_len = (size_t)(end - q - 1);
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, size_t prev_len, const struct http_limits *lim,
                       struct http_header *headers, size_t max_headers, struct http_head *h,
                       struct http_parse_error *pe)
{
    size_t max = lim->max_head_bytes < (size_t)INT_MAX / 2 ? lim->max_head_bytes : (size_t)INT_MAX / 2;
    /* The previous call got through the complete lines of buf[0..prev_len) without error; until a
     * new line is complete, nothing can change. */
    if (prev_len > 0 && len < max && (prev_len >= len || !memchr(buf + prev_len, '\n', len - prev_len)))
        return HTTP_PARSE_INCOMPLETE;
    memset(h, 0, sizeof *h);
    const char *p = buf, *end = buf + (len < max ? len : max);
    const char *target = NULL;
    size_t target_len = 0;
    int stage = STAGE_REQUEST_LINE;
    int r = scan_request_line(&p, end, h, &target, &target_len, pe);
    if (r == 0) {
        stage = STAGE_FIELDS;
        r = scan_fields(&p, end, headers, max_headers, &h->n_headers, pe);
    }
    if (r == HTTP_PARSE_INCOMPLETE && len >= max)
        return stage == STAGE_REQUEST_LINE ? fail(pe, 414, "request line too long")
                                           : fail(pe, 431, "request header fields too large");
    if (r != 0)
        return r;
    if (split_target(target, target_len, h, pe) != 0 || interpret(headers, h->n_headers, lim, h, pe) != 0)
        return HTTP_PARSE_ERROR;
    return (int)(p - buf);
}

/* ---- chunked ---- */

enum {
    CH_SIZE_START, /* first hex digit of a chunk size */
    CH_SIZE,       /* more hex digits */
    CH_EXT,        /* chunk extension up to CR */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line, or CR of the final blank line */
    CH_TRAILER,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
};

#define CH_MAX_SIZE_LINE 4096 /* chunk size with its extensions */
#define CH_MAX_TRAILER 8192   /* the whole trailer section */

void http_chunked_init(struct http_chunked *d, uint64_t max_bytes)
{
    memset(d, 0, sizeof *d);
    d->state = CH_SIZE_START;
    d->max_bytes = max_bytes;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The one byte allowed here moves to state next; anything else is malformed. */
static int expect_byte(struct http_chunked *d, unsigned char c, unsigned char want, int next,
                       struct http_parse_error *pe, const char *why)
{
    if (c != want)
        return fail(pe, 400, why);
    d->state = next;
    return 0;
}

/* One byte outside chunk data. Returns 0, or -1 with pe filled. */
static int chunked_step(struct http_chunked *d, unsigned char c, struct http_parse_error *pe)
{
    switch (d->state) {
    case CH_SIZE_START:
    case CH_SIZE: {
        if (++d->line_bytes > CH_MAX_SIZE_LINE)
            return fail(pe, 400, "chunk size line too long");
        int v = hex_value(c);
        if (v >= 0) {
            if (d->chunk_left >> 60)
                return fail(pe, 400, "chunk size overflows 64 bits");
            d->chunk_left = d->chunk_left << 4 | (unsigned)v;
            d->state = CH_SIZE;
        } else if (d->state == CH_SIZE_START) {
            return fail(pe, 400, "missing chunk size");
        } else if (c == ';' || c == ' ' || c == '\t') {
            d->state = CH_EXT;
        } else if (c == '\r') {
            d->state = CH_SIZE_LF;
        } else {
            return fail(pe, 400, "invalid character in chunk size");
        }
        return 0;
    }
    case CH_EXT:
        if (++d->line_bytes > CH_MAX_SIZE_LINE)
            return fail(pe, 400, "chunk size line too long");
        if (c == '\r')
            d->state = CH_SIZE_LF;
        else if (!is_field_byte(c))
            return fail(pe, 400, "invalid character in chunk extension");
        return 0;
    case CH_SIZE_LF:
        if (c != '\n')
            return fail(pe, 400, "bare CR in chunk size line");
        d->line_bytes = 0;
        if (d->chunk_left == 0) {
            d->state = CH_TRAILER_START;
        } else {
            if (d->chunk_left > d->max_bytes - d->total_bytes)
                return fail(pe, 413, "request body larger than the server's limit");
            d->total_bytes += d->chunk_left;
            d->state = CH_DATA;
        }
        return 0;
    case CH_DATA_CR:
        return expect_byte(d, c, '\r', CH_DATA_LF, pe, "chunk data longer than its size (no CRLF after it)");
    case CH_DATA_LF:
        return expect_byte(d, c, '\n', CH_SIZE_START, pe, "bare CR after chunk data");
    case CH_TRAILER_START:
    case CH_TRAILER:
        if (++d->line_bytes > CH_MAX_TRAILER)
            return fail(pe, 431, "trailer section too large");
        if (c == '\r')
            d->state = d->state == CH_TRAILER_START ? CH_END_LF : CH_TRAILER_LF;
        else if (is_field_byte(c))
            d->state = CH_TRAILER;
        else
            return fail(pe, 400, c == '\n' ? "bare LF in trailer section" : "control character in trailer");
        return 0;
    case CH_TRAILER_LF:
        return expect_byte(d, c, '\n', CH_TRAILER_START, pe, "bare CR in trailer section");
    case CH_END_LF:
        return expect_byte(d, c, '\n', CH_DONE, pe, "bare CR at end of chunked body");
    }
    return fail(pe, 400, "chunked decoder misuse"); /* CH_DATA and CH_DONE are handled by the caller */
}

int http_chunked_decode(struct http_chunked *d, char *buf, size_t *len, size_t *rest,
                        struct http_parse_error *pe)
{
    size_t in = 0, out = 0, n = *len;
    while (in < n && d->state != CH_DONE) {
        if (d->state == CH_DATA) {
            size_t take = n - in;
            if (take > d->chunk_left)
                take = (size_t)d->chunk_left;
            memmove(buf + out, buf + in, take);
            out += take;
            in += take;
            d->chunk_left -= take;
            if (d->chunk_left == 0)
                d->state = CH_DATA_CR;
            continue;
        }
        if (chunked_step(d, (unsigned char)buf[in], pe) != 0)
            return HTTP_PARSE_ERROR;
        in++;
    }
    *len = out;
    if (d->state != CH_DONE)
        return HTTP_PARSE_INCOMPLETE;
    *rest = n - in;
    memmove(buf + out, buf + in, n - in);
    return 0;
}
