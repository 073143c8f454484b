/* utf8: strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) and repair, for text that must become JSON strings. */
#ifndef BATON_BASE_UTF8_H
#define BATON_BASE_UTF8_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid sequence starting at s[0] (1..4), or 0 if s[0..n) does not start with one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
bool utf8_valid(const char *s, size_t n);
/* Appends s to out with every invalid byte replaced by U+FFFD. */
void utf8_sanitize(const char *s, size_t n, struct buf *out);
/* Decodes the valid sequence at s[0..n) into *cp; returns its length (1..4), or 0 if s does not
 * start with a valid sequence. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encodes cp (<= U+10FFFF, not a surrogate) into out[0..4); returns the byte count. */
size_t utf8_encode(uint32_t cp, char *out);

#endif
