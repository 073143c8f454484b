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
#include "base/clock.h"
#include "base/threadpool.h"
#include "engine/kernels.h"
#include "engine/model_impl.h"
#include "engine/quant.h"

#include <math.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct step_seg {
    struct kv_cache *kv;
    int32_t t0, T, p0;
    bool logits; /* the segment's last token's logits are wanted */
};

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
    int32_t *asum;     /* per conversion: [n_batch][asum_row] q8_0 block sums */
    size_t asum_row;   /* the max over all weights of n_in / 32 */
    uint16_t *attn_q16;    /* per thread: head_dim (the f16 query) */
    float *attn_scores;    /* per thread: attn_scores_cap floats (scores, or an f32 row) */
    size_t attn_scores_cap;
    float *k32, *v32;      /* tiled attention: the layer's keys / values in f32 */
    /* per token of the step: its sequence's cache and its position there (one sequence for a
     * prompt chunk; one token of each of several sequences for a batched decoding step) */
    struct kv_cache **tkv;
    int32_t *tpos;
    /* the step's sequences: tokens [t0, t0 + T) of the step belong to kv at positions p0 ..;
     * rows_t: the tokens whose attention runs row by row (those of segments too short to tile) */
    struct step_seg *segs;
    int32_t n_segs;
    int32_t *step_tokens; /* [n_batch]: the step's tokens, in segment order */
    struct mm_share *mm_share; /* [n_threads]: the matmul's shares of rows */
    /* fwd_profile: time and weight bytes per part of the step, while profiling is on */
    bool profiling;
    struct fwd_profile_row prof[FWD_PROFILE_MAX];
    int n_prof;
    int32_t *rows_t;
    int32_t n_rows_t;
};

/* ---------------------------------------------------------------------------------------------
 * Matmuls. One parallel region computes up to three matrices that read the same input (q, k
 * and v; or gate and up, followed by SwiGLU), splitting their concatenated rows across the
 * threads: fewer regions per token is fewer synchronisations, which is what decoding small
 * models is made of. y[t][r] (+)= dot(W row r, x[t]) + bias[r].
 *
 * Inputs are converted once per distinct dot-product type (kernels.h). Rows go through the
 * kernel table's tile function: 16 rows x 1 token when decoding (16 independent accumulations
 * in flight), 4 rows x 4 tokens otherwise (each weight block unpacked serves 4 tokens). */

#define MM_MAX_PARTS 3
#define MM_ROW_UNIT 16 /* rows per unit of work split among threads */
#define MM_CHUNKS 8    /* chunks per thread's share of a matmul */

struct mm_part {
    const struct weight *w;
    float *y;           /* [T][y_stride] */
    int64_t y_stride;
    const float *bias;
    bool accumulate;
    const void *xq;     /* the input in this weight's dot type: [T][xq_row] */
    size_t xq_row;
    const int32_t *asum; /* q8_0 inputs: per token, the blocks' quant sums (packed tiles) */
    size_t asum_row;
    int act;             /* which of the job's conversions is this part's input */
};

struct mm_job {
    const struct kernels *k;
    const float *x;     /* [T][n_in] */
    int64_t n_in;
    int64_t T;
    struct mm_part parts[MM_MAX_PARTS];
    int n_parts;
    int64_t total_rows;
    /* conversions to run: distinct dot types and where they go */
    enum dtype act[MM_MAX_PARTS];
    void *act_buf[MM_MAX_PARTS];
    size_t act_row[MM_MAX_PARTS];
    int32_t *act_sums[MM_MAX_PARTS]; /* q8_0 conversions that packed weights read: block sums */
    int n_act;
    /* gate/up fusion: parts 0 and 1 share rows; swiglu is applied to the rows computed */
    bool swiglu;
    struct mm_share *share; /* per thread: its share of the units of rows */
    long chunk;             /* units are taken this many at a time */
};

/* Thread i's share of a matmul's units: [next, end), taken from the front in chunks by its
 * owner first and then by any thread left without work. One per cache line, so an owner's
 * fetch-adds stay in its own cache until another thread comes to help. */
struct mm_share {
    alignas(64) _Atomic long next;
    long end;
};

static void mm_convert(void *p, int ith, int nth)
{
    struct mm_job *j = p;
    long lo, hi;
    threadpool_split((long)j->T, ith, nth, &lo, &hi);
    for (int a = 0; a < j->n_act; a++)
        for (long t = lo; t < hi; t++) {
            void *row = (char *)j->act_buf[a] + (size_t)t * j->act_row[a];
            j->k->quantize_act(j->act[a], j->x + t * j->n_in, row, j->n_in);
            if (j->act_sums[a])
                kernels_q8_0_sums(row, j->n_in / 32, j->act_sums[a] + t * (j->n_in / 32));
        }
}

/* y[i] (+)= d[i] (+ bias[i]) for i < n, the conditions hoisted so the loops vectorize. */
static inline void mm_store(float *restrict y, const float *restrict d, const float *restrict bias,
                            bool accumulate, int64_t n)
{
    if (bias && accumulate)
        for (int64_t i = 0; i < n; i++)
            y[i] += d[i] + bias[i];
    else if (bias)
        for (int64_t i = 0; i < n; i++)
            y[i] = d[i] + bias[i];
    else if (accumulate)
        for (int64_t i = 0; i < n; i++)
            y[i] += d[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = d[i];
}

/* Rows [r0, r1) of a part with packed weights, all tokens: whole groups of KERNELS_PACK_ROWS
 * rows against up to KERNELS_PACK_COLS tokens at a time; only rows in [r0, r1) are written.
 * Tokens go in blocks of about MM_ACT_BLOCK_BYTES of quantized activations, every row group of
 * the range against one block before the next: the block stays in L2 while the groups pass
 * (all 512 tokens of a prompt against K = 2048 are 1.2 MB of q8_K, more than a core's L2), and
 * the range's weights, read again per block, come from L2/L3. 256 KB measured 2-5% faster
 * prompts than no blocking on Llama-3.2-1B (pp512 232-239 against 226-233 tok/s, alternating),
 * 128 KB slower, 512 KB no better; qwen2.5-0.5b unchanged. Blocks are whole tiles, so every
 * tile, and every result, is the same as without blocking. */
#define MM_ACT_BLOCK_BYTES ((size_t)256 << 10)

static void mm_packed_rows(const struct mm_job *j, const struct mm_part *pt, int64_t r0, int64_t r1)
{
    const struct weight *w = pt->w;
    float tile[KERNELS_PACK_COLS * KERNELS_PACK_ROWS];
    int64_t tb = (int64_t)(MM_ACT_BLOCK_BYTES / pt->xq_row) / KERNELS_PACK_COLS * KERNELS_PACK_COLS;
    if (tb < KERNELS_PACK_COLS)
        tb = KERNELS_PACK_COLS;
    for (int64_t t0 = 0; t0 < j->T; t0 += tb) {
        int64_t t1 = t0 + tb < j->T ? t0 + tb : j->T;
        for (int64_t g = r0 / KERNELS_PACK_ROWS; g * KERNELS_PACK_ROWS < r1; g++) {
            int64_t g0 = g * KERNELS_PACK_ROWS;
            int64_t lo = r0 > g0 ? r0 : g0;
            int64_t hi = g0 + KERNELS_PACK_ROWS < r1 ? g0 + KERNELS_PACK_ROWS : r1;
            const void *pw = (const char *)w->packed + (size_t)g * w->packed_group;
            for (int64_t t = t0; t < t1; t += KERNELS_PACK_COLS) {
                int nc = t1 - t < KERNELS_PACK_COLS ? (int)(t1 - t) : KERNELS_PACK_COLS;
                j->k->packed_tile(w->type, w->n_in, pw,
                                  (const char *)pt->xq + (size_t)t * pt->xq_row, pt->xq_row,
                                  pt->asum ? pt->asum + (size_t)t * pt->asum_row : NULL,
                                  pt->asum_row, nc, tile);
                for (int c = 0; c < nc; c++)
                    mm_store(pt->y + (t + c) * pt->y_stride + lo,
                             tile + c * KERNELS_PACK_ROWS + (lo - g0),
                             pt->bias ? pt->bias + lo : NULL, pt->accumulate, hi - lo);
            }
        }
    }
}

/* Rows [r0, r1) of one part, all tokens. */
static void mm_part_rows(const struct mm_job *j, const struct mm_part *pt, int64_t r0, int64_t r1)
{
    const struct weight *w = pt->w;
    if (w->packed) {
        mm_packed_rows(j, pt, r0, r1);
        return;
    }
    const int tr = j->T == 1 ? 16 : 4, tc = j->T == 1 ? 1 : 4;
    float tile[16];
    for (int64_t r = r0; r < r1; r += tr) {
        int nr = r1 - r < tr ? (int)(r1 - r) : tr;
        const void *wr = (const char *)w->data + (size_t)r * w->row_bytes;
        for (int64_t t = 0; t < j->T; t += tc) {
            int nc = j->T - t < tc ? (int)(j->T - t) : tc;
            const void *xr = (const char *)pt->xq + (size_t)t * pt->xq_row;
            if (nr == 1 && nc == 1)
                tile[0] = j->k->vec_dot(w->type, w->n_in, wr, xr);
            else
                j->k->vec_dot_tile(w->type, w->n_in, wr, w->row_bytes, nr, xr, pt->xq_row, nc,
                                   tile, (size_t)tr);
            for (int c = 0; c < nc; c++)
                for (int i = 0; i < nr; i++) {
                    float d = tile[c * tr + i] + (pt->bias ? pt->bias[r + i] : 0.0f);
                    float *yp = pt->y + (t + c) * pt->y_stride + r + i;
                    *yp = pt->accumulate ? *yp + d : d;
                }
        }
    }
}

/* Rows [r0, r1) of the job: every part's share of them (or gate and up, then SwiGLU). */
static void mm_range(struct mm_job *j, int64_t r0, int64_t r1)
{
    if (j->swiglu) {
        mm_part_rows(j, &j->parts[0], r0, r1);
        mm_part_rows(j, &j->parts[1], r0, r1);
        float e[64]; /* silu(g) * u = g / (1 + exp(-g)) * u, exp by the kernel table */
        for (int64_t t = 0; t < j->T; t++) {
            float *g = j->parts[0].y + t * j->parts[0].y_stride;
            const float *u = j->parts[1].y + t * j->parts[1].y_stride;
            for (int64_t r = r0; r < r1; r += 64) {
                int64_t n = r1 - r < 64 ? r1 - r : 64;
                for (int64_t i = 0; i < n; i++)
                    e[i] = -g[r + i];
                j->k->f32_exp(n, e, e);
                for (int64_t i = 0; i < n; i++)
                    g[r + i] = g[r + i] / (1.0f + e[i]) * u[r + i];
            }
        }
        return;
    }
    int64_t base = 0;
    for (int p_i = 0; p_i < j->n_parts; p_i++) {
        const struct mm_part *pt = &j->parts[p_i];
        int64_t lo_r = r0 > base ? r0 - base : 0, hi_r = r1 - base;
        if (hi_r > pt->w->n_out)
            hi_r = pt->w->n_out;
        if (lo_r < hi_r)
            mm_part_rows(j, pt, lo_r, hi_r);
        base += pt->w->n_out;
    }
}

/* Chunks of units [lo, hi) of share sh until it is empty. */
static void mm_drain(struct mm_job *j, struct mm_share *sh, int64_t rows)
{
    for (;;) {
        long lo = atomic_fetch_add_explicit(&sh->next, j->chunk, memory_order_relaxed);
        if (lo >= sh->end)
            return;
        long hi = lo + j->chunk < sh->end ? lo + j->chunk : sh->end;
        int64_t r0 = lo * MM_ROW_UNIT, r1 = hi * MM_ROW_UNIT < rows ? hi * MM_ROW_UNIT : rows;
        mm_range(j, r0, r1);
    }
}

/* Each thread works through its own contiguous share of the rows (whole units, so threads
 * never share a tile), then helps with what is left of the others': a thread slowed down by
 * the machine (another process, a page fault) leaves its last chunks to the others instead of
 * making them wait at the region's end. Which thread computes a row changes nothing in it. */
static void mm_rows(void *p, int ith, int nth)
{
    struct mm_job *j = p;
    int64_t rows = j->swiglu ? j->parts[0].w->n_out : j->total_rows;
    for (int i = 0; i < nth; i++)
        mm_drain(j, &j->share[(ith + i) % nth], rows);
}

static size_t act_row_bytes(const struct weight *w)
{
    uint64_t row = 0;
    dtype_row_bytes(quant_vec_dot_type(w->type), (uint64_t)w->n_in, &row);
    return (size_t)row;
}

/* ---------------------------------------------------------------------------------------------
 * Profiling (fwd_profile): seconds, and weight bytes read, per kind of work */

/* Bytes of w a matmul reads: its packed copy if it has one. */
static double weight_bytes(const struct weight *w)
{
    if (w->packed)
        return (double)((w->n_out + KERNELS_PACK_ROWS - 1) / KERNELS_PACK_ROWS) * (double)w->packed_group;
    return (double)w->n_out * (double)w->row_bytes;
}

/* Adds dt seconds and bytes to the row named what (and type, if a weight's; -1 if not). */
static void prof_add(struct forward *f, const char *what, int type, double dt, double bytes)
{
    int i = 0;
    while (i < f->n_prof && !(f->prof[i].type == type && strcmp(f->prof[i].what, what) == 0))
        i++;
    if (i == f->n_prof) {
        if (f->n_prof == FWD_PROFILE_MAX)
            return;
        f->prof[f->n_prof++] = (struct fwd_profile_row){.what = what, .type = type};
    }
    f->prof[i].seconds += dt;
    f->prof[i].bytes += bytes;
    f->prof[i].calls++;
}

/* Runs the parts (same input x of T rows) in one region (plus one for the input conversion
 * when T > 1). */
static void matmul_parts(struct forward *f, const char *what, const float *x, int64_t T,
                         struct mm_part *parts, int n_parts, bool swiglu)
{
    double t0 = f->profiling ? clock_now_s() : 0;
    struct mm_job j = {0};
    j.k = f->k;
    j.x = x;
    j.n_in = parts[0].w->n_in;
    j.T = T;
    j.n_parts = n_parts;
    j.swiglu = swiglu;
    char *buf = f->actq;
    for (int i = 0; i < n_parts; i++) {
        j.parts[i] = parts[i];
        j.total_rows += parts[i].w->n_out;
        enum dtype act = quant_vec_dot_type(parts[i].w->type);
        int a = 0;
        while (a < j.n_act && j.act[a] != act)
            a++;
        if (a == j.n_act) {
            j.act[a] = act;
            j.act_buf[a] = buf;
            j.act_row[a] = act_row_bytes(parts[i].w);
            buf += (size_t)T * j.act_row[a];
            j.n_act++;
        }
        /* block sums only where packed weights read them */
        if (act == DT_Q8_0 && parts[i].w->packed && !j.act_sums[a])
            j.act_sums[a] = f->asum + (size_t)a * (size_t)f->n_batch * f->asum_row;
        j.parts[i].xq = j.act_buf[a];
        j.parts[i].xq_row = j.act_row[a];
        j.parts[i].act = a;
        j.parts[i].asum_row = (size_t)(j.n_in / 32);
    }
    for (int i = 0; i < n_parts; i++) /* a later part may have asked for its input's sums */
        j.parts[i].asum = j.act_sums[j.parts[i].act];
    if (T == 1)
        mm_convert(&j, 0, 1);
    else
        threadpool_run(f->tp, mm_convert, &j);
    int nth = threadpool_n_threads(f->tp);
    int64_t rows = swiglu ? parts[0].w->n_out : j.total_rows;
    long n_units = (long)((rows + MM_ROW_UNIT - 1) / MM_ROW_UNIT);
    j.share = f->mm_share;
    for (int i = 0; i < nth; i++) {
        long lo, hi;
        threadpool_split(n_units, i, nth, &lo, &hi);
        atomic_store_explicit(&j.share[i].next, lo, memory_order_relaxed);
        j.share[i].end = hi;
    }
    j.chunk = n_units / ((long)nth * MM_CHUNKS); /* MM_CHUNKS chunks per share */
    if (j.chunk < 1)
        j.chunk = 1;
    threadpool_run(f->tp, mm_rows, &j);
    if (f->profiling) {
        double bytes = 0;
        for (int i = 0; i < n_parts; i++)
            bytes += weight_bytes(parts[i].w);
        prof_add(f, what, (int)parts[0].w->type, clock_now_s() - t0, bytes);
    }
}

static void matmul(struct forward *f, const char *what, const struct weight *w, const float *x,
                   int64_t T, float *y, int64_t y_stride, const float *bias, bool accumulate)
{
    struct mm_part p = {w, y, y_stride, bias, accumulate, NULL, 0, NULL, 0, 0};
    matmul_parts(f, what, x, T, &p, 1, false);
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
 * Attention over the cache, in llama.cpp's two CPU regimes (ggml's flash attention):
 *
 * - fewer than ATTN_TILE_Q query tokens (decoding, short prompts): one (token, head) row at a
 *   time with an online softmax; the query is rounded to f16 to meet the f16 keys, and the
 *   weighted values accumulate in an f16 buffer rounded after every update (fma, then round),
 *   as ggml_vec_mad_f16 / ggml_vec_scale_f16 do. Measured on stories260K with a 5-token prompt:
 *   an f32 accumulator leaves the top logits 3e-4 away from llama.cpp, this one 1e-6.
 * - ATTN_TILE_Q or more query tokens (prompt processing): ggml's tiled path, all in f32: the
 *   query as computed, keys and values converted from f16 once per layer, an exact softmax per
 *   row. Work is split per (head, block of queries), round robin, so the causal triangle's
 *   uneven rows spread over the threads.
 */

#define ATTN_TILE_Q 64  /* ggml's GGML_FA_TILE_Q: from this many queries llama.cpp tiles */
#define ATTN_Q_BLOCK 16 /* queries per work unit in the tiled regime */

struct attn_job {
    struct forward *f;
    struct kv_cache *kv; /* tiled regime: the segment's cache, its first token t0 of the step */
    int32_t layer;
    int32_t p0; /* tiled regime: position of token t0 */
    int32_t t0;
    int32_t T;  /* tiled regime: the segment's tokens; rows regime: f->n_rows_t */
};

static void attn_rows_worker(void *p, int ith, int nth)
{
    struct attn_job *j = p;
    struct forward *f = j->f;
    const struct kernels *k = f->k;
    const struct hparams *hp = &f->m->hp;
    int32_t hd = hp->head_dim, hdv = hp->head_dim_v;
    int32_t group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    uint16_t *q16 = f->attn_q16 + (size_t)ith * (size_t)hd;
    long n_rows = (long)j->T * hp->n_head;
    for (long idx = ith; idx < n_rows; idx += nth) {
        int32_t t = f->rows_t[idx / hp->n_head], h = (int32_t)(idx % hp->n_head);
        int32_t hkv = h / group;
        const float *q = f->q + (size_t)t * (size_t)(hp->n_head * hd) + (size_t)h * (size_t)hd;
        k->quantize_act(DT_F16, q, q16, hd);
        struct kv_cache *kv = f->tkv[t];
        float *out = f->att + (size_t)t * (size_t)(hp->n_head * hdv) + (size_t)h * (size_t)hdv;
        /* causal: positions 0 .. the token's own */
        k->attn_f16_row(hd, hdv, f->tpos[t] + 1, kv_k_row(kv, j->layer, 0) + (size_t)hkv * (size_t)hd,
                        (size_t)kv->k_dim, kv_v_row(kv, j->layer, 0) + (size_t)hkv * (size_t)hdv,
                        (size_t)kv->v_dim, q16, scale, out);
    }
}

/* Tiled regime, phase 1: the layer's keys and values for positions [0, n_pos) in f32. */
static void attn_convert_worker(void *p, int ith, int nth)
{
    struct attn_job *j = p;
    struct forward *f = j->f;
    int32_t n_pos = j->p0 + j->T;
    long lo, hi;
    threadpool_split(n_pos, ith, nth, &lo, &hi);
    for (long pos = lo; pos < hi; pos++) {
        f->k->f16_to_f32(j->kv->k_dim, f->k32 + (size_t)pos * (size_t)j->kv->k_dim,
                         kv_k_row(j->kv, j->layer, (int32_t)pos));
        f->k->f16_to_f32(j->kv->v_dim, f->v32 + (size_t)pos * (size_t)j->kv->v_dim,
                         kv_v_row(j->kv, j->layer, (int32_t)pos));
    }
}

/* Tiled regime, phase 2: per (head, block of queries), exact softmax rows in f32. */
static void attn_tiled_worker(void *p, int ith, int nth)
{
    struct attn_job *j = p;
    struct forward *f = j->f;
    const struct kernels *k = f->k;
    const struct hparams *hp = &f->m->hp;
    int32_t hd = hp->head_dim, hdv = hp->head_dim_v;
    int32_t group = hp->n_head / hp->n_head_kv;
    int32_t k_dim = j->kv->k_dim, v_dim = j->kv->v_dim;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = f->attn_scores + (size_t)ith * f->attn_scores_cap;
    long n_blocks = (j->T + ATTN_Q_BLOCK - 1) / ATTN_Q_BLOCK;
    long n_units = n_blocks * hp->n_head;
    for (long u = ith; u < n_units; u += nth) {
        int32_t h = (int32_t)(u % hp->n_head), blk = (int32_t)(u / hp->n_head);
        int32_t hkv = h / group;
        int32_t t_end = (blk + 1) * ATTN_Q_BLOCK < j->T ? (blk + 1) * ATTN_Q_BLOCK : j->T;
        for (int32_t t = blk * ATTN_Q_BLOCK; t < t_end; t++) {
            const size_t ts = (size_t)(j->t0 + t); /* the token's row in the step */
            const float *q = f->q + ts * (size_t)(hp->n_head * hd) + (size_t)h * (size_t)hd;
            int32_t n_pos = j->p0 + t + 1;
            k->f32_dots(hd, n_pos, f->k32 + (size_t)hkv * (size_t)hd, (size_t)k_dim, q, sc);
            float sum = k->f32_softmax(n_pos, sc, scale);
            float *out = f->att + ts * (size_t)(hp->n_head * hdv) + (size_t)h * (size_t)hdv;
            k->f32_combine(hdv, n_pos, f->v32 + (size_t)hkv * (size_t)hdv, (size_t)v_dim, sc, out);
            float inv = 1.0f / sum;
            for (int32_t i = 0; i < hdv; i++)
                out[i] *= inv;
        }
    }
}

/* Grows the per-thread score rows and the f32 key/value copies to hold n_pos positions. */
static void attn_reserve(struct forward *f, const struct kv_cache *kv, int32_t n_pos)
{
    int32_t need = n_pos > f->m->hp.head_dim_v ? n_pos : f->m->hp.head_dim_v;
    if ((size_t)need <= f->attn_scores_cap)
        return;
    size_t cap = (size_t)need + 256;
    int nth = threadpool_n_threads(f->tp);
    free(f->attn_scores);
    free(f->k32);
    free(f->v32);
    f->attn_scores = xmalloc_aligned((size_t)nth * cap * sizeof(float));
    f->k32 = xmalloc_aligned(cap * (size_t)kv->k_dim * sizeof(float));
    f->v32 = xmalloc_aligned(cap * (size_t)kv->v_dim * sizeof(float));
    f->attn_scores_cap = cap;
}

/* Every token of the step attends to its own cache up to its own position (its keys and values
 * are already stored). A segment of ATTN_TILE_Q or more tokens takes the tiled regime, as it
 * would alone; every other token goes row by row (f->rows_t), so a token's result does not
 * depend on what else shares the step. n_pos: the longest causal span of the step. */
static void attention(struct forward *f, int32_t layer, int32_t n_pos)
{
    double t0 = f->profiling ? clock_now_s() : 0;
    attn_reserve(f, f->tkv[0], n_pos);
    if (f->n_rows_t > 0) {
        struct attn_job aj = {f, NULL, layer, 0, 0, f->n_rows_t};
        threadpool_run(f->tp, attn_rows_worker, &aj);
    }
    for (int32_t i = 0; i < f->n_segs; i++) {
        const struct step_seg *sg = &f->segs[i];
        if (sg->T < ATTN_TILE_Q)
            continue;
        struct attn_job aj = {f, sg->kv, layer, sg->p0, sg->t0, sg->T};
        threadpool_run(f->tp, attn_convert_worker, &aj);
        threadpool_run(f->tp, attn_tiled_worker, &aj);
    }
    if (f->profiling)
        prof_add(f, "attention", -1, clock_now_s() - t0, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Per-token elementwise work, split across threads by token */

struct tok_job {
    struct forward *f;
    const struct layer *L;
    int32_t layer;
    int32_t T;
    int stage;
};

enum { STAGE_ATTN_NORM, STAGE_ROPE_STORE, STAGE_FFN_NORM };

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
            struct kv_cache *kv = f->tkv[t];
            uint16_t *kr = kv_k_row(kv, j->layer, f->tpos[t]);
            uint16_t *vr = kv_v_row(kv, j->layer, f->tpos[t]);
            f->k->quantize_act(DT_F16, k, kr, kv->k_dim); /* byte-identical to fp32_to_fp16 */
            f->k->quantize_act(DT_F16, v, vr, kv->v_dim);
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

struct forward *fwd_new(const struct model *m, int32_t n_batch, int32_t n_threads)
{
    const struct hparams *hp = &m->hp;
    struct forward *f = xcalloc(1, sizeof *f);
    f->m = m;
    f->k = kernels_get();
    f->tp = threadpool_new(n_threads);
    f->mm_share = xmalloc_aligned((size_t)threadpool_n_threads(f->tp) * sizeof *f->mm_share);
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
    f->tkv = xcalloc(B, sizeof *f->tkv);
    f->tpos = xcalloc(B, sizeof *f->tpos);
    f->segs = xcalloc(B, sizeof *f->segs);
    f->step_tokens = xcalloc(B, sizeof *f->step_tokens);
    f->rows_t = xcalloc(B, sizeof *f->rows_t);
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
    f->asum_row = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd) / 32 + 1;
    if ((size_t)(hp->n_head * hp->head_dim_v) / 32 + 1 > f->asum_row)
        f->asum_row = (size_t)(hp->n_head * hp->head_dim_v) / 32 + 1;
    f->asum = xmalloc_aligned(MM_MAX_PARTS * B * f->asum_row * sizeof(int32_t));
    f->actq = xmalloc_aligned(MM_MAX_PARTS * B * row); /* up to one conversion per part */
    f->attn_q16 = xmalloc_aligned((size_t)n_threads * (size_t)hp->head_dim * sizeof(uint16_t) + 64);
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
    free(f->tkv);
    free(f->tpos);
    free(f->segs);
    free(f->step_tokens);
    free(f->mm_share);
    free(f->rows_t);
    free(f->actq);
    free(f->asum);
    free(f->attn_q16);
    free(f->attn_scores);
    free(f->k32);
    free(f->v32);
    free(f);
}

int32_t fwd_n_threads(const struct forward *f) { return threadpool_n_threads(f->tp); }

/* Runs one step over the f->n_segs segments of f->segs (T <= n_batch tokens in all, tokens in
 * step order): fills f->tkv, f->tpos, f->rows_t from them, runs the model, advances each cache,
 * and writes the last token's logits of segment i at logits + i * n_vocab where it asks for
 * them (logits non-NULL). */
static void eval_step_run(struct forward *f, const int32_t *tokens, int32_t T, float *logits);

static void eval_step(struct forward *f, const int32_t *tokens, int32_t T, float *logits)
{
    if (!f->profiling) {
        eval_step_run(f, tokens, T, logits);
        return;
    }
    double t0 = clock_now_s();
    eval_step_run(f, tokens, T, logits);
    prof_add(f, "step", -1, clock_now_s() - t0, 0);
}

static void eval_step_run(struct forward *f, const int32_t *tokens, int32_t T, float *logits)
{
    const struct model *m = f->m;
    const struct hparams *hp = &m->hp;
    int32_t n_pos = 0;
    f->n_rows_t = 0;
    for (int32_t i = 0; i < f->n_segs; i++) {
        const struct step_seg *sg = &f->segs[i];
        for (int32_t t = sg->t0; t < sg->t0 + sg->T; t++) {
            f->tkv[t] = sg->kv;
            f->tpos[t] = sg->p0 + (t - sg->t0);
            if (sg->T < ATTN_TILE_Q)
                f->rows_t[f->n_rows_t++] = t;
        }
        n_pos = sg->p0 + sg->T > n_pos ? sg->p0 + sg->T : n_pos;
    }
    for (int32_t t = 0; t < T; t++) {
        const void *row = (const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes;
        quant_dequantize_row_ref(m->tok_embd.type, row, f->x + (size_t)t * (size_t)hp->n_embd,
                                 hp->n_embd);
        rope_cache(f->rope_cs + (size_t)t * (size_t)hp->n_rot, f->tpos[t], hp, m->rope_freqs);
    }
    int64_t qd = (int64_t)hp->n_head * hp->head_dim, kd = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        struct tok_job tj = {f, L, l, T, 0};
        run_tok(f, &tj, STAGE_ATTN_NORM);
        struct mm_part qkv[3] = {{&L->wq, f->q, qd, L->bq, false, NULL, 0, NULL, 0, 0},
                                 {&L->wk, f->kx, kd, L->bk, false, NULL, 0, NULL, 0, 0},
                                 {&L->wv, f->vx, vd, L->bv, false, NULL, 0, NULL, 0, 0}};
        matmul_parts(f, "attn_qkv", f->xn, T, qkv, 3, false);
        run_tok(f, &tj, STAGE_ROPE_STORE);
        attention(f, l, n_pos);
        matmul(f, "attn_output", &L->wo, f->att, T, f->x, hp->n_embd, L->bo, true);
        run_tok(f, &tj, STAGE_FFN_NORM);
        struct mm_part gu[2] = {{&L->w_gate, f->gate, hp->n_ff, NULL, false, NULL, 0, NULL, 0, 0},
                                {&L->w_up, f->up, hp->n_ff, NULL, false, NULL, 0, NULL, 0, 0}};
        matmul_parts(f, "ffn_gate_up", f->xn, T, gu, 2, true); /* silu(gate) * up, in the same region */
        matmul(f, "ffn_down", &L->w_down, f->gate, T, f->x, hp->n_embd, NULL, true);
    }
    for (int32_t i = 0; i < f->n_segs; i++)
        f->segs[i].kv->n_used = f->segs[i].p0 + f->segs[i].T;
    if (!logits)
        return;
    /* the LM head only for the rows asked for, computed into the first rows of logits and then
     * moved to their segments' rows (seg_of[r] >= r: from the last, nothing unmoved is
     * overwritten). rows_t is free again: it holds the segment of each row. */
    int32_t n_out = 0, *seg_of = f->rows_t;
    for (int32_t i = 0; i < f->n_segs; i++) {
        const struct step_seg *sg = &f->segs[i];
        if (!sg->logits)
            continue;
        rmsnorm(f->xn + (size_t)n_out * (size_t)hp->n_embd,
                f->x + (size_t)(sg->t0 + sg->T - 1) * (size_t)hp->n_embd, m->output_norm,
                hp->n_embd, hp->norm_eps);
        seg_of[n_out++] = i;
    }
    if (n_out == 0)
        return;
    matmul(f, "output", &m->output, f->xn, n_out, logits, hp->n_vocab, NULL, false);
    const size_t nv = (size_t)hp->n_vocab;
    for (int32_t r = n_out - 1; r >= 0; r--)
        if (seg_of[r] != r)
            memmove(logits + (size_t)seg_of[r] * nv, logits + (size_t)r * nv, nv * sizeof *logits);
}

/* Checks one segment's tokens and room; e names the sequence by index when n_seqs > 1. */
static int check_seq(const struct forward *f, const struct fwd_seq *sq, int32_t i, int32_t n_seqs,
                     struct err *e)
{
    const struct hparams *hp = &f->m->hp;
    char who[48] = "";
    if (n_seqs > 1)
        snprintf(who, sizeof who, " of sequence %d", i);
    if (sq->n_tokens <= 0)
        return err_set(e, "no tokens to evaluate%s", who);
    if (sq->n_tokens > sq->kv->n_ctx - sq->kv->n_used)
        return err_set(e, "context full%s: %d tokens in the cache + %d new > context size %d", who,
                       sq->kv->n_used, sq->n_tokens, sq->kv->n_ctx);
    for (int32_t t = 0; t < sq->n_tokens; t++)
        if (sq->tokens[t] < 0 || sq->tokens[t] >= hp->n_vocab)
            return err_set(e, "token id %d at position %d%s is out of range (vocabulary %d)",
                           sq->tokens[t], t, who, hp->n_vocab);
    return 0;
}

int fwd_eval(struct forward *f, struct kv_cache *kv, const int32_t *tokens, int32_t n,
             float *logits, struct err *e)
{
    struct fwd_seq sq = {kv, tokens, n, logits != NULL};
    if (check_seq(f, &sq, 0, 1, e))
        return -1;
    for (int32_t done = 0; done < n;) {
        int32_t T = n - done < f->n_batch ? n - done : f->n_batch;
        bool last = done + T == n;
        f->segs[0] = (struct step_seg){kv, 0, T, kv->n_used, last && logits};
        f->n_segs = 1;
        eval_step(f, tokens + done, T, last ? logits : NULL);
        done += T;
    }
    return 0;
}

int fwd_eval_seqs(struct forward *f, const struct fwd_seq *seqs, int32_t n_seqs, float *logits,
                  struct err *e)
{
    if (n_seqs <= 0 || n_seqs > f->n_batch)
        return err_set(e, "a step of %d sequences: must be 1 .. %d", n_seqs, f->n_batch);
    int32_t T = 0;
    for (int32_t i = 0; i < n_seqs; i++) {
        if (check_seq(f, &seqs[i], i, n_seqs, e))
            return -1;
        for (int32_t k = 0; k < i; k++)
            if (seqs[k].kv == seqs[i].kv)
                return err_set(e, "sequences %d and %d share a cache", k, i);
        T += seqs[i].n_tokens;
        if (T > f->n_batch)
            return err_set(e, "a step of more than %d tokens (sequences 0 .. %d)", f->n_batch, i);
    }
    int32_t *tokens = f->step_tokens;
    for (int32_t i = 0, t0 = 0; i < n_seqs; t0 += seqs[i].n_tokens, i++) {
        f->segs[i] = (struct step_seg){seqs[i].kv, t0, seqs[i].n_tokens, seqs[i].kv->n_used,
                                       seqs[i].logits && logits};
        memcpy(tokens + t0, seqs[i].tokens, sizeof *tokens * (size_t)seqs[i].n_tokens);
    }
    f->n_segs = n_seqs;
    eval_step(f, tokens, T, logits);
    return 0;
}

int fwd_eval_batch(struct forward *f, struct kv_cache *const *kvs, const int32_t *tokens,
                   int32_t n, float *logits, struct err *e)
{
    if (n <= 0 || n > f->n_batch)
        return err_set(e, "batched step of %d sequences: must be 1 .. %d", n, f->n_batch);
    struct fwd_seq *seqs = xcalloc((size_t)n, sizeof *seqs);
    for (int32_t i = 0; i < n; i++)
        seqs[i] = (struct fwd_seq){kvs[i], tokens + i, 1, true};
    int rc = fwd_eval_seqs(f, seqs, n, logits, e);
    free(seqs);
    return rc;
}

void fwd_profile(struct forward *f, bool on, bool reset)
{
    f->profiling = on;
    if (reset)
        f->n_prof = 0;
}

int fwd_profile_rows(const struct forward *f, const struct fwd_profile_row **rows)
{
    *rows = f->prof;
    return f->n_prof;
}
