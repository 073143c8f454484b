/* The SSE parser: the WHATWG examples, line endings, BOM, fields, UTF-8 repair, the size bound,
 * stopping, and that every chunking of an input (byte by byte, every two-way split) yields the
 * same events as feeding it whole. */
#include "check.h"

#include "base/buf.h"
#include "net/sse.h"

#include <stdint.h>

struct rec {
    struct buf out; /* one line per event: type|data|id|retry, non-printables escaped */
    int n;
    int stop_at;    /* stop after this many events (0: never) */
};

static void put_escaped(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            buf_puts(b, "\\n");
        else if (c < 0x20 || c >= 0x7f || c == '|' || c == '\\')
            buf_printf(b, "\\x%02x", c);
        else
            buf_putc(b, (char)c);
    }
}

static int on_event(void *arg, const struct sse_event *ev)
{
    struct rec *r = arg;
    CHECK(ev->type[ev->type_len] == 0 && ev->data[ev->data_len] == 0 && ev->id[ev->id_len] == 0);
    put_escaped(&r->out, ev->type, ev->type_len);
    buf_putc(&r->out, '|');
    put_escaped(&r->out, ev->data, ev->data_len);
    buf_putc(&r->out, '|');
    put_escaped(&r->out, ev->id, ev->id_len);
    buf_printf(&r->out, "|%lld\n", (long long)ev->retry_ms);
    r->n++;
    return r->stop_at && r->n >= r->stop_at;
}

/* Feeds s in pieces of the given sizes (the rest in one piece); returns the events, and the
 * last sse_feed status and message in *status / msg. Caller frees. */
static char *parse_chunks(const char *s, size_t n, size_t max, const size_t *sizes, size_t n_sizes,
                          int stop_at, int *status)
{
    struct rec r = {.stop_at = stop_at};
    buf_init(&r.out);
    struct sse_parser *p = sse_new(max, on_event, &r);
    struct err e = {{0}};
    size_t off = 0;
    int st = 0;
    for (size_t k = 0; k <= n_sizes && st == 0; k++) {
        size_t len = k < n_sizes ? sizes[k] : n - off;
        if (len > n - off)
            len = n - off;
        st = sse_feed(p, s + off, len, &e);
        off += len;
    }
    if (st < 0)
        buf_printf(&r.out, "ERROR %s\n", e.msg);
    sse_free(p);
    *status = st;
    return buf_detach(&r.out);
}

static char *parse_whole(const char *s, size_t n, size_t max, int *status)
{
    return parse_chunks(s, n, max, NULL, 0, 0, status);
}

/* Every chunking we try gives the same events and status as feeding whole. */
static void check_chunkings(const char *s, size_t n, size_t max)
{
    int st_whole, st;
    char *whole = parse_whole(s, n, max, &st_whole);
    size_t *ones = malloc((n + 1) * sizeof *ones);
    for (size_t i = 0; i <= n; i++)
        ones[i] = 1;
    char *bytes = parse_chunks(s, n, max, ones, n, 0, &st);
    CHECK_MSG(strcmp(whole, bytes) == 0 && st == st_whole, "byte by byte:\n%s\nvs whole:\n%s",
              bytes, whole);
    free(bytes);
    for (size_t cut = 0; cut <= n; cut++) {
        size_t sizes[1] = {cut};
        char *two = parse_chunks(s, n, max, sizes, 1, 0, &st);
        CHECK_MSG(strcmp(whole, two) == 0 && st == st_whole, "split at %zu:\n%s\nvs whole:\n%s",
                  cut, two, whole);
        free(two);
    }
    free(ones);
    free(whole);
}

static void expect_n(const char *s, size_t n, const char *want)
{
    int st;
    char *got = parse_whole(s, n, 1 << 20, &st);
    CHECK_MSG(strcmp(got, want) == 0, "input \"%s\":\n got: %s\nwant: %s", s, got, want);
    free(got);
    check_chunkings(s, n, 1 << 20);
}

#define EXPECT(lit, want) expect_n(lit, sizeof lit - 1, want)

static void test_whatwg_examples(void)
{
    EXPECT("data: YHOO\ndata: +2\ndata: 10\n\n", "message|YHOO\\n+2\\n10||-1\n");
    EXPECT(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
           "data:  third event\n",
           "message|first event|1|-1\nmessage|second event||-1\n");
    EXPECT("data\n\ndata\ndata\n\ndata:", "message|||-1\nmessage|\\n||-1\n");
    EXPECT("data:test\n\ndata: test\n\n", "message|test||-1\nmessage|test||-1\n");
}

static void test_line_endings(void)
{
    EXPECT("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n",
           "message|a||-1\nmessage|b||-1\nmessage|c||-1\nmessage|d||-1\n");
    /* CR LF is one line end; LF CR is two */
    EXPECT("data: a\n\rdata: b\r\n\r\n", "message|a||-1\nmessage|b||-1\n");
}

static void test_bom(void)
{
    EXPECT("\xEF\xBB\xBF"
           "data: x\n\n",
           "message|x||-1\n");
    /* only one BOM is dropped: the second makes the field name "\uFEFFdata", which is ignored */
    EXPECT("\xEF\xBB\xBF\xEF\xBB\xBF"
           "data: x\n\ndata: y\n\n",
           "message|y||-1\n");
    /* a BOM prefix that is not a BOM is data (decoded to U+FFFD) */
    EXPECT("\xEF\xBB:c\ndata: \xEF\xBB\n\n", "message|\\xef\\xbf\\xbd||-1\n");
    EXPECT("\xEF", "");
    EXPECT("\xEF\n\ndata: z\n\n", "message|z||-1\n");
}

static void test_fields(void)
{
    EXPECT("event: add\ndata: 1\n\nevent: x\n\ndata: 2\n\n", "add|1||-1\nmessage|2||-1\n");
    EXPECT("retry: 1000\ndata: a\n\nretry: 1x\ndata: b\n\nretry\ndata: c\n\nretry: 5\n\n"
           "data: d\n\n",
           "message|a||1000\nmessage|b||1000\nmessage|c||1000\nmessage|d||5\n");
    EXPECT("retry: 99999999999999999999999\ndata: a\n\n", "message|a||9223372036854775807\n");
    EXPECT("id: 7\ndata: a\n\nid: a\0b\ndata: b\n\nid:\ndata: c\n\n",
           "message|a|7|-1\nmessage|b|7|-1\nmessage|c||-1\n");
    EXPECT("data:  two\nfoo: bar\n:comment\nDATA: no\ndata:\n\n", "message| two\\n||-1\n");
    EXPECT("data: a:b: c\n\n", "message|a:b: c||-1\n");
    EXPECT("data: nul\0inside\n\n", "message|nul\\x00inside||-1\n");
    EXPECT("event\ndata\n\n", "message|||-1\n");
    EXPECT("data: last without blank line\n", "");
}

static void test_utf8(void)
{
    EXPECT("data: caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n\n",
           "message|caf\\xc3\\xa9 \\xe2\\x82\\xac \\xf0\\x9f\\x98\\x80||-1\n");
    /* invalid: lone continuation, truncated 3-byte sequence before LF, overlong, surrogate */
    EXPECT("data: a\x80"
           "b\xE2\x82\n\n",
           "message|a\\xef\\xbf\\xbdb\\xef\\xbf\\xbd||-1\n");
    EXPECT("data: \xC0\xAF\xED\xA0\x80\n\n",
           "message|\\xef\\xbf\\xbd\\xef\\xbf\\xbd\\xef\\xbf\\xbd\\xef\\xbf\\xbd\\xef\\xbf\\xbd||-1\n");
    EXPECT("event: \xFF\ndata: x\n\n", "\\xef\\xbf\\xbd|x||-1\n");
}

static void test_size_bound(void)
{
    int st;
    static const char big[] = "data: 0123456789abcdef\n\n";
    char *got = parse_whole(big, sizeof big - 1, 16, &st);
    CHECK_EQ_INT(st, -1);
    CHECK(strstr(got, "ERROR SSE line or event over the limit of 16 bytes") != NULL);
    free(got);
    check_chunkings(big, sizeof big - 1, 16);

    /* small events pass; an event of many small data lines trips the bound after the first */
    static const char many[] = "data: ab\n\ndata: 1\ndata: 2\ndata: 3\ndata: 4\ndata: 5\n\n";
    got = parse_whole(many, sizeof many - 1, 12, &st);
    CHECK_EQ_INT(st, -1);
    CHECK(strncmp(got, "message|ab||-1\nERROR", 20) == 0);
    free(got);
    check_chunkings(many, sizeof many - 1, 12);

    /* a long comment line counts too: lines are bounded, not just events */
    struct buf b;
    buf_init(&b);
    buf_putc(&b, ':');
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\ndata: ok\n\n");
    got = parse_whole(b.data, b.len, 1000, &st);
    CHECK_EQ_INT(st, -1);
    free(got);
    got = parse_whole(b.data, b.len, 20000, &st);
    CHECK_EQ_INT(st, 0);
    CHECK_STR(got, "message|ok||-1\n");
    free(got);
    buf_free(&b);
}

static void test_stop(void)
{
    static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    size_t sizes[] = {3, 9, 2};
    int st;
    char *got = parse_chunks(s, sizeof s - 1, 100, sizes, 3, 2, &st);
    CHECK_EQ_INT(st, 1);
    CHECK_STR(got, "message|1||-1\nmessage|2||-1\n");
    free(got);
}

int main(void)
{
    RUN(test_whatwg_examples);
    RUN(test_line_endings);
    RUN(test_bom);
    RUN(test_fields);
    RUN(test_utf8);
    RUN(test_size_bound);
    RUN(test_stop);
    return check_report();
}
