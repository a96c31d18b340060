/* Logits processors: logits (vocab) -> the processed distribution p (vocab).
 *
 * Composition order, the same as Hugging Face generate():
 *   1. repetition penalty (CTRL, Keskar et al. 2019) over the last `repetition_window` tokens:
 *      a positive logit is divided by the penalty, a negative one multiplied;
 *   2. greedy stops here: p is one-hot at the argmax (first index on ties);
 *   3. temperature: logits / T;
 *   4. top-k: keep the k largest (ties at the k-th value kept);
 *   5. top-p (nucleus): keep the smallest set, by descending probability, whose mass reaches p;
 *   6. softmax over what is kept.
 * Both the target's p and a model drafter's q are these processed distributions.
 *
 * Processor names follow the reference harness: Greedy, Multinomial, TopK, Nucleus, TopKNucleus. */
#ifndef SPECDEC_SAMPLER_H
#define SPECDEC_SAMPLER_H

typedef struct {
    float temperature;         /* 0: greedy */
    int top_k;                 /* 0: off */
    float top_p;               /* 1: off; (0, 1] */
    float repetition_penalty;  /* 1: off; > 0 */
    int repetition_window;     /* how many recent tokens the penalty looks at; 0: all of them */
} SamplerConfig;

SamplerConfig sampler_config_default(void); /* greedy, no penalty */
/* fatal() with the field name when a value is out of range (`where` prefixes the message). */
void sampler_config_validate(const SamplerConfig *c, const char *where);
int sampler_is_greedy(const SamplerConfig *c);
/* "greedy", "multinomial", "top_k", "nucleus" or "top_k_nucleus" */
const char *sampler_name(const SamplerConfig *c);

typedef struct Sampler Sampler;
Sampler *sampler_build(const SamplerConfig *c, int vocab);
void sampler_free(Sampler *s);
/* history: the tokens so far (prompt and generated), for the repetition penalty. */
void sampler_probs(Sampler *s, const float *logits, const int *history, int n_history, float *probs);
/* Inverse CDF: the first index whose cumulative probability exceeds u * total. Never returns a
 * zero-probability token. */
int sample_from_probs(const float *probs, int n, float u);
int argmax_f32(const float *x, int n);
/* Entropy (nats) of a normalised distribution. */
float entropy_of(const float *probs, int n);

#endif
