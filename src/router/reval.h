/* reval: how good a router is on recorded outcomes -- the quality-versus-share-of-strong-calls
 * curve, APGR, CPT(50%), CPT(80%) -- and the curve drawn as SVG.
 *
 * Given per prompt a router's urgency u (higher = send to the strong model first) and the
 * recorded quality of the weak (w) and the strong (s) model, routing the k most urgent prompts
 * to the strong model gives quality q(k) = (sum of s over them + sum of w over the rest) / n at
 * share x = k / n. Prompts with equal urgency are one step (the curve is straight across them:
 * the expectation under random tie-breaking). PGR = (q - q_weak) / (q_strong - q_weak), where
 * q_weak, q_strong are the single models' means.
 *
 *   apgr           area under PGR(x) over x in [0, 1], the whole curve (random routing: 0.5)
 *   apgr_routellm  RouteLLM's estimate: 11 thresholds at the urgency's deciles (np.quantile),
 *                  "urgency >= t" (the last "> t"), trapezoids over the points
 *   cpt50, cpt80   the smallest share x at which PGR reaches 0.5 / 0.8 on the curve
 */
#ifndef BATON_ROUTER_REVAL_H
#define BATON_ROUTER_REVAL_H

#include "base/buf.h"
#include "base/err.h"

#include <stddef.h>

struct reval_curve {
    size_t n;               /* prompts */
    double q_weak, q_strong;
    size_t n_points;
    double *x, *q;          /* [n_points]: share of strong calls (0..1), mean quality */
    double apgr, apgr_routellm, cpt50, cpt80;
};

/* Computes the curve for n prompts (n >= 1; every value finite). Returns -1 with e set when the
 * strong model is not better than the weak one on these prompts (PGR is undefined). The curve
 * is owned by the caller: reval_curve_free. */
int reval_curve(const double *urgency, const double *w, const double *s, size_t n,
                struct reval_curve *out, struct err *e);
void reval_curve_free(struct reval_curve *c);

/* The smallest share of strong calls at which c reaches PGR pgr (1.0 if only at the end). */
double reval_cpt(const struct reval_curve *c, double pgr);

struct reval_series {
    const char *label;
    const struct reval_curve *curve;
    const char *color;      /* SVG colour, e.g. "#1f77b4" */
};

/* Appends an SVG image (quality against % strong calls) to out: each series, the random
 * routing line, and the weak and strong models' levels, with axes, ticks, labels, a title and
 * a legend. Every series must come from the same prompts (same q_weak, q_strong). */
void reval_svg(const char *title, const char *weak, const char *strong,
               const struct reval_series *series, size_t n_series, struct buf *out);

#endif
