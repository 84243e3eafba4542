/* rng.h -- a small, fast, seedable PRNG (xoshiro256** seeded by splitmix64).
 *
 * Everything random in training (initial weights, shuffling, augmentation)
 * draws from one of these, so a seed reproduces a run bit for bit.
 */
#ifndef DIGITS_RNG_H
#define DIGITS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1). */
float rng_uniform(rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t rng_below(rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float rng_normal(rng *r);
/* Fisher-Yates shuffle of n indices. */
void rng_shuffle(rng *r, uint32_t *items, uint32_t n);

#endif
