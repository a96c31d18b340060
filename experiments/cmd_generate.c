/* specdec generate: one prompt through the autoregressive, speculative or beam-search loop.
 * Text streams to stdout as it is generated (incomplete UTF-8 held back); --json prints one JSON
 * object per sample instead. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "drafters.h"
#include "generate.h"
#include "metrics_json.h"
#include "tokenizer.h"

static const char *USAGE =
    "usage: specdec generate --target PATH [--tokenizer FILE] (--prompt TEXT | --prompt-ids I,J,K)\n"
    "  [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]\n"
    "  [--repetition-window W] [--stop-ids I,J] [--seed S] [--num-samples N] [--device cpu|cuda]\n"
    "  [--decoder ar|spec|beam] [--drafter none|model:PATH[@bf16]|ngram:N|ngram1:N|lookup:MAX[:MIN]]\n"
    "  [--gamma G] [--egag --gamma-min A --gamma-max B --egag-beta BETA] [--filler-top-k K]\n"
    "  [--stop-if-unknown] [--first-target] [--skip-sample-adjustment] [--draft-ahead C]\n"
    "  [--num-beams N --beam-top-k K --length-alpha A --min-length M] [--trace FILE] [--json]\n";

/* Streams decoded text: decodes the whole sequence and prints what is new, up to the last
 * complete UTF-8 character. */
typedef struct {
    const Tokenizer *tok;
    int *ids;        /* (cap) prompt followed by the generated tokens */
    int n, cap;
    size_t printed;  /* bytes of the decoded text already written */
} Streamer;

static size_t complete_utf8_prefix(const char *s, size_t len) {
    /* walk back over at most 3 continuation bytes to the last lead byte */
    size_t i = len, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) { i--; back++; }
    if (i == 0) return len;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
    return back + 1 >= need ? len : i - 1;
}

static void stream_tokens(void *user, const int *tokens, int n) {
    Streamer *s = user;
    if (s->n + n > s->cap) s->ids = reallocCheck(s->ids, sizeof(int) * (size_t)(s->cap = 2 * (s->n + n)));
    memcpy(s->ids + s->n, tokens, sizeof(int) * (size_t)n);
    s->n += n;
    size_t len;
    char *text = s->tok->decode(s->tok, s->ids, s->n, &len);
    size_t upto = complete_utf8_prefix(text, len);
    if (upto > s->printed) {
        fwrite(text + s->printed, 1, upto - s->printed, stdout);
        fflush(stdout);
        s->printed = upto;
    }
    free(text);
}

/* The generated text: decode(prompt + new) without decode(prompt), so that tokenizers whose
 * decoding depends on the preceding token (SentencePiece's leading space) come out right. */
static char *generated_text(const Tokenizer *tok, const int *prompt, int n_prompt, const int *gen, int n_gen) {
    int *all = mallocCheck(sizeof(int) * (size_t)(n_prompt + n_gen));
    memcpy(all, prompt, sizeof(int) * (size_t)n_prompt);
    memcpy(all + n_prompt, gen, sizeof(int) * (size_t)n_gen);
    size_t la, lp;
    char *a = tok->decode(tok, all, n_prompt + n_gen, &la);
    char *p = tok->decode(tok, prompt, n_prompt, &lp);
    free(all);
    char *out;
    if (lp <= la && !memcmp(a, p, lp)) {
        out = mallocCheck(la - lp + 1);
        memcpy(out, a + lp, la - lp);
        out[la - lp] = '\0';
    } else {
        out = tok->decode(tok, gen, n_gen, NULL);
    }
    free(a);
    free(p);
    return out;
}

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

int cmd_generate(int argc, char **argv) {
    const char *target_arg = NULL, *tokenizer_arg = NULL, *prompt_text = NULL, *prompt_ids_arg = NULL;
    const char *drafter_spec = "none", *decoder = NULL, *device = NULL, *trace_path = NULL;
    int json = 0, num_samples = 1;
    GenConfig g = gen_config_default();
    DrafterOptions dopt = {.filler_top_k = 0, .stop_if_unknown = 0};
    int *stop_ids = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define FLAG(name) (!strcmp(a, name))
#define VALUE cli_value(argc, argv, &i)
        if (FLAG("--target")) target_arg = VALUE;
        else if (FLAG("--tokenizer")) tokenizer_arg = VALUE;
        else if (FLAG("--prompt")) prompt_text = VALUE;
        else if (FLAG("--prompt-ids")) prompt_ids_arg = VALUE;
        else if (FLAG("--max-new-tokens")) g.max_new_tokens = (int)cli_int(a, VALUE, 0, 1 << 24);
        else if (FLAG("--temperature")) g.sampler.temperature = (float)cli_float(a, VALUE, -1e30, 1e30);
        else if (FLAG("--top-k")) g.sampler.top_k = (int)cli_int(a, VALUE, -(1L << 30), 1L << 30);
        else if (FLAG("--top-p")) g.sampler.top_p = (float)cli_float(a, VALUE, -1e30, 1e30);
        else if (FLAG("--repetition-penalty")) g.sampler.repetition_penalty = (float)cli_float(a, VALUE, -1e30, 1e30);
        else if (FLAG("--repetition-window")) g.sampler.repetition_window = (int)cli_int(a, VALUE, -(1L << 30), 1L << 30);
        else if (FLAG("--stop-ids")) g.n_stop = cli_int_list(a, VALUE, &stop_ids);
        else if (FLAG("--seed")) g.seed = (uint64_t)cli_int(a, VALUE, 0, 0x7fffffffffffffffL);
        else if (FLAG("--num-samples")) num_samples = (int)cli_int(a, VALUE, 1, 1 << 20);
        else if (FLAG("--device")) device = VALUE;
        else if (FLAG("--decoder")) decoder = VALUE;
        else if (FLAG("--drafter")) drafter_spec = VALUE;
        else if (FLAG("--gamma")) g.gamma = (int)cli_int(a, VALUE, 1, GAMMA_MAX_LIMIT);
        else if (FLAG("--egag")) g.use_egag = 1;
        else if (FLAG("--gamma-min")) g.gamma_min = (int)cli_int(a, VALUE, 1, GAMMA_MAX_LIMIT);
        else if (FLAG("--gamma-max")) g.gamma_max = (int)cli_int(a, VALUE, 1, GAMMA_MAX_LIMIT);
        else if (FLAG("--egag-beta")) g.egag_beta = (float)cli_float(a, VALUE, 0.0, 1.0);
        else if (FLAG("--filler-top-k")) dopt.filler_top_k = (int)cli_int(a, VALUE, 0, 1 << 20);
        else if (FLAG("--stop-if-unknown")) dopt.stop_if_unknown = 1;
        else if (FLAG("--first-target")) g.first_target = 1;
        else if (FLAG("--skip-sample-adjustment")) g.skip_sample_adjustment = 1;
        else if (FLAG("--draft-ahead")) g.draft_ahead = (int)cli_int(a, VALUE, 0, GAMMA_MAX_LIMIT + 1);
        else if (FLAG("--num-beams")) g.num_beams = (int)cli_int(a, VALUE, 1, 64);
        else if (FLAG("--beam-top-k")) g.beam_top_k = (int)cli_int(a, VALUE, 1, 1024);
        else if (FLAG("--length-alpha")) g.length_alpha = (float)cli_float(a, VALUE, -100, 100);
        else if (FLAG("--min-length")) g.min_length = (int)cli_int(a, VALUE, 0, 1 << 24);
        else if (FLAG("--trace")) trace_path = VALUE;
        else if (FLAG("--json")) json = 1;
        else if (FLAG("--help") || FLAG("-h")) { fputs(USAGE, stdout); return 0; }
        else fatal("generate: unknown option '%s' (see specdec generate --help)", a);
#undef FLAG
#undef VALUE
    }
    if (!target_arg) fatal("generate: --target is required");
    if (!prompt_text == !prompt_ids_arg) fatal("generate: give exactly one of --prompt and --prompt-ids");
    sampler_config_validate(&g.sampler, "generate");
    if (g.gamma_min > g.gamma_max) fatal("--gamma-min (%d) must not exceed --gamma-max (%d)", g.gamma_min, g.gamma_max);
    g.stop_ids = stop_ids;
    if (!decoder) decoder = strcmp(drafter_spec, "none") ? "spec" : "ar";
    if (strcmp(decoder, "ar") && strcmp(decoder, "spec") && strcmp(decoder, "beam"))
        fatal("--decoder: unknown decoder '%s' (expected ar, spec or beam)", decoder);
    if (!strcmp(decoder, "spec") && !strcmp(drafter_spec, "none")) fatal("--decoder spec needs a --drafter");
    if (!device) device = default_device();

    char target_path[4096];
    resolve_model_path(target_arg, target_path, sizeof target_path);
    Model model;
    model_load(&model, target_path);
    const ModelConfig *c = &model.cfg;

    char tok_path[4096];
    if (tokenizer_arg) snprintf(tok_path, sizeof tok_path, "%s", tokenizer_arg);
    else tokenizer_find_for_model(target_path, tok_path, sizeof tok_path);
    Tokenizer *tok = tokenizer_load(tok_path, c->vocab_size);

    int *prompt, n_prompt;
    if (prompt_ids_arg) {
        n_prompt = cli_int_list("--prompt-ids", prompt_ids_arg, &prompt);
        for (int i = 0; i < n_prompt; i++)
            if (prompt[i] >= c->vocab_size)
                fatal("--prompt-ids: id %d is outside %s's vocabulary (%d)", prompt[i], target_path, c->vocab_size);
    } else {
        n_prompt = tokenize_prompt(tok, prompt_text, strlen(prompt_text), c->bos_id, 1, &prompt);
    }
    if (n_prompt < 1) fatal("generate: the prompt is empty");
    if (n_prompt >= c->seq_len)
        fatal("%s: the prompt has %d tokens but the model's context length is %d", target_path, n_prompt, c->seq_len);

    FILE *trace = trace_path ? fopenCheck(trace_path, "w") : NULL;
    g.trace = trace;
    Target *t = target_build(&model, device, 128);
    int nb = !strcmp(decoder, "beam") ? g.num_beams : 0;
    Target **beams = NULL;
    if (nb) {
        beams = mallocCheck(sizeof(Target *) * (size_t)nb);
        beams[0] = t;
        for (int b = 1; b < nb; b++) beams[b] = target_build(&model, device, 128);
    }

    for (int sample = 0; sample < num_samples; sample++) {
        GenConfig gs = g;
        gs.seed = g.seed + (uint64_t)sample;
        Drafter d;
        dopt.device = device;
        dopt.sampler = gs.sampler;
        if (!strcmp(decoder, "spec")) drafter_from_spec(&d, drafter_spec, c, &dopt);
        Streamer st = {tok, NULL, 0, 0, 0};
        if (!json) {
            /* the prompt as the user wrote it (ids are not echoed); then only the new text */
            if (prompt_text) fputs(prompt_text, stdout);
            st.ids = mallocCheck(sizeof(int) * (size_t)(st.cap = n_prompt + 64));
            memcpy(st.ids, prompt, sizeof(int) * (size_t)n_prompt);
            st.n = n_prompt;
            free(tok->decode(tok, prompt, n_prompt, &st.printed));
            gs.on_tokens = stream_tokens;
            gs.user = &st;
        }
        GenResult r;
        if (!strcmp(decoder, "ar")) autoregressive_generate(t, prompt, n_prompt, &gs, &r);
        else if (!strcmp(decoder, "spec")) speculative_generate(t, &d, prompt, n_prompt, &gs, &r);
        else beam_search_generate(beams, prompt, n_prompt, &gs, &r);

        char *text = generated_text(tok, prompt, n_prompt, r.tokens, r.n_tokens);
        int gamma_for_prediction = !strcmp(decoder, "spec") && !g.use_egag ? g.gamma : 0;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "target", target_path);
            cJSON_AddStringToObject(o, "device", t->backend);
            cJSON_AddStringToObject(o, "decoder", decoder);
            cJSON_AddStringToObject(o, "drafter", drafter_spec);
            cJSON_AddStringToObject(o, "sampler", sampler_name(&gs.sampler));
            cJSON_AddNumberToObject(o, "seed", (double)gs.seed);
            cJSON_AddItemToObject(o, "prompt_ids", int_array(prompt, n_prompt));
            cJSON_AddItemToObject(o, "tokens", int_array(r.tokens, r.n_tokens));
            cJSON_AddStringToObject(o, "text", text);
            cJSON_AddItemToObject(o, "metrics", metrics_to_json(&r, gamma_for_prediction));
            char *s = cJSON_PrintUnformatted(o);
            puts(s);
            free(s);
            cJSON_Delete(o);
        } else {
            if (st.n) { /* flush what the UTF-8 hold-back kept */
                size_t len;
                char *all = tok->decode(tok, st.ids, st.n, &len);
                if (len > st.printed) fwrite(all + st.printed, 1, len - st.printed, stdout);
                free(all);
            }
            fputc('\n', stdout);
            fflush(stdout);
            double alpha = metric_acceptance_rate(&r);
            fprintf(stderr, "[%s %s] prompt %d tokens, prefill %.1f ms; generated %d tokens at %.1f tok/s; target calls %ld",
                    decoder, t->backend, n_prompt, r.prefill_s * 1e3, r.n_tokens, metric_tokens_per_s(&r), r.target_calls);
            if (!strcmp(decoder, "spec"))
                fprintf(stderr, "; drafted %ld, accepted %ld (%.1f%%), tokens per target call %.2f", r.drafted, r.accepted,
                        100.0 * (r.drafted ? alpha : 0.0), metric_mean_accepted_length(&r));
            fputc('\n', stderr);
        }
        free(st.ids);
        free(text);
        gen_result_free(&r);
        if (!strcmp(decoder, "spec")) drafter_free(&d);
    }
    if (trace) fclose(trace);
    if (nb) {
        for (int b = 0; b < nb; b++) target_free(beams[b]);
        free(beams);
    } else {
        target_free(t);
    }
    free(prompt);
    free(stop_ids);
    tokenizer_free(tok);
    model_free(&model);
    return 0;
}
