/* Unit tests of the GGUF reader and writer: real files, round trips, and every way a header can
 * lie (truncation at every byte, huge counts, bad types, misaligned or overlapping tensors). */
#include "check.h"

#include "engine/dtype.h"
#include "engine/gguf.h"

#include <stdint.h>
#include <unistd.h>

static void test_real_models(void)
{
    struct err e;
    struct gguf *g = NULL;
    int rc = gguf_open(check_fixture("models/stories260K.gguf"), &g, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc)
        return;
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK_EQ_INT(gguf_n_tensors(g), 48);
    struct gguf_str arch;
    CHECK(gguf_get_str(g, "general.architecture", &arch, &e) == 1);
    CHECK(gguf_str_eq(arch, "llama"));
    uint32_t n_embd = 0;
    CHECK(gguf_get_u32(g, "llama.embedding_length", &n_embd, &e) == 1);
    CHECK_EQ_INT(n_embd, 64);
    int64_t ti;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &ti, &e) == 1);
    CHECK_EQ_INT(gguf_kv_len(g, ti), 512);
    struct gguf_str s = gguf_arr_str(g, ti, 1);
    CHECK(gguf_str_eq(s, "<s>"));
    /* a string-array lookup with the wrong element type is a clear error */
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_FLOAT32, &ti, &e) == -1);
    CHECK(strstr(e.msg, "array of string") != NULL);
    /* integer lookup of a string is an error naming the key */
    int64_t v;
    CHECK(gguf_get_int(g, "general.architecture", &v, &e) == -1);
    CHECK(strstr(e.msg, "general.architecture") != NULL);
    CHECK(gguf_get_int(g, "no.such.key", &v, &e) == 0);
    const struct gguf_tensor *t = gguf_find_tensor(g, "blk.0.attn_k.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_INT(t->ne[0], 64);
        CHECK_EQ_INT(t->ne[1], 32);
        CHECK_EQ_INT(t->type, DT_F32);
        CHECK_EQ_INT(t->size, 64 * 32 * 4);
    }
    gguf_close(g);

    const char *others[] = {"models/aidreams260K.gguf", "models/llama2xs-tinystories-5L.gguf",
                            "vocab/ggml-vocab-qwen2.gguf", "vocab/ggml-vocab-llama-bpe.gguf"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        rc = gguf_open(check_fixture(others[i]), &g, &e);
        CHECK_MSG(rc == 0, "%s: %s", others[i], e.msg);
        if (rc == 0)
            gguf_close(g);
    }
}

/* Builds a small valid file in memory through the writer (via a temp file). */
static char *make_small(size_t *len)
{
    char path[] = "/tmp/baton_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct err e;
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 2);
    gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[] = {"<unk>", "<s>", "hello"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3);
    float scores[] = {0, -1, -2.5f};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_FLOAT32, scores, 3);
    gguf_writer_set_u32(w, "llama.block_count", 3); /* replaces */
    int64_t ne_a[2] = {4, 3}, ne_b[1] = {32};
    CHECK(gguf_writer_add_tensor(w, "a", DT_F32, 2, ne_a, &e) == 0);
    CHECK(gguf_writer_add_tensor(w, "b", DT_Q8_0, 1, ne_b, &e) == 0);
    CHECK(gguf_writer_add_tensor(w, "bad", DT_Q8_0, 1, ne_a, &e) == -1); /* 4 % 32 != 0 */
    CHECK(gguf_writer_open(w, path, &e) == 0);
    float a[12];
    for (int i = 0; i < 12; i++)
        a[i] = (float)i;
    uint8_t b[34] = {0};
    b[2] = 7;
    CHECK(gguf_writer_write(w, a, 20, &e) == 0); /* split writes */
    CHECK(gguf_writer_write(w, (char *)a + 20, 28, &e) == 0);
    CHECK(gguf_writer_write(w, b, 34, &e) == 0);
    CHECK_MSG(gguf_writer_close(w, &e) == 0, "%s", e.msg);
    gguf_writer_free(w);
    char *data = check_read_file(path, len);
    unlink(path);
    return data;
}

static void test_roundtrip(void)
{
    size_t len;
    char *data = make_small(&len);
    CHECK(data != NULL);
    if (!data)
        return;
    struct err e;
    struct gguf *g = NULL;
    CHECK_MSG(gguf_open_mem(data, len, &g, &e) == 0, "%s", e.msg);
    if (!g) {
        free(data);
        return;
    }
    uint32_t bc = 0;
    CHECK(gguf_get_u32(g, "llama.block_count", &bc, &e) == 1);
    CHECK_EQ_INT(bc, 3);
    CHECK_EQ_INT(gguf_n_kv(g), 6);
    float fb = 0;
    CHECK(gguf_get_f32(g, "llama.rope.freq_base", &fb, &e) == 1);
    CHECK_NEAR(fb, 10000.0, 0);
    bool ab = false;
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab, &e) == 1 && ab);
    int64_t si;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_FLOAT32, &si, &e) == 1);
    CHECK_NEAR(gguf_arr_num(g, si, 2), -2.5, 0);
    int64_t ti;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &ti, &e) == 1);
    CHECK(gguf_str_eq(gguf_arr_str(g, ti, 2), "hello"));
    const struct gguf_tensor *a = gguf_find_tensor(g, "a");
    const struct gguf_tensor *b = gguf_find_tensor(g, "b");
    CHECK(a && b);
    if (a && b) {
        float a5;
        memcpy(&a5, (const char *)a->data + 20, 4);
        CHECK_NEAR(a5, 5.0, 0);
        CHECK_EQ_INT(b->size, 34);
        CHECK_EQ_INT(((const uint8_t *)b->data)[2], 7);
        CHECK_EQ_INT(b->offset % 32, 0);
    }
    gguf_close(g);
    free(data);
}

/* Every proper prefix of a valid file must be refused with a message, never crash. */
static void test_truncation(void)
{
    size_t len;
    char *data = make_small(&len);
    if (!data)
        return;
    /* the writer pads after the last tensor too; prefixes that only cut that padding are valid */
    struct err e0;
    struct gguf *g0 = NULL;
    size_t end = len;
    if (gguf_open_mem(data, len, &g0, &e0) == 0) {
        const struct gguf_tensor *last = gguf_find_tensor(g0, "b");
        end = (size_t)(gguf_data_offset(g0) + last->offset + last->size);
        gguf_close(g0);
    }
    CHECK(end < len);
    int refused = 0;
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1); /* exact-size allocation so ASan sees any overread */
        memcpy(copy, data, n);
        struct err e = {{0}};
        struct gguf *g = NULL;
        if (gguf_open_mem(copy, n, &g, &e) != 0) {
            refused++;
            CHECK_MSG(e.msg[0] != 0, "no message at length %zu", n);
            CHECK_MSG(n < end, "refused length %zu past the last tensor's end %zu: %s", n, end, e.msg);
        } else {
            CHECK_MSG(n >= end, "accepted truncation at %zu (data ends at %zu)", n, end);
            gguf_close(g);
        }
        free(copy);
    }
    CHECK_EQ_INT(refused, (long long)end);
    free(data);
}

/* Patches a u64 at byte offset off of a copy and expects refusal with a message containing want. */
static void expect_refused(const char *data, size_t len, size_t off, const void *val, size_t vlen,
                           const char *want)
{
    char *copy = malloc(len);
    memcpy(copy, data, len);
    memcpy(copy + off, val, vlen);
    struct err e = {{0}};
    struct gguf *g = NULL;
    int rc = gguf_open_mem(copy, len, &g, &e);
    CHECK_MSG(rc != 0, "accepted patched file (want: %s)", want);
    if (rc == 0)
        gguf_close(g);
    else
        CHECK_MSG(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\"", e.msg, want);
    free(copy);
}

static size_t find_n(const char *data, size_t len, const char *needle, size_t n, int last)
{
    size_t at = (size_t)-1;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(data + i, needle, n) == 0) {
            at = i;
            if (!last)
                break;
        }
    return at;
}

static size_t find(const char *data, size_t len, const char *needle)
{
    return find_n(data, len, needle, strlen(needle), 0);
}

static void test_lies(void)
{
    size_t len;
    char *data = make_small(&len);
    if (!data)
        return;
    uint64_t huge = UINT64_MAX / 2;
    uint32_t v1 = 1, v9 = 9, bad_type = 99;
    expect_refused(data, len, 0, "GGUX", 4, "magic");
    expect_refused(data, len, 4, &v1, 4, "version 1");
    expect_refused(data, len, 4, &v9, 4, "version 9");
    expect_refused(data, len, 8, &huge, 8, "tensors cannot fit");
    expect_refused(data, len, 16, &huge, 8, "metadata pairs cannot fit");
    /* first key's length */
    expect_refused(data, len, 24, &huge, 8, "string length");
    /* the value type of general.architecture */
    size_t k = find(data, len, "general.architecture");
    expect_refused(data, len, k + strlen("general.architecture"), &bad_type, 4, "value type 99");
    /* the array count of tokenizer.ggml.scores */
    k = find(data, len, "tokenizer.ggml.scores") + strlen("tokenizer.ggml.scores") + 4 + 4;
    expect_refused(data, len, k, &huge, 8, "runs past end of file");
    /* nested array: element type 9 */
    k = find(data, len, "tokenizer.ggml.scores") + strlen("tokenizer.ggml.scores") + 4;
    uint32_t arr = GGUF_ARRAY;
    expect_refused(data, len, k, &arr, 4, "nested arrays");
    /* duplicate key: rename tokenizer.ggml.tokens to its same-length sibling ...scores */
    k = find(data, len, "tokenizer.ggml.tokens");
    expect_refused(data, len, k, "tokenizer.ggml.scores", 21, "duplicate key");
    /* tensor "b": type, offset misaligned, offset past end, overlap with "a" */
    size_t tb = find_n(data, len, "\x01\x00\x00\x00\x00\x00\x00\x00" "b", 9, 1) + 9;
    /* layout after the name: u32 n_dims, u64 ne0, u32 type, u64 offset */
    uint32_t qtype = 99;
    expect_refused(data, len, tb + 4 + 8, &qtype, 4, "type 99");
    uint64_t off = 33;
    expect_refused(data, len, tb + 4 + 8 + 4, &off, 8, "not a multiple of the alignment");
    off = 1u << 20;
    expect_refused(data, len, tb + 4 + 8 + 4, &off, 8, "past end of file");
    off = 32;
    expect_refused(data, len, tb + 4 + 8 + 4, &off, 8, "overlaps");
    uint32_t dims = 5;
    expect_refused(data, len, tb, &dims, 4, "dimensions");
    uint64_t ne = 31;
    expect_refused(data, len, tb + 4, &ne, 8, "not a multiple of the q8_0 block size");
    free(data);
}

static void test_fp16(void)
{
    /* exhaustive: every half converts to float and back to itself (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_fp32((uint16_t)h);
        uint16_t back = fp32_to_fp16(f);
        if (f != f) {
            if ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff))
                bad++;
        } else if (back != h) {
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(fp32_to_fp16(1.0f), 0x3c00);
    CHECK_EQ_INT(fp32_to_fp16(65504.0f), 0x7bff);
    CHECK_EQ_INT(fp32_to_fp16(65520.0f), 0x7c00);
    CHECK_EQ_INT(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    CHECK_EQ_INT(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);
    CHECK_EQ_INT(fp32_to_fp16(5.9604645e-08f), 0x0001);
    CHECK_EQ_INT(fp32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(fp32_to_bf16(fp32_from_bits(0x3f808000u)), 0x3f80); /* tie to even */
    CHECK_EQ_INT(fp32_to_bf16(fp32_from_bits(0x3f818000u)), 0x3f82);
    CHECK_NEAR(bf16_to_fp32(0x4049), 3.140625, 0);
}

int main(void)
{
    RUN(test_real_models);
    RUN(test_roundtrip);
    RUN(test_truncation);
    RUN(test_lies);
    RUN(test_fp16);
    return check_report();
}
