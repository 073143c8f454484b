/* privacy: finds sensitive data in request text (docs/privacy.md).
 *
 * Built-in kinds, each recognized by a hand-written scanner with a checksum or structure check
 * where one exists (so that order numbers, dates, version strings and hashes are not flagged):
 *
 *   email   local@domain.tld
 *   phone   +CC and 8..15 digits, or 10..11 digits in separated groups ((555) 123-4567,
 *           555-123-4567, 555.123.4567); bare digit runs are not phones
 *   card    13..19 digits (groups of spaces/dashes allowed), a known issuer prefix, Luhn-valid
 *   iban    CC + 2 check digits + 11..30 alphanumerics (spaces every 4 allowed), mod-97 valid
 *   ssn     US SSN AAA-GG-SSSS (dashes or spaces), area not 000/666/9xx, group/serial not 0
 *   ipv4    dotted quad, each 0..255, not part of a longer dotted run (version strings)
 *   ipv6    RFC 4291 text (validated by inet_pton), at least 3 groups
 *   secret  API-key shapes (sk-..., AKIA..., ghp_..., xox?-..., AIza..., glpat-..., bt_...
 *           baton keys, JWTs, PEM private keys, Bearer tokens, user:pass@ in URLs) and the value
 *           after credential words (password=..., api_key: ..., token "...")
 *
 * plus custom kinds from the config: PCRE2 patterns and case-insensitive term lists (whole
 * words), each with its own name.
 *
 * Spans never overlap: where two kinds claim the same bytes, the one starting first wins, then
 * the longer. A scan allocates nothing except for custom patterns' match data, made once.
 * One struct privacy is used by one thread at a time (the PCRE2 match data is shared).
 */
#ifndef BATON_GATEWAY_PRIVACY_H
#define BATON_GATEWAY_PRIVACY_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum privacy_kind {
    PK_EMAIL,
    PK_PHONE,
    PK_CARD,
    PK_IBAN,
    PK_SSN,
    PK_IPV4,
    PK_IPV6,
    PK_SECRET,
    PK_BUILTIN_COUNT,
    /* custom kinds follow: PK_BUILTIN_COUNT + index into patterns, then terms */
};

#define PRIVACY_MAX_KINDS 64   /* built-in + custom */

struct privacy_pattern {
    const char *name;          /* kind name: 1..32 of a-z 0-9 _ */
    const char *regex;         /* PCRE2, UTF-8 */
};
struct privacy_terms {
    const char *name;
    const char *const *terms;  /* matched case-insensitively (ASCII), as whole words */
    size_t n_terms;
};
struct privacy_options {
    uint64_t builtin_mask;     /* bit per enum privacy_kind < PK_BUILTIN_COUNT to detect */
    const struct privacy_pattern *patterns;
    size_t n_patterns;
    const struct privacy_terms *terms;
    size_t n_terms;
};

struct privacy_span {
    size_t start, end;         /* byte offsets, end exclusive */
    int kind;                  /* enum privacy_kind, or a custom kind's number */
};

struct privacy;

/* Compiles the custom patterns. All borrowed strings are copied. *out: privacy_free. */
int privacy_new(const struct privacy_options *o, struct privacy **out, struct err *e);
void privacy_free(struct privacy *p);

/* Finds the spans of text, in order, into out (at most cap); returns how many there are (may be
 * more than cap: only the first cap are stored). */
size_t privacy_scan(struct privacy *p, const char *text, size_t len, struct privacy_span *out,
                    size_t cap);
/* The kind's name ("email", or a custom pattern's name). */
const char *privacy_kind_name(const struct privacy *p, int kind);
int privacy_n_kinds(const struct privacy *p);
/* The built-in kind called name, or -1. */
int privacy_builtin_kind(const char *name);
/* Checks a custom pattern compiles (for config.c): 0, or -1 with PCRE2's message. */
int privacy_regex_check(const char *regex, struct err *e);

/* The checks behind card and iban, exposed for tests. */
bool privacy_luhn_ok(const char *digits, size_t n);
bool privacy_iban_ok(const char *iban, size_t n); /* no spaces */

#endif
