/* tok_merge: the bigram-merge loop shared by SentencePiece and BPE (see tok_impl.h).
 *
 * Symbols form a doubly linked list over the word's bytes; a binary heap holds candidate pairs
 * by priority. Merging only ever grows a left symbol and empties its right neighbour, so a
 * queued pair is stale exactly when its two symbols no longer add up to the size it was queued
 * with (or one was emptied); stale pairs are skipped when popped, as llama.cpp skips them.
 * O(n log n) per word.
 */
#include "engine/tok_impl.h"

#include "base/alloc.h"
#include "engine/unicode.h"

#include <stdlib.h>

/* a comes out of the heap before b */
static bool before(const struct tok_bigram *a, const struct tok_bigram *b)
{
    return a->key > b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(struct tok_work *w, struct tok_bigram b)
{
    if (w->n_heap == w->heap_cap) {
        w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 64;
        w->heap = xrealloc_array(w->heap, w->heap_cap, sizeof *w->heap);
    }
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = b;
}

static struct tok_bigram heap_pop(struct tok_work *w)
{
    struct tok_bigram top = w->heap[0];
    struct tok_bigram last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

static void try_pair(const struct tok *t, struct tok_work *w, int32_t left, int32_t right,
                     tok_pair_key_fn key_fn)
{
    if (left < 0 || right < 0)
        return;
    const struct tok_sym *l = &w->sym[left], *r = &w->sym[right];
    struct tok_bigram b = {0, left, right, l->n + r->n};
    if (key_fn(t, l->text, l->n, r->n, &b.key))
        heap_push(w, b);
}

void tok_merge_word(const struct tok *t, const char *s, size_t n, tok_pair_key_fn key_fn,
                    struct tok_work *w)
{
    w->n_sym = 0;
    w->n_heap = 0;
    for (size_t off = 0; off < n;) {
        size_t len = unicode_len_utf8((unsigned char)s[off]);
        if (len > n - off)
            len = n - off;
        if (w->n_sym == w->sym_cap) {
            w->sym_cap = w->sym_cap ? w->sym_cap * 2 : 64;
            w->sym = xrealloc_array(w->sym, w->sym_cap, sizeof *w->sym);
        }
        int32_t idx = (int32_t)w->n_sym++;
        off += len;
        w->sym[idx] = (struct tok_sym){s + off - len, (uint32_t)len, idx - 1, off == n ? -1 : idx + 1};
    }
    for (size_t i = 1; i < w->n_sym; i++)
        try_pair(t, w, (int32_t)i - 1, (int32_t)i, key_fn);

    while (w->n_heap) {
        struct tok_bigram b = heap_pop(w);
        struct tok_sym *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = b.left;
        try_pair(t, w, l->prev, b.left, key_fn);
        try_pair(t, w, b.left, l->next, key_fn);
    }
}

void tok_work_free(struct tok_work *w)
{
    free(w->sym);
    free(w->heap);
    *w = (struct tok_work){0};
}
