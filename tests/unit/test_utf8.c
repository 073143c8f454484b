/* Strict UTF-8: the well-formed table's edges, and repair to U+FFFD. */
#include "check.h"

#include "base/utf8.h"

static void test_valid(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("abc", 3));
    CHECK(utf8_valid("\xC2\x80", 2));
    CHECK(!utf8_valid("\xC1\xBF", 2));             /* overlong */
    CHECK(!utf8_valid("\xE0\x9F\xBF", 3));         /* overlong 3-byte */
    CHECK(utf8_valid("\xE0\xA0\x80", 3));
    CHECK(!utf8_valid("\xED\xA0\x80", 3));         /* surrogate */
    CHECK(utf8_valid("\xED\x9F\xBF", 3));
    CHECK(utf8_valid("\xF0\x9F\x99\x82", 4));      /* emoji */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4));     /* above U+10FFFF */
    CHECK(!utf8_valid("\xF0\x9F\x99", 3));         /* truncated */
    CHECK(!utf8_valid("\x80", 1));
    CHECK(!utf8_valid("\xFF", 1));
}

static void test_sanitize(void)
{
    struct buf b;
    buf_init(&b);
    utf8_sanitize("a\xFF" "b\xF0\x9F\x99", 6, &b);
    CHECK_STR(b.data, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(utf8_valid(b.data, b.len));
    buf_free(&b);
}

/* encode and decode are inverse on every code point class boundary; decode refuses what
 * utf8_seq_len refuses. */
static void test_encode_decode(void)
{
    static const uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000,
                                   0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        char b[4];
        size_t n = utf8_encode(cps[i], b);
        uint32_t back = 0xFFFFFFFF;
        CHECK(utf8_valid(b, n));
        CHECK_EQ_INT(utf8_decode(b, n, &back), n);
        CHECK_EQ_INT(back, cps[i]);
    }
    uint32_t cp;
    CHECK_EQ_INT(utf8_decode("\xE2\x82\xAC!", 4, &cp), 3);
    CHECK_EQ_INT(cp, 0x20AC);
    CHECK_EQ_INT(utf8_decode("\xC0\xAF", 2, &cp), 0);
    CHECK_EQ_INT(utf8_decode("\xE2\x82", 2, &cp), 0);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_sanitize);
    RUN(test_encode_decode);
    return check_report();
}
