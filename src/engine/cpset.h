/* cpset: sets of Unicode code points as sorted ranges, for character classes (GBNF classes in
 * grammar.c, regular-expression classes in json_schema.c).
 *
 * A normalized set has its ranges sorted, disjoint and non-adjacent. Sets own their arrays;
 * cpset_free releases them. */
#ifndef BATON_ENGINE_CPSET_H
#define BATON_ENGINE_CPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPSET_MAX 0x10FFFFu

struct cpset {
    uint32_t *lo, *hi;
    size_t n, cap;
};

void cpset_add(struct cpset *s, uint32_t lo, uint32_t hi);
void cpset_free(struct cpset *s);
/* Sorts and merges overlapping or adjacent ranges. */
void cpset_normalize(struct cpset *s);
/* Replaces s (normalized) by [0, CPSET_MAX] minus s. */
void cpset_negate(struct cpset *s);
/* Removes the surrogates D800-DFFF, which are not characters and have no UTF-8 form. */
void cpset_drop_surrogates(struct cpset *s);
/* Adds every range of src to s (then normalize). */
void cpset_union(struct cpset *s, const struct cpset *src);
bool cpset_has(const struct cpset *s, uint32_t cp);

#endif
