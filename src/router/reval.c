/* reval: routing curves, their metrics, and SVG plots (reval.h has the definitions). */
#include "router/reval.h"

#include "base/alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct order_item {
    double u;
    size_t i;
};

static int by_urgency_desc(const void *a, const void *b)
{
    const struct order_item *x = a, *y = b;
    if (x->u != y->u)
        return x->u > y->u ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* stable: ties keep input order */
}

static double pgr_of(const struct reval_curve *c, double q)
{
    return (q - c->q_weak) / (c->q_strong - c->q_weak);
}

double reval_cpt(const struct reval_curve *c, double target)
{
    for (size_t k = 1; k < c->n_points; k++) {
        double p0 = pgr_of(c, c->q[k - 1]), p1 = pgr_of(c, c->q[k]);
        if (p0 >= target)
            return c->x[k - 1];
        if (p1 >= target) {
            double t = (target - p0) / (p1 - p0);
            return c->x[k - 1] + t * (c->x[k] - c->x[k - 1]);
        }
    }
    return 1.0;
}

/* np.quantile(v, p) with linear interpolation, v sorted ascending. */
static double quantile_sorted(const double *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t k = (size_t)pos;
    if (k + 1 >= n)
        return v[n - 1];
    return v[k] + (pos - (double)k) * (v[k + 1] - v[k]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct xq {
    double x, q;
};

static int by_x(const void *a, const void *b)
{
    const struct xq *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

/* RouteLLM's APGR (routellm/evals/evaluate.py): deciles of the urgency as thresholds. */
static double apgr_routellm(const struct reval_curve *c, const double *u, const double *w,
                            const double *s, size_t n)
{
    double *sorted = xmalloc_array(n, sizeof *sorted);
    memcpy(sorted, u, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_double);
    struct xq pts[11];
    for (int t = 0; t <= 10; t++) {
        double thr = quantile_sorted(sorted, n, t / 10.0);
        size_t k = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            bool strong = t < 10 ? u[i] >= thr : u[i] > thr;
            k += strong;
            sum += strong ? s[i] : w[i];
        }
        pts[t] = (struct xq){(double)k / (double)n, sum / (double)n};
    }
    free(sorted);
    qsort(pts, 11, sizeof *pts, by_x);
    double auc = 0;
    for (int t = 1; t <= 10; t++)
        auc += (pts[t].x - pts[t - 1].x) * (pts[t].q + pts[t - 1].q) / 2;
    double span = pts[10].x - pts[0].x;
    if (span <= 0)
        return 0.5;
    double weak_auc = c->q_weak * span, strong_auc = c->q_strong * span;
    return (auc - weak_auc) / (strong_auc - weak_auc);
}

int reval_curve(const double *u, const double *w, const double *s, size_t n,
                struct reval_curve *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return err_set(e, "no prompts to evaluate");
    double sw = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(u[i]) || !isfinite(w[i]) || !isfinite(s[i]))
            return err_set(e, "prompt %zu: a score or a quality is not a finite number", i);
        sw += w[i];
        ss += s[i];
    }
    out->n = n;
    out->q_weak = sw / (double)n;
    out->q_strong = ss / (double)n;
    if (!(out->q_strong > out->q_weak))
        return err_set(e, "the strong model (mean quality %.4f) is not better than the weak one "
                          "(%.4f) on these %zu prompts: the quality gap is undefined",
                       out->q_strong, out->q_weak, n);
    struct order_item *ord = xmalloc_array(n, sizeof *ord);
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct order_item){u[i], i};
    qsort(ord, n, sizeof *ord, by_urgency_desc);
    out->x = xmalloc_array(n + 1, sizeof *out->x);
    out->q = xmalloc_array(n + 1, sizeof *out->q);
    double sum = sw; /* quality sum with the first k prompts strong */
    out->x[0] = 0;
    out->q[0] = out->q_weak;
    size_t np = 1;
    for (size_t k = 0; k < n;) {
        size_t j = k;
        while (j < n && ord[j].u == ord[k].u) {
            sum += s[ord[j].i] - w[ord[j].i];
            j++;
        }
        out->x[np] = (double)j / (double)n;
        out->q[np] = sum / (double)n;
        np++;
        k = j;
    }
    out->q[np - 1] = out->q_strong; /* exactly, not up to rounding */
    out->n_points = np;
    free(ord);
    double area = 0;
    for (size_t k = 1; k < np; k++)
        area += (out->x[k] - out->x[k - 1]) *
                (pgr_of(out, out->q[k]) + pgr_of(out, out->q[k - 1])) / 2;
    out->apgr = area;
    out->apgr_routellm = apgr_routellm(out, u, w, s, n);
    out->cpt50 = reval_cpt(out, 0.5);
    out->cpt80 = reval_cpt(out, 0.8);
    return 0;
}

void reval_curve_free(struct reval_curve *c)
{
    free(c->x);
    free(c->q);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------------------------------------
 * SVG */

static void xml_text(struct buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_puts(out, "&amp;"); break;
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, "&gt;"); break;
        case '"': buf_puts(out, "&quot;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                buf_putc(out, *s);
        }
    }
}

/* A "nice" tick step for a span: 1, 2 or 5 times a power of ten, about 5 ticks. */
static double tick_step(double span)
{
    double raw = span / 5, p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void reval_svg(const char *title, const char *weak, const char *strong,
               const struct reval_series *series, size_t n_series, struct buf *out)
{
    const double W = 760, H = 500, L = 80, R = 230, T = 50, B = 60;
    const double pw = W - L - R, ph = H - T - B;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n_series; i++) {
        const struct reval_curve *c = series[i].curve;
        for (size_t k = 0; k < c->n_points; k++) {
            lo = fmin(lo, c->q[k]);
            hi = fmax(hi, c->q[k]);
        }
    }
    if (!(hi > lo)) {
        lo = 0;
        hi = 1;
    }
    double pad = (hi - lo) * 0.06;
    lo -= pad;
    hi += pad;
#define PX(x) (L + (x) * pw)
#define PY(q) (T + (1 - ((q) - lo) / (hi - lo)) * ph)
    buf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                    "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
               W, H, W, H);
    buf_printf(out, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    buf_printf(out, "<text x=\"%.1f\" y=\"25\" font-size=\"15\" text-anchor=\"middle\">", L + pw / 2);
    xml_text(out, title);
    buf_puts(out, "</text>\n");
    /* grid and ticks */
    for (int t = 0; t <= 10; t += 2) {
        double x = PX(t / 10.0);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                   x, T, x, T + ph);
        buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x,
                   T + ph + 18, t * 10);
    }
    double step = tick_step(hi - lo);
    for (double v = ceil(lo / step) * step; v <= hi + 1e-12; v += step) {
        double y = PY(v);
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                   L, y, L + pw, y);
        buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6,
                   y + 4, v);
    }
    buf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                    "stroke=\"black\"/>\n", L, T, pw, ph);
    buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">calls to the strong model "
                    "(%%)</text>\n", L + pw / 2, H - 15);
    buf_printf(out, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">"
                    "mean quality</text>\n", T + ph / 2);
    if (n_series) {
        const struct reval_curve *c = series[0].curve;
        /* model levels and random routing */
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                        "stroke-dasharray=\"2 3\"/>\n", L, PY(c->q_weak), L + pw, PY(c->q_weak));
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c00\" "
                        "stroke-dasharray=\"2 3\"/>\n", L, PY(c->q_strong), L + pw,
                   PY(c->q_strong));
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                        "stroke-dasharray=\"6 4\"/>\n", PX(0), PY(c->q_weak), PX(1),
                   PY(c->q_strong));
    }
    for (size_t i = 0; i < n_series; i++) {
        const struct reval_curve *c = series[i].curve;
        buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                   series[i].color);
        /* at most ~600 vertices: enough for the eye, small enough to open anywhere */
        size_t stride = c->n_points > 600 ? c->n_points / 600 : 1;
        for (size_t k = 0; k < c->n_points; k += stride)
            buf_printf(out, "%.1f,%.1f ", PX(c->x[k]), PY(c->q[k]));
        buf_printf(out, "%.1f,%.1f\"/>\n", PX(c->x[c->n_points - 1]), PY(c->q[c->n_points - 1]));
    }
    /* legend */
    double ly = T + 10;
    for (size_t i = 0; i < n_series + 3; i++, ly += 34) {
        const char *color, *dash = "";
        char label[300];
        if (i < n_series) {
            color = series[i].color;
            snprintf(label, sizeof label, "%s", series[i].label);
        } else if (i == n_series) {
            color = "#555";
            dash = " stroke-dasharray=\"6 4\"";
            snprintf(label, sizeof label, "random");
        } else if (i == n_series + 1) {
            color = "#c00";
            dash = " stroke-dasharray=\"2 3\"";
            snprintf(label, sizeof label, "strong: %.120s", strong);
        } else {
            color = "#888";
            dash = " stroke-dasharray=\"2 3\"";
            snprintf(label, sizeof label, "weak: %.120s", weak);
        }
        double lx = L + pw + 15;
        buf_printf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                        "stroke-width=\"2\"%s/>\n", lx, ly, lx + 24, ly, color, dash);
        buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\">", lx + 30, ly + 4);
        xml_text(out, label);
        buf_puts(out, "</text>\n");
        if (i < n_series) {
            const struct reval_curve *c = series[i].curve;
            buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#444\">APGR %.3f, "
                            "CPT50 %.0f%%, CPT80 %.0f%%</text>\n", lx + 30, ly + 18, c->apgr,
                       100 * c->cpt50, 100 * c->cpt80);
        }
    }
    buf_puts(out, "</svg>\n");
#undef PX
#undef PY
}
