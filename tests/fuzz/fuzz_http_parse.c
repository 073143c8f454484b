/* libFuzzer target: the HTTP request parser and the chunked decoder on arbitrary bytes in
 * arbitrary splits. The first 8 input bytes seed the split points; the rest is the stream.
 * Checked: a refusal always has a status and a reason; an accepted head points inside the input
 * and its fields hold no forbidden bytes; feeding the stream in pieces (with prev_len) never gives
 * a different definite answer than one call on the whole, and the same answer once the stream
 * ends in LF; the chunked decoder gives the same data, leftover and status in pieces and whole. */
#include "net/http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_H 8

static const struct http_limits g_lim = {.max_head_bytes = 512, .max_body_bytes = 4096};

static uint64_t g_rng;

static size_t next_step(size_t left)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    size_t s = (size_t)(g_rng >> 58) + 1; /* 1..64 */
    return s < left ? s : left;
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return n == 0 || (p >= buf && p + n <= buf + len);
}

static void check_head(const char *buf, size_t len, int r, const struct http_head *h,
                       const struct http_header *hs, const struct http_parse_error *pe)
{
    if (r == HTTP_PARSE_ERROR) {
        if (pe->status < 400 || pe->status > 505 || !pe->reason || !*pe->reason)
            abort();
        return;
    }
    if (r == HTTP_PARSE_INCOMPLETE)
        return;
    if (r <= 0 || (size_t)r > len || (size_t)r > g_lim.max_head_bytes)
        abort();
    if (!h->method_len || !inside(h->method, h->method_len, buf, (size_t)r) || !h->path_len)
        abort();
    if (!(h->path_len == 1 && h->path[0] == '/') && !inside(h->path, h->path_len, buf, (size_t)r))
        abort();
    if (!inside(h->query, h->query_len, buf, (size_t)r) || h->n_headers > MAX_H)
        abort();
    if (h->minor_version != 0 && h->minor_version != 1)
        abort();
    if (h->body == HTTP_BODY_LENGTH && (h->content_length == 0 || h->content_length > g_lim.max_body_bytes))
        abort();
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!hs[i].name_len || !inside(hs[i].name, hs[i].name_len, buf, (size_t)r) ||
            !inside(hs[i].value, hs[i].value_len, buf, (size_t)r))
            abort();
        for (size_t j = 0; j < hs[i].value_len; j++)
            if (hs[i].value[j] == '\r' || hs[i].value[j] == '\n' || hs[i].value[j] == 0)
                abort();
        if (hs[i].value_len && (hs[i].value[0] == ' ' || hs[i].value[hs[i].value_len - 1] == ' '))
            abort();
    }
}

static void fuzz_head(const char *buf, size_t len)
{
    struct http_header hs[MAX_H], hs2[MAX_H];
    struct http_head h, h2;
    struct http_parse_error pe = {0}, pe2 = {0};
    int whole = http_parse_request(buf, len, 0, &g_lim, hs, MAX_H, &h, &pe);
    check_head(buf, len, whole, &h, hs, &pe);

    size_t k = 0, prev = 0;
    int r = HTTP_PARSE_INCOMPLETE;
    while (k < len && r == HTTP_PARSE_INCOMPLETE) {
        k += next_step(len - k);
        r = http_parse_request(buf, k, prev, &g_lim, hs2, MAX_H, &h2, &pe2);
        check_head(buf, k, r, &h2, hs2, &pe2);
        prev = k;
    }
    bool ends_line = len > 0 && buf[len - 1] == '\n';
    if (r != whole && !(r == HTTP_PARSE_INCOMPLETE && whole == HTTP_PARSE_ERROR && !ends_line))
        abort();
    if (r == HTTP_PARSE_ERROR && pe2.status != pe.status)
        abort();
    if (r > 0 && (h2.n_headers != h.n_headers || h2.body != h.body || h2.keep_alive != h.keep_alive ||
                  h2.content_length != h.content_length || h2.path_len != h.path_len))
        abort();
}

/* Decodes in[0..len) whole and in pieces; both must agree. */
static void fuzz_chunked(const char *in, size_t len)
{
    struct http_chunked d;
    struct http_parse_error pe = {0};
    char *whole = malloc(len ? len : 1);
    memcpy(whole, in, len);
    size_t wlen = len, wrest = 0;
    http_chunked_init(&d, g_lim.max_body_bytes);
    int wr = http_chunked_decode(&d, whole, &wlen, &wrest, &pe);
    if (wr == HTTP_PARSE_ERROR && (!pe.reason || pe.status < 400))
        abort();
    if (wr == 0 && (wlen + wrest > len || memcmp(whole + wlen, in + len - wrest, wrest) != 0))
        abort();

    http_chunked_init(&d, g_lim.max_body_bytes);
    char *out = malloc(len ? len : 1);
    size_t out_len = 0, off = 0, rest = 0;
    int r = HTTP_PARSE_INCOMPLETE;
    while (off < len && r == HTTP_PARSE_INCOMPLETE) {
        size_t n = next_step(len - off);
        char *piece = malloc(n); /* exact size: ASan catches overruns */
        memcpy(piece, in + off, n);
        off += n;
        size_t plen = n;
        r = http_chunked_decode(&d, piece, &plen, &rest, &pe);
        if (r != HTTP_PARSE_ERROR) {
            memcpy(out + out_len, piece, plen);
            out_len += plen;
            if (r == 0)
                rest += len - off;
        }
        free(piece);
    }
    if (r != wr || (r != HTTP_PARSE_ERROR && (out_len != wlen || memcmp(out, whole, wlen) != 0)))
        abort();
    if (r == 0 && rest != wrest)
        abort();
    free(out);
    free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_rng = 0;
    for (size_t i = 0; i < 8 && i < size; i++)
        g_rng = g_rng << 8 | data[i];
    size_t skip = size < 8 ? size : 8;
    size_t len = size - skip;
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + skip, len);

    fuzz_head(buf, len);
    struct http_header hs[MAX_H];
    struct http_head h;
    struct http_parse_error pe;
    int r = http_parse_request(buf, len, 0, &g_lim, hs, MAX_H, &h, &pe);
    if (r > 0 && h.body == HTTP_BODY_CHUNKED)
        fuzz_chunked(buf + r, len - (size_t)r);
    else
        fuzz_chunked(buf, len);
    free(buf);
    return 0;
}
