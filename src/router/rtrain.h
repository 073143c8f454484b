/* rtrain: training the learned router from outcome data (`baton router train`).
 *
 * A training spec (text, one directive per line, a backslash at the end of a line continues it,
 * '#' starts a comment) names the data sets, the
 * (weak, strong) model pairs whose outcomes teach the router, and the hyper-parameters:
 *
 *   hash_bits 16          buckets of the hashed features (2^hash_bits float weights)
 *   l2 1e-4               L2 penalty on every weight but the bias
 *   l2_hashed 1e-4        L2 penalty on the hashed weights (default: l2)
 *   dataset_bias 1        one bias per data set while fitting (their labels are on scales that
 *                         do not compare), so the shared weights learn what ranks prompts
 *                         within a data set; the file keeps their weighted mean
 *   label_rank 0         replace each data set's labels by their percentile ranks within it
 *                         (a judge's win probability and a 0/1 outcome then weigh alike)
 *   iterations 150        L-BFGS iterations (full batch, deterministic)
 *   size_power 0.5        a data set's total weight grows as n_prompts^size_power
 *   calib_folds 5         out-of-fold scores calibrate the threshold (0: in-sample scores)
 *   quantiles 1001        score quantiles stored for the threshold
 *   dataset NAME PATH key=value ...
 *
 * dataset keys: family=F (data sets of one family are held out together), groups=G,H (keep only
 * these sub-tasks), weak=M,N and strong=S,T (the pairs: every weak x every strong; "@1" is a
 * virtual strong model scoring 1), weight=W (default 1), calib=C (weight in the calibration mix,
 * default = weight), max_prompts=N (the first N prompts only), eval_weak=M eval_strong=S (the
 * pair a leave-one-out evaluation of this data set reports), also=F,G (families also held out
 * with it), group_family=G:F,H:F (sub-tasks that belong to another family, held out with it),
 * eval_only=1 (never trained on: evaluation only).
 *
 * The label of a prompt is the mean over its pairs of 1 - max(0, q_strong - q_weak): for
 * correct/incorrect outcomes exactly "the weak answer is as good as the strong one"; for graded
 * ones the shortfall is subtracted. The model is logistic regression on rfeat features with soft
 * labels, weighted cross-entropy plus L2, fitted by L-BFGS: the same spec and data give the same
 * file, bit for bit.
 *
 * Holding out data set H (leave-one-benchmark-out): every data set of H's family and of its
 * also= families is dropped, sub-tasks mapped to those families by group_family= are dropped,
 * and any remaining training prompt sharing half or more of its 8-word shingles with a prompt
 * of H is dropped (decontamination). With test_folds (in-benchmark evaluation) only H's test
 * fold is held out: its family stays, and the decontamination is against the test fold.
 */
#ifndef BATON_ROUTER_RTRAIN_H
#define BATON_ROUTER_RTRAIN_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rtrain_dataset {
    char *name, *path, *family, *groups, *also, *group_family;
    char **weak, **strong;
    size_t n_weak, n_strong;
    char *eval_weak, *eval_strong;
    double weight, calib;
    long max_prompts;    /* 0: all */
    bool eval_only;
    int line;            /* in the spec */
};

struct rtrain_spec {
    char *path;
    char *text;          /* the spec as read (stored in the model's description) */
    unsigned hash_bits;
    double l2, l2_hashed, size_power;
    bool dataset_bias, label_rank;
    int iterations, calib_folds, n_quantiles;
    struct rtrain_dataset *datasets;
    size_t n_datasets;
};

/* Parses a spec; errors read "FILE:LINE: ...". *out owned by the caller: rtrain_spec_free. */
int rtrain_spec_load(const char *path, struct rtrain_spec **out, struct err *e);
int rtrain_spec_parse(const char *text, const char *name, struct rtrain_spec **out,
                      struct err *e);
void rtrain_spec_free(struct rtrain_spec *s);
/* The data set called name, or NULL. */
const struct rtrain_dataset *rtrain_spec_find(const struct rtrain_spec *s, const char *name);

struct rtrain_opts {
    const char *data_root;   /* data set paths are relative to it */
    const char *holdout;     /* a data set name to leave out, or NULL */
    int test_folds;          /* > 0: hold out only the holdout's prompts of fold test_fold (of
                                test_folds, by rtrain_fold) and train on everything else, its
                                family and its other folds included (in-benchmark evaluation) */
    int test_fold;
    FILE *log;               /* progress lines, or NULL */
};

/* Trains on the spec's data and appends the router file image to out. */
int rtrain_run(const struct rtrain_spec *s, const struct rtrain_opts *o, struct buf *out,
               struct err *e);

/* The fold hash of a prompt (its id) of a data set: fold k of K is rtrain_fold(...) % K. */
unsigned rtrain_fold(const char *dataset, const char *id);

/* The paths of data set d under root, joined ("root/path"). Caller frees. */
char *rtrain_dataset_path(const char *root, const struct rtrain_dataset *d);

#endif
