/* Per-kernel measurements of the CUDA target, run on the device machine (tests/gpu/run.sh kernels):
 *
 *   check   the tensor-core projection kernel against the CUDA-core one on random data, every
 *           epilogue, with and without the folded RMSNorm, n = 1..16: relative L2 difference, and
 *           whether a row's result is bit-identical whatever n is (what keeps greedy speculative
 *           output equal to autoregressive output);
 *   time    each projection shape of pycode-19m and of the Llama-3.2-1B shape, and attention, as
 *           100 back-to-back launches in a CUDA graph with programmatic dependent launch (as a
 *           forward runs them): microseconds per launch, and GB/s of weights. "hot" reuses one
 *           weight matrix (it stays in L2, as pycode-19m's do in the decode loop); "cold" rotates
 *           over copies larger than L2. Attention is timed for every split count of the context
 *           (1 to 16 blocks per kv head), the one the target chooses marked.
 *
 *   kernel_bench [check] [time]            (default: both)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_gemv.h"
#include "cuda_kernels.h"

#define LAUNCHES 100
#define REPEATS 5

static float frand(unsigned *s) { /* uniform in [-1, 1) */
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1 << 23) - 1.0f;
}

static void *upload_random_bf16(size_t count, float scale, unsigned seed) {
    __nv_bfloat16 *h = (__nv_bfloat16 *)mallocCheck(count * sizeof *h);
    for (size_t i = 0; i < count; i++) h[i] = __float2bfloat16(scale * frand(&seed));
    void *d;
    cudaCheck(cudaMalloc(&d, count * sizeof *h));
    cudaCheck(cudaMemcpy(d, h, count * sizeof *h, cudaMemcpyHostToDevice));
    free(h);
    return d;
}

static float *upload_random_f32(size_t count, float scale, float offset, unsigned seed) {
    float *h = (float *)mallocCheck(count * sizeof *h), *d;
    for (size_t i = 0; i < count; i++) h[i] = offset + scale * frand(&seed);
    cudaCheck(cudaMalloc(&d, count * sizeof *h));
    cudaCheck(cudaMemcpy(d, h, count * sizeof *h, cudaMemcpyHostToDevice));
    free(h);
    return d;
}

static float *download(const float *d, size_t count) {
    float *h = (float *)mallocCheck(count * sizeof *h);
    cudaCheck(cudaMemcpy(h, d, count * sizeof *h, cudaMemcpyDeviceToHost));
    return h;
}

/* ------------------------------------------------------------------ check */

static const char *epilogue_name(GemvEpilogue e) {
    return e == GEMV_STORE ? "store" : e == GEMV_RESIDUAL ? "residual" : "swiglu";
}

/* y after one launch of the kernel on fresh copies of y0. */
static float *run_once(int mma, GemvArgs g, const float *y0, size_t ycount) {
    cudaCheck(cudaMemcpy(g.y, y0, ycount * sizeof(float), cudaMemcpyDeviceToDevice));
    if (mma) launch_gemv_mma(&g, 0);
    else launch_gemv_simt(&g, 0);
    cudaCheck(cudaDeviceSynchronize());
    return download(g.y, ycount);
}

static int check(void) {
    const int shapes[][2] = {{384, 640}, {384, 2048}, {384, 8192}, {1024, 384}, {2048, 3072}, {192, 200}, {128, 65552}};
    const GemvEpilogue eps[3] = {GEMV_STORE, GEMV_RESIDUAL, GEMV_SWIGLU};
    int failures = 0;
    double worst = 0.0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int in = shapes[si][0], out = shapes[si][1];
        void *W = upload_random_bf16((size_t)out * in, 0.05f, 11u + (unsigned)si);
        float *a = upload_random_f32((size_t)GEMV_ROWS_MAX * in, 2.0f, 0.0f, 21u + (unsigned)si);
        float *norm = upload_random_f32((size_t)in, 0.5f, 1.0f, 31u);
        float *y0 = upload_random_f32((size_t)GEMV_ROWS_MAX * out, 1.0f, 0.0f, 41u), *y;
        cudaCheck(cudaMalloc(&y, (size_t)GEMV_ROWS_MAX * out * sizeof(float)));
        /* the epilogues on the tensor-core kernel, then on it without interleaved chunks for paired
         * matrices */
        for (int e = 0; e < 6; e++)
            for (int with_norm = 0; with_norm < 2; with_norm++) {
                float *row0_alone = NULL;
                gemv_mma_interleave(e < 3);
                for (int n = 1; n <= GEMV_ROWS_MAX; n++) {
                    GemvArgs g = {W, DTYPE_BF16, a, with_norm ? norm : NULL, 1e-5f, y, n, in, out, eps[e % 3], 0};
                    int ycols = eps[e % 3] == GEMV_SWIGLU ? out / 2 : out;
                    size_t count = (size_t)n * ycols;
                    float *ref = run_once(0, g, y0, count), *got = run_once(1, g, y0, count);
                    double num = 0.0, den = 0.0;
                    for (size_t i = 0; i < count; i++) {
                        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
                        den += (double)ref[i] * ref[i];
                    }
                    double rel = sqrt(num / (den > 0 ? den : 1));
                    worst = rel > worst ? rel : worst;
                    int same_row0 = 1;
                    if (n == 1) row0_alone = got;
                    else same_row0 = !memcmp(got, row0_alone, sizeof(float) * (size_t)ycols);
                    int ok = rel < 1e-5 && same_row0 && isfinite(rel);
                    if (!ok || n == 1 || n == 9 || n == 16)
                        printf("check in %5d out %5d %-8s%s norm %d n %2d: rel L2 %.2e, row 0 as alone: %s%s\n", in,
                               out, epilogue_name(eps[e % 3]), e < 3 ? "" : " no-il", with_norm, n, rel,
                               same_row0 ? "same" : "DIFFERENT", ok ? "" : "  FAILED");
                    failures += !ok;
                    free(ref);
                    if (n > 1) free(got);
                }
                free(row0_alone);
            }
        cudaCheck(cudaFree(W));
        cudaCheck(cudaFree(a));
        cudaCheck(cudaFree(norm));
        cudaCheck(cudaFree(y0));
        cudaCheck(cudaFree(y));
    }
    printf("check: worst rel L2 %.2e, %d failures\n", worst, failures);
    return failures;
}

/* ------------------------------------------------------------------ time */

typedef void (*Enqueue)(void *ctx, int i, cudaStream_t s);

/* Microseconds per launch: LAUNCHES launches captured in one graph, the median of REPEATS replays. */
static double time_graph(Enqueue enqueue, void *ctx) {
    cudaStream_t s;
    cudaCheck(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cudaCheck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < LAUNCHES; i++) enqueue(ctx, i, s);
    cudaCheck(cudaStreamEndCapture(s, &graph));
    cudaCheck(cudaGraphInstantiate(&exec, graph, 0));
    cudaEvent_t e0, e1;
    cudaCheck(cudaEventCreate(&e0));
    cudaCheck(cudaEventCreate(&e1));
    cudaCheck(cudaGraphLaunch(exec, s)); /* warm-up */
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        cudaCheck(cudaEventRecord(e0, s));
        cudaCheck(cudaGraphLaunch(exec, s));
        cudaCheck(cudaEventRecord(e1, s));
        cudaCheck(cudaEventSynchronize(e1));
        float ms;
        cudaCheck(cudaEventElapsedTime(&ms, e0, e1));
        t[r] = 1e3 * ms / LAUNCHES;
    }
    for (int i = 1; i < REPEATS; i++) /* insertion sort: the median */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    cudaCheck(cudaEventDestroy(e0));
    cudaCheck(cudaEventDestroy(e1));
    cudaCheck(cudaGraphExecDestroy(exec));
    cudaCheck(cudaGraphDestroy(graph));
    cudaCheck(cudaStreamDestroy(s));
    return t[REPEATS / 2];
}

typedef struct {
    GemvArgs g;
    const char *pool; /* copies of W, `copies` of them, `bytes` apart */
    size_t bytes;
    int copies, mma;
} GemvCtx;

static void enqueue_gemv(void *ctx, int i, cudaStream_t s) {
    GemvCtx *c = (GemvCtx *)ctx;
    GemvArgs g = c->g;
    g.W = c->pool + (size_t)(i % c->copies) * c->bytes;
    if (c->mma) launch_gemv_mma(&g, s);
    else launch_gemv_simt(&g, s);
}

typedef struct {
    const char *name;
    int in, out, norm;
    GemvEpilogue epilogue;
} Shape;

static void time_gemv(const char *model, const Shape *shapes, int n_shapes, int cold, size_t l2) {
    const int rows[4] = {1, 4, 9, 16};
    for (int si = 0; si < n_shapes; si++) {
        const Shape *sh = &shapes[si];
        GemvCtx c;
        c.bytes = ((size_t)sh->out * sh->in * 2 + 255) & ~(size_t)255;
        c.copies = cold ? (int)((3 * l2) / c.bytes + 2) : 1;
        c.pool = (const char *)upload_random_bf16(c.bytes / 2 * c.copies, 0.05f, 7u);
        float *a = upload_random_f32((size_t)GEMV_ROWS_MAX * (sh->in > sh->out ? sh->in : sh->out), 1.0f, 0.0f, 3u);
        float *norm = upload_random_f32((size_t)sh->in, 0.5f, 1.0f, 5u), *y;
        cudaCheck(cudaMalloc(&y, (size_t)GEMV_ROWS_MAX * sh->out * sizeof(float)));
        cudaCheck(cudaMemset(y, 0, (size_t)GEMV_ROWS_MAX * sh->out * sizeof(float)));
        printf("%-10s %-8s in %5d out %6d %s:", model, sh->name, sh->in, sh->out, cold ? "cold" : "hot ");
        /* the CUDA-core kernel; the tensor-core one as chosen by occupancy (at least 1 or 2 chunks
         * per warp), with one block per tile where the tiles outnumber the resident blocks, and
         * with at most 4, 8, 16 warps, and without interleaved chunks for paired matrices */
        const char *names[8] = {"simt", "mma", "mma mc2", "mma 1/tile", "mma w4", "mma w8", "mma w16", "mma no-il"};
        const int warps[8] = {0, 0, 0, 0, 4, 8, 16, 0}, min_chunks[8] = {1, 1, 2, 1, 1, 1, 1, 1};
        for (int v = 0; v < 8; v++) {
            printf("\n    %-10s", names[v]);
            gemv_mma_tune(warps[v], min_chunks[v], v != 3);
            gemv_mma_interleave(v != 7);
            for (int ri = 0; ri < 4; ri++) {
                GemvArgs g = {NULL, DTYPE_BF16, a, sh->norm ? norm : NULL, 1e-5f, y, rows[ri], sh->in, sh->out, sh->epilogue, 0};
                c.g = g;
                c.mma = v > 0;
                double us = time_graph(enqueue_gemv, &c);
                printf("  n%-2d %7.2f us %5.0f GB/s", rows[ri], us, (double)c.bytes / us / 1e3);
            }
        }
        gemv_mma_tune(0, 1, 1);
        gemv_mma_interleave(1);
        printf("\n");
        cudaCheck(cudaFree((void *)c.pool));
        cudaCheck(cudaFree(a));
        cudaCheck(cudaFree(norm));
        cudaCheck(cudaFree(y));
    }
}

typedef struct {
    AttentionArgs a;
} AttCtx;

static void enqueue_attention(void *ctx, int i, cudaStream_t s) {
    (void)i;
    launch_attention(&((AttCtx *)ctx)->a, s);
}

static void time_attention(const char *model, int heads, int kv_heads, int hd) {
    const int ctxs[4] = {128, 256, 512, 2048}, rows[3] = {1, 5, 9}, splits[5] = {1, 2, 4, 8, 16};
    const int S = 4096, max_batch = 16, kvd = kv_heads * hd, qkv_dim = (heads + 2 * kv_heads) * hd;
    AttCtx c;
    AttentionArgs *a = &c.a;
    memset(a, 0, sizeof *a);
    a->qkv = upload_random_f32((size_t)max_batch * qkv_dim, 1.0f, 0.0f, 9u);
    a->qkv_dim = qkv_dim;
    a->kc = upload_random_f32((size_t)S * kvd, 1.0f, 0.0f, 10u);
    a->vc = upload_random_f32((size_t)S * kvd, 1.0f, 0.0f, 11u);
    a->rope_cos = upload_random_f32((size_t)S * hd / 2, 1.0f, 0.0f, 12u);
    a->rope_sin = upload_random_f32((size_t)S * hd / 2, 1.0f, 0.0f, 13u);
    cudaCheck(cudaMalloc(&a->out, (size_t)max_batch * heads * hd * sizeof(float)));
    a->odt = DTYPE_F32;
    int *pos;
    cudaCheck(cudaMalloc(&pos, sizeof(int)));
    a->pos = pos;
    a->n_heads = heads;
    a->n_kv_heads = kv_heads;
    a->head_dim = hd;
    const int chosen = attention_splits(hd, kv_heads);
    for (int ci = 0; ci < 4; ci++) {
        cudaCheck(cudaMemcpy(pos, &ctxs[ci], sizeof(int), cudaMemcpyHostToDevice));
        for (int si = 0; si < 5; si++) {
            if (splits[si] == 16 && chosen != 16) continue; /* no 16-block clusters for this shape */
            attention_force_splits(splits[si]);
            printf("%-10s attention context %5d, %2d splits%s:", model, ctxs[ci], splits[si],
                   splits[si] == chosen ? " (chosen)" : "         ");
            for (int ri = 0; ri < 3; ri++) {
                a->n = rows[ri];
                printf("  n%-2d %6.2f us", rows[ri], time_graph(enqueue_attention, &c));
            }
            printf("\n");
        }
        attention_force_splits(0);
    }
    cudaCheck(cudaFree((void *)a->qkv));
    cudaCheck(cudaFree(a->kc));
    cudaCheck(cudaFree(a->vc));
    cudaCheck(cudaFree((void *)a->rope_cos));
    cudaCheck(cudaFree((void *)a->rope_sin));
    cudaCheck(cudaFree(a->out));
    cudaCheck(cudaFree(pos));
}

int main(int argc, char **argv) {
    int do_check = argc < 2, do_time = argc < 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "check")) do_check = 1;
        else if (!strcmp(argv[i], "time")) do_time = 1;
        else fatal("kernel_bench: unknown mode '%s' (expected check or time)", argv[i]);
    }
    gemv_init();
    attention_init();
    int dev, sms, l2;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    cudaCheck(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    int failures = do_check ? check() : 0;
    if (do_time) {
        const Shape pycode[5] = {{"qkv", 384, 640, 1, GEMV_STORE}, {"o", 384, 384, 0, GEMV_RESIDUAL},
                                 {"gate_up", 384, 2048, 1, GEMV_SWIGLU}, {"down", 1024, 384, 0, GEMV_RESIDUAL},
                                 {"head", 384, 8192, 1, GEMV_STORE}};
        const Shape llama[5] = {{"qkv", 2048, 3072, 1, GEMV_STORE}, {"o", 2048, 2048, 0, GEMV_RESIDUAL},
                                {"gate_up", 2048, 16384, 1, GEMV_SWIGLU}, {"down", 8192, 2048, 0, GEMV_RESIDUAL},
                                {"head", 2048, 128256, 1, GEMV_STORE}};
        time_gemv("pycode-19m", pycode, 5, 0, (size_t)l2);
        time_gemv("llama-1b", llama, 5, 1, (size_t)l2);
        time_attention("pycode-19m", 6, 2, 64);
        time_attention("pycode-3m", 3, 1, 64);
        time_attention("llama-1b", 32, 8, 64);
    }
    return failures ? 1 : 0;
}
