/* hex: encoding every byte value, and decoding only exact lowercase hex of the expected length. */
#include "check.h"

#include "base/hex.h"

static void test_encode(void)
{
    char out[7];
    hex_encode(out, "\x00\x9f\xff", 3);
    CHECK_STR(out, "009fff");
    hex_encode(out, "", 0);
    CHECK_STR(out, "");
}

static void test_round_trip(void)
{
    unsigned char all[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    hex_encode(text, all, sizeof all);
    CHECK(strlen(text) == 512);
    CHECK(hex_decode(back, sizeof back, text, 512));
    CHECK(memcmp(all, back, sizeof all) == 0);
}

static void test_decode_refuses(void)
{
    unsigned char b[2];
    CHECK(hex_decode(b, 2, "0aff", 4));
    CHECK(b[0] == 0x0a && b[1] == 0xff);
    CHECK(!hex_decode(b, 2, "0AFF", 4)); /* uppercase: not what hex_encode writes */
    CHECK(!hex_decode(b, 2, "0af", 3));  /* length */
    CHECK(!hex_decode(b, 2, "0aff00", 6));
    CHECK(!hex_decode(b, 2, "0ag0", 4));
    CHECK(!hex_decode(b, 2, "0a f", 4));
    CHECK(!hex_decode(b, 1, "0\0", 2));
}

int main(void)
{
    RUN(test_encode);
    RUN(test_round_trip);
    RUN(test_decode_refuses);
    return check_report();
}
