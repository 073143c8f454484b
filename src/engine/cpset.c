/* cpset: code-point range sets (see cpset.h). Classes are short (a handful of ranges), so the
 * operations are simple linear passes after a sort. */
#include "engine/cpset.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

void cpset_add(struct cpset *s, uint32_t lo, uint32_t hi)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->lo = xrealloc_array(s->lo, s->cap, sizeof *s->lo);
        s->hi = xrealloc_array(s->hi, s->cap, sizeof *s->hi);
    }
    s->lo[s->n] = lo;
    s->hi[s->n] = hi;
    s->n++;
}

void cpset_free(struct cpset *s)
{
    free(s->lo);
    free(s->hi);
    memset(s, 0, sizeof *s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and merges overlapping or adjacent ranges. */
void cpset_normalize(struct cpset *s)
{
    if (s->n > 1) {
        uint64_t *r = xmalloc_array(s->n, sizeof *r);
        for (size_t i = 0; i < s->n; i++)
            r[i] = (uint64_t)s->lo[i] << 32 | s->hi[i];
        qsort(r, s->n, sizeof *r, cmp_u64);
        for (size_t i = 0; i < s->n; i++) {
            s->lo[i] = (uint32_t)(r[i] >> 32);
            s->hi[i] = (uint32_t)r[i];
        }
        free(r);
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && s->lo[i] <= s->hi[k - 1] + 1) {
            if (s->hi[i] > s->hi[k - 1])
                s->hi[k - 1] = s->hi[i];
        } else {
            s->lo[k] = s->lo[i];
            s->hi[k] = s->hi[i];
            k++;
        }
    }
    s->n = k;
}

/* Replaces s (normalized) by [0, CPSET_MAX] minus s. */
void cpset_negate(struct cpset *s)
{
    struct cpset out = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->lo[i] > next)
            cpset_add(&out, next, s->lo[i] - 1);
        next = s->hi[i] + 1;
    }
    if (next <= CPSET_MAX)
        cpset_add(&out, next, CPSET_MAX);
    cpset_free(s);
    *s = out;
}

/* Removes the surrogates D800-DFFF, which are not characters and have no UTF-8 form. */
void cpset_drop_surrogates(struct cpset *s)
{
    struct cpset out = {0};
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lo = s->lo[i], hi = s->hi[i];
        if (hi < 0xD800 || lo > 0xDFFF) {
            cpset_add(&out, lo, hi);
            continue;
        }
        if (lo < 0xD800)
            cpset_add(&out, lo, 0xD7FF);
        if (hi > 0xDFFF)
            cpset_add(&out, 0xE000, hi);
    }
    cpset_free(s);
    *s = out;
}


void cpset_union(struct cpset *s, const struct cpset *src)
{
    for (size_t i = 0; i < src->n; i++)
        cpset_add(s, src->lo[i], src->hi[i]);
}

bool cpset_has(const struct cpset *s, uint32_t cp)
{
    for (size_t i = 0; i < s->n; i++)
        if (cp >= s->lo[i] && cp <= s->hi[i])
            return true;
    return false;
}
