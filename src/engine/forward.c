/* forward: one decoder-only transformer step over T tokens (see forward.h).
 *
 * Per layer, with x the residual stream [T][n_embd]:
 *   xn  = rmsnorm(x) * attn_norm
 *   q,k,v = xn Wq^T (+bq), xn Wk^T (+bk), xn Wv^T (+bv)     (matmuls over the thread pool)
 *   rope(q), rope(k); k, v -> f16 cache rows at positions p0 .. p0+T-1
 *   a   = softmax(q k^T / sqrt(head_dim), causal) v         (per query token and head)
 *   x  += a Wo^T (+bo)
 *   xn  = rmsnorm(x) * ffn_norm
 *   x  += (silu(xn Wg^T) * (xn Wu^T)) Wd^T
 * then logits = rmsnorm(x[T-1]) * output_norm  Wout^T.
 *
 * Every matmul converts its input rows once into the weight type's dot-product type (kernels.h)
 * and splits output rows across threads; attention splits (token, head) pairs.
 */
#include "engine/forward.h"

#include "base/alloc.h"
#include "base/threadpool.h"
#include "engine/kernels.h"
#include "engine/model_impl.h"
#include "engine/quant.h"

#include <math.h>
#include <string.h>

struct forward {
    const struct model *m;
    const struct kernels *k;
    struct threadpool *tp;
    int32_t n_batch;
    /* activations, each [n_batch][width] */
    float *x, *xn, *q, *kx, *vx, *att, *gate, *up;
    float *rope_cs;    /* [n_batch][n_rot]: cos, sin pairs per token */
    void *actq;        /* converted matmul inputs */
    size_t actq_row;   /* bytes per converted row, the max over all weights */
    float *head_tmp;   /* per thread: head_dim (query) + head_dim_v (accumulator) floats */
};

/* ---------------------------------------------------------------------------------------------
 * Matmul: y[t][r] (+)= dot(W row r, x[t]) + bias[r] */

struct mm_job {
    const struct kernels *k;
    const struct weight *w;
    const float *x;    /* [T][n_in] */
    void *xq;          /* [T][xq_row] */
    size_t xq_row;
    float *y;          /* [T][y_stride] */
    int64_t y_stride;
    int64_t T;
    const float *bias;
    bool accumulate;
};

static void mm_convert(void *p, int ith, int nth)
{
    struct mm_job *j = p;
    enum dtype act = quant_vec_dot_type(j->w->type);
    long lo, hi;
    threadpool_split((long)j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        j->k->quantize_act(act, j->x + t * j->w->n_in, (char *)j->xq + (size_t)t * j->xq_row,
                           j->w->n_in);
}

static void mm_rows(void *p, int ith, int nth)
{
    struct mm_job *j = p;
    const struct weight *w = j->w;
    long lo, hi;
    threadpool_split((long)w->n_out, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const void *wr = (const char *)w->data + (size_t)r * w->row_bytes;
        float b = j->bias ? j->bias[r] : 0.0f;
        for (int64_t t = 0; t < j->T; t++) {
            float d = j->k->vec_dot(w->type, w->n_in, wr, (const char *)j->xq + (size_t)t * j->xq_row);
            if (j->bias)
                d += b;
            float *yp = j->y + t * j->y_stride + r;
            *yp = j->accumulate ? *yp + d : d;
        }
    }
}

static void matmul(struct forward *f, const struct weight *w, const float *x, int64_t T, float *y,
                   int64_t y_stride, const float *bias, bool accumulate)
{
    uint64_t row = 0;
    dtype_row_bytes(quant_vec_dot_type(w->type), (uint64_t)w->n_in, &row);
    struct mm_job j = {f->k, w, x, f->actq, (size_t)row, y, y_stride, T, bias, accumulate};
    if (T == 1)
        mm_convert(&j, 0, 1);
    else
        threadpool_run(f->tp, mm_convert, &j);
    threadpool_run(f->tp, mm_rows, &j);
}

/* ---------------------------------------------------------------------------------------------
 * Elementwise ops (scalar; cheap next to the matmuls) */

/* y = x / sqrt(mean(x^2) + eps) * w. The sum of squares is kept in double, as ggml does. */
static void rmsnorm(float *y, const float *x, const float *w, int32_t n, float eps)
{
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / n);
    float scale = 1.0f / sqrtf(mean + eps);
    for (int32_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

/* cos/sin for position pos over n_rot dims. The angle for pair i is pos * base^(-2i/n_rot),
 * computed as a running product in float (as ggml's rope cache does, so angles round alike),
 * divided by the optional per-pair frequency factor (Llama 3.1 rope_freqs) and scaled by
 * freq_scale (linear scaling). */
static void rope_cache(float *cs, int32_t pos, const struct hparams *hp, const float *freq_factors)
{
    float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int32_t i0 = 0; i0 < hp->n_rot; i0 += 2) {
        float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
        float t = hp->rope_freq_scale * (theta / ff);
        cs[i0] = cosf(t);
        cs[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

static void rope_apply(float *v, const float *cs, int32_t n_rot, enum rope_mode mode)
{
    if (mode == ROPE_NORM) {
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            float x0 = v[i0], x1 = v[i0 + 1];
            v[i0] = x0 * cs[i0] - x1 * cs[i0 + 1];
            v[i0 + 1] = x0 * cs[i0 + 1] + x1 * cs[i0];
        }
    } else {
        int32_t half = n_rot / 2;
        for (int32_t i = 0; i < half; i++) {
            float x0 = v[i], x1 = v[i + half];
            float c = cs[2 * i], s = cs[2 * i + 1];
            v[i] = x0 * c - x1 * s;
            v[i + half] = x0 * s + x1 * c;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Attention over the cache, one (token, head) pair at a time with an online softmax.
 *
 * The value accumulator is rounded to f16 after every update, because llama.cpp's CPU flash
 * attention accumulates f16 values in an f16 buffer: measured on stories260K with a 5-token
 * prompt, an f32 accumulator leaves top logits 3e-4 away from llama.cpp, this one 1e-6. */

static inline float round_f16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

struct attn_job {
    struct forward *f;
    struct kv_cache *kv;
    int32_t layer;
    int32_t p0; /* position of token 0 */
    int32_t T;
};

static void attn_worker(void *p, int ith, int nth)
{
    struct attn_job *j = p;
    const struct hparams *hp = &j->f->m->hp;
    int32_t hd = hp->head_dim, hdv = hp->head_dim_v;
    int32_t group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *qf = j->f->head_tmp + (size_t)ith * (size_t)(hd + hdv);
    float *acc = qf + hd;
    long lo, hi;
    threadpool_split((long)j->T * hp->n_head, ith, nth, &lo, &hi);
    for (long idx = lo; idx < hi; idx++) {
        int32_t t = (int32_t)(idx / hp->n_head), h = (int32_t)(idx % hp->n_head);
        int32_t hkv = h / group;
        const float *q = j->f->q + (size_t)t * (size_t)(hp->n_head * hd) + (size_t)h * (size_t)hd;
        for (int32_t i = 0; i < hd; i++) /* queries meet f16 keys in f16, as in llama.cpp */
            qf[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
        memset(acc, 0, sizeof(float) * (size_t)hdv);
        float m = -INFINITY, s = 0.0f;
        int32_t n_pos = j->p0 + t + 1; /* causal: positions 0 .. p0 + t */
        for (int32_t pos = 0; pos < n_pos; pos++) {
            const uint16_t *kr = kv_k_row(j->kv, j->layer, pos) + (size_t)hkv * (size_t)hd;
            float dot = 0.0f;
            for (int32_t i = 0; i < hd; i++)
                dot += qf[i] * fp16_to_fp32(kr[i]);
            dot *= scale;
            float ms = 1.0f, vs = 1.0f;
            if (dot > m) {
                ms = expf(m - dot);
                m = dot;
                for (int32_t i = 0; i < hdv; i++)
                    acc[i] = round_f16(acc[i] * ms);
            } else {
                vs = expf(dot - m);
            }
            const uint16_t *vr = kv_v_row(j->kv, j->layer, pos) + (size_t)hkv * (size_t)hdv;
            for (int32_t i = 0; i < hdv; i++)
                acc[i] = round_f16(acc[i] + vs * fp16_to_fp32(vr[i]));
            s = s * ms + vs;
        }
        float *out = j->f->att + (size_t)t * (size_t)(hp->n_head * hdv) + (size_t)h * (size_t)hdv;
        float inv = 1.0f / s;
        for (int32_t i = 0; i < hdv; i++)
            out[i] = acc[i] * inv;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Per-token elementwise work, split across threads by token */

struct tok_job {
    struct forward *f;
    struct kv_cache *kv;
    const struct layer *L;
    int32_t layer;
    int32_t p0;
    int32_t T;
    int stage;
};

enum { STAGE_ATTN_NORM, STAGE_ROPE_STORE, STAGE_FFN_NORM, STAGE_SWIGLU };

static void tok_worker(void *p, int ith, int nth)
{
    struct tok_job *j = p;
    struct forward *f = j->f;
    const struct hparams *hp = &f->m->hp;
    long lo, hi;
    threadpool_split(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        size_t te = (size_t)t * (size_t)hp->n_embd;
        switch (j->stage) {
        case STAGE_ATTN_NORM:
            rmsnorm(f->xn + te, f->x + te, j->L->attn_norm, hp->n_embd, hp->norm_eps);
            break;
        case STAGE_FFN_NORM:
            rmsnorm(f->xn + te, f->x + te, j->L->ffn_norm, hp->n_embd, hp->norm_eps);
            break;
        case STAGE_ROPE_STORE: {
            const float *cs = f->rope_cs + (size_t)t * (size_t)hp->n_rot;
            float *q = f->q + (size_t)t * (size_t)(hp->n_head * hp->head_dim);
            float *k = f->kx + (size_t)t * (size_t)(hp->n_head_kv * hp->head_dim);
            const float *v = f->vx + (size_t)t * (size_t)(hp->n_head_kv * hp->head_dim_v);
            for (int32_t h = 0; h < hp->n_head; h++)
                rope_apply(q + (size_t)h * (size_t)hp->head_dim, cs, hp->n_rot, hp->rope_mode);
            for (int32_t h = 0; h < hp->n_head_kv; h++)
                rope_apply(k + (size_t)h * (size_t)hp->head_dim, cs, hp->n_rot, hp->rope_mode);
            uint16_t *kr = kv_k_row(j->kv, j->layer, j->p0 + (int32_t)t);
            uint16_t *vr = kv_v_row(j->kv, j->layer, j->p0 + (int32_t)t);
            for (int32_t i = 0; i < j->kv->k_dim; i++)
                kr[i] = fp32_to_fp16(k[i]);
            for (int32_t i = 0; i < j->kv->v_dim; i++)
                vr[i] = fp32_to_fp16(v[i]);
            break;
        }
        case STAGE_SWIGLU: {
            size_t tf = (size_t)t * (size_t)hp->n_ff;
            float *g = f->gate + tf;
            const float *u = f->up + tf;
            for (int32_t i = 0; i < hp->n_ff; i++)
                g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
            break;
        }
        }
    }
}

static void run_tok(struct forward *f, struct tok_job *j, int stage)
{
    j->stage = stage;
    if (j->T == 1)
        tok_worker(j, 0, 1);
    else
        threadpool_run(f->tp, tok_worker, j);
}

/* ---------------------------------------------------------------------------------------------
 * The step */

static size_t act_row_bytes(const struct weight *w)
{
    uint64_t row = 0;
    dtype_row_bytes(quant_vec_dot_type(w->type), (uint64_t)w->n_in, &row);
    return (size_t)row;
}

struct forward *fwd_new(const struct model *m, int32_t n_batch, int32_t n_threads)
{
    const struct hparams *hp = &m->hp;
    struct forward *f = xcalloc(1, sizeof *f);
    f->m = m;
    f->k = kernels_get();
    f->tp = threadpool_new(n_threads);
    f->n_batch = n_batch < 1 ? 1 : n_batch;
    size_t B = (size_t)f->n_batch;
    f->x = xmalloc_aligned(B * (size_t)hp->n_embd * sizeof(float));
    f->xn = xmalloc_aligned(B * (size_t)hp->n_embd * sizeof(float));
    f->q = xmalloc_aligned(B * (size_t)(hp->n_head * hp->head_dim) * sizeof(float));
    f->kx = xmalloc_aligned(B * (size_t)(hp->n_head_kv * hp->head_dim) * sizeof(float));
    f->vx = xmalloc_aligned(B * (size_t)(hp->n_head_kv * hp->head_dim_v) * sizeof(float));
    f->att = xmalloc_aligned(B * (size_t)(hp->n_head * hp->head_dim_v) * sizeof(float));
    f->gate = xmalloc_aligned(B * (size_t)hp->n_ff * sizeof(float));
    f->up = xmalloc_aligned(B * (size_t)hp->n_ff * sizeof(float));
    f->rope_cs = xmalloc_aligned(B * (size_t)hp->n_rot * sizeof(float));
    size_t row = act_row_bytes(&m->output);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        const struct weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
            size_t r = act_row_bytes(ws[i]);
            if (r > row)
                row = r;
        }
    }
    f->actq_row = row;
    f->actq = xmalloc_aligned(B * row);
    f->head_tmp = xmalloc_aligned((size_t)n_threads * (size_t)(hp->head_dim + hp->head_dim_v) *
                                  sizeof(float) + 64);
    return f;
}

void fwd_free(struct forward *f)
{
    if (!f)
        return;
    threadpool_free(f->tp);
    free(f->x);
    free(f->xn);
    free(f->q);
    free(f->kx);
    free(f->vx);
    free(f->att);
    free(f->gate);
    free(f->up);
    free(f->rope_cs);
    free(f->actq);
    free(f->head_tmp);
    free(f);
}

int32_t fwd_n_threads(const struct forward *f) { return threadpool_n_threads(f->tp); }

/* Runs one chunk of T <= n_batch tokens. */
static void eval_chunk(struct forward *f, struct kv_cache *kv, const int32_t *tokens, int32_t T,
                       float *logits)
{
    const struct model *m = f->m;
    const struct hparams *hp = &m->hp;
    int32_t p0 = kv->n_used;
    for (int32_t t = 0; t < T; t++) {
        const void *row = (const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes;
        quant_dequantize_row_ref(m->tok_embd.type, row, f->x + (size_t)t * (size_t)hp->n_embd,
                                 hp->n_embd);
        rope_cache(f->rope_cs + (size_t)t * (size_t)hp->n_rot, p0 + t, hp, m->rope_freqs);
    }
    int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        struct tok_job tj = {f, kv, L, l, p0, T, 0};
        run_tok(f, &tj, STAGE_ATTN_NORM);
        matmul(f, &L->wq, f->xn, T, f->q, qd, L->bq, false);
        matmul(f, &L->wk, f->xn, T, f->kx, kd, L->bk, false);
        matmul(f, &L->wv, f->xn, T, f->vx, vd, L->bv, false);
        run_tok(f, &tj, STAGE_ROPE_STORE);
        struct attn_job aj = {f, kv, l, p0, T};
        threadpool_run(f->tp, attn_worker, &aj);
        matmul(f, &L->wo, f->att, T, f->x, hp->n_embd, L->bo, true);
        run_tok(f, &tj, STAGE_FFN_NORM);
        matmul(f, &L->w_gate, f->xn, T, f->gate, hp->n_ff, NULL, false);
        matmul(f, &L->w_up, f->xn, T, f->up, hp->n_ff, NULL, false);
        run_tok(f, &tj, STAGE_SWIGLU);
        matmul(f, &L->w_down, f->gate, T, f->x, hp->n_embd, NULL, true);
    }
    kv->n_used = p0 + T;
    if (logits) {
        float *last = f->x + (size_t)(T - 1) * (size_t)hp->n_embd;
        rmsnorm(f->xn, last, m->output_norm, hp->n_embd, hp->norm_eps);
        matmul(f, &m->output, f->xn, 1, logits, hp->n_vocab, NULL, false);
    }
}

int fwd_eval(struct forward *f, struct kv_cache *kv, const int32_t *tokens, int32_t n,
             float *logits, struct err *e)
{
    const struct hparams *hp = &f->m->hp;
    if (n <= 0)
        return err_set(e, "no tokens to evaluate");
    if (n > kv->n_ctx - kv->n_used)
        return err_set(e, "context full: %d tokens in the cache + %d new > context size %d",
                       kv->n_used, n, kv->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return err_set(e, "token id %d at position %d is out of range (vocabulary %d)",
                           tokens[i], i, hp->n_vocab);
    for (int32_t done = 0; done < n;) {
        int32_t T = n - done < f->n_batch ? n - done : f->n_batch;
        bool last = done + T == n;
        eval_chunk(f, kv, tokens + done, T, last ? logits : NULL);
        done += T;
    }
    return 0;
}
