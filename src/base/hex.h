/* hex: lowercase hexadecimal text for bytes (key ids and secrets, salts and hashes in Redis,
 * SHA-256 digests in the audit chain), and back. */
#ifndef BATON_BASE_HEX_H
#define BATON_BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the n bytes at p as 2n lowercase hex digits and a NUL at out (2n + 1 bytes). */
void hex_encode(char *out, const void *p, size_t n);

/* Decodes s (len chars) into n bytes at out when s is exactly 2n lowercase hex digits; false on
 * anything else (out may then be partly written). */
bool hex_decode(void *out, size_t n, const char *s, size_t len);

#endif
