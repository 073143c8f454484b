/* Batched decoding (fwd_eval_batch) and steps mixing prompt chunks with decoding tokens
 * (fwd_eval_seqs) against one sequence at a time (fwd_eval): several
 * sequences with different prompt lengths, decoded step by step together, must get the logits
 * each gets alone: bit for bit for quantized weights (every kernel and tile shape is exact to
 * the reference), within float rounding for f32 weights (tile shapes sum float rows in other
 * orders). Synthetic models of both architectures in the types the kernels pack and not, and a
 * real trained model; plus the errors. */

#include "check.h"

#include "engine/forward.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/quantize.h"
#include "engine/synth.h"

#include <unistd.h>

#define N_SEQ 5
#define N_STEPS 6

static const int32_t g_prompt_len[N_SEQ] = {1, 3, 7, 12, 20};

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* got vs want: bit for bit (exact) or within 1e-3; *worst tracks the largest difference. */
static void compare_logits(const char *path, const char *what, const float *want,
                           const float *got, int32_t V, bool exact, double *worst)
{
    if (exact) {
        CHECK_MSG(memcmp(want, got, sizeof(float) * (size_t)V) == 0, "%s: %s differ from alone",
                  path, what);
        return;
    }
    for (int32_t i = 0; i < V; i++) {
        double d = fabs((double)want[i] - got[i]);
        *worst = d > *worst ? d : *worst;
    }
    CHECK_MSG(*worst < 1e-3, "%s: %s differ from alone by %.3g", path, what, *worst);
}

/* Prompts mixed into decoding steps (fwd_eval_seqs): three sequences, each step holding some
 * decoding tokens and some prompt chunks (one long enough for tiled attention, one without
 * logits), against each sequence evaluated alone in the same chunks. */
#define MIX_LONG 70 /* >= the tiled attention regime's 64 queries */
static void check_mixed(const char *path, struct model *m, bool exact)
{
    struct err e;
    const int32_t V = model_n_vocab(m);
    struct forward *f = fwd_new(m, 96, 2);
    int32_t P[MIX_LONG], Q[5], R[2];
    for (int32_t i = 0; i < MIX_LONG; i++)
        P[i] = (int32_t)((i * 37 + 11) % V);
    for (int32_t i = 0; i < 5; i++)
        Q[i] = (int32_t)((i * 53 + 7) % V);
    R[0] = 1 % V, R[1] = 9 % V;
    /* alone, in the chunks the mixed steps use */
    float *ref = malloc(sizeof(float) * (size_t)V * 7), *lg = malloc(sizeof(float) * (size_t)V * 3);
    struct kv_cache *kp = NULL, *kq = NULL, *kr = NULL;
    CHECK(kv_new(m, 128, &kp, &e) == 0);
    CHECK(kv_new(m, 128, &kq, &e) == 0);
    CHECK(kv_new(m, 128, &kr, &e) == 0);
    float *r1 = ref, *r2 = ref + V, *r3 = ref + 2 * V, *q1 = ref + 3 * V, *q2 = ref + 4 * V;
    float *p1 = ref + 5 * V, *p2 = ref + 6 * V;
    CHECK(fwd_eval(f, kr, R, 2, r1, &e) == 0);
    int32_t rt1 = argmax(r1, V);
    CHECK(fwd_eval(f, kr, &rt1, 1, r2, &e) == 0);
    int32_t rt2 = argmax(r2, V);
    CHECK(fwd_eval(f, kr, &rt2, 1, r3, &e) == 0);
    CHECK(fwd_eval(f, kq, Q, 3, NULL, &e) == 0);
    CHECK(fwd_eval(f, kq, Q + 3, 2, q1, &e) == 0);
    int32_t qt1 = argmax(q1, V);
    CHECK(fwd_eval(f, kq, &qt1, 1, q2, &e) == 0);
    CHECK(fwd_eval(f, kp, P, MIX_LONG, p1, &e) == 0);
    int32_t pt1 = argmax(p1, V);
    CHECK(fwd_eval(f, kp, &pt1, 1, p2, &e) == 0);
    kv_free(kp), kv_free(kq), kv_free(kr);
    /* mixed */
    CHECK(kv_new(m, 128, &kp, &e) == 0);
    CHECK(kv_new(m, 128, &kq, &e) == 0);
    CHECK(kv_new(m, 128, &kr, &e) == 0);
    double worst = 0.0;
    for (size_t i = 0; i < (size_t)V * 3; i++)
        lg[i] = -12345.0f; /* rows not asked for must stay as they are */
    struct fwd_seq s1[2] = {{kr, R, 2, true}, {kq, Q, 3, false}};
    CHECK_MSG(fwd_eval_seqs(f, s1, 2, lg, &e) == 0, "%s", e.msg);
    compare_logits(path, "mixed step 1, decoding sequence", r1, lg, V, exact, &worst);
    CHECK(lg[V] == -12345.0f && lg[2 * V - 1] == -12345.0f);
    struct fwd_seq s2[3] = {{kr, &rt1, 1, true}, {kq, Q + 3, 2, true}, {kp, P, MIX_LONG, true}};
    CHECK_MSG(fwd_eval_seqs(f, s2, 3, lg, &e) == 0, "%s", e.msg);
    compare_logits(path, "mixed step 2, decoding sequence", r2, lg, V, exact, &worst);
    compare_logits(path, "mixed step 2, last prompt chunk", q1, lg + V, V, exact, &worst);
    compare_logits(path, "mixed step 2, tiled prompt", p1, lg + 2 * V, V, exact, &worst);
    struct fwd_seq s3[3] = {{kp, &pt1, 1, true}, {kr, &rt2, 1, true}, {kq, &qt1, 1, true}};
    CHECK_MSG(fwd_eval_seqs(f, s3, 3, lg, &e) == 0, "%s", e.msg);
    compare_logits(path, "mixed step 3", p2, lg, V, exact, &worst);
    compare_logits(path, "mixed step 3", r3, lg + V, V, exact, &worst);
    compare_logits(path, "mixed step 3", q2, lg + 2 * V, V, exact, &worst);
    CHECK(kv_len(kp) == MIX_LONG + 1 && kv_len(kq) == 6 && kv_len(kr) == 4);
    /* too many tokens for the step, and a sequence without tokens: refused, caches unchanged */
    struct fwd_seq big[2] = {{kr, P, MIX_LONG, true}, {kq, P, 30, true}};
    CHECK(fwd_eval_seqs(f, big, 2, lg, &e) == -1 && strstr(e.msg, "more than 96 tokens") != NULL);
    struct fwd_seq none[1] = {{kr, P, 0, true}};
    CHECK(fwd_eval_seqs(f, none, 1, lg, &e) == -1 && strstr(e.msg, "no tokens") != NULL);
    CHECK(kv_len(kr) == 4 && kv_len(kq) == 6);
    kv_free(kp), kv_free(kq), kv_free(kr);
    free(ref);
    free(lg);
    fwd_free(f);
}

static void check_model(const char *path, bool exact)
{
    struct model *m;
    struct err e;
    if (model_load(path, &m, &e)) {
        CHECK_MSG(0, "load %s: %s", path, e.msg);
        return;
    }
    const int32_t V = model_n_vocab(m);
    struct forward *f = fwd_new(m, 32, 2);
    int32_t prompts[N_SEQ][32];
    for (int s = 0; s < N_SEQ; s++)
        for (int32_t i = 0; i < g_prompt_len[s]; i++)
            prompts[s][i] = (int32_t)((s * 131 + i * 17 + 5) % V);
    /* alone: each sequence's prompt, then N_STEPS greedy steps, logits of every step kept */
    float *ref = malloc(sizeof(float) * (size_t)V * N_SEQ * N_STEPS);
    int32_t tokens[N_SEQ][N_STEPS];
    float *lg = malloc(sizeof(float) * (size_t)V * N_SEQ);
    for (int s = 0; s < N_SEQ; s++) {
        struct kv_cache *kv;
        CHECK(kv_new(m, 64, &kv, &e) == 0);
        CHECK(fwd_eval(f, kv, prompts[s], g_prompt_len[s], lg, &e) == 0);
        for (int st = 0; st < N_STEPS; st++) {
            tokens[s][st] = argmax(lg, V);
            CHECK(fwd_eval(f, kv, &tokens[s][st], 1, lg, &e) == 0);
            memcpy(ref + ((size_t)s * N_STEPS + (size_t)st) * (size_t)V, lg, sizeof(float) * (size_t)V);
        }
        kv_free(kv);
    }
    /* together: prompts one by one, then every step for all sequences at once */
    struct kv_cache *kvs[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        CHECK(kv_new(m, 64, &kvs[s], &e) == 0);
        CHECK(fwd_eval(f, kvs[s], prompts[s], g_prompt_len[s], lg, &e) == 0);
    }
    int worst_step = -1;
    double worst = 0.0;
    for (int st = 0; st < N_STEPS; st++) {
        int32_t step_tokens[N_SEQ];
        for (int s = 0; s < N_SEQ; s++)
            step_tokens[s] = tokens[s][st];
        CHECK(fwd_eval_batch(f, kvs, step_tokens, N_SEQ, lg, &e) == 0);
        for (int s = 0; s < N_SEQ; s++) {
            const float *want = ref + ((size_t)s * N_STEPS + (size_t)st) * (size_t)V;
            const float *got = lg + (size_t)s * (size_t)V;
            if (exact) {
                CHECK_MSG(memcmp(want, got, sizeof(float) * (size_t)V) == 0,
                          "%s: batched logits of sequence %d, step %d differ from alone", path, s, st);
                continue;
            }
            for (int32_t i = 0; i < V; i++) {
                double d = fabs((double)want[i] - got[i]);
                if (d > worst)
                    worst = d, worst_step = st;
            }
        }
    }
    if (!exact)
        fprintf(stderr, "%s: f32 weights, batched vs alone: max |logit diff| %.3g\n", path, worst);
    if (!exact)
        CHECK_MSG(worst < 1e-3, "%s: batched logits differ from alone by %.3g (step %d)", path,
                  worst, worst_step);
    for (int s = 0; s < N_SEQ; s++)
        CHECK(kv_len(kvs[s]) == g_prompt_len[s] + N_STEPS);

    /* errors leave the caches unchanged */
    struct kv_cache *dup[2] = {kvs[0], kvs[0]};
    int32_t two[2] = {1, 2};
    CHECK(fwd_eval_batch(f, dup, two, 2, lg, &e) == -1 && strstr(e.msg, "share") != NULL);
    int32_t bad[2] = {1, V};
    CHECK(fwd_eval_batch(f, kvs, bad, 2, lg, &e) == -1 && strstr(e.msg, "out of range") != NULL);
    CHECK(fwd_eval_batch(f, kvs, two, 0, lg, &e) == -1);
    CHECK(kv_len(kvs[0]) == g_prompt_len[0] + N_STEPS);

    for (int s = 0; s < N_SEQ; s++)
        kv_free(kvs[s]);
    free(ref);
    free(lg);
    fwd_free(f);
    check_mixed(path, m, exact);
    model_free(m);
}

/* A synthetic model of shape, checked in f32 and after quantizing to each target. */
static void check_synth(const char *shape, const char *const *targets, int n_targets)
{
    char base[256], q[256];
    snprintf(base, sizeof base, "/tmp/baton_test_forward_%d_%s.gguf", (int)getpid(), shape);
    struct synth_opts o = {0};
    o.shape = shape;
    o.fixtures = check_fixtures();
    o.type = DT_F32;
    o.seed = 11;
    o.n_threads = 2;
    struct err e;
    if (synth_write(&o, base, &e)) {
        CHECK_MSG(0, "synth %s: %s", shape, e.msg);
        return;
    }
    check_model(base, false);
    for (int i = 0; i < n_targets; i++) {
        snprintf(q, sizeof q, "/tmp/baton_test_forward_%d_%s_%s.gguf", (int)getpid(), shape,
                 targets[i]);
        CHECK(quantize_file(base, q, quantize_target_find(targets[i]), false, 2, NULL, &e) == 0);
        check_model(q, true);
        unlink(q);
    }
    unlink(base);
}

int main(void)
{
    const char *llama[] = {"Q8_0", "Q4_K_M"}, *qwen[] = {"Q4_0", "Q5_0", "Q5_1"};
    check_synth("tiny-llama", llama, 2);
    check_synth("tiny-qwen2", qwen, 3);
    check_model(check_fixture("models/stories260K.gguf"), false);
    return check_report();
}
