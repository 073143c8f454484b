/* quant_harness: our small program against the reference's libggml (never part of baton).
 * Built and run by gen_quant_golden.sh; see that script for usage.
 *
 *   quant_harness golden OUT.bin     writes the quantization golden file (layout in
 *                                    tests/unit/quant_golden.h): for every weight type ggml's
 *                                    bytes, dequantized values, RMSE and vec_dot results; for the
 *                                    activation types ggml's CPU quantization of one row
 *   quant_harness types FILE.gguf    prints "name<TAB>type" for every tensor of a GGUF file, read
 *                                    with ggml's own gguf reader
 */
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "quant_golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *g_out;

static void put(const void *p, size_t n)
{
    if (fwrite(p, 1, n, g_out) != n) {
        perror("write");
        exit(1);
    }
}
static void put_u32(uint32_t v) { put(&v, 4); }

static void weight_record(enum ggml_type t, const float *rows, const float *act)
{
    const int64_t n = QG_N_PER_ROW;
    const size_t row_bytes = ggml_row_size(t, n);
    char *q = malloc(row_bytes * QG_N_ROWS);
    float *deq = malloc(sizeof(float) * n * QG_N_ROWS);
    ggml_quantize_chunk(t, rows, q, 0, QG_N_ROWS, n, NULL);
    ggml_get_type_traits(t)->to_float(q, deq, n * QG_N_ROWS);
    double se = 0.0;
    for (int64_t i = 0; i < n * QG_N_ROWS; i++)
        se += ((double)deq[i] - rows[i]) * ((double)deq[i] - rows[i]);

    put_u32(QG_KIND_WEIGHT);
    put_u32((uint32_t)t);
    put_u32((uint32_t)(row_bytes * QG_N_STORED));
    put(q, row_bytes * QG_N_STORED);
    uint64_t h = qg_hash(QG_HASH_INIT, deq, sizeof(float) * n * QG_N_STORED);
    put(&h, 8);
    put(deq, sizeof(float) * n);
    double rmse = sqrt(se / (double)(n * QG_N_ROWS));
    put(&rmse, 8);

    const struct ggml_type_traits_cpu *cpu = ggml_get_type_traits_cpu(t);
    const enum ggml_type at = cpu->vec_dot_type;
    const size_t act_bytes = ggml_row_size(at, n);
    char *qa = malloc(act_bytes);
    if (at == GGML_TYPE_F32)
        memcpy(qa, act, act_bytes);
    else
        ggml_get_type_traits_cpu(at)->from_float(act, qa, n);
    put_u32((uint32_t)at);
    put_u32((uint32_t)act_bytes);
    put(qa, act_bytes);
    for (int r = 0; r < QG_N_STORED; r++) {
        float s = 0.0f;
        cpu->vec_dot((int)n, &s, 0, q + r * row_bytes, 0, qa, 0, 1);
        put(&s, 4);
    }
    fprintf(stderr, "%-5s rmse %.6e\n", ggml_type_name(t), rmse);
    free(q);
    free(deq);
    free(qa);
}

/* Exported by libggml-base but declared only in its internal ggml-quants.h. */
void dequantize_row_q8_K(const void *x, float *y, int64_t k);

static void act_record(enum ggml_type t, const float *act)
{
    const int64_t n = QG_N_PER_ROW;
    const size_t bytes = ggml_row_size(t, n);
    char *q = malloc(bytes);
    float deq[QG_N_PER_ROW];
    ggml_get_type_traits_cpu(t)->from_float(act, q, n);
    /* ggml dequantizes q8_0 through its traits, q8_K through a bare function, q8_1 not at all */
    ggml_to_float_t to_float = ggml_get_type_traits(t)->to_float;
    if (t == GGML_TYPE_Q8_K)
        to_float = (ggml_to_float_t)dequantize_row_q8_K;
    put_u32(QG_KIND_ACT);
    put_u32((uint32_t)t);
    put_u32((uint32_t)bytes);
    put(q, bytes);
    put_u32(to_float != NULL);
    if (to_float) {
        to_float(q, deq, n);
        put(deq, sizeof deq);
    }
    free(q);
}

static int golden(const char *path)
{
    static const enum ggml_type weights[] = {
        GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
        GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
        GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
    };
    static const enum ggml_type acts[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q8_K};
    const int n_weights = (int)(sizeof weights / sizeof *weights);
    const int n_acts = (int)(sizeof acts / sizeof *acts);

    float *rows = malloc(sizeof(float) * QG_N_ROWS * QG_N_PER_ROW);
    float act[QG_N_PER_ROW];
    for (int r = 0; r < QG_N_ROWS; r++)
        qg_row(r, rows + r * QG_N_PER_ROW, QG_N_PER_ROW);
    qg_act(act, QG_N_PER_ROW);

    g_out = fopen(path, "wb");
    if (!g_out) {
        perror(path);
        return 1;
    }
    put(QG_MAGIC, 8);
    put_u32(QG_N_ROWS);
    put_u32(QG_N_PER_ROW);
    put_u32(QG_N_STORED);
    put_u32((uint32_t)(n_weights + n_acts));
    uint64_t h = qg_input_hash();
    put(&h, 8);
    for (int i = 0; i < n_weights; i++)
        weight_record(weights[i], rows, act);
    for (int i = 0; i < n_acts; i++)
        act_record(acts[i], act);
    free(rows);
    return fclose(g_out) == 0 ? 0 : 1;
}

static int types(const char *path)
{
    struct gguf_init_params p = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, p);
    if (!g) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++)
        printf("%s\t%s\n", gguf_get_tensor_name(g, i), ggml_type_name(gguf_get_tensor_type(g, i)));
    gguf_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    ggml_cpu_init();
    if (argc == 3 && strcmp(argv[1], "golden") == 0)
        return golden(argv[2]);
    if (argc == 3 && strcmp(argv[1], "types") == 0)
        return types(argv[2]);
    fprintf(stderr, "usage: quant_harness golden OUT.bin | types FILE.gguf\n");
    return 2;
}
