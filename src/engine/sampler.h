/* sampler: picks the next token from logits.
 *
 * The chain, in llama.cpp's default order: repetition/presence/frequency penalties over the last
 * repeat_last_n accepted tokens -> top-k -> top-p -> min-p -> temperature -> a draw from the
 * softmax. temp <= 0 is greedy (argmax after penalties). Draws come from a seeded xoshiro256**
 * generator, so a seed reproduces a run exactly on any machine.
 */
#ifndef BATON_ENGINE_SAMPLER_H
#define BATON_ENGINE_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct sampler_params {
    float temp;              /* <= 0: greedy */
    int32_t top_k;           /* <= 0: disabled */
    float top_p;             /* >= 1: disabled */
    float min_p;             /* <= 0: disabled */
    float repeat_penalty;    /* 1: disabled */
    int32_t repeat_last_n;   /* tokens of history the penalties see */
    float presence_penalty;  /* 0: disabled */
    float frequency_penalty; /* 0: disabled */
    uint64_t seed;
};

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, last_n 64. */
void sampler_params_default(struct sampler_params *p);

struct sampler;

struct sampler *sampler_new(const struct sampler_params *p, int32_t n_vocab);
void sampler_free(struct sampler *s);
/* Forgets the history (penalties) and reseeds. */
void sampler_reset(struct sampler *s, uint64_t seed);
/* Records a token in the penalty history (prompt tokens too, as llama.cpp does not: call it for
 * the tokens that should count). */
void sampler_accept(struct sampler *s, int32_t token);
/* Chooses a token. logits (n_vocab floats) are not modified. */
int32_t sampler_sample(struct sampler *s, const float *logits);
/* Probability the sampler's final distribution gave to the token it chose (1 for greedy). */
float sampler_last_prob(const struct sampler *s);

/* A restriction on which tokens may come next (a grammar, a JSON schema ...): a small interface
 * so the sampler knows nothing of what implements it (engine/grammar.h provides one). */
struct sampler_constraint {
    void *ctx;
    /* May token come next? Called once per sampled token: keep it cheap. */
    bool (*allows)(void *ctx, int32_t token);
    /* Sets bit i of allowed[] ((n_vocab + 31) / 32 words) for each token that may come next,
     * clears the others; returns how many are allowed, or -1 if the constraint failed. */
    int32_t (*mask)(void *ctx, uint32_t *allowed);
};

/* Samples as sampler_sample does; if the constraint rejects the token drawn, masks the whole
 * vocabulary (disallowed tokens drop out of the candidates before top-k/top-p/min-p) and draws
 * again from what is left. The common case costs one allows() call. The result is distributed as
 * sampling from the masked logits would be (exactly so without truncation: p(x) + (1 - p(A)) *
 * p(x) / p(A) = p(x) / p(A) for x in the allowed set A). Returns -1 if no token is allowed or
 * the constraint failed. c NULL: sampler_sample. */
int32_t sampler_sample_constrained(struct sampler *s, const float *logits,
                                   const struct sampler_constraint *c);
/* How many draws the constraint rejected so far (each cost a full-vocabulary mask). */
int64_t sampler_n_masked(const struct sampler *s);

/* xoshiro256** seeded by splitmix64; exposed for tests and other seeded users. */
struct rng {
    uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1) with 53 bits. */
double rng_uniform(struct rng *r);

#endif
