/* specdec synth: a random-weight checkpoint of a real model shape, in Hugging Face layout
 * (config.json + one model.safetensors), for speed measurements where acceptance does not matter.
 *
 * Weights are uniform in [-0.03, 0.03] (std 0.017, about the 0.02 init of these models, so the
 * activations stay in range); norm weights are 1. Each element is a hash of (seed, tensor, index)
 * (splitmix64), so the file is the same for a seed whatever the thread count, and tensors are
 * generated and written in chunks: an 8B checkpoint (16 GB) never sits in memory.
 *
 * The Llama shapes keep rope_theta 500000 but not Llama 3's rope scaling, which the loader does
 * not implement; it changes no cost. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "model.h"

#define SYNTH_CHUNK (1u << 24) /* elements generated per write */

typedef struct {
    const char *name;
    int hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_pos, tied, bos, eos;
    double rope_theta, norm_eps;
} Shape;

static const Shape SHAPES[] = {
    /* Llama-3.2-1B */
    {"llama-1b", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 1, 128000, 128001, 500000.0, 1e-5},
    /* Llama-3.1-8B */
    {"llama-8b", 4096, 32, 32, 8, 128, 14336, 128256, 131072, 0, 128000, 128001, 500000.0, 1e-5},
    /* pycode-19m (../shared/models/pycode/pycode-19m/config.json) */
    {"pycode-19m", 384, 8, 6, 2, 64, 1024, 8192, 2048, 0, 0, 0, 10000.0, 1e-5},
};

typedef struct {
    char name[96];
    int64_t rows, cols;
    int is_norm;
} Tensor;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The tensors of a shape in checkpoint order; returns how many. */
static int list_tensors(const Shape *s, Tensor *t) {
    int n = 0;
    int64_t qd = (int64_t)s->heads * s->head_dim, kvd = (int64_t)s->kv_heads * s->head_dim;
#define ADD(r, c, norm, ...)                                   \
    do {                                                       \
        snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__);    \
        t[n].rows = (r);                                       \
        t[n].cols = (c);                                       \
        t[n].is_norm = (norm);                                 \
        n++;                                                   \
    } while (0)
    ADD(s->vocab, s->hidden, 0, "model.embed_tokens.weight");
    for (int l = 0; l < s->layers; l++) {
        ADD(1, s->hidden, 1, "model.layers.%d.input_layernorm.weight", l);
        ADD(qd, s->hidden, 0, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(kvd, s->hidden, 0, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(kvd, s->hidden, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(s->hidden, qd, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(1, s->hidden, 1, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(s->intermediate, s->hidden, 0, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(s->intermediate, s->hidden, 0, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(s->hidden, s->intermediate, 0, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(1, s->hidden, 1, "model.norm.weight");
    if (!s->tied) ADD(s->vocab, s->hidden, 0, "lm_head.weight");
#undef ADD
    return n;
}

static void write_config(const Shape *s, DType dt, const char *dir) {
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(c, "model_type", "llama");
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddBoolToObject(c, "attention_bias", 0);
    cJSON_AddNumberToObject(c, "hidden_size", s->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", s->intermediate);
    cJSON_AddNumberToObject(c, "num_hidden_layers", s->layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", s->kv_heads);
    cJSON_AddNumberToObject(c, "head_dim", s->head_dim);
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos);
    cJSON_AddNumberToObject(c, "rms_norm_eps", s->norm_eps);
    cJSON *rope = cJSON_AddObjectToObject(c, "rope_parameters");
    cJSON_AddNumberToObject(rope, "rope_theta", s->rope_theta);
    cJSON_AddStringToObject(rope, "rope_type", "default");
    cJSON_AddBoolToObject(c, "tie_word_embeddings", s->tied);
    cJSON_AddNumberToObject(c, "bos_token_id", s->bos);
    cJSON_AddNumberToObject(c, "eos_token_id", s->eos);
    cJSON_AddStringToObject(c, "dtype", dt == DTYPE_BF16 ? "bfloat16" : "float32");
    cJSON_AddStringToObject(c, "specdec_synth", s->name);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = cJSON_Print(c);
    FILE *f = fopenCheck(path, "w");
    if (fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f)) fatal("%s: write failed (%s)", path, strerror(errno));
    free(text);
    cJSON_Delete(c);
}

/* Elements [start, start + n) of tensor `ti`, stored as dtype into out. */
static void fill_chunk(void *out, DType dt, const Tensor *t, int ti, uint64_t seed, int64_t start, int64_t n) {
    uint64_t base = splitmix64(seed ^ ((uint64_t)ti << 40));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = 1.0f;
        if (!t->is_norm) {
            uint64_t h = splitmix64(base + (uint64_t)(start + i));
            v = ((float)(h >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 0.03f;
        }
        if (dt == DTYPE_F32) ((float *)out)[i] = v;
        else ((uint16_t *)out)[i] = f32_to_bf16(v);
    }
}

static void usage(void) {
    printf("usage: specdec synth --shape llama-1b|llama-8b|pycode-19m --out DIR [--dtype bf16|f32] [--seed S]\n");
}

int cmd_synth(int argc, char **argv) {
    const char *shape_name = NULL, *out = NULL, *dtype = "bf16";
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--shape")) shape_name = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--out")) out = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--dtype")) dtype = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--seed")) seed = (uint64_t)cli_int("--seed", cli_value(argc, argv, &i), 0, 0x7fffffffffffffffL);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else fatal("synth: unknown option '%s' (see specdec synth --help)", a);
    }
    if (!shape_name || !out) fatal("synth: --shape and --out are required (see specdec synth --help)");
    const Shape *s = NULL;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (!strcmp(SHAPES[i].name, shape_name)) s = &SHAPES[i];
    if (!s) fatal("synth: --shape '%s' is unknown (expected llama-1b, llama-8b or pycode-19m)", shape_name);
    DType dt;
    if (!strcmp(dtype, "bf16")) dt = DTYPE_BF16;
    else if (!strcmp(dtype, "f32")) dt = DTYPE_F32;
    else fatal("synth: --dtype '%s' is unknown (expected bf16 or f32)", dtype);
    if (mkdir(out, 0755) && errno != EEXIST) fatal("%s: cannot create the directory (%s)", out, strerror(errno));

    Tensor *t = mallocCheck(sizeof(Tensor) * (size_t)(3 + 9 * s->layers));
    int nt = list_tensors(s, t);
    size_t es = dtype_size(dt);
    /* the safetensors header: tensor entries with their byte ranges, padded with spaces to 8 */
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", dtype_name(dt));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        if (t[i].rows > 1 || !t[i].is_norm) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].rows));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].cols));
        uint64_t bytes = (uint64_t)t[i].rows * (uint64_t)t[i].cols * es;
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *hdr = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;

    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    FILE *f = fopenCheck(path, "wb");
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t i = hlen; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    free(hdr);
    void *buf = mallocCheck(SYNTH_CHUNK * es);
    double t0 = now_seconds();
    for (int i = 0; i < nt && ok; i++) {
        int64_t n = t[i].rows * t[i].cols;
        for (int64_t start = 0; start < n && ok; start += SYNTH_CHUNK) {
            int64_t m = n - start < SYNTH_CHUNK ? n - start : SYNTH_CHUNK;
            fill_chunk(buf, dt, &t[i], i, seed, start, m);
            ok = fwrite(buf, es, (size_t)m, f) == (size_t)m;
        }
    }
    if (!ok || fclose(f)) fatal("%s: write failed (%s)", path, strerror(errno));
    free(buf);
    free(t);
    write_config(s, dt, out);
    printf("synth: %s %s -> %s (%.2f GB of weights, %.1f s)\n", s->name, dtype, out, (double)off / 1e9,
           now_seconds() - t0);
    return 0;
}
