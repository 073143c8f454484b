/* rmodel: the router file -- writing, validating, scoring (rmodel.h has the layout).
 *
 * Loading checks, in this order, so that the first problem is the one reported: size of the
 * header, magic, header CRC, format version, feature version, hash_bits, n_dense, n_quantiles,
 * meta_bytes, the exact file size they imply, payload CRC, then every float (finite; weights
 * and means within RMODEL_MAX_WEIGHT; scales positive; quantiles nondecreasing within [0, 1])
 * and the meta text (printable UTF-8). Writing runs the same checks on the image it produced.
 *
 * At load the dense standardization is folded into the weights and the bias
 * (w' = w * scale, bias' = bias - sum w * mean * scale), so scoring is one multiply-add per
 * dense feature and one load-add per hashed occurrence.
 */
#include "router/rmodel.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/utf8.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define RMODEL_MAGIC "BATONRTR"
#define RMODEL_FILE_MAX ((size_t)512 << 20)

struct rmodel {
    unsigned hash_bits;
    float bias;                      /* folded */
    float dense_w[RFEAT_N_DENSE];    /* folded: w * scale */
    float dense_mean[RFEAT_N_DENSE]; /* for explanations: terms relative to the mean prompt */
    float file_bias;                 /* the bias as stored (at the mean prompt) */
    float *hashed_w;                 /* [1 << hash_bits] */
    float *quantiles;
    uint32_t n_quantiles;
    char *meta;
};

uint32_t rmodel_crc32(uint32_t crc, const void *data, size_t len)
{
    static const uint32_t nibble[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rdf(const unsigned char *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put32(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    buf_append(b, p, 4);
}

static void putf(struct buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put32(b, u);
}

static void set32(char *p, uint32_t v)
{
    p[0] = (char)v;
    p[1] = (char)(v >> 8);
    p[2] = (char)(v >> 16);
    p[3] = (char)(v >> 24);
}

int rmodel_write(const struct rmodel_params *p, struct buf *out, struct err *e)
{
    if (p->hash_bits < RFEAT_MIN_HASH_BITS || p->hash_bits > RFEAT_MAX_HASH_BITS)
        return err_set(e, "hash_bits %u outside %d..%d", p->hash_bits, RFEAT_MIN_HASH_BITS,
                       RFEAT_MAX_HASH_BITS);
    size_t meta = p->meta ? strlen(p->meta) : 0;
    struct buf b;
    buf_init(&b);
    buf_append(&b, RMODEL_MAGIC, 8);
    put32(&b, RMODEL_VERSION);
    put32(&b, RFEAT_VERSION);
    put32(&b, p->hash_bits);
    put32(&b, RFEAT_N_DENSE);
    put32(&b, p->n_quantiles);
    put32(&b, (uint32_t)meta);
    put32(&b, 0); /* payload CRC, set below */
    put32(&b, 0); /* header CRC */
    putf(&b, p->bias);
    for (int i = 0; i < RFEAT_N_DENSE; i++)
        putf(&b, p->dense_mean[i]);
    for (int i = 0; i < RFEAT_N_DENSE; i++)
        putf(&b, p->dense_scale[i]);
    for (int i = 0; i < RFEAT_N_DENSE; i++)
        putf(&b, p->dense_w[i]);
    for (size_t i = 0; i < (size_t)1 << p->hash_bits; i++)
        putf(&b, p->hashed_w[i]);
    for (uint32_t i = 0; i < p->n_quantiles; i++)
        putf(&b, p->quantiles[i]);
    buf_append(&b, p->meta ? p->meta : "", meta);
    set32(b.data + 32, rmodel_crc32(0, b.data + RMODEL_HEADER_BYTES, b.len - RMODEL_HEADER_BYTES));
    set32(b.data + 36, rmodel_crc32(0, b.data, 36));
    struct rmodel *m;
    if (rmodel_parse(b.data, b.len, "the new router file", &m, e)) {
        buf_free(&b);
        return -1;
    }
    rmodel_free(m);
    buf_append(out, b.data, b.len);
    buf_free(&b);
    return 0;
}

void rmodel_free(struct rmodel *m)
{
    if (!m)
        return;
    free(m->hashed_w);
    free(m->quantiles);
    free(m->meta);
    free(m);
}

/* Checks the n floats at p: finite and |x| <= limit; names the first bad one. */
static int check_floats(const unsigned char *p, size_t n, float limit, const char *name,
                        const char *what, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        float x = rdf(p + 4 * i);
        if (!isfinite(x))
            return err_set(e, "%s: %s[%zu] is not a finite number", name, what, i);
        if (fabsf(x) > limit)
            return err_set(e, "%s: %s[%zu] = %g is beyond %g: a broken model", name, what, i,
                           (double)x, (double)limit);
    }
    return 0;
}

int rmodel_parse(const void *data, size_t len, const char *name, struct rmodel **out,
                 struct err *e)
{
    const unsigned char *d = data;
    if (len < RMODEL_HEADER_BYTES)
        return err_set(e, "%s: %zu bytes, shorter than the %d-byte header: not a router file",
                       name, len, RMODEL_HEADER_BYTES);
    if (memcmp(d, RMODEL_MAGIC, 8) != 0)
        return err_set(e, "%s: does not start with \"%s\": not a baton router file", name,
                       RMODEL_MAGIC);
    if (rd32(d + 36) != rmodel_crc32(0, d, 36))
        return err_set(e, "%s: header checksum mismatch: the file is damaged", name);
    uint32_t version = rd32(d + 8), fversion = rd32(d + 12), hash_bits = rd32(d + 16),
             n_dense = rd32(d + 20), n_q = rd32(d + 24), meta = rd32(d + 28);
    if (version != RMODEL_VERSION)
        return err_set(e, "%s: format version %u; this baton reads version %d", name, version,
                       RMODEL_VERSION);
    if (fversion != RFEAT_VERSION)
        return err_set(e, "%s: trained on feature version %u, this baton computes version %d: "
                          "retrain it (baton router train)", name, fversion, RFEAT_VERSION);
    if (hash_bits < RFEAT_MIN_HASH_BITS || hash_bits > RFEAT_MAX_HASH_BITS)
        return err_set(e, "%s: hash_bits %u outside %d..%d", name, hash_bits,
                       RFEAT_MIN_HASH_BITS, RFEAT_MAX_HASH_BITS);
    if (n_dense != RFEAT_N_DENSE)
        return err_set(e, "%s: %u dense features, this baton computes %d", name, n_dense,
                       RFEAT_N_DENSE);
    if (n_q < RMODEL_MIN_QUANTILES || n_q > RMODEL_MAX_QUANTILES)
        return err_set(e, "%s: %u quantiles, outside %d..%d", name, n_q, RMODEL_MIN_QUANTILES,
                       RMODEL_MAX_QUANTILES);
    if (meta > RMODEL_MAX_META)
        return err_set(e, "%s: %u bytes of description, more than %d", name, meta,
                       RMODEL_MAX_META);
    size_t n_hashed = (size_t)1 << hash_bits;
    size_t n_floats = 1 + 3 * (size_t)RFEAT_N_DENSE + n_hashed + n_q;
    size_t want = RMODEL_HEADER_BYTES + 4 * n_floats + meta;
    if (len != want)
        return err_set(e, "%s: %zu bytes, the header describes %zu: the file is truncated or "
                          "has trailing bytes", name, len, want);
    if (rd32(d + 32) != rmodel_crc32(0, d + RMODEL_HEADER_BYTES, len - RMODEL_HEADER_BYTES))
        return err_set(e, "%s: payload checksum mismatch: the file is damaged", name);

    const unsigned char *bias = d + RMODEL_HEADER_BYTES;
    const unsigned char *mean = bias + 4, *scale = mean + 4 * RFEAT_N_DENSE,
                        *dw = scale + 4 * RFEAT_N_DENSE, *hw = dw + 4 * RFEAT_N_DENSE,
                        *q = hw + 4 * n_hashed, *text = q + 4 * (size_t)n_q;
    if (check_floats(bias, 1, RMODEL_MAX_WEIGHT, name, "bias", e) ||
        check_floats(mean, RFEAT_N_DENSE, RMODEL_MAX_WEIGHT, name, "dense_mean", e) ||
        check_floats(scale, RFEAT_N_DENSE, RMODEL_MAX_WEIGHT, name, "dense_scale", e) ||
        check_floats(dw, RFEAT_N_DENSE, RMODEL_MAX_WEIGHT, name, "dense_w", e) ||
        check_floats(hw, n_hashed, RMODEL_MAX_WEIGHT, name, "hashed_w", e) ||
        check_floats(q, n_q, 1.0f, name, "quantiles", e))
        return -1;
    for (int i = 0; i < RFEAT_N_DENSE; i++)
        if (!(rdf(scale + 4 * i) > 0))
            return err_set(e, "%s: dense_scale[%d] = %g is not positive", name, i,
                           (double)rdf(scale + 4 * i));
    for (uint32_t i = 0; i < n_q; i++) {
        float x = rdf(q + 4 * i);
        if (x < 0)
            return err_set(e, "%s: quantiles[%u] = %g is below 0", name, i, (double)x);
        if (i && x < rdf(q + 4 * (i - 1)))
            return err_set(e, "%s: quantiles[%u] = %g is below quantiles[%u] = %g: they must "
                              "not decrease", name, i, (double)x, i - 1,
                           (double)rdf(q + 4 * (i - 1)));
    }
    if (!utf8_valid((const char *)text, meta))
        return err_set(e, "%s: the description is not valid UTF-8", name);
    for (uint32_t i = 0; i < meta; i++)
        if ((text[i] < 0x20 && text[i] != '\n' && text[i] != '\t') || text[i] == 0x7f)
            return err_set(e, "%s: the description holds control byte 0x%02x at %u", name,
                           text[i], i);

    struct rmodel *m = xcalloc(1, sizeof *m);
    m->hash_bits = hash_bits;
    double b = rdf(bias);
    for (int i = 0; i < RFEAT_N_DENSE; i++) {
        double w = (double)rdf(dw + 4 * i) * rdf(scale + 4 * i);
        m->dense_w[i] = (float)w;
        m->dense_mean[i] = rdf(mean + 4 * i);
        b -= w * rdf(mean + 4 * i);
    }
    m->bias = (float)b;
    m->file_bias = rdf(bias);
    m->hashed_w = xmalloc_array(n_hashed, sizeof *m->hashed_w);
    for (size_t i = 0; i < n_hashed; i++)
        m->hashed_w[i] = rdf(hw + 4 * i);
    m->n_quantiles = n_q;
    m->quantiles = xmalloc_array(n_q, sizeof *m->quantiles);
    for (uint32_t i = 0; i < n_q; i++)
        m->quantiles[i] = rdf(q + 4 * i);
    m->meta = xstrndup((const char *)text, meta);
    *out = m;
    return 0;
}

int rmodel_load(const char *path, struct rmodel **out, struct err *e)
{
    struct buf b;
    buf_init(&b);
    int rc = file_read(path, RMODEL_FILE_MAX, &b, e);
    if (rc == 0)
        rc = rmodel_parse(b.data ? b.data : "", b.len, path, out, e);
    buf_free(&b);
    return rc;
}

int rmodel_open(const char *path, struct rmodel **out, struct err *e)
{
    if (!strcmp(path, RMODEL_BUILTIN))
        return rmodel_parse(rmodel_builtin, rmodel_builtin_size,
                            "the built-in router (baton-router-v1)", out, e);
    return rmodel_load(path, out, e);
}

static float sigmoid(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

float rmodel_score_parts(const struct rmodel *m, const char *text, size_t len,
                         struct rfeat *f, float *z_dense, float *z_hashed, float *z_bias)
{
    rfeat_extract(text, len, m->hash_bits, f);
    float z = m->bias;
    for (int i = 0; i < RFEAT_N_DENSE; i++) {
        float c = m->dense_w[i] * f->dense[i];
        if (z_dense)
            z_dense[i] = m->dense_w[i] * (f->dense[i] - m->dense_mean[i]);
        z += c;
    }
    float h = 0;
    for (uint32_t k = 0; k < f->n_hashed; k++)
        h += m->hashed_w[f->hashed[k]];
    h *= f->hashed_value;
    if (z_hashed)
        *z_hashed = h;
    if (z_bias)
        *z_bias = m->file_bias;
    return sigmoid(z + h);
}

float rmodel_score(const struct rmodel *m, const char *text, size_t len, struct rfeat *scratch)
{
    return rmodel_score_parts(m, text, len, scratch, NULL, NULL, NULL);
}

float rmodel_threshold(const struct rmodel *m, double f)
{
    if (!(f > 0))
        return 0.0f;
    if (f >= 1)
        return 1.5f;
    double pos = f * (m->n_quantiles - 1);
    uint32_t k = (uint32_t)pos;
    if (k >= m->n_quantiles - 1)
        return m->quantiles[m->n_quantiles - 1];
    double t = pos - k;
    return (float)(m->quantiles[k] + t * (m->quantiles[k + 1] - m->quantiles[k]));
}

double rmodel_strong_share(const struct rmodel *m, float score)
{
    const float *q = m->quantiles;
    uint32_t n = m->n_quantiles;
    if (score <= q[0])
        return 0.0;
    if (score > q[n - 1])
        return 1.0;
    uint32_t k = 0;
    while (k + 1 < n && q[k + 1] < score)
        k++;
    double span = (double)q[k + 1] - q[k];
    double t = span > 0 ? ((double)score - q[k]) / span : 0.0;
    return (k + t) / (n - 1);
}

unsigned rmodel_hash_bits(const struct rmodel *m)
{
    return m->hash_bits;
}

const char *rmodel_meta(const struct rmodel *m)
{
    return m->meta;
}
