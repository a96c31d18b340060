/* Experiment configs: parsing, canonical hashing, grid expansion, and every kind of bad config
 * refused with exit status 2 and one line naming what is wrong. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp_config.h"
#include "sha256.h"
#include "test_util.h"


static const char *BASE =
    "{\"name\": \"t\", \"target\": \"pycode/pycode-19m\", \"drafters\": [\"ngram:3\", \"lookup:3\"],"
    " \"gammas\": [2, 4], \"egag\": [{\"gamma_min\": 1, \"gamma_max\": 6, \"beta\": 0.5}],"
    " \"samplers\": [{\"temperature\": 0}, {\"temperature\": 0.8, \"top_p\": 0.95}],"
    " \"dataset\": {\"path\": \"humaneval.jsonl\", \"format\": \"humaneval\"},"
    " \"n_prompts\": 3, \"max_new_tokens\": 64, \"seeds\": [0, 7], \"repeats\": 2}";

static void parse_text(void *text) {
    ExpConfig c;
    exp_config_parse(&c, text, "bad.json");
}

/* exp_config_parse on text must exit 2 with one stderr line holding every needle. */
static void expect_refused(const char *text, const char *needle1, const char *needle2) {
    test_expect_fatal(text, parse_text, (void *)text, needle1);
    if (needle2) test_expect_fatal(text, parse_text, (void *)text, needle2);
}

/* BASE with `from` replaced by `to`. */
static char *edit(const char *from, const char *to) {
    const char *at = strstr(BASE, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' not in BASE\n", from);
        exit(1);
    }
    char *out = malloc(strlen(BASE) + strlen(to) + 1);
    size_t head = (size_t)(at - BASE);
    memcpy(out, BASE, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

static void refused_edit(const char *from, const char *to, const char *needle1, const char *needle2) {
    char *text = edit(from, to);
    expect_refused(text, needle1, needle2);
    free(text);
}

int main(void) {
    /* canonical hashing: sorted keys, no whitespace */
    cJSON *j = cJSON_Parse("{ \"b\": 1, \"a\": [ {\"d\": 2, \"c\": 3} ] }");
    char h1[65], h2[65];
    json_canonical_hash(j, h1);
    const char *canon = "{\"a\":[{\"c\":3,\"d\":2}],\"b\":1}";
    sha256_hex(canon, strlen(canon), h2);
    EXPECT(!strcmp(h1, h2), "canonical hash %s, want sha256 of %s = %s", h1, canon, h2);
    cJSON_Delete(j);

    ExpConfig c;
    exp_config_parse(&c, BASE, "base.json");
    EXPECT(c.n_targets == 1 && c.n_drafters == 2 && c.n_gammas == 3 && c.n_samplers == 2 && c.n_seeds == 2 &&
               c.repeats == 2 && c.max_new_tokens == 64 && c.n_prompts == 3,
           "parsed counts");
    EXPECT(c.gammas[2].is_egag && c.gammas[2].gamma_min == 1 && c.gammas[2].gamma_max == 6 &&
               !strcmp(c.gammas[2].label, "egag:1-6:0.5"), "egag setting %s", c.gammas[2].label);
    EXPECT(c.samplers[1].temperature > 0.79f && c.samplers[1].top_p > 0.94f && c.samplers[1].top_k == 0, "sampler 1");
    EXPECT(!strcmp(c.dataset.field, "prompt") && !strcmp(c.dataset.id_field, "task_id"), "humaneval fields");
    char label[64];
    sampler_label(&c.samplers[0], label, sizeof label);
    EXPECT(!strcmp(label, "greedy"), "label %s", label);
    sampler_label(&c.samplers[1], label, sizeof label);
    EXPECT(!strcmp(label, "T0.8-p0.95"), "label %s", label);

    /* the same settings written differently hash the same; explicit defaults change nothing */
    ExpConfig c2;
    exp_config_parse(&c2,
                     "{\"repeats\":2,\"seeds\":[0,7],\"max_new_tokens\":64,\"n_prompts\":3,"
                     "\"dataset\":{\"format\":\"humaneval\",\"path\":\"humaneval.jsonl\",\"prefix_words\":0},"
                     "\"samplers\":[{\"temperature\":0,\"top_k\":0,\"top_p\":1},{\"top_p\":0.95,\"temperature\":0.8}],"
                     "\"egag\":[{\"beta\":0.5,\"gamma_max\":6,\"gamma_min\":1}],\"gammas\":[2,4],"
                     "\"drafters\":[\"ngram:3\",\"lookup:3\"],\"target\":[\"pycode/pycode-19m\"],\"name\":\"t\","
                     "\"stop_if_unknown\":false}",
                     "reordered.json");
    EXPECT(!strcmp(c.hash, c2.hash), "reordered config hashes differ: %s vs %s", c.hash, c2.hash);
    exp_config_free(&c2);
    char *changed = edit("\"max_new_tokens\": 64", "\"max_new_tokens\": 65");
    exp_config_parse(&c2, changed, "changed.json");
    EXPECT(strcmp(c.hash, c2.hash) != 0, "a changed value kept the hash");
    exp_config_free(&c2);
    free(changed);

    /* grid: 1 target x 2 samplers x 3 prompts x 2 seeds x 2 repeats = 24 groups of 1 + 2 x 3 runs */
    Prompt prompts[3] = {{"HumanEval/0", "", "a"}, {"HumanEval/1", "", "b"}, {"HumanEval/2", "", "c"}};
    PromptSet ps = {prompts, 3};
    int n, groups;
    RunSpec *runs = exp_grid_expand(&c, &ps, &n, &groups);
    EXPECT(n == 168 && groups == 24, "grid %d runs in %d groups, want 168 in 24", n, groups);
    for (int i = 0; i < n; i++) {
        EXPECT(runs[i].index == i && runs[i].group == i / 7, "run %d index/group", i);
        EXPECT((i % 7 == 0) == (runs[i].drafter < 0), "run %d: the baseline must open its group", i);
        for (int k = 0; k < i; k++) EXPECT(strcmp(runs[i].id, runs[k].id) != 0, "runs %d and %d share id %s", i, k, runs[i].id);
    }
    /* ids follow the settings, not positions: another prompt order moves the same ids */
    Prompt swapped[3] = {prompts[2], prompts[1], prompts[0]};
    PromptSet ps2 = {swapped, 3};
    int n2, g2;
    RunSpec *runs2 = exp_grid_expand(&c, &ps2, &n2, &g2);
    EXPECT(!strcmp(runs2[0].id, runs[2 * 2 * 7 * 2].id), "id of the first run of HumanEval/2 moved: %s vs %s", runs2[0].id,
           runs[2 * 2 * 7 * 2].id);
    cJSON *settings = run_settings_json(&c, &ps, &runs[1]);
    char *text = cJSON_PrintUnformatted(settings);
    EXPECT(strstr(text, "\"drafter\":\"ngram:3\"") && strstr(text, "\"gamma\":2") && strstr(text, "\"prompt_id\":\"HumanEval/0\""),
           "settings %s", text);
    free(text);
    cJSON_Delete(settings);
    free(runs);
    free(runs2);
    exp_config_free(&c);

    /* draft_ahead: 0 is the default and leaves the hash alone; C > 0 marks (and re-ids) only the
     * model drafter's runs */
    char *ahead0 = edit("\"repeats\": 2", "\"repeats\": 2, \"draft_ahead\": 0");
    exp_config_parse(&c, BASE, "base.json");
    exp_config_parse(&c2, ahead0, "ahead0.json");
    EXPECT(c2.draft_ahead == 0 && !strcmp(c2.hash, c.hash), "draft_ahead 0 changed the hash");
    exp_config_free(&c);
    exp_config_free(&c2);
    free(ahead0);
    static const char *MODEL =
        "{\"name\": \"m\", \"target\": \"pycode/pycode-19m\", \"drafters\": [\"model:pycode/pycode-3m\", \"lookup:3\"],"
        " \"gammas\": [2, 4], \"dataset\": {\"path\": \"humaneval.jsonl\", \"format\": \"humaneval\"}%s}";
    char plain_text[1024], ahead_text[1024];
    snprintf(plain_text, sizeof plain_text, MODEL, "");
    snprintf(ahead_text, sizeof ahead_text, MODEL, ", \"draft_ahead\": 2");
    ExpConfig plain, ahead;
    exp_config_parse(&plain, plain_text, "plain.json");
    exp_config_parse(&ahead, ahead_text, "ahead.json");
    EXPECT(ahead.draft_ahead == 2 && strcmp(plain.hash, ahead.hash) != 0, "draft_ahead 2: %d, hash kept", ahead.draft_ahead);
    int np, na, gp, ga;
    RunSpec *rp = exp_grid_expand(&plain, &ps, &np, &gp), *ra = exp_grid_expand(&ahead, &ps, &na, &ga);
    EXPECT(np == na && np == 3 * 5, "grids of %d and %d runs, want 15", np, na);
    for (int i = 0; i < np && i < na; i++) {
        int model = ra[i].drafter == 0;
        EXPECT(exp_run_draft_ahead(&ahead, &ra[i]) == (model ? 2 : 0) && exp_run_draft_ahead(&plain, &rp[i]) == 0,
               "run %d: draft-ahead length", i);
        EXPECT(!strcmp(rp[i].id, ra[i].id) == !model, "run %d (drafter %d): id %s vs %s", i, ra[i].drafter, rp[i].id, ra[i].id);
        cJSON *st = run_settings_json(&ahead, &ps, &ra[i]);
        EXPECT((cJSON_GetObjectItemCaseSensitive(st, "draft_ahead") != NULL) == model, "run %d settings", i);
        cJSON_Delete(st);
    }
    free(rp);
    free(ra);
    exp_config_free(&plain);
    exp_config_free(&ahead);
    refused_edit("\"repeats\": 2", "\"repeats\": 2, \"draft_ahead\": 2", "\"draft_ahead\" needs a model drafter", NULL);
    refused_edit("\"repeats\": 2", "\"repeats\": 2, \"draft_ahead\": -1", "\"draft_ahead\" must be", NULL);
    snprintf(ahead_text, sizeof ahead_text, MODEL, ", \"draft_ahead\": 4");
    expect_refused(ahead_text, "\"draft_ahead\" 4 exceeds gamma + 1 for gamma 2", NULL);
    snprintf(ahead_text, sizeof ahead_text, MODEL, ", \"draft_ahead\": 2, \"egag\": [{\"gamma_min\": 1}]");
    expect_refused(ahead_text, "needs fixed gammas", NULL);
    snprintf(ahead_text, sizeof ahead_text, MODEL, ", \"draft_ahead\": 2, \"samplers\": [{}, {\"temperature\": 0.8}]");
    expect_refused(ahead_text, "needs greedy samplers without a repetition penalty; \"samplers\"[1]", NULL);
    snprintf(ahead_text, sizeof ahead_text, MODEL, ", \"draft_ahead\": 2, \"samplers\": [{\"repetition_penalty\": 1.2}]");
    expect_refused(ahead_text, "\"samplers\"[0] is not", NULL);

    /* bad configs */
    expect_refused("{\"target\": ", "not valid JSON", NULL);
    expect_refused("[1]", "must be a JSON object", NULL);
    refused_edit("\"repeats\": 2", "\"repeats\": 2, \"gama\": [1]", "unknown key \"gama\"", "allowed: name, description, target");
    refused_edit("{\"temperature\": 0}", "{\"temprature\": 0}", "samplers[0]: unknown key \"temprature\"", "allowed: temperature");
    refused_edit("\"beta\": 0.5", "\"beta\": 0.5, \"gamma\": 3", "egag[0]: unknown key \"gamma\"", "allowed: gamma_min");
    refused_edit("\"format\": \"humaneval\"", "\"format\": \"humaneval\", \"feild\": \"x\"", "dataset: unknown key \"feild\"",
                 "allowed: path, format");
    refused_edit("\"max_new_tokens\": 64", "\"max_new_tokens\": \"64\"", "\"max_new_tokens\" must be an integer", "got a string");
    refused_edit("\"max_new_tokens\": 64", "\"max_new_tokens\": 6.5", "\"max_new_tokens\" must be an integer", "fraction");
    refused_edit("\"gammas\": [2, 4]", "\"gammas\": 2", "\"gammas\" must be an array", "got a number");
    refused_edit("\"target\": \"pycode/pycode-19m\"", "\"target\": 5", "\"target\" must be a string or an array of strings", NULL);
    refused_edit("\"repeats\": 2", "\"repeats\": 2, \"stop_if_unknown\": 1", "\"stop_if_unknown\" must be true or false", NULL);
    refused_edit("\"samplers\": [{\"temperature\": 0}", "\"samplers\": [7", "samplers[0] must be an object", NULL);
    refused_edit("\"gammas\": [2, 4]", "\"gammas\": [0, 4]", "\"gammas[0]\" must be in [1, 64]", NULL);
    refused_edit("\"gammas\": [2, 4]", "\"gammas\": [2, 2]", "repeats gamma 2", NULL);
    refused_edit("\"top_p\": 0.95", "\"top_p\": 1.5", "samplers[1]", "top_p");
    refused_edit("\"seeds\": [0, 7]", "\"seeds\": [0, -1]", "\"seeds\"[1] must be an integer", NULL);
    refused_edit("\"repeats\": 2", "\"repeats\": 2, \"repeats\": 3", "key \"repeats\" appears twice", NULL);
    refused_edit("\"format\": \"humaneval\"", "\"format\": \"humaneval\", \"category\": \"coding\"",
                 "\"category\" filters need a dataset with categories", NULL);
    refused_edit("\"dataset\": {\"path\": \"humaneval.jsonl\", \"format\": \"humaneval\"},", "", "missing \"dataset\"", NULL);
    refused_edit("[\"ngram:3\", \"lookup:3\"]", "[\"none\"]", "is \"none\"", NULL);
    /* empty grids */
    refused_edit("[\"ngram:3\", \"lookup:3\"]", "[]", "\"drafters\" is empty", NULL);
    refused_edit("\"gammas\": [2, 4], \"egag\": [{\"gamma_min\": 1, \"gamma_max\": 6, \"beta\": 0.5}],", "\"gammas\": [],",
                 "\"gammas\" and \"egag\" are both empty", NULL);
    refused_edit("[{\"temperature\": 0}, {\"temperature\": 0.8, \"top_p\": 0.95}]", "[]", "\"samplers\" is empty", NULL);
    refused_edit("\"seeds\": [0, 7]", "\"seeds\": []", "\"seeds\" is empty", NULL);
    refused_edit("\"repeats\": 2", "\"repeats\": 0", "\"repeats\" is 0", NULL);
    refused_edit("\"target\": \"pycode/pycode-19m\"", "\"target\": []", "\"target\" is empty", NULL);

    return test_summary("test_exp_config");
}
