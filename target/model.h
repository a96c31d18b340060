/* A checkpoint on disk, mapped into memory: its config and views of its tensors as stored.
 *
 * Two families load here:
 *  - Hugging Face Llama-family directories (config.json + model.safetensors, or shards listed in
 *    model.safetensors.index.json), in F32, BF16 or F16;
 *  - llama2.c .bin checkpoints, legacy 7-int header or version-1 "ak42" header, fp32.
 * Backends (target_cpu.c, target_cuda.cu) turn these views into their own weight layouts. */
#ifndef SPECDEC_MODEL_H
#define SPECDEC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MODEL_MAX_EOS 8

typedef enum { DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_F16 = 2 } DType;

typedef struct {
    int dim;             /* hidden size */
    int hidden_dim;      /* feed-forward (intermediate) size */
    int n_layers;
    int n_heads;
    int n_kv_heads;      /* grouped-query attention: n_heads % n_kv_heads == 0 */
    int head_dim;        /* config head_dim, or dim / n_heads */
    int vocab_size;
    int seq_len;         /* context length: max_position_embeddings or the llama2.c header */
    float rope_theta;
    float norm_eps;
    int rope_interleaved; /* 1: llama2.c pairs (2i, 2i+1); 0: Hugging Face rotate-half (i, i + d/2) */
    int tied_embeddings;  /* the classifier shares the token embedding */
    int bos_id;           /* -1 when the checkpoint names none */
    int eos_ids[MODEL_MAX_EOS];
    int n_eos;
} ModelConfig;

/* A tensor as stored in the checkpoint: row-major (rows, cols), not owned. */
typedef struct {
    DType dtype;
    const void *data;
    int64_t rows, cols;
} TensorView;

/* Linear weights are (out_features, in_features), the Hugging Face and llama2.c layout. */
typedef struct {
    TensorView attn_norm; /* (1, dim) */
    TensorView wq;        /* (n_heads * head_dim, dim) */
    TensorView wk;        /* (n_kv_heads * head_dim, dim) */
    TensorView wv;        /* (n_kv_heads * head_dim, dim) */
    TensorView wo;        /* (dim, n_heads * head_dim) */
    TensorView ffn_norm;  /* (1, dim) */
    TensorView w_gate;    /* (hidden_dim, dim)  w1 */
    TensorView w_down;    /* (dim, hidden_dim)  w2 */
    TensorView w_up;      /* (hidden_dim, dim)  w3 */
} LayerTensors;

typedef struct {
    void *addr;
    size_t size;
} MappedFile;

typedef struct {
    char path[4096];        /* what the user named: a directory or a .bin file */
    char format[16];        /* "hf" or "llama2c" */
    ModelConfig cfg;
    TensorView tok_embed;   /* (vocab_size, dim) */
    LayerTensors *layers;   /* (n_layers) */
    TensorView final_norm;  /* (1, dim) */
    TensorView lm_head;     /* (vocab_size, dim): tok_embed's data when tied */
    MappedFile maps[64];    /* the mmap'd weight files */
    int n_maps;
    char **files;           /* (n_files) paths of every weight file, for provenance hashes */
    int n_files;
    void *rounded;          /* model_round_to_bf16(): the one allocation of the rounded matrices */
} Model;

/* Loads a checkpoint: a directory is read as Hugging Face, anything else as llama2.c.
 * Every inconsistency is a fatal() naming the file and the field. */
void model_load(Model *m, const char *path);
void model_free(Model *m);
/* Rounds every weight matrix not already bf16 (embedding, projections, classifier; not the norm
 * vectors) to bf16, to nearest even, into one allocation the model owns, and points the views at
 * it. For a drafter this halves the bytes each step reads; only acceptance can change, never the
 * target's output. */
void model_round_to_bf16(Model *m);

/* Widens n stored elements to fp32. */
void tensor_to_f32(float *out, const void *src, DType dtype, int64_t n);
/* Exact: bf16 is the top half of an fp32. Inline because the CPU projections widen every weight
 * with it as they read it. */
static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
size_t dtype_size(DType d);
const char *dtype_name(DType d);

int model_is_eos(const ModelConfig *cfg, int token);

/* RoPE tables cos, sin: (seq_len, head_dim / 2), computed as transformers does (inv_freq in fp32,
 * angle = pos * inv_freq in fp32). Every backend uses these, so their rotations agree bit for bit. */
void rope_tables(const ModelConfig *cfg, float *cos_out, float *sin_out);

/* Where models are found: $SPECDEC_MODELS, else ../shared/models next to the source tree or the
 * current directory. resolve_model_path() returns `name` itself when it exists, else the first
 * <dir>/<name> that exists; otherwise fatal() lists every place it looked. */
const char *models_dir(void);
void resolve_model_path(const char *name, char *out, size_t out_size);

#endif
