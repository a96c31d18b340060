/* Loading checkpoints: Hugging Face safetensors directories and llama2.c .bin files.
 * Weight files are mmap'd read-only; TensorViews point into the mappings. */
#define _POSIX_C_SOURCE 200809L
#include "model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "check.h"

/* ---------------------------------------------------------------- dtypes */

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, u;
    if (exp == 0) {
        if (mant == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) { mant <<= 1; exp--; }
            u = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

size_t dtype_size(DType d) { return d == DTYPE_F32 ? 4 : 2; }
const char *dtype_name(DType d) { return d == DTYPE_F32 ? "F32" : d == DTYPE_BF16 ? "BF16" : "F16"; }

void tensor_to_f32(float *out, const void *src, DType dtype, int64_t n) {
    if (dtype == DTYPE_F32) {
        memcpy(out, src, (size_t)n * 4);
    } else {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) out[i] = dtype == DTYPE_BF16 ? bf16_to_f32(s[i]) : f16_to_f32(s[i]);
    }
}

int model_is_eos(const ModelConfig *cfg, int token) {
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos_ids[i] == token) return 1;
    return 0;
}

void rope_tables(const ModelConfig *c, float *cos_out, float *sin_out) {
    size_t half = (size_t)c->head_dim / 2;
    for (size_t i = 0; i < half; i++) {
        float inv_freq = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / (double)c->head_dim));
        for (size_t t = 0; t < (size_t)c->seq_len; t++) {
            float angle = (float)t * inv_freq;
            cos_out[t * half + i] = cosf(angle);
            sin_out[t * half + i] = sinf(angle);
        }
    }
}

/* ---------------------------------------------------------------- files */

static MappedFile map_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) fatal("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) fatal("%s: cannot stat (%s)", path, strerror(errno));
    MappedFile mf = {NULL, (size_t)st.st_size};
    if (mf.size == 0) fatal("%s: file is empty", path);
    mf.addr = mmap(NULL, mf.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mf.addr == MAP_FAILED) fatal("%s: cannot mmap (%s)", path, strerror(errno));
    close(fd);
    return mf;
}

static void add_file(Model *m, const char *path, MappedFile mf) {
    if (m->n_maps >= (int)(sizeof m->maps / sizeof m->maps[0])) fatal("%s: too many weight shards (at most 64)", path);
    m->maps[m->n_maps++] = mf;
    m->files = reallocCheck(m->files, sizeof(char *) * (size_t)(m->n_files + 1));
    m->files[m->n_files++] = strdupCheck(path);
}

static int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------- safetensors */

typedef struct {
    char name[256];       /* key */
    TensorView view;
    int64_t shape[4];
    int ndim;
    const char *file;     /* owned by Model.files */
    UT_hash_handle hh;
} TensorEntry;

static int parse_dtype(const char *s, DType *out) {
    if (!strcmp(s, "F32")) *out = DTYPE_F32;
    else if (!strcmp(s, "BF16")) *out = DTYPE_BF16;
    else if (!strcmp(s, "F16")) *out = DTYPE_F16;
    else return 0;
    return 1;
}

/* Parses one safetensors file into the table, checking every bound against the file size. */
static void read_safetensors(Model *m, const char *path, TensorEntry **table) {
    MappedFile mf = map_file(path);
    add_file(m, path, mf);
    const char *fname = m->files[m->n_files - 1];
    if (mf.size < 8) fatal("%s: file too short for a safetensors header (%zu bytes)", path, mf.size);
    uint64_t hlen;
    memcpy(&hlen, mf.addr, 8);
    if (hlen > mf.size - 8)
        fatal("%s: safetensors header length %llu runs past the end of the file (%zu bytes)", path,
              (unsigned long long)hlen, mf.size);
    const char *hdr = (const char *)mf.addr + 8;
    cJSON *root = cJSON_ParseWithLength(hdr, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) fatal("%s: safetensors header is not a JSON object", path);
    const uint8_t *data = (const uint8_t *)mf.addr + 8 + hlen;
    uint64_t data_size = mf.size - 8 - hlen;
    for (cJSON *it = root->child; it; it = it->next) {
        if (!strcmp(it->string, "__metadata__")) continue;
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
            fatal("%s: tensor '%s': expected dtype, shape and data_offsets [begin, end]", path, it->string);
        if (strlen(it->string) >= sizeof(((TensorEntry *)0)->name))
            fatal("%s: tensor name too long: '%.60s...'", path, it->string);
        TensorEntry *e = callocCheck(1, sizeof *e);
        strcpy(e->name, it->string);
        e->file = fname;
        if (!parse_dtype(dt->valuestring, &e->view.dtype))
            fatal("%s: tensor '%s' has unsupported dtype '%s' (expected F32, BF16 or F16)", path, it->string,
                  dt->valuestring);
        e->ndim = cJSON_GetArraySize(shape);
        if (e->ndim < 1 || e->ndim > 4) fatal("%s: tensor '%s' has %d dimensions (expected 1 to 4)", path, it->string, e->ndim);
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            cJSON *s = cJSON_GetArrayItem(shape, d);
            if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 1e12)
                fatal("%s: tensor '%s' has an invalid shape", path, it->string);
            e->shape[d] = (int64_t)s->valuedouble;
            numel *= e->shape[d];
        }
        double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
        if (!(b >= 0 && en >= b && en <= (double)data_size))
            fatal("%s: tensor '%s' data_offsets [%.0f, %.0f] lie outside the file's data (%llu bytes)", path,
                  it->string, b, en, (unsigned long long)data_size);
        if ((uint64_t)(en - b) != (uint64_t)numel * dtype_size(e->view.dtype))
            fatal("%s: tensor '%s' spans %.0f bytes but its shape and dtype need %llu", path, it->string, en - b,
                  (unsigned long long)numel * dtype_size(e->view.dtype));
        e->view.data = data + (uint64_t)b;
        e->view.rows = e->ndim == 1 ? 1 : e->shape[0];
        e->view.cols = e->ndim == 1 ? e->shape[0] : numel / e->shape[0];
        TensorEntry *dup = NULL;
        HASH_FIND_STR(*table, e->name, dup);
        if (dup) fatal("%s: tensor '%s' appears twice", path, e->name);
        HASH_ADD_STR(*table, name, e);
    }
    cJSON_Delete(root);
}

static TensorView take_tensor(TensorEntry **table, const char *dir, const char *name, int64_t rows, int64_t cols) {
    TensorEntry *e = NULL;
    HASH_FIND_STR(*table, name, e);
    if (!e) fatal("%s: missing tensor '%s'", dir, name);
    if (e->view.rows != rows || e->view.cols != cols)
        fatal("%s: tensor '%s' has shape [%lld, %lld] but config.json implies [%lld, %lld]", e->file, name,
              (long long)e->view.rows, (long long)e->view.cols, (long long)rows, (long long)cols);
    return e->view;
}

/* ---------------------------------------------------------------- config.json */

static cJSON *config_field(cJSON *cfg, const char *path, const char *key, int required) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (v && cJSON_IsNull(v)) v = NULL;
    if (!v && required) fatal("%s: missing field '%s'", path, key);
    return v;
}

static int config_int(cJSON *cfg, const char *path, const char *key, int required, int dflt) {
    cJSON *v = config_field(cfg, path, key, required);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e9)
        fatal("%s: field '%s' must be a non-negative integer", path, key);
    return (int)v->valuedouble;
}

static double config_num(cJSON *cfg, const char *path, const char *key, double dflt) {
    cJSON *v = config_field(cfg, path, key, 0);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v)) fatal("%s: field '%s' must be a number", path, key);
    return v->valuedouble;
}

static void parse_hf_config(ModelConfig *c, const char *path) {
    if (!file_exists(path)) fatal("%s: missing config.json (a Hugging Face model directory needs one)", path);
    char *text = read_file_all(path, NULL);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    if (!cfg || !cJSON_IsObject(cfg)) fatal("%s: not a JSON object", path);
    cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") && strcmp(mt->valuestring, "mistral"))
        fatal("%s: model_type '%s' is not supported (expected llama or mistral)", path, mt->valuestring);
    cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "silu"))
        fatal("%s: hidden_act '%s' is not supported (expected silu)", path, act->valuestring);
    cJSON *bias = cJSON_GetObjectItemCaseSensitive(cfg, "attention_bias");
    if (cJSON_IsTrue(bias)) fatal("%s: attention_bias true is not supported", path);
    c->dim = config_int(cfg, path, "hidden_size", 1, 0);
    c->hidden_dim = config_int(cfg, path, "intermediate_size", 1, 0);
    c->n_layers = config_int(cfg, path, "num_hidden_layers", 1, 0);
    c->n_heads = config_int(cfg, path, "num_attention_heads", 1, 0);
    c->n_kv_heads = config_int(cfg, path, "num_key_value_heads", 0, c->n_heads);
    c->vocab_size = config_int(cfg, path, "vocab_size", 1, 0);
    c->seq_len = config_int(cfg, path, "max_position_embeddings", 1, 0);
    if (c->n_heads <= 0 || c->dim <= 0 || c->n_layers <= 0 || c->vocab_size <= 0 || c->seq_len <= 0 || c->hidden_dim <= 0)
        fatal("%s: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size and "
              "max_position_embeddings must be positive", path);
    c->head_dim = config_int(cfg, path, "head_dim", 0, c->dim / c->n_heads);
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        fatal("%s: num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", path, c->n_heads, c->n_kv_heads);
    if (c->head_dim <= 0 || c->head_dim % 2) fatal("%s: head_dim must be positive and even, got %d", path, c->head_dim);
    c->norm_eps = (float)config_num(cfg, path, "rms_norm_eps", 1e-6); /* the transformers LlamaConfig default */
    /* rope_theta: transformers 5 nests it in rope_parameters, older configs keep it at the top. */
    double theta = config_num(cfg, path, "rope_theta", 10000.0);
    cJSON *rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_parameters");
    if (!rp || cJSON_IsNull(rp)) rp = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    if (cJSON_IsObject(rp)) {
        theta = config_num(rp, path, "rope_theta", theta);
        cJSON *type = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (!type) type = cJSON_GetObjectItemCaseSensitive(rp, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "default"))
            fatal("%s: rope_type '%s' is not supported (expected default)", path, type->valuestring);
    }
    c->rope_theta = (float)theta;
    c->rope_interleaved = 0;
    cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    c->tied_embeddings = cJSON_IsTrue(tie); /* LlamaConfig's default is untied */
    cJSON *bos = cJSON_GetObjectItemCaseSensitive(cfg, "bos_token_id");
    c->bos_id = cJSON_IsNumber(bos) ? bos->valueint : -1;
    cJSON *eos = cJSON_GetObjectItemCaseSensitive(cfg, "eos_token_id");
    c->n_eos = 0;
    if (cJSON_IsNumber(eos)) {
        c->eos_ids[c->n_eos++] = eos->valueint;
    } else if (cJSON_IsArray(eos)) {
        cJSON *e;
        cJSON_ArrayForEach(e, eos) {
            if (!cJSON_IsNumber(e)) fatal("%s: eos_token_id must hold integers", path);
            if (c->n_eos == MODEL_MAX_EOS) fatal("%s: eos_token_id lists more than %d ids", path, MODEL_MAX_EOS);
            c->eos_ids[c->n_eos++] = e->valueint;
        }
    } else if (eos && !cJSON_IsNull(eos)) {
        fatal("%s: eos_token_id must be an integer or a list of integers", path);
    }
    cJSON_Delete(cfg);
}

static void load_hf(Model *m, const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    parse_hf_config(&m->cfg, path);
    ModelConfig *c = &m->cfg;

    TensorEntry *table = NULL;
    char single[4200], index[4200];
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    if (file_exists(single)) {
        read_safetensors(m, single, &table);
    } else if (file_exists(index)) {
        char *text = read_file_all(index, NULL);
        cJSON *idx = cJSON_Parse(text);
        free(text);
        cJSON *wm = idx ? cJSON_GetObjectItemCaseSensitive(idx, "weight_map") : NULL;
        if (!cJSON_IsObject(wm)) fatal("%s: expected a JSON object with a 'weight_map' object", index);
        for (cJSON *it = wm->child; it; it = it->next) {
            if (!cJSON_IsString(it)) fatal("%s: weight_map['%s'] must be a file name", index, it->string);
            if (strchr(it->valuestring, '/')) fatal("%s: shard name '%s' must be a plain file name", index, it->valuestring);
            char shard[4200];
            snprintf(shard, sizeof shard, "%s/%s", dir, it->valuestring);
            int seen = 0;
            for (int f = 0; f < m->n_files; f++) seen |= !strcmp(m->files[f], shard);
            if (!seen) read_safetensors(m, shard, &table);
        }
        cJSON_Delete(idx);
    } else {
        fatal("%s: no model.safetensors or model.safetensors.index.json", dir);
    }

    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    m->tok_embed = take_tensor(&table, dir, "model.embed_tokens.weight", c->vocab_size, c->dim);
    m->final_norm = take_tensor(&table, dir, "model.norm.weight", 1, c->dim);
    m->layers = callocCheck((size_t)c->n_layers, sizeof(LayerTensors));
    for (int l = 0; l < c->n_layers; l++) {
        LayerTensors *L = &m->layers[l];
        char n[256];
#define TAKE(field, suffix, rows, cols)                                         \
    snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                     \
    L->field = take_tensor(&table, dir, n, rows, cols)
        TAKE(attn_norm, "input_layernorm.weight", 1, c->dim);
        TAKE(wq, "self_attn.q_proj.weight", qd, c->dim);
        TAKE(wk, "self_attn.k_proj.weight", kvd, c->dim);
        TAKE(wv, "self_attn.v_proj.weight", kvd, c->dim);
        TAKE(wo, "self_attn.o_proj.weight", c->dim, qd);
        TAKE(ffn_norm, "post_attention_layernorm.weight", 1, c->dim);
        TAKE(w_gate, "mlp.gate_proj.weight", c->hidden_dim, c->dim);
        TAKE(w_down, "mlp.down_proj.weight", c->dim, c->hidden_dim);
        TAKE(w_up, "mlp.up_proj.weight", c->hidden_dim, c->dim);
#undef TAKE
    }
    TensorEntry *head = NULL;
    HASH_FIND_STR(table, "lm_head.weight", head);
    if (c->tied_embeddings || !head) {
        /* Tied checkpoints store no lm_head; an untied one without it is incomplete. */
        if (!c->tied_embeddings) fatal("%s: missing tensor 'lm_head.weight' (tie_word_embeddings is false)", dir);
        m->lm_head = m->tok_embed;
    } else {
        m->lm_head = take_tensor(&table, dir, "lm_head.weight", c->vocab_size, c->dim);
    }
    TensorEntry *e, *tmp;
    HASH_ITER(hh, table, e, tmp) {
        HASH_DEL(table, e);
        free(e);
    }
}

/* ---------------------------------------------------------------- llama2.c */

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42" */

static void load_llama2c(Model *m, const char *path) {
    MappedFile mf = map_file(path);
    add_file(m, path, mf);
    ModelConfig *c = &m->cfg;
    const uint8_t *base = mf.addr;
    if (mf.size < 28) fatal("%s: file too short for a llama2.c header (%zu bytes)", path, mf.size);
    uint32_t magic;
    memcpy(&magic, base, 4);
    int32_t h[7];
    int shared;
    size_t offset;
    int legacy = magic != LLAMA2C_MAGIC;
    if (!legacy) {
        int32_t version;
        if (mf.size < 256) fatal("%s: file too short for a llama2.c version-1 header (%zu bytes)", path, mf.size);
        memcpy(&version, base + 4, 4);
        if (version != 1) fatal("%s: llama2.c export version %d is not supported (expected 1: fp32)", path, version);
        memcpy(h, base + 8, sizeof h);
        shared = base[36];
        offset = 256;
    } else {
        memcpy(h, base, sizeof h);
        shared = h[5] > 0;
        h[5] = h[5] < 0 ? -h[5] : h[5];
        offset = 28;
    }
    c->dim = h[0]; c->hidden_dim = h[1]; c->n_layers = h[2]; c->n_heads = h[3]; c->n_kv_heads = h[4];
    c->vocab_size = h[5]; c->seq_len = h[6];
    if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_layers > 1024 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads || c->dim % c->n_heads || c->vocab_size <= 0 ||
        c->seq_len <= 0 || c->dim > 65536 || c->hidden_dim > 1 << 20 || c->vocab_size > 1 << 22 || c->seq_len > 1 << 20)
        fatal("%s: not a llama2.c checkpoint (implausible header %d %d %d %d %d %d %d)", path, h[0], h[1], h[2], h[3],
              h[4], h[5], h[6]);
    c->head_dim = c->dim / c->n_heads;
    if (c->head_dim % 2) fatal("%s: head size %d must be even", path, c->head_dim);
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->rope_interleaved = 1;
    c->tied_embeddings = shared;
    c->bos_id = 1;
    /* llama2.c delimits stories with BOS (1); </s> (2) ends text too. */
    c->n_eos = 2;
    c->eos_ids[0] = 2;
    c->eos_ids[1] = 1;

    int64_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, hd = c->head_dim;
    int64_t kvd = (int64_t)c->n_kv_heads * hd;
    int64_t per_layer = 2 * D + D * D + 2 * kvd * D + D * D + 3 * H * D;
    int64_t n_floats = V * D + L * per_layer + D + (legacy ? c->seq_len * hd : 0) + (shared ? 0 : V * D);
    uint64_t expect = offset + 4 * (uint64_t)n_floats;
    if (expect != mf.size)
        fatal("%s: file size %zu does not match its header (expected %llu bytes for dim %d, layers %d, vocab %d)", path,
              mf.size, (unsigned long long)expect, c->dim, c->n_layers, c->vocab_size);

    const float *p = (const float *)(base + offset);
#define VIEW(r, cc) ((TensorView){DTYPE_F32, p, (r), (cc)})
    m->layers = callocCheck((size_t)L, sizeof(LayerTensors));
    if (legacy) {
        /* token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, [wcls] */
        m->tok_embed = VIEW(V, D); p += V * D;
        for (int l = 0; l < L; l++) { m->layers[l].attn_norm = VIEW(1, D); p += D; }
        for (int l = 0; l < L; l++) { m->layers[l].wq = VIEW(D, D); p += D * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wk = VIEW(kvd, D); p += kvd * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wv = VIEW(kvd, D); p += kvd * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wo = VIEW(D, D); p += D * D; }
        for (int l = 0; l < L; l++) { m->layers[l].ffn_norm = VIEW(1, D); p += D; }
        for (int l = 0; l < L; l++) { m->layers[l].w_gate = VIEW(H, D); p += H * D; }
        for (int l = 0; l < L; l++) { m->layers[l].w_down = VIEW(D, H); p += D * H; }
        for (int l = 0; l < L; l++) { m->layers[l].w_up = VIEW(H, D); p += H * D; }
        m->final_norm = VIEW(1, D); p += D;
        p += c->seq_len * hd; /* freq_cis_real and freq_cis_imag: RoPE is recomputed */
    } else {
        /* attention norms, ffn norms, final norm, tok_embeddings, wq, wk, wv, wo, w1, w2, w3, [output] */
        for (int l = 0; l < L; l++) { m->layers[l].attn_norm = VIEW(1, D); p += D; }
        for (int l = 0; l < L; l++) { m->layers[l].ffn_norm = VIEW(1, D); p += D; }
        m->final_norm = VIEW(1, D); p += D;
        m->tok_embed = VIEW(V, D); p += V * D;
        for (int l = 0; l < L; l++) { m->layers[l].wq = VIEW(D, D); p += D * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wk = VIEW(kvd, D); p += kvd * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wv = VIEW(kvd, D); p += kvd * D; }
        for (int l = 0; l < L; l++) { m->layers[l].wo = VIEW(D, D); p += D * D; }
        for (int l = 0; l < L; l++) { m->layers[l].w_gate = VIEW(H, D); p += H * D; }
        for (int l = 0; l < L; l++) { m->layers[l].w_down = VIEW(D, H); p += D * H; }
        for (int l = 0; l < L; l++) { m->layers[l].w_up = VIEW(H, D); p += H * D; }
    }
    m->lm_head = shared ? m->tok_embed : VIEW(V, D);
#undef VIEW
}

/* ---------------------------------------------------------------- entry points */

void model_load(Model *m, const char *path) {
    memset(m, 0, sizeof *m);
    if (strlen(path) >= sizeof m->path) fatal("%.80s...: path too long", path);
    strcpy(m->path, path);
    if (!file_exists(path)) {
        fatal("%s: model not found (models are looked for as given, then under %s; set SPECDEC_MODELS or pass "
              "a path)", path, models_dir());
    }
    if (is_directory(path)) {
        strcpy(m->format, "hf");
        load_hf(m, path);
    } else {
        strcpy(m->format, "llama2c");
        load_llama2c(m, path);
    }
    ModelConfig *c = &m->cfg;
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] < 0 || c->eos_ids[i] >= c->vocab_size)
            fatal("%s: eos token id %d is outside the vocabulary (%d)", path, c->eos_ids[i], c->vocab_size);
    if (c->bos_id >= c->vocab_size) fatal("%s: bos token id %d is outside the vocabulary (%d)", path, c->bos_id, c->vocab_size);
}

/* Rounds view v into base + *off when base is set (NULL: only sizes it), advancing *off. */
static void round_view(TensorView *v, unsigned char *base, size_t *off) {
    if (v->dtype == DTYPE_BF16) return;
    int64_t n = v->rows * v->cols;
    if (base) {
        uint16_t *dst = (uint16_t *)(base + *off);
        size_t es = dtype_size(v->dtype);
        for (int64_t i = 0; i < n; i++) {
            float f;
            tensor_to_f32(&f, (const unsigned char *)v->data + (size_t)i * es, v->dtype, 1);
            dst[i] = f32_to_bf16(f);
        }
        v->data = dst;
        v->dtype = DTYPE_BF16;
    }
    *off += ((size_t)n * 2 + 63) & ~(size_t)63;
}

/* Every matrix of m once, in a fixed order; a tied classifier follows its embedding. */
static size_t round_matrices(Model *m, unsigned char *base) {
    size_t off = 0;
    int tied = m->lm_head.data == m->tok_embed.data;
    round_view(&m->tok_embed, base, &off);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LayerTensors *L = &m->layers[l];
        TensorView *mats[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_down, &L->w_up};
        for (int i = 0; i < 7; i++) round_view(mats[i], base, &off);
    }
    if (tied) {
        if (base) m->lm_head = m->tok_embed;
    } else {
        round_view(&m->lm_head, base, &off);
    }
    return off;
}

void model_round_to_bf16(Model *m) {
    CHECK(!m->rounded, "%s: rounded to bf16 twice", m->path);
    size_t bytes = round_matrices(m, NULL);
    if (!bytes) return; /* stored in bf16 already */
    m->rounded = mallocCheck(bytes);
    round_matrices(m, m->rounded);
}

void model_free(Model *m) {
    free(m->rounded);
    for (int i = 0; i < m->n_maps; i++) munmap(m->maps[i].addr, m->maps[i].size);
    for (int i = 0; i < m->n_files; i++) free(m->files[i]);
    free(m->files);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

const char *models_dir(void) {
    static char dir[4096];
    const char *env = getenv("SPECDEC_MODELS");
    if (env && *env) return env;
    /* ../shared/models beside the source tree, else beside the current directory. */
    snprintf(dir, sizeof dir, "%s/../shared/models", SPECDEC_SOURCE_DIR);
    if (is_directory(dir)) return dir;
    if (is_directory("../shared/models")) return "../shared/models";
    return dir;
}

void resolve_model_path(const char *name, char *out, size_t out_size) {
    if (file_exists(name)) {
        snprintf(out, out_size, "%s", name);
        return;
    }
    const char *dir = models_dir();
    snprintf(out, out_size, "%s/%s", dir, name);
    if (file_exists(out)) return;
    fatal("%s: model not found (looked at '%s' and '%s/%s'; set SPECDEC_MODELS to the models directory)",
          name, name, dir, name);
}
