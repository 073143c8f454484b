/* grammar: GBNF grammars (llama.cpp's dialect) compiled into a matcher that constrains generation
 * to the grammar's language, byte by byte.
 *
 * Dialect (docs/constrained.md has the full table): `name ::= alternatives` rules, one per line
 * (a line ending in `|` continues; newlines are free inside parentheses); alternation `|`;
 * sequences; groups `( )`; repetition `*` `+` `?` `{m}` `{m,}` `{m,n}` (m, n <= 10000); string
 * literals "..."; character classes `[a-z0-9_]`, negated `[^"\\]`; `.` (any character); escapes
 * \xHH \uHHHH \UHHHHHHHH \t \r \n \\ \" \[ \] \-; `#` comments. Rule names are letters, digits,
 * `-` and `_`; the start rule is `root` unless the caller names another. llama.cpp's token
 * references (`<[id]>`, `<text>`, `!<...>`) are refused with a clear message. Errors name the
 * line and column ("line 3, column 12: ...").
 *
 * How it matches (our own design, not llama.cpp's code):
 *   1. Compilation lowers every character class to UTF-8 byte sequences (a class becomes a small
 *      rule whose alternatives are sequences of byte ranges, split the way UTF-8 encodes: 00-7F |
 *      C2-DF 80-BF | E0 A0-BF 80-BF | ...), so the matcher sees bytes only. Partial UTF-8 in a
 *      token (byte-fallback tokens, a character split across two tokens) needs no special case,
 *      and the grammar can only ever produce well-formed UTF-8 (no surrogates, no overlongs).
 *   2. A parse position is a stack of return addresses, as in llama.cpp; stacks are stored as a
 *      graph of hash-consed nodes (position, parent), so equal stacks are one node id and a set
 *      of stacks is a sorted list of ids. A reference in tail position reuses its parent (tail
 *      calls), so right recursion and `x*` run in constant depth and loops through nullable
 *      rules terminate.
 *   3. A set of stacks is a state of a DFA built lazily: each state has a 256-entry transition
 *      row filled on first use. Checking the sampled token is then one table lookup per byte
 *      once warm, and the vocabulary mask is a walk of a byte trie of all token texts
 *      (grammar_vocab, built once per tokenizer) that prunes every subtree whose prefix is
 *      already rejected and reuses the same cached transitions. Masks are cached per state.
 *
 * Limits, checked with clear errors rather than running away: left recursion that would grow a
 * stack forever (`expr ::= expr "+" term`) is refused at compile time with the rule's name; at
 * run time at most 4096 stacks may be alive at once and a stack at most 4096 deep, else the
 * grammar fails ("grammar state explosion ..."): grammar_error() says why and nothing is allowed
 * after that. Node and DFA tables are garbage-collected between tokens, so memory stays bounded
 * over long generations.
 *
 * Threads: a struct grammar is one generation's state (use it from one thread); a
 * struct grammar_vocab is immutable once built and may be shared by every thread.
 */
#ifndef BATON_ENGINE_GRAMMAR_H
#define BATON_ENGINE_GRAMMAR_H

#include "base/err.h"
#include "engine/sampler.h"
#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grammar;

/* Compiles GBNF text src[0..len) with start rule `root` (NULL: "root"). On success *out (caller
 * frees with grammar_free) is positioned at the start of the language. */
int grammar_parse(const char *src, size_t len, const char *root, struct grammar **out,
                  struct err *e);
void grammar_free(struct grammar *g);
/* Back to the start of the language (a new generation with the same grammar). */
void grammar_reset(struct grammar *g);

/* Would appending bytes[0..len) keep the output so far a prefix of some sentence of the
 * language? The state is unchanged. (len 0: true unless the grammar failed.) */
bool grammar_accepts(struct grammar *g, const char *bytes, size_t len);
/* Appends bytes[0..len) to the output. Fails (state unchanged) if grammar_accepts would say no. */
int grammar_advance(struct grammar *g, const char *bytes, size_t len, struct err *e);
/* The output so far is a whole sentence: generation may end here (EOG tokens are allowed). */
bool grammar_complete(const struct grammar *g);
/* Complete and nothing can follow: the only possible next token is an EOG token. */
bool grammar_finished(const struct grammar *g);
/* Why the grammar stopped allowing anything (state explosion), or NULL. Borrowed. */
const char *grammar_error(const struct grammar *g);
/* Whole-string check from the start: reset, advance by text, complete. For tests and tools. */
bool grammar_matches(struct grammar *g, const char *text, size_t len);

/* Sizes, for tests and docs/performance.md. */
struct grammar_stats {
    size_t n_rules;      /* after lowering: user rules, groups, repetitions, UTF-8 classes */
    size_t n_elements;   /* compiled elements */
    size_t n_nodes;      /* stack nodes currently held */
    size_t n_states;     /* DFA states currently held */
    size_t n_gc;         /* garbage collections so far */
    size_t n_masks;      /* vocabulary masks computed (cache misses) */
    size_t n_mask_hits;  /* vocabulary masks served from the per-state cache */
};
void grammar_stats(const struct grammar *g, struct grammar_stats *st);
/* Drops every cached state and every node the current state does not need, now. This happens
 * on its own between tokens when the tables grow past their soft limits; tests call it to check
 * that collection changes nothing observable. */
void grammar_compact(struct grammar *g);

/* ---------------------------------------------------------------------------------------------
 * Token level */

struct grammar_vocab;

/* Precomputes every token's text (tok_piece with render_special) and a byte trie over them.
 * EOG tokens are allowed exactly when the grammar is complete; other tokens whose text is empty
 * (control tokens when !render_special) are never allowed, since they would let generation run
 * without progress. Feed the grammar the same pieces the caller emits: with render_special, a
 * control token's text ("[TOOL_CALLS]") is matched like any other text. Borrows nothing from t. */
struct grammar_vocab *grammar_vocab_new(const struct tok *t, bool render_special);
void grammar_vocab_free(struct grammar_vocab *v);
int32_t grammar_vocab_n(const struct grammar_vocab *v);
/* Token id's text as the vocabulary stores it for matching (len may be 0). Borrowed. */
const char *grammar_vocab_piece(const struct grammar_vocab *v, int32_t id, size_t *len);

/* May token come next? */
bool grammar_allows_token(struct grammar *g, const struct grammar_vocab *v, int32_t token);
/* Appends token's text; an EOG token is accepted (and changes nothing) only when complete. */
int grammar_accept_token(struct grammar *g, const struct grammar_vocab *v, int32_t token,
                         struct err *e);
/* Sets bit i of allowed[] ((n_vocab + 31) / 32 words, bit i%32 of word i/32) for every token
 * that may come next and clears the others. Returns the number allowed, or -1 if the grammar
 * failed (grammar_error). */
int32_t grammar_mask(struct grammar *g, const struct grammar_vocab *v, uint32_t *allowed);

/* The sampler hook: sampler_sample_constrained(s, logits, &c) with c = grammar_constraint(g, v)
 * draws only tokens the grammar allows. g and v are borrowed for as long as c is used. The
 * caller still advances the grammar with grammar_accept_token after each sampled token. */
struct sampler_constraint grammar_constraint(struct grammar *g, const struct grammar_vocab *v);

#endif
