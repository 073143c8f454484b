/* rmodel: the learned router's model file -- a logistic model over rfeat features giving
 * P(the weak tier's answer is as good as the strong tier's), and the score quantiles that turn
 * a requested share of strong calls into a threshold.
 *
 * File layout (little-endian; every field checked on load, since the file is outside data):
 *
 *   offset  size  field
 *   0       8     magic "BATONRTR"
 *   8       4     format version (RMODEL_VERSION)
 *   12      4     feature version (RFEAT_VERSION of the code that trained it; must match)
 *   16      4     hash_bits (RFEAT_MIN_HASH_BITS..RFEAT_MAX_HASH_BITS)
 *   20      4     n_dense (RFEAT_N_DENSE)
 *   24      4     n_quantiles (RMODEL_MIN_QUANTILES..RMODEL_MAX_QUANTILES)
 *   28      4     meta_bytes (..RMODEL_MAX_META)
 *   32      4     CRC-32 (IEEE) of the payload, bytes 40..end
 *   36      4     CRC-32 of bytes 0..36
 *   40            payload, float32 each:
 *                   bias
 *                   dense_mean[n_dense], dense_scale[n_dense], dense_w[n_dense]
 *                   hashed_w[2^hash_bits]
 *                   quantiles[n_quantiles]   the score's quantiles on the calibration mix,
 *                                            nondecreasing in [0, 1]; quantiles[k] is the score
 *                                            below which a share k/(n_quantiles-1) of it falls
 *                 then meta_bytes of printable UTF-8 (what it was trained on, and how)
 *
 * The score: z = bias + sum_i dense_w[i] * (dense[i] - dense_mean[i]) * dense_scale[i]
 *              + hashed_value * sum_k hashed_w[hashed[k]],   score = 1 / (1 + exp(-z)).
 * A request goes to the strong tier when score < threshold.
 */
#ifndef BATON_ROUTER_RMODEL_H
#define BATON_ROUTER_RMODEL_H

#include "base/buf.h"
#include "base/err.h"
#include "router/rfeat.h"

#include <stddef.h>
#include <stdint.h>

#define RMODEL_VERSION 1
#define RMODEL_HEADER_BYTES 40
#define RMODEL_MIN_QUANTILES 2
#define RMODEL_MAX_QUANTILES 4097
#define RMODEL_MAX_META 65536
#define RMODEL_MAX_WEIGHT 1e4f   /* larger weights mean a broken training run */

/* What a model is made of, for building one (training) and for tests. Arrays are borrowed. */
struct rmodel_params {
    unsigned hash_bits;
    float bias;
    const float *dense_mean, *dense_scale, *dense_w; /* [RFEAT_N_DENSE] */
    const float *hashed_w;                          /* [1 << hash_bits] */
    const float *quantiles;                         /* [n_quantiles] */
    uint32_t n_quantiles;
    const char *meta;                               /* NUL-terminated, may be NULL */
};

struct rmodel;

/* Appends the file image of p to out. Returns -1 with e set if p is not a valid model (the same
 * checks as loading). */
int rmodel_write(const struct rmodel_params *p, struct buf *out, struct err *e);

/* Parses a file image (copied; data may be freed afterwards). name labels messages. *out is
 * owned by the caller: rmodel_free. Every malformed field is refused with its name. */
int rmodel_parse(const void *data, size_t len, const char *name, struct rmodel **out,
                 struct err *e);
int rmodel_load(const char *path, struct rmodel **out, struct err *e);
void rmodel_free(struct rmodel *m);

/* The router file baton ships (models/router/baton-router-v1.router), compiled into the binary
 * by cmake/embed.cmake; RMODEL_BUILTIN names it in configs and on the command line. */
#define RMODEL_BUILTIN "builtin"
extern const unsigned char rmodel_builtin[];
extern const size_t rmodel_builtin_size;
/* rmodel_load, with path RMODEL_BUILTIN meaning the compiled-in file. */
int rmodel_open(const char *path, struct rmodel **out, struct err *e);

/* P(weak as good as strong) for text[0..len). scratch: caller-provided working space (about
 * 33 KB: keep one per thread, not on a small stack). No allocation; the hot-path call. */
float rmodel_score(const struct rmodel *m, const char *text, size_t len, struct rfeat *scratch);
/* The same with the parts of z, for explanations: z_dense[RFEAT_N_DENSE] receives each dense
 * feature's term relative to the mean training prompt (dense_w * (x - mean) * scale), *z_hashed
 * the hashed features' sum, *z_bias the stored bias; z is their sum (to float rounding). */
float rmodel_score_parts(const struct rmodel *m, const char *text, size_t len,
                         struct rfeat *scratch, float *z_dense, float *z_hashed, float *z_bias);

/* The threshold under which a share strong_fraction (0..1) of the calibration mix scores:
 * interpolated between quantiles; 0 for strong_fraction <= 0 (nothing goes strong) and above 1
 * for strong_fraction >= 1 (everything does). */
float rmodel_threshold(const struct rmodel *m, double strong_fraction);
/* The share of the calibration mix scoring below score: the inverse of rmodel_threshold. */
double rmodel_strong_share(const struct rmodel *m, float score);

unsigned rmodel_hash_bits(const struct rmodel *m);
/* The training description stored in the file ("" if none); valid while m lives. */
const char *rmodel_meta(const struct rmodel *m);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of data, continuing from crc (start with 0). */
uint32_t rmodel_crc32(uint32_t crc, const void *data, size_t len);

#endif
