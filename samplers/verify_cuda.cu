/* Verification on the device: the logits processors (sampler.h), the acceptance test and the
 * residual sampling (verify.h), and the model drafter's sampling step, with the same Philox draws
 * as rng.c. One thread block handles one row of vocab logits; sums are kept in double, as on the
 * CPU, so that probabilities and inverse-CDF draws agree with it but for rounding at boundaries.
 *
 * Where the CPU sorts or heap-selects, the device selects by radix: top-k finds the k-th largest
 * logit in four 8-bit passes, the nucleus finds the boundary weight in four passes over masses;
 * ties at either boundary resolve as on the CPU (top-k keeps every tie, the nucleus takes tied
 * tokens in id order). */
#include "cuda_common.h"
extern "C" {
#include "rng.h"
#include "spec_cuda.h"
}

#define VT 1024 /* threads per row block: 32 warps */

/* ---------------------------------------------------------------- Philox, as rng.c */

__device__ __forceinline__ float philox_uniform(unsigned long long seed, unsigned stream, unsigned long long counter) {
    unsigned c0 = (unsigned)counter, c1 = (unsigned)(counter >> 32), c2 = stream, c3 = 0;
    unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        unsigned hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        unsigned n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    return (float)(c0 >> 8) * (1.0f / 16777216.0f);
}

/* ---------------------------------------------------------------- block helpers */

struct RowShared {
    float f[32];
    int i[32];
    double d[32];
    unsigned cnt[256];
    double mass[256];
    int sel, k_left, keep_all, n_ties, reject_at;
    double in;
};

/* Exclusive prefix sum over the block in thread order; *total gets the sum of all. */
template <typename T>
__device__ T block_exscan(T v, T *wsum, T *total) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        T n = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += n;
    }
    if (lane == 31) wsum[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        T w = wsum[lane];
        for (int o = 1; o < 32; o <<= 1) {
            T n = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += n;
        }
        wsum[lane] = w;
    }
    __syncthreads();
    T before = warp > 0 ? wsum[warp - 1] : (T)0;
    *total = wsum[31];
    __syncthreads();
    return before + incl - v;
}

__device__ double block_sum_d(double v, double *tmp) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) tmp[warp] = v;
    __syncthreads();
    v = tmp[lane];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    return v;
}

__device__ int block_min_i(int v, int *tmp) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) tmp[warp] = v;
    __syncthreads();
    v = tmp[lane];
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    return v;
}

__device__ int block_max_i(int v, int *tmp) { return -block_min_i(-v, tmp); }

/* Each thread's contiguous slice of the vocabulary, for work that must follow id order. */
__device__ __forceinline__ void my_slice(int V, int *lo, int *hi) {
    int C = (V + VT - 1) / VT;
    *lo = min(V, (int)threadIdx.x * C);
    *hi = min(V, *lo + C);
}

/* ---------------------------------------------------------------- processors */

/* Marks the distinct tokens of the penalty window: the last `window` of hist[0..hlen) followed by
 * extra[0..n_extra) (the drafts before this row). */
__device__ void build_penalty_mask(unsigned *mask, int V, const int *hist, int hlen, const int *extra, int n_extra,
                                   int window) {
    int words = (V + 31) / 32;
    for (int w = threadIdx.x; w < words; w += VT) mask[w] = 0;
    __syncthreads();
    int total = hlen + n_extra, start = (window > 0 && total > window) ? total - window : 0;
    for (int j = start + threadIdx.x; j < total; j += VT) {
        int tok = j < hlen ? hist[j] : extra[j - hlen];
        atomicOr(&mask[tok >> 5], 1u << (tok & 31));
    }
    __syncthreads();
}

/* The repetition penalty, CTRL style: positive logits divided, negative ones multiplied. */
__device__ __forceinline__ float penalised(const float *x, int i, const unsigned *mask, float pen) {
    float v = x[i];
    if (mask && ((mask[i >> 5] >> (i & 31)) & 1u)) v = v > 0.0f ? v / pen : v * pen;
    return v;
}

/* Order-preserving map of floats to unsigned keys. */
__device__ __forceinline__ unsigned float_key(float f) {
    unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_float(unsigned k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

/* The k-th largest penalised logit (1-based), by four 8-bit radix passes. */
__device__ float kth_largest(const float *x, int V, const unsigned *mask, float pen, int k, RowShared *sh) {
    unsigned prefix = 0, pmask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += VT) sh->cnt[b] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < V; i += VT) {
            unsigned key = float_key(penalised(x, i, mask, pen));
            if ((key & pmask) == prefix) atomicAdd(&sh->cnt[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned cum = 0;
            for (int b = 255; b >= 0; b--) {
                if (cum + sh->cnt[b] >= (unsigned)k) {
                    sh->sel = b;
                    sh->k_left = k - (int)cum;
                    break;
                }
                cum += sh->cnt[b];
            }
        }
        __syncthreads();
        prefix |= (unsigned)sh->sel << shift;
        pmask |= 255u << shift;
        k = sh->k_left;
        __syncthreads();
    }
    return key_float(prefix);
}

/* The nucleus over weights w[0..V) (>= 0, zero = not a candidate): keeps w[i] when it belongs to
 * the shortest run, in order of (weight desc, id asc), whose weight reaches top_p * total, and
 * zeroes the rest. Returns the kept weight. */
__device__ double nucleus(float *w, int V, double total, float top_p, RowShared *sh) {
    double need = (double)top_p * total;
    unsigned prefix = 0, pmask = 0;
    if (threadIdx.x == 0) {
        sh->in = 0.0;
        sh->keep_all = 0;
    }
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += VT) sh->mass[b] = 0.0;
        __syncthreads();
        for (int i = threadIdx.x; i < V; i += VT) {
            float v = w[i];
            unsigned key = __float_as_uint(v);
            if (v > 0.0f && (key & pmask) == prefix) atomicAdd(&sh->mass[(key >> shift) & 255u], (double)v);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int sel = -1;
            for (int b = 255; b >= 0 && !sh->keep_all; b--) {
                if (sh->mass[b] == 0.0) continue;
                if (sh->in + sh->mass[b] >= need) {
                    sel = b;
                    break;
                }
                sh->in += sh->mass[b];
            }
            if (sel < 0) sh->keep_all = 1; /* rounding: the whole mass falls short of need */
            sh->sel = sel < 0 ? 0 : sel;
        }
        __syncthreads();
        prefix |= (unsigned)sh->sel << shift;
        pmask |= 255u << shift;
        __syncthreads();
    }
    float bound = __uint_as_float(prefix);
    if (threadIdx.x == 0) {
        /* tokens tied at the boundary weight, taken in id order until the mass is reached */
        int c = 0;
        for (double in = sh->in; in < need; in += (double)bound) c++;
        sh->n_ties = c;
    }
    __syncthreads();
    int keep_all = sh->keep_all, n_ties = sh->n_ties, lo, hi;
    my_slice(V, &lo, &hi);
    int ties = 0;
    for (int i = lo; i < hi; i++) ties += w[i] == bound;
    int total_ties, rank = block_exscan<int>(ties, sh->i, &total_ties);
    double kept = 0.0;
    for (int i = lo; i < hi; i++) {
        float v = w[i];
        int keep = keep_all || v > bound || (v == bound && rank++ < n_ties);
        if (keep) kept += v;
        else w[i] = 0.0f;
    }
    return block_sum_d(kept, sh->d);
}

/* sampler_probs() on the device: out (vocab) = the processed distribution of logits x. For greedy
 * samplers returns the argmax of the penalised logits and leaves out alone. */
__device__ int process_row(const float *x, float *out, int V, const DevSampler *s, const unsigned *mask,
                           RowShared *sh) {
    float pen = s->penalty;
    if (s->greedy) {
        float best = -CUDART_INF_F;
        int arg = 0x7fffffff;
        for (int i = threadIdx.x; i < V; i += VT) {
            float v = penalised(x, i, mask, pen);
            if (v > best) {
                best = v;
                arg = i;
            }
        }
        return block_argmax(best, arg, sh->f, sh->i);
    }
    float kth = -CUDART_INF_F;
    if (s->top_k > 0 && s->top_k < V) kth = kth_largest(x, V, mask, pen, s->top_k, sh);
    float m = -CUDART_INF_F;
    for (int i = threadIdx.x; i < V; i += VT) m = fmaxf(m, penalised(x, i, mask, pen));
    m = block_max(m, sh->f);
    double total = 0.0;
    for (int i = threadIdx.x; i < V; i += VT) {
        float v = penalised(x, i, mask, pen);
        float e = v >= kth ? expf((v - m) / s->temperature) : 0.0f;
        out[i] = e;
        total += e;
    }
    total = block_sum_d(total, sh->d);
    if (s->top_p < 1.0f) {
        __syncthreads(); /* out[] written by other threads before the slices read it */
        total = nucleus(out, V, total, s->top_p, sh);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < V; i += VT) out[i] = (float)(out[i] / total);
    __syncthreads();
    return -1;
}

/* Entropy (nats) of softmax(x / T), logits_entropy() on the device. */
__device__ float row_entropy(const float *x, int V, float temperature, RowShared *sh) {
    float inv_t = temperature > 0.0f ? 1.0f / temperature : 1.0f;
    float m = -CUDART_INF_F;
    for (int i = threadIdx.x; i < V; i += VT) m = fmaxf(m, x[i] * inv_t);
    m = block_max(m, sh->f);
    double sum = 0.0;
    for (int i = threadIdx.x; i < V; i += VT) sum += expf(x[i] * inv_t - m);
    sum = block_sum_d(sum, sh->d);
    double h = 0.0;
    for (int i = threadIdx.x; i < V; i += VT) {
        double p = expf(x[i] * inv_t - m) / sum;
        if (p > 0) h -= p * log(p);
    }
    return (float)block_sum_d(h, sh->d);
}

/* Inverse CDF as sample_from_probs(): the first index whose running sum exceeds u * total, never
 * a zero-weight one. Weights are p, or max(0, p - q) with q one-hot at `draft` when q is NULL
 * (residual). Returns -1 when the weights have no mass. */
__device__ int sample_weights(const float *p, const float *q, int draft, int residual, int V, float u, RowShared *sh) {
    int lo, hi;
    my_slice(V, &lo, &hi);
#define WEIGHT(i) (residual ? fmaxf(p[i] - (q ? q[i] : ((i) == draft ? 1.0f : 0.0f)), 0.0f) : p[i])
    double s = 0.0;
    for (int i = lo; i < hi; i++) s += WEIGHT(i);
    double total, cum = block_exscan<double>(s, sh->d, &total);
    if (!(total > 0.0)) return -1;
    double target = (double)u * total;
    int found = 0x7fffffff, last = -1;
    for (int i = lo; i < hi; i++) {
        float w = WEIGHT(i);
        cum += w;
        if (w > 0.0f) {
            last = i;
            if (cum > target && found == 0x7fffffff) found = i;
        }
    }
#undef WEIGHT
    found = block_min_i(found, sh->i);
    if (found != 0x7fffffff) return found;
    return block_max_i(last, sh->i); /* u * total rounded up to the total */
}

/* The top FILLER_MAX tokens with mass, most probable first (ties: smaller id), as the n-gram
 * drafter's top_candidates() picks them: each pass takes the best token ranked below the last. */
__device__ void top_candidates(const float *p, int V, Candidates *out, RowShared *sh) {
    float last_v = CUDART_INF_F;
    int last_i = -1;
    for (int j = 0; j < FILLER_MAX; j++) {
        float best = -1.0f;
        int arg = 0x7fffffff;
        for (int i = threadIdx.x; i < V; i += VT) {
            float v = p[i];
            int below = v < last_v || (v == last_v && i > last_i);
            if (v > 0.0f && below && (v > best || (v == best && i < arg))) {
                best = v;
                arg = i;
            }
        }
        arg = block_argmax(best, arg, sh->f, sh->i);
        int found = arg != 0x7fffffff && p[arg] > 0.0f && (p[arg] < last_v || (p[arg] == last_v && arg > last_i));
        if (threadIdx.x == 0) {
            out->id[j] = found ? arg : -1;
            out->p[j] = found ? p[arg] : 0.0f;
        }
        if (!found) {
            for (int r = j + 1; r < FILLER_MAX && threadIdx.x == 0; r++) out->id[r] = -1;
            return;
        }
        last_v = p[arg];
        last_i = arg;
    }
}

/* ---------------------------------------------------------------- kernels */

/* grid (rows): row i of the target's logits, scored with history hist[0 .. pos] + tokens[1 .. i]. */
__global__ void __launch_bounds__(VT) target_rows_kernel(VerifyArgs a) {
    extern __shared__ unsigned mask[];
    __shared__ RowShared sh;
    pdl_trigger();
    pdl_wait(); /* the logits, and everything below */
    const LoopState *st = a.st;
    int i = blockIdx.x, V = a.vocab, pos = *a.pos;
    const float *x = a.logits + (size_t)i * V;
    DevSampler s = st->target;
    int use_mask = s.penalty != 1.0f;
    if (use_mask) build_penalty_mask(mask, V, a.hist, pos + 1, a.tokens + 1, i, s.window);
    if (st->want_entropy) {
        float h = row_entropy(x, V, s.temperature, &sh);
        if (threadIdx.x == 0) a.entropy[i] = h;
    }
    int arg = process_row(x, a.P + (size_t)i * V, V, &s, use_mask ? mask : NULL, &sh);
    if (s.greedy) {
        if (threadIdx.x == 0) a.argmax[i] = arg;
    } else if (st->want_candidates) {
        top_candidates(a.P + (size_t)i * V, V, &a.cand[i], &sh);
    }
}

/* One block: verify_round() on the processed rows, then the bookkeeping of the round. */
__global__ void __launch_bounds__(VT) verify_kernel(VerifyArgs a, int rows) {
    __shared__ RowShared sh;
    pdl_trigger();
    pdl_wait();
    LoopState *st = a.st;
    RoundResult *res = a.res;
    int V = a.vocab, pos = *a.pos, k = min(st->n_drafted, rows - 1);
    int greedy = st->target.greedy;
    const int *drafts = a.tokens + 1;
    int acc = k, next;
    if (greedy) {
        if (threadIdx.x == 0) {
            int n = 0;
            while (n < k && drafts[n] == a.argmax[n]) n++;
            for (int i = 0; i < k && i <= n; i++) {
                res->p_draft[i] = drafts[i] == a.argmax[i] ? 1.0f : 0.0f;
                res->q_draft[i] = 1.0f;
            }
            res->expected_acceptance = k > 0 && drafts[0] == a.argmax[0] ? 1.0f : 0.0f;
            sh.reject_at = n;
            sh.sel = a.argmax[n];
        }
        __syncthreads();
        acc = sh.reject_at;
        next = sh.sel;
    } else {
        unsigned long long base = st->round * RNG_SLOTS_PER_ROUND;
        const float *Q = st->has_q ? a.Q : NULL;
        if (threadIdx.x == 0) {
            int n = 0;
            for (; n < k; n++) {
                int x = drafts[n];
                float px = a.P[(size_t)n * V + x], qx = Q ? Q[(size_t)n * V + x] : 1.0f;
                res->p_draft[n] = px;
                res->q_draft[n] = qx;
                if (!(philox_uniform(st->seed, RNG_STREAM_TARGET, base + n) * qx < px)) break;
            }
            sh.reject_at = n;
        }
        __syncthreads();
        acc = sh.reject_at;
        float u = philox_uniform(st->seed, RNG_STREAM_TARGET, base + RNG_SLOT_FINAL);
        const float *p = a.P + (size_t)acc * V;
        next = -1;
        if (acc < k && !st->skip_sample_adjustment)
            next = sample_weights(p, Q ? Q + (size_t)acc * V : NULL, drafts[acc], 1, V, u, &sh);
        if (next < 0) next = sample_weights(p, NULL, -1, 0, V, u, &sh); /* bonus, ablation, or empty residual */
        if (k > 0) {
            double ea = 0.0;
            if (Q) {
                for (int i = threadIdx.x; i < V; i += VT) ea += fminf(a.P[i], Q[i]);
                ea = block_sum_d(ea, sh.d);
            } else {
                ea = a.P[drafts[0]];
            }
            if (threadIdx.x == 0) res->expected_acceptance = (float)ea;
        }
    }
    if (threadIdx.x == 0) {
        res->n_accepted = acc;
        res->next_token = next;
        res->n_drafted = k;
        if (st->want_entropy) res->target_entropy = a.entropy[acc];
        for (int i = 0; i < acc; i++) {
            res->tokens[i] = drafts[i];
            a.hist[pos + 1 + i] = drafts[i];
        }
        res->tokens[acc] = next;
        a.hist[pos + 1 + acc] = next;
        a.tokens[0] = next;
        *a.pos = pos + acc + 1;
        /* The drafter scored the text and drafts 1 .. rows - 2; it scores next, and after an
         * all-accepted round the last draft before it. */
        if (st->drafter_io && rows >= 2) {
            int *io = st->drafter_io, all = acc == rows - 1;
            io[0] = pos + acc + 1 - all;
            if (all) io[1] = drafts[acc - 1];
            io[1 + all] = next;
        }
        st->round++;
        st->n_drafted = 0;
        st->draft_stopped = 0;
    }
}

void launch_verify(const VerifyArgs *a, int rows, cudaStream_t s) {
    size_t mask_bytes = (size_t)(a->vocab + 31) / 32 * sizeof(unsigned);
    launch_pdl(target_rows_kernel, dim3(rows), dim3(VT), mask_bytes, s, *a);
    launch_pdl(verify_kernel, dim3(1), dim3(VT), 0, s, *a, rows);
}

/* One block: the model drafter's step `step` (0-based) picks draft step + 1 from its logits, as
 * drafter_model.c's propose() does, writes it to the target's tokens[1 + step] and feeds it back as
 * the drafter's next input at position L + step (L = the text length, the target's pos + 1). After
 * an EOS draft the remaining steps of the round do nothing, and the drafter's forwards in between
 * rescore the same token at the same position, which leaves its cache as it was. */
__global__ void __launch_bounds__(VT) draft_step_kernel(VerifyArgs a, int step) {
    extern __shared__ unsigned mask[];
    __shared__ RowShared sh;
    pdl_trigger();
    pdl_wait();
    LoopState *st = a.st;
    if (st->n_drafted != step || st->draft_stopped) return; /* uniform: every thread reads the same */
    int V = a.vocab, L = *a.pos + 1;
    DevSampler s = st->drafter;
    int use_mask = s.penalty != 1.0f;
    if (use_mask) build_penalty_mask(mask, V, a.hist, L, a.tokens + 1, step, s.window);
    float *q = a.Q + (size_t)step * V;
    int x = process_row(a.d_logits, q, V, &s, use_mask ? mask : NULL, &sh);
    if (!s.greedy) {
        __syncthreads(); /* every thread has read st->draws */
        x = sample_weights(q, NULL, -1, 0, V, philox_uniform(st->drafter_seed, RNG_STREAM_DRAFTER, st->draws), &sh);
    }
    if (threadIdx.x == 0) {
        if (!s.greedy) st->draws++;
        a.tokens[1 + step] = x;
        a.d_tokens[0] = x;
        *a.d_pos = L + step;
        st->n_drafted = step + 1;
        for (int e = 0; e < st->n_drafter_eos; e++)
            if (st->drafter_eos[e] == x) st->draft_stopped = 1;
    }
}

void launch_draft_step(const VerifyArgs *a, int step, cudaStream_t s) {
    size_t mask_bytes = (size_t)(a->vocab + 31) / 32 * sizeof(unsigned);
    launch_pdl(draft_step_kernel, dim3(1), dim3(VT), mask_bytes, s, *a, step);
}

__global__ void __launch_bounds__(VT) ahead_step_kernel(VerifyArgs a, int k) {
    __shared__ RowShared sh;
    pdl_trigger();
    pdl_wait();
    const LoopState *st = a.st;
    RoundResult *res = a.res;
    if (k > 0 && (res->n_ahead != k || res->ahead_stopped)) return; /* uniform: a drafter EOS ended it */
    DevSampler s = st->drafter; /* greedy without a penalty: the host checks */
    int x = process_row(a.d_logits, NULL, a.vocab, &s, NULL, &sh);
    if (threadIdx.x == 0) {
        int eos = 0;
        for (int e = 0; e < st->n_drafter_eos; e++) eos |= st->drafter_eos[e] == x;
        res->ahead[k] = x;
        res->n_ahead = k + 1;
        res->ahead_stopped = eos;
        a.d_tokens[0] = x;
        /* The drafter's input was the last draft (k = 0) or ahead[k - 1]: the next position. */
        *a.d_pos += 1;
    }
}

void launch_ahead_step(const VerifyArgs *a, int k, cudaStream_t s) {
    launch_pdl(ahead_step_kernel, dim3(1), dim3(VT), 0, s, *a, k);
}

__global__ void ahead_resume_kernel(VerifyArgs a, int n_pre) {
    pdl_trigger();
    pdl_wait();
    for (int i = threadIdx.x; i < n_pre; i += blockDim.x) a.tokens[1 + i] = a.res->ahead[1 + i];
    if (threadIdx.x == 0) {
        a.st->n_drafted = n_pre;
        a.st->draft_stopped = 0;
    }
}

void launch_ahead_resume(const VerifyArgs *a, int n_pre, cudaStream_t s) {
    launch_pdl(ahead_resume_kernel, dim3(1), dim3(64), 0, s, *a, n_pre);
}

__global__ void __launch_bounds__(VT) drafter_entropy_kernel(VerifyArgs a) {
    __shared__ RowShared sh;
    float h = row_entropy(a.d_logits, a.vocab, a.st->drafter.temperature, &sh);
    if (threadIdx.x == 0) a.res->drafter_entropy = h;
}

void launch_drafter_entropy(const VerifyArgs *a, cudaStream_t s) {
    drafter_entropy_kernel<<<1, VT, 0, s>>>(*a);
    cudaCheckLaunch();
}
