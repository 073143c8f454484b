/* Model loading refuses what it cannot run with a message naming the problem, and the forward
 * pass refuses bad token ids and context overflow without touching the cache. */
#include "check.h"

#include "engine/dtype.h"
#include "engine/forward.h"
#include "engine/gguf.h"
#include "engine/kv.h"
#include "engine/model.h"

#include <unistd.h>

/* A one-layer llama with n_embd 32 and the stories260K vocabulary, built tensor by tensor so each
 * test can break exactly one thing. */
struct spec {
    const char *arch;
    const char *skip;      /* tensor to leave out */
    const char *bad_shape; /* tensor written with an extra row */
    const char *iq_type;   /* tensor written as iq4_nl */
    uint32_t head_count_kv;
};

static char g_path[256];

static int write_model(const struct spec *s)
{
    snprintf(g_path, sizeof g_path, "/tmp/baton_test_model_%d.gguf", (int)getpid());
    struct err e;
    struct gguf *vocab;
    if (gguf_open(check_fixture("models/stories260K.gguf"), &vocab, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        return -1;
    }
    struct gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(vocab); i++)
        if (strncmp(gguf_kv_key(vocab, i), "tokenizer.", 10) == 0)
            gguf_writer_copy_kv(w, vocab, i);
    gguf_close(vocab);
    char key[64];
#define K(k) (snprintf(key, sizeof key, "%s.%s", s->arch, k), key)
    gguf_writer_set_str(w, "general.architecture", s->arch);
    gguf_writer_set_u32(w, K("context_length"), 64);
    gguf_writer_set_u32(w, K("embedding_length"), 32);
    gguf_writer_set_u32(w, K("feed_forward_length"), 64);
    gguf_writer_set_u32(w, K("block_count"), 1);
    gguf_writer_set_u32(w, K("attention.head_count"), 2);
    gguf_writer_set_u32(w, K("attention.head_count_kv"), s->head_count_kv ? s->head_count_kv : 2);
#undef K
    struct { const char *name; int64_t ne0, ne1; } ts[] = {
        {"token_embd.weight", 32, 512}, {"output_norm.weight", 32, 0},
        {"blk.0.attn_norm.weight", 32, 0}, {"blk.0.attn_q.weight", 32, 32},
        {"blk.0.attn_k.weight", 32, 32}, {"blk.0.attn_v.weight", 32, 32},
        {"blk.0.attn_output.weight", 32, 32}, {"blk.0.ffn_norm.weight", 32, 0},
        {"blk.0.ffn_gate.weight", 32, 64}, {"blk.0.ffn_up.weight", 32, 64},
        {"blk.0.ffn_down.weight", 64, 32},
    };
    size_t n = sizeof ts / sizeof *ts;
    uint64_t sizes[16];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sizes[i] = 0;
        if (s->skip && strcmp(s->skip, ts[i].name) == 0)
            continue;
        int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        if (s->bad_shape && strcmp(s->bad_shape, ts[i].name) == 0)
            ne[1]++;
        uint32_t type = DT_F32;
        if (s->iq_type && strcmp(s->iq_type, ts[i].name) == 0)
            type = DT_IQ4_NL;
        rc = gguf_writer_add_tensor(w, ts[i].name, type, ne[1] ? 2 : 1, ne, &e);
        uint64_t row;
        dtype_row_bytes(type, (uint64_t)ne[0], &row);
        sizes[i] = row * (uint64_t)(ne[1] ? ne[1] : 1);
    }
    if (rc == 0)
        rc = gguf_writer_open(w, g_path, &e);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!sizes[i])
            continue;
        float *d = malloc(sizes[i]);
        for (uint64_t j = 0; j < sizes[i] / 4; j++)
            d[j] = (float)((j * 2654435761u) % 1000) / 1000.0f - 0.5f;
        rc = gguf_writer_write(w, d, sizes[i], &e);
        free(d);
    }
    if (rc == 0)
        rc = gguf_writer_close(w, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    gguf_writer_free(w);
    return rc;
}

/* Builds the model from spec and expects model_load to fail with a message containing want. */
static void expect_refused(struct spec s, const char *want)
{
    if (write_model(&s))
        return;
    struct err e = {{0}};
    struct model *m = NULL;
    int rc = model_load(g_path, &m, &e);
    CHECK_MSG(rc != 0, "loaded a model that should be refused (%s)", want);
    if (rc == 0)
        model_free(m);
    else
        CHECK_MSG(strstr(e.msg, want) != NULL, "message \"%s\" lacks \"%s\"", e.msg, want);
    unlink(g_path);
}

static void test_refusals(void)
{
    struct spec ok = {"llama", NULL, NULL, NULL, 0};
    struct spec s = ok;
    s.arch = "gemma3";
    expect_refused(s, "'gemma3' is not supported (supported: llama, qwen2)");
    s = ok;
    s.skip = "blk.0.ffn_up.weight";
    expect_refused(s, "tensor blk.0.ffn_up.weight is missing");
    s = ok;
    s.bad_shape = "blk.0.attn_k.weight";
    expect_refused(s, "tensor blk.0.attn_k.weight: shape [32, 33]");
    s = ok;
    s.iq_type = "blk.0.attn_v.weight";
    expect_refused(s, "type iq4_nl is not supported (supported: f32, f16, bf16");
    s = ok;
    s.head_count_kv = 3;
    expect_refused(s, "head_count_kv: 3 does not divide head_count 2");
    s = ok;
    s.arch = "qwen2"; /* qwen2 requires q/k/v biases */
    expect_refused(s, "tensor blk.0.attn_q.bias is missing");
}

static void test_eval_errors(void)
{
    struct spec ok = {"llama", NULL, NULL, NULL, 0};
    if (write_model(&ok))
        return;
    struct err e;
    struct model *m;
    if (model_load(g_path, &m, &e)) {
        CHECK_MSG(0, "%s", e.msg);
        unlink(g_path);
        return;
    }
    CHECK(m != NULL); /* tied output: no output.weight in this file */
    struct kv_cache *kv;
    CHECK(kv_new(m, 4, &kv, &e) == 0);
    struct forward *f = fwd_new(m, 2, 2);
    float logits[512];
    int32_t bad[2] = {1, 512};
    CHECK(fwd_eval(f, kv, bad, 2, logits, &e) == -1);
    CHECK(strstr(e.msg, "token id 512 at position 1 is out of range (vocabulary 512)") != NULL);
    CHECK_EQ_INT(kv_len(kv), 0);
    int32_t toks[5] = {1, 2, 3, 4, 5};
    CHECK(fwd_eval(f, kv, toks, 3, logits, &e) == 0); /* 3 tokens in batches of 2 */
    CHECK_EQ_INT(kv_len(kv), 3);
    CHECK(fwd_eval(f, kv, toks, 2, logits, &e) == -1);
    CHECK(strstr(e.msg, "context full: 3 tokens in the cache + 2 new > context size 4") != NULL);
    CHECK_EQ_INT(kv_len(kv), 3);
    /* splitting into batches gives the same logits as one batch, and truncation replays */
    float one[512], split[512];
    kv_truncate(kv, 0);
    struct forward *f4 = fwd_new(m, 4, 1);
    CHECK(fwd_eval(f4, kv, toks, 4, one, &e) == 0);
    kv_truncate(kv, 0);
    CHECK(fwd_eval(f, kv, toks, 4, split, &e) == 0);
    float maxd = 0;
    for (int i = 0; i < 512; i++)
        maxd = fabsf(one[i] - split[i]) > maxd ? fabsf(one[i] - split[i]) : maxd;
    CHECK_MSG(maxd == 0.0f, "batch split changed logits by %g", (double)maxd);
    kv_truncate(kv, 2);
    CHECK(fwd_eval(f, kv, toks + 2, 2, split, &e) == 0);
    maxd = 0;
    for (int i = 0; i < 512; i++)
        maxd = fabsf(one[i] - split[i]) > maxd ? fabsf(one[i] - split[i]) : maxd;
    CHECK_MSG(maxd == 0.0f, "prefix reuse changed logits by %g", (double)maxd);
    fwd_free(f4);
    fwd_free(f);
    kv_free(kv);
    model_free(m);
    unlink(g_path);
}

int main(void)
{
    RUN(test_refusals);
    RUN(test_eval_errors);
    return check_report();
}
