/* Greedy speculative decoding is lossless: with the greedy processor, speculative output equals
 * autoregressive output token for token, for every drafter (DESIGN.md; Leviathan et al. 2023).
 * Target pycode-19m, HumanEval prompts from the reference fixture. */
#include "drafters.h"
#include "generate.h"
#include "test_util.h"

int main(void) {
    char target_path[4096];
    test_model_path("pycode/pycode-19m", target_path, sizeof target_path);
    Model m;
    model_load(&m, target_path);
    Target *t = target_cpu_build(&m, 128);
    int n_prompts = test_sanitized() ? 2 : 10, max_new = test_sanitized() ? 24 : 64;
    const char *drafters[] = {"model:pycode/pycode-3m", "model:pycode/pycode-3m@bf16", "model:pycode/pycode-1m",
                              "ngram:3", "ngram1:3", "lookup:3"};
    int nd = (int)(sizeof drafters / sizeof drafters[0]);
    long total_drafted = 0, total_accepted = 0;
    for (int pi = 0; pi < n_prompts; pi++) {
        int *prompt, np = test_humaneval_prompt(pi, &prompt);
        GenConfig g = gen_config_default();
        g.max_new_tokens = max_new;
        GenResult ar;
        autoregressive_generate(t, prompt, np, &g, &ar);
        EXPECT(ar.target_calls == ar.n_tokens, "AR makes one target call per token");
        for (int di = 0; di < nd; di++) {
            for (int variant = 0; variant < 3; variant++) {
                /* variants: gamma 4; gamma 7 with first_target; EGAG 1..8 */
                GenConfig gs = g;
                gs.gamma = variant == 1 ? 7 : 4;
                gs.first_target = variant == 1;
                gs.use_egag = variant == 2;
                gs.gamma_min = 1;
                gs.gamma_max = 8;
                DrafterOptions o = {.filler_top_k = 2, .device = "cpu", .sampler = g.sampler};
                Drafter d;
                drafter_from_spec(&d, drafters[di], &m.cfg, &o);
                GenResult sp;
                speculative_generate(t, &d, prompt, np, &gs, &sp);
                int same = sp.n_tokens == ar.n_tokens && !memcmp(sp.tokens, ar.tokens, sizeof(int) * (size_t)ar.n_tokens);
                int at = 0;
                while (at < sp.n_tokens && at < ar.n_tokens && sp.tokens[at] == ar.tokens[at]) at++;
                EXPECT(same, "prompt %d drafter %s variant %d: speculative differs from autoregressive at token %d "
                       "(%d vs %d tokens)", pi, drafters[di], variant, at, sp.n_tokens, ar.n_tokens);
                EXPECT(sp.accepted <= sp.drafted && sp.target_calls <= ar.target_calls,
                       "prompt %d drafter %s: accepted %ld of %ld, %ld target calls", pi, drafters[di], sp.accepted,
                       sp.drafted, sp.target_calls);
                total_drafted += sp.drafted;
                total_accepted += sp.accepted;
                gen_result_free(&sp);
                drafter_free(&d);
            }
        }
        gen_result_free(&ar);
        free(prompt);
    }
    printf("greedy lossless: %d prompts x %d drafters x 3 variants, %ld drafted, %ld accepted\n", n_prompts, nd,
           total_drafted, total_accepted);
    EXPECT(total_accepted > 0, "some drafts must be accepted");
    target_free(t);
    model_free(&m);
    return test_summary("test_spec_greedy");
}
