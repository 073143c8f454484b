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

int main(void)
{
    RUN(test_valid);
    RUN(test_sanitize);
    return check_report();
}
