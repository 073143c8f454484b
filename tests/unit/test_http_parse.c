/* The HTTP/1.1 request parser and chunked decoder: accepted forms and their fields, every
 * rejection class with its status, the limits, splits at every byte (the result must not depend on
 * how the bytes arrive), and chunked bodies with extensions, trailers and pipelined leftovers. */
#include "check.h"

#include "net/http_parse.h"

#define MAX_H 16

static const struct http_limits g_lim = {.max_head_bytes = 1024, .max_body_bytes = 1000};

struct parsed {
    int r;
    struct http_head h;
    struct http_header hs[MAX_H];
    struct http_parse_error pe;
};

static int parse_n(struct parsed *p, const char *s, size_t len, size_t prev_len)
{
    memset(p, 0, sizeof *p);
    p->r = http_parse_request(s, len, prev_len, &g_lim, p->hs, MAX_H, &p->h, &p->pe);
    return p->r;
}

static int parse(struct parsed *p, const char *s) { return parse_n(p, s, strlen(s), 0); }

static bool span_is(const char *p, size_t n, const char *s)
{
    return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

static const char *get(const struct parsed *p, const char *name, size_t *len)
{
    for (size_t i = 0; i < p->h.n_headers; i++)
        if (http_name_eq(p->hs[i].name, p->hs[i].name_len, name, strlen(name))) {
            *len = p->hs[i].value_len;
            return p->hs[i].value;
        }
    return NULL;
}

static void test_simple_get(void)
{
    struct parsed p;
    const char *s = "GET /v1/models?limit=2&x HTTP/1.1\r\nHost: localhost\r\nUser-Agent:  curl/8 \t\r\n\r\n";
    CHECK_EQ_INT(parse(&p, s), (int)strlen(s));
    CHECK(span_is(p.h.method, p.h.method_len, "GET"));
    CHECK(span_is(p.h.path, p.h.path_len, "/v1/models"));
    CHECK(span_is(p.h.query, p.h.query_len, "limit=2&x"));
    CHECK_EQ_INT(p.h.minor_version, 1);
    CHECK_EQ_INT(p.h.n_headers, 2);
    size_t n;
    const char *v = get(&p, "user-agent", &n);
    CHECK(span_is(v, n, "curl/8")); /* trimmed both sides */
    CHECK(p.h.keep_alive);
    CHECK_EQ_INT(p.h.body, HTTP_BODY_NONE);
    CHECK(!p.h.expect_continue);

    /* no query: NULL; empty query: non-NULL, length 0 */
    CHECK(parse(&p, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    CHECK(p.h.query == NULL && p.h.query_len == 0);
    CHECK(parse(&p, "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    CHECK(p.h.query != NULL && p.h.query_len == 0);

    /* the consumed length stops at the head: the body and a next request follow */
    s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
    CHECK_EQ_INT(parse(&p, s), (int)(strstr(s, "hello") - s));
    CHECK_EQ_INT(p.h.body, HTTP_BODY_LENGTH);
    CHECK_EQ_INT(p.h.content_length, 5);
}

static void test_forms(void)
{
    struct parsed p;
    CHECK(parse(&p, "GET http://example.com:80/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n") > 0);
    CHECK(span_is(p.h.path, p.h.path_len, "/a/b"));
    CHECK(span_is(p.h.query, p.h.query_len, "c=d"));
    CHECK(parse(&p, "GET HTTPS://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n") > 0);
    CHECK(span_is(p.h.path, p.h.path_len, "/"));
    CHECK(span_is(p.h.query, p.h.query_len, "q"));
    CHECK(parse(&p, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    CHECK(span_is(p.h.path, p.h.path_len, "*"));
    CHECK(parse(&p, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") > 0);
    CHECK(span_is(p.h.path, p.h.path_len, "example.com:443"));
    /* empty lines before the request line are skipped */
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(parse(&p, s), (int)strlen(s));
    CHECK(span_is(p.h.method, p.h.method_len, "GET"));
    /* HTTP/1.x, x > 1, is treated as 1.1 */
    CHECK(parse(&p, "GET / HTTP/1.7\r\nHost: h\r\n\r\n") > 0);
    CHECK_EQ_INT(p.h.minor_version, 1);
    /* extension methods are tokens */
    CHECK(parse(&p, "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    /* empty value, obs-text in a value */
    CHECK(parse(&p, "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n") > 0);
    size_t n;
    CHECK(get(&p, "x-empty", &n) && n == 0);
    const char *v = get(&p, "X-UTF8", &n);
    CHECK(span_is(v, n, "caf\xc3\xa9"));
}

static void test_keep_alive(void)
{
    struct parsed p;
    CHECK(parse(&p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") > 0);
    CHECK(!p.h.keep_alive);
    CHECK(parse(&p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n") > 0);
    CHECK(!p.h.keep_alive);
    CHECK(parse(&p, "GET / HTTP/1.0\r\n\r\n") > 0); /* 1.0: no Host needed, default close */
    CHECK_EQ_INT(p.h.minor_version, 0);
    CHECK(!p.h.keep_alive);
    CHECK(parse(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    CHECK(p.h.keep_alive);
    CHECK(parse(&p, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") > 0);
    CHECK(!p.h.keep_alive);
}

static void test_framing(void)
{
    struct parsed p;
    CHECK(parse(&p, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0);
    CHECK_EQ_INT(p.h.body, HTTP_BODY_CHUNKED);
    CHECK(parse(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n") > 0);
    CHECK_EQ_INT(p.h.content_length, 7);
    CHECK(parse(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\n\r\n") > 0);
    CHECK_EQ_INT(p.h.content_length, 7);
    CHECK(parse(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") > 0);
    CHECK_EQ_INT(p.h.body, HTTP_BODY_NONE);
    CHECK(parse(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n") > 0); /* = limit */
    CHECK(parse(&p, "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n") > 0);
    CHECK(p.h.expect_continue);
    CHECK(parse(&p, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n") > 0);
    CHECK(!p.h.expect_continue); /* a 1.0 client cannot understand 100 */
}

struct reject {
    const char *req;
    int status;
};

static const struct reject g_rejects[] = {
    /* request line */
    {"G\x01T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
    {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\rHost: h\r\n\r\n", 400},
    {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\n\r\n", 505},
    /* fields */
    {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\r\r", 400},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400},
    /* framing */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417},
};

static void test_rejects(void)
{
    for (size_t i = 0; i < sizeof g_rejects / sizeof *g_rejects; i++) {
        struct parsed p;
        int r = parse(&p, g_rejects[i].req);
        CHECK_MSG(r == HTTP_PARSE_ERROR && p.pe.status == g_rejects[i].status,
                  "case %zu: r=%d status=%d (want %d) reason=%s", i, r, p.pe.status,
                  g_rejects[i].status, p.pe.reason ? p.pe.reason : "");
        CHECK(r != HTTP_PARSE_ERROR || (p.pe.reason && *p.pe.reason));
    }
    /* NUL needs an explicit length */
    struct parsed p;
    static const char nul[] = "GET / HTTP/1.1\r\nHost: h\0x\r\n\r\n";
    CHECK_EQ_INT(parse_n(&p, nul, sizeof nul - 1, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 400);
    static const char nul_name[] = "GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n";
    CHECK_EQ_INT(parse_n(&p, nul_name, sizeof nul_name - 1, 0), HTTP_PARSE_ERROR);
    /* a malformed byte in an unfinished line is reported on a full parse at once, and with
     * prev_len once the line ends */
    const char *bad = "GET / HTTP/1.1\r\nHo\x01st: h\r\n";
    CHECK_EQ_INT(parse_n(&p, bad, 20, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(parse_n(&p, bad, 20, 16), HTTP_PARSE_INCOMPLETE);
    CHECK_EQ_INT(parse_n(&p, bad, strlen(bad), 20), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 400);
}

static void test_limits(void)
{
    struct parsed p;
    char big[4096];
    /* request line alone over the limit: 414 */
    int n = snprintf(big, sizeof big, "GET /%01200d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    CHECK_EQ_INT(parse_n(&p, big, (size_t)n, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 414);
    /* ... even before the line is complete, once the limit is reached */
    CHECK_EQ_INT(parse_n(&p, big, 1024, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 414);
    CHECK_EQ_INT(parse_n(&p, big, 1023, 0), HTTP_PARSE_INCOMPLETE);
    /* fields over the limit: 431 */
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %01100d\r\n\r\n", 0);
    CHECK_EQ_INT(parse_n(&p, big, (size_t)n, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 431);
    /* a head of exactly the limit is accepted; one byte more is not */
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t fill = 1024 - strlen(pre) - 4;
    n = snprintf(big, sizeof big, "%s%0*d\r\n\r\n", pre, (int)fill, 0);
    CHECK_EQ_INT(n, 1024);
    CHECK_EQ_INT(parse_n(&p, big, (size_t)n, 0), 1024);
    n = snprintf(big, sizeof big, "%s%0*d\r\n\r\n", pre, (int)fill + 1, 0);
    CHECK_EQ_INT(parse_n(&p, big, (size_t)n, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 431);
    /* too many fields: 431 */
    size_t off = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < MAX_H; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "X%d: y\r\n", i);
    off += (size_t)snprintf(big + off, sizeof big - off, "\r\n");
    CHECK_EQ_INT(parse_n(&p, big, off, 0), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(p.pe.status, 431);
}

/* The result must not depend on how the input is split: feeding a prefix and then the rest (with
 * prev_len), or one byte at a time, gives the one-shot answer; an earlier definite answer must
 * equal it. (An error in a last line without LF may be reported only once the line ends, so the
 * input is checked as given if it ends in LF, else with CRLF CRLF appended.) */
static void check_splits(const char *s0, size_t len0)
{
    char s[2048];
    size_t len = len0;
    memcpy(s, s0, len0);
    if (len == 0 || s[len - 1] != '\n') {
        memcpy(s + len, "\r\n\r\n", 4);
        len += 4;
    }
    struct parsed whole, p;
    parse_n(&whole, s, len, 0);
    for (size_t k = 0; k <= len; k++) {
        int r1 = parse_n(&p, s, k, 0);
        if (r1 != HTTP_PARSE_INCOMPLETE) {
            CHECK_MSG(r1 == whole.r && (r1 != HTTP_PARSE_ERROR || p.pe.status == whole.pe.status),
                      "prefix %zu of %.40s: %d vs %d", k, s0, r1, whole.r);
            continue;
        }
        int r2 = parse_n(&p, s, len, k);
        CHECK_MSG(r2 == whole.r, "split at %zu of %.40s: %d vs %d", k, s0, r2, whole.r);
        if (r2 > 0) {
            CHECK(p.h.n_headers == whole.h.n_headers && p.h.path == whole.h.path &&
                  p.h.content_length == whole.h.content_length);
        } else if (r2 == HTTP_PARSE_ERROR) {
            CHECK_EQ_INT(p.pe.status, whole.pe.status);
        }
    }
    /* byte by byte */
    int r = HTTP_PARSE_INCOMPLETE;
    size_t prev = 0;
    for (size_t k = 1; k <= len && r == HTTP_PARSE_INCOMPLETE; k++) {
        r = parse_n(&p, s, k, prev);
        prev = k;
    }
    CHECK_MSG(r == whole.r, "bytewise %.40s: %d vs %d", s0, r, whole.r);
}

static void test_splits(void)
{
    static const char *valid[] = {
        "GET /v1/models?limit=2 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
        "\r\n\r\nPOST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
        "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        check_splits(valid[i], strlen(valid[i]));
    for (size_t i = 0; i < sizeof g_rejects / sizeof *g_rejects; i++)
        check_splits(g_rejects[i].req, strlen(g_rejects[i].req));
    char big[1300];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %01100d\r\n\r\n", 0);
    check_splits(big, (size_t)n);
}

/* ---- chunked ---- */

/* Decodes s split into pieces of `step` bytes (0: whole), as a server would: each piece is
 * appended to the undecoded remainder and decoded in place. Returns the decoder's final status;
 * *out gets the data, *rest the leftover after the body. */
static int dechunk(const char *s, size_t len, size_t step, uint64_t max, char *out, size_t *out_len,
                   char *rest, size_t *rest_len, struct http_parse_error *pe)
{
    struct http_chunked d;
    http_chunked_init(&d, max);
    *out_len = 0;
    *rest_len = 0;
    char piece[4096];
    size_t off = 0;
    int r = HTTP_PARSE_INCOMPLETE;
    while (off < len && r == HTTP_PARSE_INCOMPLETE) {
        size_t n = step && step < len - off ? step : len - off;
        memcpy(piece, s + off, n);
        off += n;
        size_t dlen = n, left = 0;
        r = http_chunked_decode(&d, piece, &dlen, &left, pe);
        if (r == HTTP_PARSE_ERROR)
            return r;
        memcpy(out + *out_len, piece, dlen);
        *out_len += dlen;
        if (r == 0) {
            memcpy(rest, piece + dlen, left);
            memcpy(rest + left, s + off, len - off);
            *rest_len = left + len - off;
        }
    }
    return r;
}

static void test_chunked(void)
{
    static const char body[] =
        "5;name=value;x=\"q d\"\r\nhello\r\n"
        "1\r\n \r\n"
        "0006 \t; ext\r\nworld!\r\n"
        "A\r\n0123456789\r\n"
        "0\r\nX-Trailer: yes\r\nOther: t\r\n\r\n"
        "GET / HTTP/1.1\r\n";
    const char *want = "hello world!0123456789";
    for (size_t step = 0; step <= 8; step++) {
        char out[256], rest[256];
        size_t out_len, rest_len;
        struct http_parse_error pe;
        int r = dechunk(body, sizeof body - 1, step, 1000, out, &out_len, rest, &rest_len, &pe);
        CHECK_EQ_INT(r, 0);
        CHECK(out_len == strlen(want) && memcmp(out, want, out_len) == 0);
        CHECK(rest_len == 16 && memcmp(rest, "GET / HTTP/1.1\r\n", 16) == 0);
    }
    /* empty body, no trailers */
    char out[64], rest[64];
    size_t out_len, rest_len;
    struct http_parse_error pe;
    CHECK_EQ_INT(dechunk("0\r\n\r\n", 5, 1, 10, out, &out_len, rest, &rest_len, &pe), 0);
    CHECK_EQ_INT(out_len, 0);
    CHECK_EQ_INT(rest_len, 0);
    /* incomplete stays incomplete */
    CHECK_EQ_INT(dechunk("5\r\nhel", 6, 0, 10, out, &out_len, rest, &rest_len, &pe), HTTP_PARSE_INCOMPLETE);
    CHECK_EQ_INT(out_len, 3);
    CHECK_EQ_INT(dechunk("0\r\nX: y\r\n", 9, 0, 10, out, &out_len, rest, &rest_len, &pe),
                 HTTP_PARSE_INCOMPLETE);
}

static void test_chunked_rejects(void)
{
    static const struct reject bad[] = {
        {"\r\n", 400},                         /* missing size */
        {"g\r\n", 400},                        /* not hex */
        {"-1\r\n", 400},
        {"5\n", 400},                          /* bare LF */
        {"5\rx", 400},                         /* bare CR */
        {"5;a\x01\r\n", 400},                  /* control char in extension */
        {"5;a\nb\r\n", 400},
        {"3\r\nabcd\r\n", 400},                /* data longer than its size */
        {"3\r\nabc\n", 400},
        {"10000000000000000\r\n", 400},        /* 65 bits */
        {"3e9\r\n", 413},                      /* 1001 > limit 1000 */
        {"3e8\r\n", 0},                        /* 1000 = limit: fine so far */
        {"200\r\n", 0},
        {"0\r\nX: y\nZ", 400},                 /* bare LF in trailer */
        {"0\r\nX: \x01\r\n\r\n", 400},
        {"0\r\n\rx", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char out[64], rest[64];
        size_t out_len, rest_len;
        struct http_parse_error pe = {0};
        for (size_t step = 0; step <= 1; step++) {
            int r = dechunk(bad[i].req, strlen(bad[i].req), step, 1000, out, &out_len, rest, &rest_len, &pe);
            if (bad[i].status)
                CHECK_MSG(r == HTTP_PARSE_ERROR && pe.status == bad[i].status, "chunked case %zu: %d %d", i,
                          r, pe.status);
            else
                CHECK_MSG(r == HTTP_PARSE_INCOMPLETE, "chunked case %zu: %d", i, r);
        }
    }
    /* the running total counts: two chunks of 600 exceed 1000 */
    char two[1300];
    int n = snprintf(two, sizeof two, "258\r\n%0600d\r\n258\r\n", 0);
    char out[1300], rest[64];
    size_t out_len, rest_len;
    struct http_parse_error pe;
    CHECK_EQ_INT(dechunk(two, (size_t)n, 7, 1000, out, &out_len, rest, &rest_len, &pe), HTTP_PARSE_ERROR);
    CHECK_EQ_INT(pe.status, 413);
    /* endless extension / trailers are cut off */
    static char endless[9000];
    memset(endless, 'a', sizeof endless - 1);
    memcpy(endless, "5;", 2);
    CHECK_EQ_INT(dechunk(endless, sizeof endless - 1, 100, 1000, out, &out_len, rest, &rest_len, &pe),
                 HTTP_PARSE_ERROR);
    CHECK_EQ_INT(pe.status, 400);
    memcpy(endless, "0\r\nX: ", 6);
    CHECK_EQ_INT(dechunk(endless, sizeof endless - 1, 100, 1000, out, &out_len, rest, &rest_len, &pe),
                 HTTP_PARSE_ERROR);
    CHECK_EQ_INT(pe.status, 431);
}

int main(void)
{
    RUN(test_simple_get);
    RUN(test_forms);
    RUN(test_keep_alive);
    RUN(test_framing);
    RUN(test_rejects);
    RUN(test_limits);
    RUN(test_splits);
    RUN(test_chunked);
    RUN(test_chunked_rejects);
    return check_report();
}
