/* Philox4x32-10 against Random123's published known-answer vectors, and the layout of
 * rng_uniform that the CUDA path must reproduce. */
#include <math.h>
#include <stdio.h>

#include "rng.h"
#include "test_util.h"

/* Random123 v1.14, tests/kat_vectors, the three "philox4x32 10" lines (columns: counter[4],
 * key[2], expected output[4]); the third uses the hex digits of pi. */
static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

static void test_known_answers(void) {
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        philox4x32_10(kat[v].ctr, kat[v].key, out);
        for (int i = 0; i < 4; i++)
            EXPECT(out[i] == kat[v].out[i], "vector %d word %d: got %08x, want %08x", v, i, out[i],
                   kat[v].out[i]);
    }
}

/* rng.h: key = seed, counter = (counter lo, counter hi, stream, 0), top 24 bits of word 0. */
static void test_uniform_layout(void) {
    const uint64_t seeds[] = {0, 1, 0x0123456789abcdefULL, ~0ULL};
    const uint64_t counters[] = {0, 127, 128 * 5 + 3, 0xfedcba9876543210ULL};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (uint32_t stream = 0; stream < 2; stream++) {
                uint64_t s = seeds[a], c = counters[b];
                uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), stream, 0};
                uint32_t key[2] = {(uint32_t)s, (uint32_t)(s >> 32)};
                uint32_t out[4];
                philox4x32_10(ctr, key, out);
                float want = (float)(out[0] >> 8) / 16777216.0f;
                float got = rng_uniform(s, stream, c);
                EXPECT(got == want, "seed %llx stream %u counter %llx: %.9g != %.9g",
                       (unsigned long long)s, stream, (unsigned long long)c, got, want);
            }
    /* Known answer through the public entry point: seed 0, stream 0, counter 0 is KAT vector 0,
     * whose first word 0x6627e8d5 gives 0x6627e8 / 2^24. */
    EXPECT(rng_uniform(0, 0, 0) == (float)0x6627e8 / 16777216.0f, "rng_uniform(0,0,0) = %.9g",
           rng_uniform(0, 0, 0));
}

/* 2^17 draws in 64 equal bins: Pearson chi-square with 63 degrees of freedom must stay under the
 * 1e-6 upper quantile, 63 (1 - 2/(9*63) + 4.7534 sqrt(2/(9*63)))^3 = 131.3 (Wilson-Hilferty).
 * Two streams of one seed must not repeat each other. */
static void test_uniformity(void) {
    enum { BINS = 64, N = 1 << 17 };
    long count[BINS] = {0};
    int same = 0;
    float lo = 1.0f, hi = 0.0f;
    for (uint64_t c = 0; c < N; c++) {
        float u = rng_uniform(42, RNG_STREAM_TARGET, c);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        count[(int)(u * BINS)]++;
        same += u == rng_uniform(42, RNG_STREAM_DRAFTER, c);
    }
    EXPECT(lo >= 0.0f && hi < 1.0f, "range [%g, %g]", lo, hi);
    double e = (double)N / BINS, chi2 = 0.0;
    for (int b = 0; b < BINS; b++) chi2 += (count[b] - e) * (count[b] - e) / e;
    double df = BINS - 1, z = 4.7534;
    double crit = df * pow(1.0 - 2.0 / (9.0 * df) + z * sqrt(2.0 / (9.0 * df)), 3.0);
    EXPECT(chi2 < crit, "uniformity chi2 %.1f >= %.1f", chi2, crit);
    /* Equal 24-bit values by chance: about N / 2^24 = 0.008 expected. */
    EXPECT(same <= 3, "streams coincide %d times", same);
}

int main(void) {
    test_known_answers();
    test_uniform_layout();
    test_uniformity();
    return test_summary("test_rng");
}
