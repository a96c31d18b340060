/* A counter-based RNG: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as
 * 1, 2, 3"). A draw is a pure function of (seed, stream, counter), so a run reproduces from its
 * seed and the CUDA path can make the very same draws without carrying state. Never rand(). */
#ifndef SPECDEC_RNG_H
#define SPECDEC_RNG_H

#include <stdint.h>

/* The raw block function: ten rounds over a 4x32 counter with a 2x32 key. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A uniform float in [0, 1) with 24 random bits: key = seed, counter = (counter lo, counter hi,
 * stream, 0), first output word. */
float rng_uniform(uint64_t seed, uint32_t stream, uint64_t counter);

/* Streams keep independent uses of one seed apart. */
enum {
    RNG_STREAM_TARGET = 0,   /* acceptance tests, residual, bonus and autoregressive samples */
    RNG_STREAM_DRAFTER = 1,  /* draft tokens sampled from q */
};

/* Counter layout inside one round (or one autoregressive step): draw slot s of round r uses
 * counter r * RNG_SLOTS_PER_ROUND + s. Acceptance test at draft position i uses slot i; the token
 * sampled at the end of the round (residual or bonus, or the AR token) uses RNG_SLOT_FINAL. */
#define RNG_SLOTS_PER_ROUND 128
#define RNG_SLOT_FINAL 127

#endif
