/* alloc: the one way baton allocates.
 *
 * xmalloc/xcalloc/xrealloc/xstrdup never return NULL: out of memory is not an input error that a
 * caller can act on, so they print one line and abort (as redis' zmalloc does). Sizes are checked
 * for multiplication overflow. Memory is released with plain free().
 */
#ifndef BATON_BASE_ALLOC_H
#define BATON_BASE_ALLOC_H

#include <stddef.h>
#include <stdlib.h> /* free() */

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* xmalloc(count * size) with an overflow check. */
void *xmalloc_array(size_t count, size_t size);
void *xrealloc_array(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* 64-byte aligned allocation (for SIMD rows); release with free(). */
void *xmalloc_aligned(size_t n);

#endif
