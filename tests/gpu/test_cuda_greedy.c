/* Greedy decoding on the GPU.
 *  1. Against the CPU: pycode-19m, the first 40 HumanEval prompts, 128 new tokens each. The CUDA
 *     text must equal the CPU's on at least 95% of the prompts. For each prompt that differs, the
 *     top-2 logit gap at the first differing position is printed (CPU and CUDA): a divergence is
 *     expected only where the two candidates are nearly tied, since the bf16 GEMM inputs move the
 *     logits by about 1e-2.
 *  2. Speculative == autoregressive on the GPU, token for token, for every prompt: the model
 *     drafter on the device (pycode-3m at gamma 1, 4 and 8, and rounded to bf16 at 4), host
 *     drafters (lookup:4, ngram:3), first_target, and EGAG. Greedy speculative decoding is exact;
 *     with --draft-ahead (the drafter goes on beside each verification) the drafts, and so every
 *     prompt's drafted and accepted counts, must also be those of the same run without it;
 *     a k-row verification and a 1-row step may round differently in their GEMMs, which could
 *     flip only an exact tie. */
#include <math.h>

#include "drafters.h"
#include "generate.h"
#include "test_util.h"

#define N_PROMPTS 40
#define NEW_TOKENS 128

/* The top-2 gap of t's logits after prompt + gen[0..j). */
static float gap_at(Target *t, const int *prompt, int np, const int *gen, int j) {
    int V = t->cfg->vocab_size, n = np + j;
    int *seq = mallocCheck(sizeof(int) * (size_t)n);
    memcpy(seq, prompt, sizeof(int) * (size_t)np);
    memcpy(seq + np, gen, sizeof(int) * (size_t)j);
    float *x = mallocCheck(sizeof(float) * (size_t)V);
    t->truncate(t, 0);
    t->forward(t, seq, n, 0, x, 1);
    int b = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[b]) b = i;
    float second = -INFINITY;
    for (int i = 0; i < V; i++)
        if (i != b && x[i] > second) second = x[i];
    float gap = x[b] - second;
    free(seq);
    free(x);
    return gap;
}

static int first_difference(const GenResult *a, const GenResult *b) {
    int n = a->n_tokens < b->n_tokens ? a->n_tokens : b->n_tokens;
    for (int i = 0; i < n; i++)
        if (a->tokens[i] != b->tokens[i]) return i;
    return a->n_tokens == b->n_tokens ? -1 : n;
}

int main(void) {
    char path[4096];
    test_model_path("pycode/pycode-19m", path, sizeof path);
    Model m;
    model_load(&m, path);
    Target *cpu = target_build(&m, "cpu", 128), *gpu = target_build(&m, "cuda", 128);
    GenConfig g = gen_config_default();
    g.max_new_tokens = NEW_TOKENS;

    struct {
        const char *spec;
        int gamma, first_target, egag, ahead, same_as; /* same_as: the run without draft-ahead, or -1 */
    } runs[] = {
        {"model:pycode/pycode-3m", 1, 0, 0, 0, -1}, {"model:pycode/pycode-3m", 4, 0, 0, 0, -1},
        {"model:pycode/pycode-3m", 8, 0, 0, 0, -1}, {"model:pycode/pycode-3m", 4, 1, 0, 0, -1},
        {"model:pycode/pycode-3m", 0, 0, 1, 0, -1}, {"lookup:4", 4, 0, 0, 0, -1},
        {"ngram:3", 4, 0, 0, 0, -1},                {"ngram:3", 0, 0, 1, 0, -1},
        {"model:pycode/pycode-3m@bf16", 4, 0, 0, 0, -1},
        {"model:pycode/pycode-3m", 1, 0, 0, 2, 0},  {"model:pycode/pycode-3m", 4, 0, 0, 3, 1},
        {"model:pycode/pycode-3m", 8, 0, 0, 2, 2},
    };
#define N_RUNS (int)(sizeof runs / sizeof runs[0])
    const int n_runs = N_RUNS;
    Drafter drafters[N_RUNS];
    for (int r = 0; r < n_runs; r++) {
        DrafterOptions o = {.filler_top_k = 0, .stop_if_unknown = 0, .device = "cuda", .sampler = g.sampler};
        drafter_from_spec(&drafters[r], runs[r].spec, &m.cfg, &o);
    }
    long spec_tokens[N_RUNS] = {0}, spec_calls[N_RUNS] = {0}, kept[N_RUNS] = {0}, ahead_rounds[N_RUNS] = {0};
    long drafted[N_RUNS], accepted[N_RUNS]; /* this prompt's */
    int same = 0, spec_diff[N_RUNS] = {0}, count_diff[N_RUNS] = {0};
    for (int p = 0; p < N_PROMPTS; p++) {
        int *ids, np = test_humaneval_prompt(p, &ids);
        GenResult rc, rg;
        autoregressive_generate(cpu, ids, np, &g, &rc);
        autoregressive_generate(gpu, ids, np, &g, &rg);
        int j = first_difference(&rc, &rg);
        if (j < 0) {
            same++;
        } else {
            printf("prompt %2d: CUDA differs from CPU at new token %d: top-2 gap %.4f on the CPU, %.4f on CUDA\n", p, j,
                   gap_at(cpu, ids, np, rc.tokens, j), gap_at(gpu, ids, np, rc.tokens, j));
        }
        for (int r = 0; r < n_runs; r++) {
            GenConfig gs = g;
            gs.gamma = runs[r].egag ? 4 : runs[r].gamma;
            gs.first_target = runs[r].first_target;
            gs.use_egag = runs[r].egag;
            gs.gamma_min = 1;
            gs.gamma_max = 8;
            gs.draft_ahead = runs[r].ahead;
            GenResult rs;
            speculative_generate(gpu, &drafters[r], ids, np, &gs, &rs);
            int k = first_difference(&rg, &rs);
            if (k >= 0) {
                spec_diff[r]++;
                printf("prompt %2d: %s gamma %d%s%s differs from autoregressive at token %d\n", p, runs[r].spec,
                       runs[r].gamma, runs[r].first_target ? " first_target" : "", runs[r].egag ? " egag" : "", k);
            }
            EXPECT(rs.target_calls == rs.rounds && rs.accepted <= rs.drafted, "%s: inconsistent counts", runs[r].spec);
            drafted[r] = rs.drafted;
            accepted[r] = rs.accepted;
            kept[r] += rs.ahead_kept;
            ahead_rounds[r] += rs.ahead_rounds;
            if (runs[r].same_as >= 0 && (drafted[r] != drafted[runs[r].same_as] || accepted[r] != accepted[runs[r].same_as])) {
                count_diff[r]++;
                printf("prompt %2d: %s gamma %d draft-ahead %d drafted/accepted %ld/%ld, without it %ld/%ld\n", p,
                       runs[r].spec, runs[r].gamma, runs[r].ahead, drafted[r], accepted[r], drafted[runs[r].same_as],
                       accepted[runs[r].same_as]);
            }
            spec_tokens[r] += rs.n_tokens;
            spec_calls[r] += rs.target_calls;
            gen_result_free(&rs);
        }
        gen_result_free(&rc);
        gen_result_free(&rg);
        free(ids);
    }
    printf("greedy CUDA == CPU on %d of %d prompts (%d new tokens each)\n", same, N_PROMPTS, NEW_TOKENS);
    EXPECT(same * 100 >= 95 * N_PROMPTS, "only %d of %d prompts match the CPU", same, N_PROMPTS);
    for (int r = 0; r < n_runs; r++) {
        char ahead[96] = "";
        if (runs[r].ahead)
            snprintf(ahead, sizeof ahead, " draft-ahead %d (kept in %ld of %ld rounds; counts differ on %d prompts)",
                     runs[r].ahead, kept[r], ahead_rounds[r], count_diff[r]);
        printf("speculative %-24s gamma %d%s%s%s: %d of %d prompts differ from autoregressive; tau %.2f\n", runs[r].spec,
               runs[r].gamma, runs[r].first_target ? " first_target" : "", runs[r].egag ? " egag" : "", ahead, spec_diff[r],
               N_PROMPTS, (double)spec_tokens[r] / (double)spec_calls[r]);
        EXPECT(spec_diff[r] == 0, "%s: greedy speculative text differs from autoregressive", runs[r].spec);
        EXPECT(count_diff[r] == 0, "%s draft-ahead %d: drafts differ from drafting without it", runs[r].spec, runs[r].ahead);
        EXPECT(!runs[r].ahead || kept[r] > 0, "%s draft-ahead %d: no continuation was ever kept", runs[r].spec, runs[r].ahead);
        drafter_free(&drafters[r]);
    }
    target_free(cpu);
    target_free(gpu);
    model_free(&m);
    return test_summary("test_cuda_greedy");
}
