/* rfeat: the learned router's features of a request text, computed from the text alone.
 *
 * Two kinds, both deterministic functions of the bytes (no locale, no allocation):
 *   dense   RFEAT_N_DENSE numbers describing shape and content: length, lines, digits, math
 *           (LaTeX, operators, $), code (fences, code-like lines, brackets), multiple-choice
 *           option lines, question form, non-ASCII and CJK share ... (rfeat.c lists them, and
 *           rfeat_dense_name names each one);
 *   hashed  the hashing trick over tokens: every token (a run of ASCII letters lowercased, a
 *           number reduced to its digit count class, one punctuation byte, one non-ASCII UTF-8
 *           sequence, a line break) and every pair of adjacent tokens is hashed to a bucket in
 *           [0, 2^hash_bits); each occurrence carries the value 1/sqrt(n_hashed).
 * Only a window of a long text is read -- its first RFEAT_HEAD_BYTES and last RFEAT_TAIL_BYTES
 * -- so a decision costs the same for 8 KB and for 1 MB; the byte length itself is a feature.
 *
 * RFEAT_VERSION changes whenever any feature's definition changes: a router file records the
 * version it was trained with and is refused by code computing different features.
 */
#ifndef BATON_ROUTER_RFEAT_H
#define BATON_ROUTER_RFEAT_H

#include <stddef.h>
#include <stdint.h>

#define RFEAT_VERSION 1
#define RFEAT_N_DENSE 32
#define RFEAT_HEAD_BYTES 6144
#define RFEAT_TAIL_BYTES 2048
#define RFEAT_MAX_HASHED 8192   /* unigrams + bigrams of the window fit */
#define RFEAT_MIN_HASH_BITS 8
#define RFEAT_MAX_HASH_BITS 24

struct rfeat {
    float dense[RFEAT_N_DENSE];
    uint32_t hashed[RFEAT_MAX_HASHED]; /* bucket of each occurrence, in text order */
    uint32_t n_hashed;
    float hashed_value;                /* the value of every occurrence: 1/sqrt(n_hashed) */
};

/* Fills out from text[0..len) (any bytes; invalid UTF-8 is fine). hash_bits in
 * RFEAT_MIN_HASH_BITS..RFEAT_MAX_HASH_BITS. */
void rfeat_extract(const char *text, size_t len, unsigned hash_bits, struct rfeat *out);

/* Short name of dense feature i ("log_bytes", "digit_share", ...), for explanations. */
const char *rfeat_dense_name(unsigned i);

#endif
