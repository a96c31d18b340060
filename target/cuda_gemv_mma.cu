/* Fused skinny projections on the tensor cores, for bf16 weights: y = W a for n <= 16 rows, with
 * the same epilogues as the CUDA-core kernel (cuda_gemv.cu). Decode and verification read every
 * weight once, so their cost is the weight bytes; the tensor cores make the n input rows nearly
 * free, which the CUDA-core kernel's per-row FMAs do not (Llama-3.2-1B shape, H200: T(9)/T(1)
 * 1.43 here, 4.88 there).
 *
 * Work: a block owns one (or, for matrices of many tiles, two) tiles of 16 weight rows (for SwiGLU,
 * 8 gate rows over their 8 up rows) and splits the input dimension among its warps in chunks of 64.
 * Lane (g, t) (g = lane / 4, t = lane % 4) takes elements [16t, 16t + 16) of each chunk of rows g
 * and g + 8 (128 contiguous bytes per row across the group), PF chunks ahead, and the same elements
 * of input rows g (and g + 8 when n > 8), PF chunks at a time. (A deeper ring of weights in shared
 * memory through cp.async measured slower on the H200: Llama-1B gate/up 35 us against 24.)
 * An mma.m16n8k16 sums over 16 k-slots, of which thread t owns 4 in A and the same 4 in B; any
 * assignment of physical k to those slots gives the same dot product, so each of the four steps of
 * a chunk feeds thread t two of its own element pairs, and no shuffle or shared memory is needed to
 * build fragments.
 *
 * Precision: the fp32 inputs are split into bf16 hi + lo (hi = bf16(x), lo = bf16(x - hi)), two
 * mma per step into one fp32 accumulator, so an input keeps about 16 significant bits instead of
 * bf16's 8: on random data the result is within relative L2 4.8e-6 of the fp32 CUDA-core kernel's
 * (tools/kernel_bench check). RMSNorm is folded in as y = inv_rms * W (norm .* a): each warp sums
 * the squares of the inputs it loads anyway, and the block adds its warps' sums.
 *
 * Order: warps add their partial tiles in warp order, and the warp count depends only on the
 * matrix, so a row's result depends neither on n nor on which rows share the launch (greedy
 * speculative output equals autoregressive output). */
#include "cuda_gemv_mma.cuh"

#define MMA_MIN_CHUNKS 1   /* per warp, by default */
#define MMA_PAIR_TILES 1024 /* matrices of at least this many tiles: two per block */

/* NT n-tiles of 8 input rows (1: n <= 8, 2: n <= 16); TPW weight tiles of 16 rows per block, each
 * warp multiplying every tile by the same input fragments (for n > 8 the inputs are as many bytes
 * as the weights, so sharing them across two tiles halves that traffic); PF chunks of weights in
 * flight per tile. grid: one block per group of TPW tiles, or with LOOP fewer blocks, each taking
 * every gridDim.x-th group. */
template <int NT, int TPW, int PF, bool LOOP>
__global__ void __launch_bounds__(MMA_WARPS_MAX * 32) gemv_mma_kernel(GemvArgs g) {
    __shared__ float part[MMA_WARPS_MAX * TPW * NT * 4 * 32];
    __shared__ float ss_part[MMA_WARPS_MAX * 16];
    __shared__ float inv_rms[16];
    const MmaTeam tm = {(int)threadIdx.x >> 5, (int)blockDim.x >> 5, 1, part, ss_part, inv_rms};
    MmaStream st;
    pdl_trigger();
    mma_start<TPW, PF>(g, blockIdx.x, tm, st);
    pdl_wait(); /* the weights are on their way; the inputs come from the previous kernel */
    /* A launch of fewer blocks than groups (the classifiers) keeps its blocks: each takes groups
     * blockIdx.x, + gridDim.x, ..., and requests the next group's weights before reducing this one,
     * so its loads never pause for a block's reduction, exit and relaunch. */
    mma_run<NT, TPW, PF, LOOP, false>(g, blockIdx.x, gridDim.x, tm, st);
}

/* Warps per block: as many as the tile's chunks allow (at least MMA_MIN_CHUNKS each: fewer, and
 * the block's reduction outweighs the loads) while every block still fits in one wave; where no
 * count fits (the classifier), 8. kernel_bench compares this choice with fixed counts. */
static int mma_fixed_warps = 0, mma_min_chunks = MMA_MIN_CHUNKS, mma_persistent = 1, mma_pair_tiles = MMA_PAIR_TILES;

void gemv_mma_tune(int warps, int min_chunks, int persistent) {
    CHECK(warps >= 0 && warps <= MMA_WARPS_MAX && min_chunks >= 1, "mma gemv tuning %d warps, %d chunks", warps, min_chunks);
    mma_fixed_warps = warps;
    mma_min_chunks = min_chunks;
    mma_persistent = persistent;
}

void gemv_mma_pair_tiles(int tiles) {
    CHECK(tiles >= 0, "mma gemv pairing from %d tiles", tiles);
    mma_pair_tiles = tiles;
}

int gemv_mma_supported(const GemvArgs *g) {
    return g->wdt == DTYPE_BF16 && g->in % MMA_CHUNK == 0 && (g->epilogue != GEMV_SWIGLU || g->out % 2 == 0);
}

/* One choice for every n, from the occupancy of the n > 8 kernel (128 registers, the most; for
 * pairs, also the most shared memory): a row's sum order follows the warp count, and must not
 * change with n; and a count that fits one wave for the n <= 8 kernel but not for them made
 * Llama-8B's T(9)/T(1) 1.96 against 1.49. groups: blocks' worth of tiles (one or a pair each).
 * *resident: how many blocks of that many warps the device holds at once. */
static int choose_warps(int chunks, int groups, int paired, int *resident) {
    static int sms, fits[2][MMA_WARPS_MAX + 1]; /* [paired][w]: blocks of w warps per multiprocessor */
    if (!sms) {
        int dev;
        cudaCheck(cudaGetDevice(&dev));
        cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        for (int w = 1; w <= MMA_WARPS_MAX; w++) {
            cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[0][w], gemv_mma_kernel<2, 1, MMA_PREFETCH, false>, w * 32, 0));
            cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[1][w], gemv_mma_kernel<2, 2, MMA_PREFETCH / 2, false>, w * 32, 0));
        }
    }
    const int *fit = fits[paired];
    int most = chunks / mma_min_chunks;
    most = most < 1 ? 1 : most > MMA_WARPS_MAX ? MMA_WARPS_MAX : most;
    int w = most < 8 ? most : 8;
    if (mma_fixed_warps) w = mma_fixed_warps < most ? mma_fixed_warps : most;
    else
        for (int c = most; c >= 1; c--)
            if (groups <= fit[c] * sms) {
                w = c;
                break;
            }
    *resident = fit[w] * sms;
    return w;
}

/* Paired tiles keep one chunk ahead each, so that a warp has as many weight bytes in flight as
 * with one tile (two chunks ahead of two tiles spilled, and measured 1.192 ms against 1.148 for a
 * Llama-1B decode on an H100). */
template <bool LOOP>
static void launch_instance(const GemvArgs *g, int paired, dim3 grid, dim3 block, cudaStream_t s) {
    if (!paired) {
        if (g->n <= 8) launch_pdl(gemv_mma_kernel<1, 1, MMA_PREFETCH, LOOP>, grid, block, 0, s, *g);
        else launch_pdl(gemv_mma_kernel<2, 1, MMA_PREFETCH, LOOP>, grid, block, 0, s, *g);
    } else {
        if (g->n <= 8) launch_pdl(gemv_mma_kernel<1, 2, MMA_PREFETCH / 2, LOOP>, grid, block, 0, s, *g);
        else launch_pdl(gemv_mma_kernel<2, 2, MMA_PREFETCH / 2, LOOP>, grid, block, 0, s, *g);
    }
}

/* Matrices of at least mma_pair_tiles tiles (Llama-1B: gate/up and the classifier) take two tiles
 * per block at every n, with the warps chosen for the pairs; the others one. This is a function of
 * the matrix only, so a row's sum order never changes with n. With 9 rows, the inputs' loads then
 * hold the L1/TEX pipeline half as long (gate/up: 68% busy against 37% with one row, while L2 is
 * 50% busy). Measured on an H100, Llama-1B, same call: T(9) 1.424 ms against 1.523, T(9)/T(1) 1.23
 * against 1.35; but decode 1.158 ms against 1.129. */
int gemv_mma_plan(const GemvArgs *g, int *paired, int *resident) {
    const int chunks = g->in / MMA_CHUNK, tiles = mma_tiles(g);
    *paired = mma_pair_tiles && tiles >= mma_pair_tiles;
    const int groups = *paired ? (tiles + 1) / 2 : tiles;
    int fit;
    const int w = choose_warps(chunks, groups, *paired, &fit);
    if (resident) *resident = fit;
    return w;
}

void launch_gemv_mma(const GemvArgs *g, cudaStream_t s) {
    CHECK(g->n >= 1 && g->n <= GEMV_ROWS_MAX && gemv_mma_supported(g), "mma gemv of %d rows, in %d", g->n, g->in);
    int paired, resident;
    const int w = gemv_mma_plan(g, &paired, &resident), tiles = mma_tiles(g), groups = paired ? (tiles + 1) / 2 : tiles;
    /* More groups than resident blocks (Llama-1B's classifier: 4,008 pairs): as many blocks as
     * resident, each looping over groups. Measured on an H100, Llama-1B decode (one tile per
     * group then): 1.154-1.155 ms against 1.173-1.174 with one block per group (two alternating
     * runs each). */
    const int blocks = mma_persistent && groups > resident ? resident : groups;
    const dim3 grid(blocks), block(w * 32);
    if (blocks < groups) launch_instance<true>(g, paired, grid, block, s);
    else launch_instance<false>(g, paired, grid, block, s);
}
