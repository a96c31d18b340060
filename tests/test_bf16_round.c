/* Rounding weights to bf16 (model_round_to_bf16, the drafter spec model:PATH@bf16).
 *
 * f32_to_bf16 is checked against the format's definition: bf16 is the top 16 bits of an IEEE-754
 * binary32, rounded to nearest with ties to even (as torch.Tensor.to(torch.bfloat16) does), NaN
 * kept NaN, overflow to infinity. model_round_to_bf16 is then checked element by element on
 * pycode-3m (fp32, tied classifier): every matrix holds the rounding of its stored values, the
 * norm vectors and the tie are untouched, and a model stored in bf16 (pycode-19m) is left as it is.
 * That a rounded drafter leaves greedy output unchanged is test_spec_greedy's. */
#include "drafters.h"
#include "test_util.h"

static uint16_t bits_to_bf16(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f32_to_bf16(f);
}

static void check_known_answers(void) {
    static const struct {
        uint32_t f32;
        uint16_t bf16;
        const char *what;
    } cases[] = {
        {0x3f800000u, 0x3f80, "1.0 is exact"},
        {0x40490fdbu, 0x4049, "pi rounds down to 3.140625"},
        {0xc0490fdbu, 0xc049, "-pi keeps its sign"},
        {0x3f808000u, 0x3f80, "a tie rounds to the even 0x3f80"},
        {0x3f818000u, 0x3f82, "a tie rounds to the even 0x3f82"},
        {0x3f808001u, 0x3f81, "just above a tie rounds up"},
        {0x3f807fffu, 0x3f80, "just below a tie rounds down"},
        {0x7f7fffffu, 0x7f80, "the largest float overflows to infinity"},
        {0x7f800000u, 0x7f80, "infinity stays infinity"},
        {0x00000001u, 0x0000, "the smallest subnormal rounds to zero"},
        {0x80000000u, 0x8000, "-0 stays -0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = bits_to_bf16(cases[i].f32);
        EXPECT(got == cases[i].bf16, "f32_to_bf16(0x%08x) = 0x%04x, expected 0x%04x (%s)", cases[i].f32, got,
               cases[i].bf16, cases[i].what);
    }
    uint16_t nan = bits_to_bf16(0x7fc00001u);
    EXPECT((nan & 0x7f80) == 0x7f80 && (nan & 0x7f), "NaN rounds to 0x%04x, not a NaN", nan);
    uint16_t snan = bits_to_bf16(0x7f800001u); /* a NaN whose payload sits in the dropped bits */
    EXPECT((snan & 0x7f80) == 0x7f80 && (snan & 0x7f), "signalling NaN rounds to 0x%04x, not a NaN", snan);
}

/* Every element of the rounded view r is the rounding of the stored fp32 view s. */
static void check_matrix(const char *name, const TensorView *s, const TensorView *r) {
    EXPECT(s->dtype == DTYPE_F32, "%s: pycode-3m is stored in F32, found %s", name, dtype_name(s->dtype));
    EXPECT(r->dtype == DTYPE_BF16 && r->rows == s->rows && r->cols == s->cols, "%s: rounded to %s (%lld x %lld)",
           name, dtype_name(r->dtype), (long long)r->rows, (long long)r->cols);
    const float *src = s->data;
    const uint16_t *dst = r->data;
    int64_t n = s->rows * s->cols, wrong = 0;
    for (int64_t i = 0; i < n; i++) wrong += dst[i] != f32_to_bf16(src[i]);
    EXPECT(wrong == 0, "%s: %lld of %lld elements are not the rounding of the stored value", name, (long long)wrong,
           (long long)n);
}

static void check_model_rounding(void) {
    char path[4096];
    test_model_path("pycode/pycode-3m", path, sizeof path);
    Model stored, rounded;
    model_load(&stored, path);
    model_load(&rounded, path);
    model_round_to_bf16(&rounded);
    EXPECT(rounded.rounded != NULL, "pycode-3m: nothing was rounded");
    check_matrix("tok_embed", &stored.tok_embed, &rounded.tok_embed);
    EXPECT(rounded.cfg.tied_embeddings && rounded.lm_head.data == rounded.tok_embed.data,
           "pycode-3m: the tied classifier no longer shares the rounded embedding");
    for (int l = 0; l < stored.cfg.n_layers; l++) {
        const LayerTensors *s = &stored.layers[l], *r = &rounded.layers[l];
        char name[64];
        const TensorView *sm[7] = {&s->wq, &s->wk, &s->wv, &s->wo, &s->w_gate, &s->w_down, &s->w_up};
        const TensorView *rm[7] = {&r->wq, &r->wk, &r->wv, &r->wo, &r->w_gate, &r->w_down, &r->w_up};
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof name, "layer %d matrix %d", l, i);
            check_matrix(name, sm[i], rm[i]);
        }
        EXPECT(r->attn_norm.dtype == DTYPE_F32 && r->ffn_norm.dtype == DTYPE_F32 &&
                   !memcmp(r->attn_norm.data, s->attn_norm.data, sizeof(float) * (size_t)stored.cfg.dim) &&
                   !memcmp(r->ffn_norm.data, s->ffn_norm.data, sizeof(float) * (size_t)stored.cfg.dim),
               "layer %d: norm vectors changed", l);
    }
    EXPECT(rounded.final_norm.dtype == DTYPE_F32, "final norm was rounded");
    model_free(&stored);
    model_free(&rounded);

    /* stored in bf16 already: nothing to round, nothing allocated */
    test_model_path("pycode/pycode-19m", path, sizeof path);
    Model bf;
    model_load(&bf, path);
    const void *wq = bf.layers[0].wq.data;
    model_round_to_bf16(&bf);
    EXPECT(bf.rounded == NULL && bf.layers[0].wq.data == wq, "pycode-19m (BF16): rounded again");
    model_free(&bf);
}

static void check_spec_parsing(void) {
    char path[4096];
    int bf16 = -1;
    EXPECT(drafter_model_spec("model:pycode/pycode-3m@bf16", path, sizeof path, &bf16) == 1 && bf16 == 1 &&
               strstr(path, "pycode-3m") && !strstr(path, "@"),
           "model:pycode/pycode-3m@bf16 parsed as path '%s', bf16 %d", path, bf16);
    EXPECT(drafter_model_spec("model:pycode/pycode-3m", path, sizeof path, &bf16) == 1 && bf16 == 0,
           "model:pycode/pycode-3m parsed with bf16 %d", bf16);
    EXPECT(drafter_model_spec("lookup:4", path, sizeof path, &bf16) == 0, "lookup:4 parsed as a model drafter");
}

int main(void) {
    check_known_answers();
    check_model_rounding();
    check_spec_parsing();
    return test_summary("test_bf16_round");
}
