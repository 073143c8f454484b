/* rdata: router outcome data -- prompts and, per prompt, the measured quality of many models.
 *
 * One table per data set: n_prompts rows (id, the text the router would see, a sub-task group)
 * and n_models columns of quality in [0, 1] (NAN where the model was not measured). rdata_load
 * reads a directory in one of the layouts of ../shared/router-data (its README describes them)
 * and maps every source's outcome onto [0, 1]:
 *
 *   layout (files in DIR)                               text               group      quality
 *   questions.jsonl + correct_matrix.csv                question (+ "A. option" lines and
 *     (mmlu_pro, zeroeval/<task>)                         "Answer:" when it has options)
 *                                                                          category   1/0
 *   prompts.jsonl + ae2_weighted_gpt4turbo_winprob_     instruction        dataset    win
 *     matrix.csv (alpaca_eval; the reference model                                    probability
 *     gpt4_1106_preview is a column at 0.5)                                           vs the ref.
 *   question.jsonl + scores_matrix.csv (arena_bench_v1) turns[0]           category   (s-1)/9
 *   questions.jsonl + results_long.csv (routerarena)    question           id prefix  score
 *   *.csv with prompt,eval_name columns (routerbench)   prompt's first     eval_name  1/0
 *                                                       list element
 *   *.json lists of {question, scores} (routerdc)       question           file stem  score
 *
 * routerarena's scores are clamped into [0, 1] (one METEOR score is -0.033); RouterBench's
 * repeated sample_id (a different prompt under the same id) gets "#2".
 * The wide CSVs' first column is the join key; its header names the JSONL field holding the
 * same key (question_id, id). Every file is checked as it is read: a value outside the source's
 * range, a key with no question, a malformed line are errors naming file:line.
 */
#ifndef BATON_ROUTER_RDATA_H
#define BATON_ROUTER_RDATA_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct rdata {
    char *source;      /* the directory it was read from */
    size_t n_prompts;
    size_t n_models;
    char **ids;        /* [n_prompts] the source's key */
    char **texts;      /* [n_prompts] UTF-8 request text */
    char **groups;     /* [n_prompts] sub-task ("" when the source has none) */
    char **models;     /* [n_models] */
    float *quality;    /* [n_prompts * n_models], row-major; NAN = not measured */
};

/* Reads the data set in dir (layouts above). *out is owned by the caller: rdata_free. */
int rdata_load(const char *dir, struct rdata **out, struct err *e);
void rdata_free(struct rdata *d);

/* Column of the model called name, or -1. */
int rdata_model(const struct rdata *d, const char *name);
/* Quality of prompt i under model m (NAN when not measured). */
static inline float rdata_q(const struct rdata *d, size_t i, size_t m)
{
    return d->quality[i * d->n_models + m];
}

/* Keeps only the prompts whose group is one of groups (comma-separated). Returns the number
 * kept; -1 with e listing the groups that exist when none matches. */
int rdata_keep_groups(struct rdata *d, const char *groups, struct err *e);
/* Keeps only the prompts where keep[i] is true (keep has n_prompts entries). */
void rdata_filter(struct rdata *d, const bool *keep);

/* The built-in virtual model "@1": quality 1 on every prompt (a strong model assumed always
 * right, for sources that measured only small models). rdata_model never returns it; callers
 * that accept model lists resolve it with rdata_is_virtual_one. */
bool rdata_is_virtual_one(const char *name);

/* Whether s is one of the comma-separated names of list (NULL: none). */
bool rdata_csv_has(const char *list, const char *s);

#endif
