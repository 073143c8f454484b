/* Synthetic models: deterministic files, logits of the intended magnitude, and every layer
 * mattering (zeroing any one layer's weights moves the top logits materially). */
#include "check.h"

#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/model_impl.h"
#include "engine/synth.h"

#include <unistd.h>

static const int32_t g_prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243}; /* llama-spm ids */
#define N_PROMPT ((int32_t)(sizeof g_prompt / sizeof *g_prompt))

static int synth_tmp(const char *shape, enum dtype type, int32_t n_layer, uint64_t seed,
                     int n_threads, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/baton_test_synth_%d_%s_%d_%d.gguf", (int)getpid(), shape,
             (int)n_layer, n_threads);
    struct synth_opts o = {0};
    o.shape = shape;
    o.fixtures = check_fixtures();
    o.type = type;
    o.seed = seed;
    o.n_layer = n_layer;
    o.n_threads = n_threads;
    struct err e;
    int rc = synth_write(&o, path, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    return rc;
}

static void eval_logits(struct model *m, float *logits)
{
    struct err e;
    struct kv_cache *kv;
    CHECK(kv_new(m, 64, &kv, &e) == 0);
    struct forward *f = fwd_new(m, 64, 2);
    CHECK_MSG(fwd_eval(f, kv, g_prompt, N_PROMPT, logits, &e) == 0, "%s", e.msg);
    fwd_free(f);
    kv_free(kv);
}

static void top_k(const float *x, int32_t n, int32_t *ids, int k)
{
    for (int j = 0; j < k; j++) {
        int32_t best = -1;
        for (int32_t i = 0; i < n; i++) {
            bool taken = false;
            for (int q = 0; q < j; q++)
                taken |= ids[q] == i;
            if (!taken && (best < 0 || x[i] > x[best]))
                best = i;
        }
        ids[j] = best;
    }
}

/* Same seed, different thread counts: identical bytes. */
static void test_deterministic(void)
{
    char a[256], b[256];
    if (synth_tmp("tiny-llama", DT_F16, 2, 7, 1, a, sizeof a) ||
        synth_tmp("tiny-llama", DT_F16, 2, 7, 3, b, sizeof b))
        return;
    size_t na, nb;
    char *da = check_read_file(a, &na), *db = check_read_file(b, &nb);
    CHECK(da && db && na == nb && memcmp(da, db, na) == 0);
    free(da);
    free(db);
    unlink(a);
    unlink(b);
}

/* Zeroing each layer in turn (in memory) moves some top-10 logit by more than 0.2 -- twice the
 * 0.10 tolerance of the quantized golden checks, so a wrong layer cannot hide inside it -- at
 * the depth of SmolLM2-135M (30 layers), where one layer is the smallest share of the stream. */
static void test_every_layer_matters(void)
{
    char path[256];
    const int32_t n_layer = 30;
    if (synth_tmp("tiny-llama", DT_F32, n_layer, 1, 2, path, sizeof path))
        return;
    struct err e;
    struct model *m;
    if (model_load(path, &m, &e) != 0) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    int32_t nv = model_n_vocab(m);
    float *base = malloc(sizeof(float) * (size_t)nv), *alt = malloc(sizeof(float) * (size_t)nv);
    eval_logits(m, base);
    int32_t ids[10];
    top_k(base, nv, ids, 10);
    CHECK_MSG(base[ids[0]] > 3.0f && base[ids[0]] < 8.0f, "top logit %.3f, wanted ~4-6",
              (double)base[ids[0]]);
    size_t zbytes = (size_t)m->hp.n_ff * (size_t)m->hp.n_embd * sizeof(float);
    void *zeros = calloc(1, zbytes);
    double min_delta = 1e9;
    for (int32_t l = 0; l < n_layer; l++) {
        struct layer saved = m->layers[l];
        struct layer *L = &m->layers[l];
        struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
            ws[i]->data = zeros;
        eval_logits(m, alt);
        m->layers[l] = saved;
        double delta = 0;
        for (int j = 0; j < 10; j++) {
            double d = fabs((double)alt[ids[j]] - (double)base[ids[j]]);
            delta = d > delta ? d : delta;
        }
        CHECK_MSG(delta > 0.2, "zeroing layer %d moved the top-10 logits by only %.3f", l, delta);
        if (delta < min_delta)
            min_delta = delta;
    }
    fprintf(stderr, "  smallest top-10 logit change from zeroing one of %d layers: %.3f\n", n_layer,
            min_delta);
    free(zeros);
    free(base);
    free(alt);
    model_free(m);
    unlink(path);
}

/* The output matrix is untied: logits are not dominated by the last input token's embedding. */
static void test_untied(void)
{
    char path[256];
    if (synth_tmp("tiny-qwen2", DT_F16, 2, 3, 2, path, sizeof path))
        return;
    struct err e;
    struct model *m;
    if (model_load(path, &m, &e) != 0) {
        CHECK_MSG(0, "%s", e.msg);
        unlink(path);
        return;
    }
    CHECK(m->output.data != m->tok_embd.data);
    CHECK(m->layers[0].bq != NULL);
    model_free(m);
    unlink(path);
}

static void test_errors(void)
{
    struct synth_opts o = {0};
    struct err e;
    o.shape = "no-such-model";
    o.type = DT_F16;
    CHECK(synth_write(&o, "/tmp/never.gguf", &e) == -1);
    CHECK(strstr(e.msg, "smollm2-135m") != NULL);
    o.shape = "tiny-llama";
    o.type = DT_Q4_0;
    CHECK(synth_write(&o, "/tmp/never.gguf", &e) == -1);
    CHECK(strstr(e.msg, "quantize") != NULL);
    o.type = DT_F16;
    o.vocab_path = "/nonexistent/vocab.gguf";
    CHECK(synth_write(&o, "/tmp/never.gguf", &e) == -1);
    CHECK(strstr(e.msg, "/nonexistent/vocab.gguf") != NULL);
    CHECK(access("/tmp/never.gguf", F_OK) != 0);
}

int main(void)
{
    RUN(test_deterministic);
    RUN(test_every_layer_matters);
    RUN(test_untied);
    RUN(test_errors);
    return check_report();
}
