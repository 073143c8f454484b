/* Unit tests of the learned router (src/router/): features are a deterministic function of the
 * bytes; the router file round-trips and every damaged field is refused by name; training is
 * deterministic and learns a planted signal; APGR and CPT are right on curves worked out by
 * hand; the calibrated threshold sends the asked share of the calibration mix to the strong
 * tier. Training data is synthetic, written to a temporary directory in RouterDC's layout. */
#include "check.h"

#include "base/buf.h"
#include "base/err.h"
#include "router/reval.h"
#include "router/rfeat.h"
#include "router/rmodel.h"
#include "router/rtrain.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct rfeat g_f1, g_f2; /* 33 KB each: not on the stack */

static int dense_index(const char *name)
{
    for (unsigned i = 0; i < RFEAT_N_DENSE; i++)
        if (!strcmp(rfeat_dense_name(i), name))
            return (int)i;
    return -1;
}

static void test_features_deterministic(void)
{
    const char *t = "Which of these is prime?\nA. 4\nB. 7\nC. 9\nD. 15\nAnswer:";
    rfeat_extract(t, strlen(t), 16, &g_f1);
    rfeat_extract(t, strlen(t), 16, &g_f2);
    CHECK(memcmp(g_f1.dense, g_f2.dense, sizeof g_f1.dense) == 0);
    CHECK_EQ_INT(g_f1.n_hashed, g_f2.n_hashed);
    CHECK(memcmp(g_f1.hashed, g_f2.hashed, g_f1.n_hashed * sizeof *g_f1.hashed) == 0);
    CHECK(g_f1.n_hashed > 10);
    for (uint32_t k = 0; k < g_f1.n_hashed; k++)
        CHECK(g_f1.hashed[k] < (1u << 16));
    CHECK_NEAR(g_f1.hashed_value, 1.0 / sqrt((double)g_f1.n_hashed), 1e-6);
    /* the features the text plants */
    CHECK_NEAR(g_f1.dense[dense_index("log_options")], log1p(4.0), 1e-6);
    CHECK_NEAR(g_f1.dense[dense_index("numeric_options")], 1.0, 1e-6);
    CHECK_NEAR(g_f1.dense[dense_index("starts_qword")], 1.0, 1e-6);
    CHECK_NEAR(g_f1.dense[dense_index("log_bytes")], log1p((double)strlen(t)), 1e-5);
    CHECK_NEAR(g_f1.dense[dense_index("code_fence")], 0.0, 0);
    /* case folds in words: the same buckets */
    rfeat_extract("WHICH of these", 14, 12, &g_f1);
    rfeat_extract("which of these", 14, 12, &g_f2);
    CHECK_EQ_INT(g_f1.n_hashed, g_f2.n_hashed);
    CHECK(memcmp(g_f1.hashed, g_f2.hashed, g_f1.n_hashed * sizeof *g_f1.hashed) == 0);
    /* the empty text and odd bytes are fine */
    rfeat_extract("", 0, 8, &g_f1);
    CHECK_EQ_INT(g_f1.n_hashed, 0);
    CHECK_NEAR(g_f1.hashed_value, 0.0, 0);
    rfeat_extract("\xff\xfe\x80\n\n\t```", 9, 8, &g_f1);
    CHECK(g_f1.n_hashed > 0);
    /* a long text is read through its window: what lies between head and tail does not count */
    size_t n = 200000;
    char *a = malloc(n), *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] = "lorem ipsum dolor sit amet\n"[i % 27];
    memset(b + n / 2, 'x', 1000);
    rfeat_extract(a, n, 16, &g_f1);
    rfeat_extract(b, n, 16, &g_f2);
    CHECK(memcmp(g_f1.dense, g_f2.dense, sizeof g_f1.dense) == 0);
    CHECK_EQ_INT(g_f1.n_hashed, g_f2.n_hashed);
    CHECK(g_f1.n_hashed <= RFEAT_MAX_HASHED);
    free(a);
    free(b);
}

/* A small valid model: hash_bits 8, weights from a formula, quantiles 0, .1, ..., 1. */
static float g_mean[RFEAT_N_DENSE], g_scale[RFEAT_N_DENSE], g_dw[RFEAT_N_DENSE], g_hw[256],
    g_q[11];

static void small_model(struct buf *img)
{
    for (int i = 0; i < RFEAT_N_DENSE; i++) {
        g_mean[i] = 0.1f * (float)i;
        g_scale[i] = 1.0f + 0.05f * (float)i;
        g_dw[i] = (i % 3 - 1) * 0.2f;
    }
    for (int i = 0; i < 256; i++)
        g_hw[i] = (float)((i * 37) % 11 - 5) * 0.1f;
    for (int i = 0; i < 11; i++)
        g_q[i] = 0.1f * (float)i;
    struct rmodel_params p = {.hash_bits = 8, .bias = 0.25f, .dense_mean = g_mean,
                              .dense_scale = g_scale, .dense_w = g_dw, .hashed_w = g_hw,
                              .quantiles = g_q, .n_quantiles = 11, .meta = "test model\n"};
    struct err e;
    buf_init(img);
    CHECK(rmodel_write(&p, img, &e) == 0);
}

static void test_file_round_trip(void)
{
    struct buf img;
    small_model(&img);
    struct rmodel *m = NULL;
    struct err e;
    CHECK(rmodel_parse(img.data, img.len, "t", &m, &e) == 0);
    if (!m) {
        buf_free(&img);
        return;
    }
    CHECK_EQ_INT(rmodel_hash_bits(m), 8);
    CHECK_STR(rmodel_meta(m), "test model\n");
    /* the score is the formula of rmodel.h */
    const char *t = "Write a haiku about the sea.\n";
    rfeat_extract(t, strlen(t), 8, &g_f1);
    double z = 0.25;
    for (int i = 0; i < RFEAT_N_DENSE; i++)
        z += (double)g_dw[i] * (g_f1.dense[i] - g_mean[i]) * g_scale[i];
    double h = 0;
    for (uint32_t k = 0; k < g_f1.n_hashed; k++)
        h += g_hw[g_f1.hashed[k]];
    z += h * g_f1.hashed_value;
    CHECK_NEAR(rmodel_score(m, t, strlen(t), &g_f2), 1 / (1 + exp(-z)), 1e-5);
    /* the explanation's parts: stored bias, dense terms against the means, hashed sum */
    float zd[RFEAT_N_DENSE], zh = 0, zb = 0;
    rmodel_score_parts(m, t, strlen(t), &g_f2, zd, &zh, &zb);
    double sum = zb + zh;
    for (int i = 0; i < RFEAT_N_DENSE; i++) {
        sum += zd[i];
        CHECK_NEAR(zd[i], (double)g_dw[i] * g_scale[i] * (g_f1.dense[i] - g_mean[i]), 1e-5);
    }
    CHECK_NEAR(zb, 0.25, 0);
    CHECK_NEAR(zh, h * g_f1.hashed_value, 1e-5);
    CHECK_NEAR(sum, z, 1e-4);
    /* thresholds interpolate the quantiles; strong_share is their inverse */
    CHECK_NEAR(rmodel_threshold(m, 0.3), 0.3, 1e-6);
    CHECK_NEAR(rmodel_threshold(m, 0.35), 0.35, 1e-6);
    CHECK_NEAR(rmodel_threshold(m, 0), 0, 0);
    CHECK(rmodel_threshold(m, 1) > 1);
    CHECK_NEAR(rmodel_strong_share(m, 0.42f), 0.42, 1e-6);
    /* writing what was read gives the same bytes: the file holds nothing hidden */
    struct buf again;
    small_model(&again);
    CHECK(again.len == img.len && memcmp(again.data, img.data, img.len) == 0);
    buf_free(&again);
    rmodel_free(m);
    buf_free(&img);
}

static void put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void putf(char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put32(p, v);
}

/* Refixes both checksums after a deliberate edit, so the field check itself is reached. */
static void fix_crcs(struct buf *b)
{
    put32(b->data + 32, rmodel_crc32(0, b->data + RMODEL_HEADER_BYTES,
                                     b->len - RMODEL_HEADER_BYTES));
    put32(b->data + 36, rmodel_crc32(0, b->data, 36));
}

/* Parses a copy of img edited by edit (offset, 4-byte value, then checksums fixed or not) and
 * checks the error names want. */
static void expect_refused(const struct buf *img, size_t len, size_t off, const void *val,
                           bool fix, const char *want)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, img->data, len);
    if (val)
        memcpy(b.data + off, val, 4);
    if (fix)
        fix_crcs(&b);
    struct rmodel *m = NULL;
    struct err e;
    int rc = rmodel_parse(b.data, b.len, "r.bin", &m, &e);
    CHECK_MSG(rc != 0 && !m, "accepted, expected \"%s\"", want);
    if (rc != 0)
        CHECK_MSG(strstr(e.msg, want) && !strncmp(e.msg, "r.bin: ", 7), "\"%s\" lacks \"%s\"",
                  e.msg, want);
    rmodel_free(m);
    buf_free(&b);
}

static void test_file_corrupt(void)
{
    struct buf img;
    small_model(&img);
    char v[4];
    const size_t payload = RMODEL_HEADER_BYTES;
    const size_t hw = payload + 4 * (1 + 3 * RFEAT_N_DENSE), q = hw + 4 * 256;
    expect_refused(&img, 10, 0, NULL, false, "shorter than the 40-byte header");
    expect_refused(&img, img.len, 0, "XATO", false, "not a baton router file");
    expect_refused(&img, img.len, 40, "\x01\x02\x03\x04", false, "payload checksum");
    put32(v, 99);
    expect_refused(&img, img.len, 16, v, false, "header checksum");
    put32(v, 7);
    expect_refused(&img, img.len, 8, v, true, "format version 7");
    expect_refused(&img, img.len, 12, v, true, "feature version 7");
    put32(v, 30);
    expect_refused(&img, img.len, 16, v, true, "hash_bits 30");
    put32(v, 31);
    expect_refused(&img, img.len, 20, v, true, "31 dense features");
    put32(v, 1);
    expect_refused(&img, img.len, 24, v, true, "1 quantiles");
    put32(v, 1u << 20);
    expect_refused(&img, img.len, 28, v, true, "bytes of description");
    expect_refused(&img, img.len - 1, 0, NULL, true, "truncated");
    putf(v, NAN);
    expect_refused(&img, img.len, hw + 4 * 17, v, true, "hashed_w[17] is not a finite number");
    putf(v, 1e9f);
    expect_refused(&img, img.len, payload, v, true, "bias");
    putf(v, -1.0f);
    expect_refused(&img, img.len, payload + 4 * (1 + RFEAT_N_DENSE + 3), v, true,
                   "dense_scale[3]");
    putf(v, 0.05f);
    expect_refused(&img, img.len, q + 4 * 5, v, true, "quantiles[5]");
    putf(v, 2.0f);
    expect_refused(&img, img.len, q + 4 * 10, v, true, "quantiles[10]");
    expect_refused(&img, img.len, img.len - 4, "\x01xyz", true, "control byte 0x01");
    expect_refused(&img, img.len, img.len - 4, "\xff\xfe\xfd\xfc", true, "UTF-8");
    buf_free(&img);
}

/* ------------------------------------------------------------------------------------------
 * Curves */

static void test_apgr_hand_curves(void)
{
    /* four prompts: the weak model fails the first two, the strong model gets all */
    double w[4] = {0, 0, 1, 1}, s[4] = {1, 1, 1, 1};
    double perfect[4] = {1, 1, 0, 0}, constant[4] = {0, 0, 0, 0}, worst[4] = {0, 0, 1, 1};
    struct reval_curve c;
    struct err e;
    /* perfect: PGR 0 -> 1 over the first half, then 1: area 0.25 + 0.5 */
    CHECK(reval_curve(perfect, w, s, 4, &c, &e) == 0);
    CHECK_NEAR(c.q_weak, 0.5, 1e-12);
    CHECK_NEAR(c.q_strong, 1.0, 1e-12);
    CHECK_NEAR(c.apgr, 0.75, 1e-9);
    CHECK_NEAR(c.cpt50, 0.25, 1e-9);
    CHECK_NEAR(c.cpt80, 0.40, 1e-9);
    reval_curve_free(&c);
    /* random (one tie: the expectation of random order) is the diagonal: 0.5 */
    CHECK(reval_curve(constant, w, s, 4, &c, &e) == 0);
    CHECK_NEAR(c.apgr, 0.5, 1e-9);
    CHECK_NEAR(c.apgr_routellm, 0.5, 1e-9);
    CHECK_NEAR(c.cpt50, 0.5, 1e-9);
    CHECK_NEAR(c.cpt80, 0.8, 1e-9);
    reval_curve_free(&c);
    /* the worst order: flat over the first half, then up: 0.25 */
    CHECK(reval_curve(worst, w, s, 4, &c, &e) == 0);
    CHECK_NEAR(c.apgr, 0.25, 1e-9);
    CHECK_NEAR(c.cpt50, 0.75, 1e-9);
    reval_curve_free(&c);
    /* a strong model no better than the weak one: refused */
    double same[4] = {1, 1, 1, 1};
    CHECK(reval_curve(perfect, same, s, 4, &c, &e) != 0);
    CHECK(strstr(e.msg, "strong") != NULL);
}

static void test_apgr_random_many(void)
{
    /* a router scoring by a hash unrelated to the outcomes is near 0.5 on many prompts */
    size_t n = 20000;
    double *u = malloc(n * sizeof *u), *w = malloc(n * sizeof *w), *s = malloc(n * sizeof *s);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        u[i] = (double)(x >> 11) / 9007199254740992.0;
        w[i] = (i % 3) == 0;
        s[i] = (i % 5) != 0;
    }
    struct reval_curve c;
    struct err e;
    CHECK(reval_curve(u, w, s, n, &c, &e) == 0);
    CHECK_NEAR(c.apgr, 0.5, 0.02);
    CHECK_NEAR(c.cpt50, 0.5, 0.03);
    reval_curve_free(&c);
    free(u);
    free(w);
    free(s);
}

/* ------------------------------------------------------------------------------------------
 * Training on synthetic outcomes */

static char g_dir[64];

/* n prompts: those about integrals the weak model fails, the rest it answers; the strong
 * model answers all. Words from a fixed generator make every prompt different. */
static void write_synthetic(const char *dir, int n)
{
    static const char *const words[] = {"river", "apple", "seven", "table", "green", "light",
                                        "house", "music", "paper", "stone", "cloud", "bread"};
    char path[256];
    snprintf(path, sizeof path, "%s/syn", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/syn/synthetic.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("[", f);
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        bool hard = i % 3 == 0;
        fprintf(f, "%s{\"question\": \"%s", i ? ",\n" : "",
                hard ? "Evaluate the integral of" : "Name the colour of the");
        for (int k = 0; k < 4 + i % 5; k++) {
            x = x * 1103515245u + 12345u;
            fprintf(f, " %s", words[(x >> 16) % 12]);
        }
        fprintf(f, " number %d.\", \"scores\": {\"weak\": %d, \"strong\": 1}}", i, hard ? 0 : 1);
    }
    fputs("]\n", f);
    fclose(f);
}

static const char *const g_spec =
    "hash_bits 12\nl2 1e-3\niterations 60\ncalib_folds %d\nquantiles 101\ndataset_bias 1\n"
    "dataset syn syn family=syn weak=weak strong=strong eval_weak=weak eval_strong=strong\n";

static int train(int folds, struct buf *out)
{
    char text[512];
    snprintf(text, sizeof text, g_spec, folds);
    struct rtrain_spec *s;
    struct err e;
    if (rtrain_spec_parse(text, "syn.spec", &s, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    struct rtrain_opts o = {.data_root = g_dir};
    buf_init(out);
    int rc = rtrain_run(s, &o, out, &e);
    if (rc)
        fprintf(stderr, "train: %s\n", e.msg);
    rtrain_spec_free(s);
    return rc;
}

static void test_train_deterministic_and_learns(void)
{
    struct buf a, b;
    CHECK(train(3, &a) == 0);
    CHECK(train(3, &b) == 0);
    CHECK_MSG(a.len == b.len && a.len > 0 && memcmp(a.data, b.data, a.len) == 0,
              "two runs gave different files (%zu, %zu bytes)", a.len, b.len);
    struct rmodel *m = NULL;
    struct err e;
    CHECK(rmodel_parse(a.data, a.len, "trained", &m, &e) == 0);
    if (m) {
        const char *hard = "Evaluate the integral of paper stone music number 1000.";
        const char *easy = "Name the colour of the paper stone music number 1000.";
        float sh = rmodel_score(m, hard, strlen(hard), &g_f1),
              se = rmodel_score(m, easy, strlen(easy), &g_f1);
        CHECK_MSG(se > sh + 0.3f, "easy %.3f, hard %.3f", (double)se, (double)sh);
        CHECK(strstr(rmodel_meta(m), "dataset_bias 1") != NULL);
    }
    rmodel_free(m);
    buf_free(&a);
    buf_free(&b);
}

static void test_spec_errors(void)
{
    struct rtrain_spec *s = NULL;
    struct err e;
    CHECK(rtrain_spec_parse("dataset_bias 2\n", "x.spec", &s, &e) != 0);
    CHECK(strstr(e.msg, "x.spec:1: dataset_bias is 0 or 1") != NULL);
    CHECK(rtrain_spec_parse("l2 1\nl2_hashed -1\n", "x.spec", &s, &e) != 0);
    CHECK(strstr(e.msg, "x.spec:2: l2_hashed") != NULL);
    CHECK(rtrain_spec_parse("dataset a b weak=x\n", "x.spec", &s, &e) != 0);
    CHECK(strstr(e.msg, "needs weak= and strong=") != NULL);
    CHECK(rtrain_spec_parse("hash_bits 16\n", "x.spec", &s, &e) != 0);
    CHECK(strstr(e.msg, "no dataset lines") != NULL);
    CHECK(rtrain_spec_parse("dataset a b weak=x strong=y\\\n  weight=2\n", "x.spec", &s, &e) == 0);
    if (s) {
        CHECK_NEAR(s->datasets[0].weight, 2, 0);
        CHECK_NEAR(s->l2_hashed, s->l2, 0);
    }
    rtrain_spec_free(s);
}

/* The share of the training prompts scoring under the threshold for fraction f. */
static double strong_share(const struct rmodel *m, double f)
{
    char path[256];
    snprintf(path, sizeof path, "%s/syn/synthetic.json", g_dir);
    struct buf b;
    buf_init(&b);
    FILE *fp = fopen(path, "r");
    char chunk[4096];
    size_t n;
    while (fp && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        buf_append(&b, chunk, n);
    if (fp)
        fclose(fp);
    float t = rmodel_threshold(m, f);
    size_t total = 0, strong = 0;
    for (char *p = b.data; p && (p = strstr(p, "\"question\": \"")) != NULL;) {
        p += 13;
        char *end = strchr(p, '"');
        strong += rmodel_score(m, p, (size_t)(end - p), &g_f1) < t;
        total++;
        p = end;
    }
    buf_free(&b);
    return total ? (double)strong / (double)total : -1;
}

static void test_calibration(void)
{
    for (int folds = 0; folds <= 3; folds += 3) {
        struct buf img;
        CHECK(train(folds, &img) == 0);
        struct rmodel *m = NULL;
        struct err e;
        CHECK(rmodel_parse(img.data, img.len, "trained", &m, &e) == 0);
        if (m) {
            /* in-sample calibration is exact to a prompt; out-of-fold within a few points */
            double tol = folds ? 0.06 : 0.01;
            CHECK_NEAR(strong_share(m, 0.2), 0.2, tol);
            CHECK_NEAR(strong_share(m, 0.3), 0.3, tol);
            CHECK_NEAR(strong_share(m, 0.6), 0.6, tol);
            CHECK_NEAR(strong_share(m, 0.0), 0.0, 0);
            CHECK_NEAR(strong_share(m, 1.0), 1.0, 0);
        }
        rmodel_free(m);
        buf_free(&img);
    }
}

int main(void)
{
    RUN(test_features_deterministic);
    RUN(test_file_round_trip);
    RUN(test_file_corrupt);
    RUN(test_apgr_hand_curves);
    RUN(test_apgr_random_many);
    RUN(test_spec_errors);
    snprintf(g_dir, sizeof g_dir, "/tmp/baton_test_router_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    write_synthetic(g_dir, 300);
    RUN(test_train_deterministic_and_learns);
    RUN(test_calibration);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0);
    return check_report();
}
