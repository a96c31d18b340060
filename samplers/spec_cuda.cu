/* The GPU decoding loops. One round of speculative decoding with a model drafter on the device:
 *
 *   draft  the drafter scores the context tokens it has not seen (1, or 2 after an all-accepted
 *          round), then takes gamma draft steps (sample, feed back, forward): one CUDA graph per
 *          (gamma, tokens to score), whose input the previous round's verification left in place
 *   verify the target's forward over [last token, drafts], the processors, the acceptance test and
 *          the residual or bonus draw, one CUDA graph per row count
 *   read   one copy of the RoundResult back, the round's only synchronisation
 *
 * Draft-ahead (GenConfig.draft_ahead = c, greedy model drafter on the device): the verify graph
 * forks, and beside the target's forward the drafter goes on as if every draft were accepted: it
 * scores the last draft and takes c steps (ahead[0] guesses the bonus token). Both kernel chains
 * are latency-bound, so they share the GPU with little loss. When every draft was accepted and
 * the bonus token is ahead[0], the next round starts with ahead[1 .. c - 1] as its first drafts
 * and drafts only the rest (a resume graph); otherwise the continuation is dropped and the
 * drafter's cache is cut back as usual. The drafts are the ones sequential drafting would make, so
 * the text and every acceptance count are those of plain speculative decoding at the same gamma:
 * only time changes.
 *
 * Host drafters (n-gram, lookup, or a model drafter on the CPU) propose on the host; their drafts
 * go to the device with the round's inputs and the verify graph does the rest. The autoregressive
 * loop is the verify graph with no drafts.
 *
 * Invariants between rounds, as in decode_spec.c: ctx[0..n) is the text; the target's cache holds
 * [0, n - 1) and its device input is (pos n - 1, token ctx[n - 1]); hist on the device mirrors ctx.
 * The device drafter's cache holds [0, dlen), dlen < n. */
#include <math.h>
#include <string.h>

#include "cuda_target.h"
extern "C" {
#include "decode_util.h"
#include "drafters.h"
#include "egag.h"
#include "rng.h"
#include "spec_cuda.h"
}

/* The loop's device buffers and graphs, kept with the target so that later generations reuse
 * them: nothing is allocated or captured inside a generation after its first rounds. */
typedef struct {
    int vocab;
    void *mem;                 /* the one device allocation below is carved from */
    LoopState *st;
    RoundResult *res;
    int *hist;                 /* (seq_len) */
    float *P;                  /* (GAMMA_MAX_LIMIT + 1, vocab) */
    float *Q;                  /* (GAMMA_MAX_LIMIT, vocab) */
    int *argmax;               /* (GAMMA_MAX_LIMIT + 1) */
    float *entropy;            /* (GAMMA_MAX_LIMIT + 1) */
    Candidates *cand;          /* (GAMMA_MAX_LIMIT + 1) */
    /* pinned host mirrors and staging */
    LoopState *h_st;
    RoundResult *h_res;
    Candidates *h_cand;        /* (GAMMA_MAX_LIMIT + 1) */
    cudaGraphExec_t verify[GAMMA_MAX_LIMIT + 2]; /* by row count */
    cudaGraphExec_t tail[GAMMA_MAX_LIMIT + 1][3]; /* by gamma and head rows (0: no head) */
    cudaGraphExec_t verify_ahead[GAMMA_MAX_LIMIT + 2]; /* by row count: verify beside the continuation */
    cudaGraphExec_t resume[GAMMA_MAX_LIMIT + 1];       /* by gamma: drafting after a kept continuation */
    unsigned long tail_drafter;  /* the id of the drafter the drafter graphs were captured with */
    int ahead;                   /* the continuation length verify_ahead and resume were captured with */
    cudaStream_t side;           /* the continuation's branch while a verify_ahead graph is captured */
    cudaEvent_t ev_start, ev_mid, ev_end, ev_fork, ev_join;
} CudaLoop;

static void destroy_graphs(cudaGraphExec_t *g, int n) {
    for (int i = 0; i < n; i++)
        if (g[i]) {
            cudaCheck(cudaGraphExecDestroy(g[i]));
            g[i] = NULL;
        }
}

static void loop_free(void *p) {
    CudaLoop *lp = (CudaLoop *)p;
    destroy_graphs(lp->verify, GAMMA_MAX_LIMIT + 2);
    destroy_graphs(&lp->tail[0][0], (GAMMA_MAX_LIMIT + 1) * 3);
    destroy_graphs(lp->verify_ahead, GAMMA_MAX_LIMIT + 2);
    destroy_graphs(lp->resume, GAMMA_MAX_LIMIT + 1);
    cudaCheck(cudaStreamDestroy(lp->side));
    cudaCheck(cudaEventDestroy(lp->ev_start));
    cudaCheck(cudaEventDestroy(lp->ev_mid));
    cudaCheck(cudaEventDestroy(lp->ev_end));
    cudaCheck(cudaEventDestroy(lp->ev_fork));
    cudaCheck(cudaEventDestroy(lp->ev_join));
    cudaCheck(cudaFree(lp->mem));
    cudaCheck(cudaFreeHost(lp->h_st));
    cudaCheck(cudaFreeHost(lp->h_res));
    cudaCheck(cudaFreeHost(lp->h_cand));
    free(lp);
}

static CudaLoop *loop_of(CudaTarget *ct) {
    if (ct->loop) return (CudaLoop *)ct->loop;
    CudaLoop *lp = (CudaLoop *)callocCheck(1, sizeof *lp);
    size_t V = ct->cfg.vocab_size, R = GAMMA_MAX_LIMIT + 1;
    size_t sizes[8] = {sizeof(LoopState), sizeof(RoundResult), ct->cfg.seq_len * sizeof(int), R * V * sizeof(float),
                       (R - 1) * V * sizeof(float), R * sizeof(int), R * sizeof(float), R * sizeof(Candidates)};
    size_t off[8], total = 0;
    for (int i = 0; i < 8; i++) {
        off[i] = total;
        total += (sizes[i] + 255) & ~(size_t)255;
    }
    char *m;
    cudaCheck(cudaMalloc((void **)&m, total));
    cudaCheck(cudaMemset(m, 0, total));
    lp->mem = m;
    lp->st = (LoopState *)(m + off[0]);
    lp->res = (RoundResult *)(m + off[1]);
    lp->hist = (int *)(m + off[2]);
    lp->P = (float *)(m + off[3]);
    lp->Q = (float *)(m + off[4]);
    lp->argmax = (int *)(m + off[5]);
    lp->entropy = (float *)(m + off[6]);
    lp->cand = (Candidates *)(m + off[7]);
    lp->vocab = (int)V;
    cudaCheck(cudaMallocHost((void **)&lp->h_st, sizeof(LoopState)));
    cudaCheck(cudaMallocHost((void **)&lp->h_res, sizeof(RoundResult)));
    cudaCheck(cudaMallocHost((void **)&lp->h_cand, R * sizeof(Candidates)));
    cudaCheck(cudaEventCreate(&lp->ev_start));
    cudaCheck(cudaEventCreate(&lp->ev_mid));
    cudaCheck(cudaEventCreate(&lp->ev_end));
    cudaCheck(cudaEventCreateWithFlags(&lp->ev_fork, cudaEventDisableTiming));
    cudaCheck(cudaEventCreateWithFlags(&lp->ev_join, cudaEventDisableTiming));
    cudaCheck(cudaStreamCreateWithFlags(&lp->side, cudaStreamNonBlocking));
    ct->loop = lp;
    ct->loop_free = loop_free;
    return lp;
}

static VerifyArgs verify_args(CudaLoop *lp, CudaTarget *ct, CudaTarget *dct) {
    VerifyArgs a;
    memset(&a, 0, sizeof a);
    a.st = lp->st;
    a.res = lp->res;
    a.vocab = lp->vocab;
    a.hist = lp->hist;
    a.tokens = ct->tokens;
    a.pos = ct->pos;
    a.logits = ct->logits;
    a.P = lp->P;
    a.argmax = lp->argmax;
    a.entropy = lp->entropy;
    a.cand = lp->cand;
    a.Q = lp->Q;
    if (dct) {
        a.d_logits = dct->logits;
        a.d_tokens = dct->tokens;
        a.d_pos = dct->pos;
    }
    return a;
}

static DevSampler dev_sampler(const SamplerConfig *c) {
    DevSampler s;
    s.temperature = c->temperature;
    s.top_p = c->top_p;
    s.penalty = c->repetition_penalty;
    s.top_k = c->top_k;
    s.window = c->repetition_window;
    s.greedy = sampler_is_greedy(c);
    return s;
}

/* Ends the capture begun on ct->stream into an executable graph. */
static void end_capture(CudaTarget *ct, cudaGraphExec_t *exec) {
    cudaGraph_t g;
    cudaCheck(cudaStreamEndCapture(ct->stream, &g));
    cudaCheck(cudaGraphInstantiate(exec, g, 0));
    cudaCheck(cudaGraphDestroy(g));
}

/* Replays (capturing on first use) the target forward of `rows` rows plus the verification. */
static void run_verify(CudaLoop *lp, CudaTarget *ct, int rows) {
    if (!lp->verify[rows]) {
        VerifyArgs a = verify_args(lp, ct, NULL);
        cudaCheck(cudaStreamBeginCapture(ct->stream, cudaStreamCaptureModeThreadLocal));
        cuda_forward_enqueue(ct, rows, rows, 0);
        launch_verify(&a, rows, ct->stream);
        end_capture(ct, &lp->verify[rows]);
    }
    cudaCheck(cudaGraphLaunch(lp->verify[rows], ct->stream));
}

/* Drops the graphs captured with another drafter (or continuation length). */
static void key_drafter_graphs(CudaLoop *lp, CudaTarget *dct, int ahead) {
    if (lp->tail_drafter != dct->id) { /* an id, not the pointer: a new drafter may reuse the address */
        destroy_graphs(&lp->tail[0][0], (GAMMA_MAX_LIMIT + 1) * 3);
        lp->tail_drafter = dct->id;
        lp->ahead = -1; /* and the draft-ahead graphs below */
    }
    if (lp->ahead != ahead) {
        destroy_graphs(lp->verify_ahead, GAMMA_MAX_LIMIT + 2);
        destroy_graphs(lp->resume, GAMMA_MAX_LIMIT + 1);
        lp->ahead = ahead;
    }
}

/* Replays (capturing on first use) the device drafter dct's head, a forward of the head_rows
 * tokens it has not scored (0: none, EGAG ran it already), then its gamma draft steps. */
static void run_tail(CudaLoop *lp, CudaTarget *ct, CudaTarget *dct, int gamma, int head_rows) {
    cudaGraphExec_t *exec = &lp->tail[gamma][head_rows];
    if (!*exec) {
        VerifyArgs a = verify_args(lp, ct, dct);
        cudaCheck(cudaStreamBeginCapture(ct->stream, cudaStreamCaptureModeThreadLocal));
        if (head_rows) cuda_forward_enqueue(dct, head_rows, 1, 0);
        for (int i = 0; i < gamma; i++) {
            launch_draft_step(&a, i, ct->stream);
            if (i + 1 < gamma) cuda_forward_enqueue(dct, 1, 1, 0);
        }
        end_capture(ct, exec);
    }
    cudaCheck(cudaGraphLaunch(*exec, ct->stream));
}

/* Replays (capturing on first use) the target's forward of `rows` rows and the verification, and
 * beside them, forked on lp->side, the device drafter's continuation: lp->ahead pairs of (forward
 * of its current input, ahead step). */
static void run_verify_ahead(CudaLoop *lp, CudaTarget *ct, CudaTarget *dct, int rows) {
    cudaGraphExec_t *exec = &lp->verify_ahead[rows];
    if (!*exec) {
        VerifyArgs a = verify_args(lp, ct, dct);
        cudaCheck(cudaStreamBeginCapture(ct->stream, cudaStreamCaptureModeThreadLocal));
        cudaCheck(cudaEventRecord(lp->ev_fork, ct->stream));
        cudaCheck(cudaStreamWaitEvent(lp->side, lp->ev_fork, 0));
        cuda_target_set_stream(dct, lp->side);
        for (int k = 0; k < lp->ahead; k++) {
            cuda_forward_enqueue(dct, 1, 1, 0);
            launch_ahead_step(&a, k, lp->side);
        }
        cuda_target_set_stream(dct, ct->stream);
        cudaCheck(cudaEventRecord(lp->ev_join, lp->side));
        cuda_forward_enqueue(ct, rows, rows, 0);
        launch_verify(&a, rows, ct->stream);
        cudaCheck(cudaStreamWaitEvent(ct->stream, lp->ev_join, 0));
        end_capture(ct, exec);
    }
    cudaCheck(cudaGraphLaunch(*exec, ct->stream));
}

/* Replays (capturing on first use) the drafting of a round that starts from a kept continuation:
 * its drafts 1 .. ahead - 1 become this round's first drafts, and the drafter, whose input is the
 * continuation's last draft, drafts the rest up to gamma. */
static void run_resume(CudaLoop *lp, CudaTarget *ct, CudaTarget *dct, int gamma) {
    cudaGraphExec_t *exec = &lp->resume[gamma];
    if (!*exec) {
        VerifyArgs a = verify_args(lp, ct, dct);
        cudaCheck(cudaStreamBeginCapture(ct->stream, cudaStreamCaptureModeThreadLocal));
        launch_ahead_resume(&a, lp->ahead - 1, ct->stream);
        for (int k = lp->ahead - 1; k < gamma; k++) {
            cuda_forward_enqueue(dct, 1, 1, 0);
            launch_draft_step(&a, k, ct->stream);
        }
        end_capture(ct, exec);
    }
    cudaCheck(cudaGraphLaunch(*exec, ct->stream));
}

/* Writes a forward input (position, then tokens) to a target's device buffers in one async copy,
 * staged in that target's pinned buffer: the round's synchronisation comes before its next use. */
static void put_input(CudaTarget *ct, int pos, const int *tokens, int n) {
    CHECK(n >= 1 && n <= ct->max_batch, "input of %d rows", n);
    ct->h_io[0] = pos;
    memcpy(ct->h_io + 1, tokens, sizeof(int) * (size_t)n);
    cudaCheck(cudaMemcpyAsync(ct->pos, ct->h_io, sizeof(int) * (size_t)(n + 1), cudaMemcpyHostToDevice, ct->stream));
}

/* Settings and counters of a new generation, and the prompt as the device's history. */
static void loop_begin(CudaLoop *lp, CudaTarget *ct, const GenConfig *g, const Drafter *d, const ModelConfig *dcfg,
                       CudaTarget *dct, const int *prompt, int n_prompt) {
    LoopState *s = lp->h_st;
    memset(s, 0, sizeof *s);
    s->target = dev_sampler(&g->sampler);
    /* the model drafter samples with the run's sampler (DrafterOptions.sampler, as every caller sets
     * it) and draws from the run's seed (reset()) */
    s->drafter = s->target;
    s->seed = g->seed;
    s->drafter_seed = g->seed;
    s->skip_sample_adjustment = g->skip_sample_adjustment;
    int greedy = s->target.greedy, model = d && d->is_model;
    s->want_entropy = d && g->use_egag && !model;
    s->want_candidates = d && !model && !greedy;
    s->has_q = model && !greedy;
    if (dcfg) {
        s->n_drafter_eos = dcfg->n_eos;
        memcpy(s->drafter_eos, dcfg->eos_ids, sizeof(int) * (size_t)dcfg->n_eos);
    }
    s->drafter_io = dct && !g->draft_ahead ? dct->pos : NULL; /* draft-ahead: the host or the continuation sets it */
    cudaCheck(cudaMemcpyAsync(lp->st, s, sizeof *s, cudaMemcpyHostToDevice, ct->stream));
    cudaCheck(cudaMemcpyAsync(lp->hist, prompt, sizeof(int) * (size_t)n_prompt, cudaMemcpyHostToDevice, ct->stream));
    cudaCheck(cudaStreamSynchronize(ct->stream)); /* prompt is pageable memory the caller owns */
}

static void read_result(CudaLoop *lp, CudaTarget *ct, int n_cand_rows) {
    cudaCheck(cudaMemcpyAsync(lp->h_res, lp->res, sizeof(RoundResult), cudaMemcpyDeviceToHost, ct->stream));
    if (n_cand_rows)
        cudaCheck(cudaMemcpyAsync(lp->h_cand, lp->cand, sizeof(Candidates) * (size_t)n_cand_rows, cudaMemcpyDeviceToHost,
                                  ct->stream));
    cudaCheck(cudaStreamSynchronize(ct->stream));
}

static double elapsed_s(cudaEvent_t a, cudaEvent_t b) {
    float ms;
    cudaCheck(cudaEventElapsedTime(&ms, a, b));
    return 1e-3 * ms;
}

void autoregressive_generate_cuda(Target *t, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r) {
    CudaTarget *ct = cuda_target_of(t);
    const ModelConfig *c = t->cfg;
    int budget = new_token_budget(c, n_prompt, g->max_new_tokens);
    memset(r, 0, sizeof *r);
    r->tokens = (int *)mallocCheck(sizeof(int) * (size_t)(budget + 1));
    CudaLoop *lp = loop_of(ct);
    loop_begin(lp, ct, g, NULL, NULL, NULL, prompt, n_prompt);

    double t1 = prefill_prompt(r, t, prompt, n_prompt);
    put_input(ct, n_prompt - 1, &prompt[n_prompt - 1], 1);
    cudaCheck(cudaStreamSynchronize(ct->stream)); /* the staging buffer is free for the rounds */
    int steps = 0;
    while (steps < budget) {
        double ts = now_seconds();
        run_verify(lp, ct, 1);
        read_result(lp, ct, 0);
        r->target_s += now_seconds() - ts;
        r->target_calls++;
        r->verify_calls++;
        steps++;
        emit_tokens(r, c, g, &lp->h_res->next_token, 1);
        if (r->stopped_at_eos) break;
    }
    r->decode_s = now_seconds() - t1;
    t->len = n_prompt - 1 + steps;
}

/* The target's processed rows 0..n_rows-1 as observe() expects them, rebuilt sparsely on the host:
 * one-hot at the tokens the target chose (greedy), or its top candidates (sampling). Only the
 * entries set here are nonzero; unset_rows() clears them again. */
static void set_rows(float *p, int V, const int *chosen, const Candidates *cand, int n_rows) {
    for (int i = 0; i < n_rows; i++) {
        if (!cand) {
            p[(size_t)i * V + chosen[i]] = 1.0f;
            continue;
        }
        for (int j = 0; j < FILLER_MAX && cand[i].id[j] >= 0; j++) p[(size_t)i * V + cand[i].id[j]] = cand[i].p[j];
    }
}

static void unset_rows(float *p, int V, const int *chosen, const Candidates *cand, int n_rows) {
    for (int i = 0; i < n_rows; i++) {
        if (!cand) {
            p[(size_t)i * V + chosen[i]] = 0.0f;
            continue;
        }
        for (int j = 0; j < FILLER_MAX && cand[i].id[j] >= 0; j++) p[(size_t)i * V + cand[i].id[j]] = 0.0f;
    }
}

void speculative_generate_cuda(Target *t, Drafter *d, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r) {
    CudaTarget *ct = cuda_target_of(t);
    const ModelConfig *c = t->cfg;
    int V = c->vocab_size, budget = new_token_budget(c, n_prompt, g->max_new_tokens);
    int gmax = g->use_egag ? g->gamma_max : g->gamma;
    CHECK(gmax >= 1 && gmax <= GAMMA_MAX_LIMIT, "gamma %d", gmax);
    memset(r, 0, sizeof *r);
    r->tokens = (int *)mallocCheck(sizeof(int) * (size_t)(budget + 1));
    int *ctx = (int *)mallocCheck(sizeof(int) * (size_t)(n_prompt + budget + gmax + 2));
    memcpy(ctx, prompt, sizeof(int) * (size_t)n_prompt);
    int greedy = sampler_is_greedy(&g->sampler);

    Target *dt = d->is_model ? drafter_model_target(d) : NULL;
    CudaTarget *dct = dt && !strcmp(dt->backend, "cuda") ? cuda_target_of(dt) : NULL;
    /* host drafters: their q rows (a model drafter on the CPU) and the target rows observe() reads */
    float *q_host = d->is_model && !dct ? (float *)mallocCheck(sizeof(float) * (size_t)gmax * V) : NULL;
    float *p_rows = dct ? NULL : (float *)callocCheck((size_t)(gmax + 1) * V, sizeof(float));
    const int ahead = g->draft_ahead;
    if (ahead) {
        if (!dct) fatal("--draft-ahead needs a model drafter on the CUDA device (model:PATH with --device cuda)");
        if (!greedy || g->sampler.repetition_penalty != 1.0f)
            fatal("--draft-ahead needs greedy decoding without a repetition penalty (--temperature 0)");
        if (g->use_egag) fatal("--draft-ahead needs a fixed gamma, not --egag");
        if (ahead > g->gamma + 1) fatal("--draft-ahead %d exceeds gamma + 1 = %d", ahead, g->gamma + 1);
    }
    CudaLoop *lp = loop_of(ct);
    loop_begin(lp, ct, g, d, dt ? dt->cfg : NULL, dct, prompt, n_prompt);
    if (dct) key_drafter_graphs(lp, dct, ahead);
    EgagState egag;
    egag_init(&egag, g->gamma_min, g->gamma_max, g->egag_beta);
    float last_target_entropy = -1.0f;
    cudaStream_t drafter_stream = dct ? dct->stream : NULL;

    d->ops->reset(d->st, g->seed);
    int dlen = 0; /* the device drafter's cached positions */
    if (dct) {
        /* the drafter's prompt on its own stream, from the device history, while the target's runs:
         * the two prefills are independent, and neither fills the GPU alone */
        cudaCheck(cudaEventRecord(lp->ev_start, dct->stream));
        if (n_prompt > 1) cuda_prefill_enqueue(dct, lp->hist, prompt, n_prompt - 1, 0);
        cudaCheck(cudaEventRecord(lp->ev_mid, dct->stream));
    }
    double t1 = prefill_prompt(r, t, prompt, n_prompt);
    if (dct) {
        /* counted as drafter time, as the CPU drafter's first sync is */
        cudaCheck(cudaEventSynchronize(lp->ev_mid));
        r->drafter_s += elapsed_s(lp->ev_start, lp->ev_mid);
        dlen = n_prompt - 1;
        dt->len = dlen;
        cuda_target_set_stream(dct, ct->stream);
    }
    put_input(ct, n_prompt - 1, &prompt[n_prompt - 1], 1);
    cudaCheck(cudaStreamSynchronize(ct->stream)); /* the staging buffer is free for the rounds */

    int n = n_prompt, generated = 0, device_input = 0; /* device_input: verification set the drafter's input */
    int kept = 0; /* draft-ahead: the last round's continuation holds this round's first drafts */
    long round = 0;
    while (generated < budget && !r->stopped_at_eos) {
        int remaining = budget - generated;
        float entropy = -1.0f;
        double drafter_host = 0.0; /* a host drafter's propose time */
        /* EGAG chooses again below, once it has the entropy; without one this call changes nothing */
        int gamma = choose_gamma(r, g, &egag, -1.0f, round, remaining, V);
        int resume = kept && gamma == g->gamma, with_ahead = ahead && gamma == g->gamma;
        if (kept && !resume) dlen = n - 1; /* a short last round: drop the continuation, rescore the bonus token */
        kept = 0;
        int head = dct && !resume ? n - dlen : 0; /* tokens the device drafter has yet to score */
        cudaCheck(cudaEventRecord(lp->ev_start, ct->stream));
        if (dct && head && !device_input) put_input(dct, dlen, ctx + dlen, head);
        if (g->use_egag) {
            if (dct) {
                cuda_forward_enqueue(dct, head, 1, 1);
                VerifyArgs a = verify_args(lp, ct, dct);
                launch_drafter_entropy(&a, ct->stream);
                read_result(lp, ct, 0);
                entropy = lp->h_res->drafter_entropy;
                dlen = n;
                head = 0;
            } else {
                double te = now_seconds();
                entropy = d->ops->next_entropy(d->st, ctx, n);
                r->drafter_s += now_seconds() - te;
            }
            if (entropy < 0) entropy = last_target_entropy;
            gamma = choose_gamma(r, g, &egag, entropy, round, remaining, V);
        }

        int rows;
        if (dct) {
            if (resume) {
                run_resume(lp, ct, dct, gamma);
            } else if (gamma > 0) {
                if (head > 2) { /* only after rounds without drafts: score the backlog on its own */
                    cuda_forward_enqueue(dct, head, 1, 1);
                    head = 0;
                }
                run_tail(lp, ct, dct, gamma, head);
            }
            rows = gamma + 1;
        } else {
            double td = now_seconds();
            int k = gamma > 0 ? d->ops->propose(d->st, ctx, n, gamma, ctx + n, q_host) : 0;
            drafter_host += now_seconds() - td;
            CHECK(k >= 0 && k <= gamma, "drafter %s proposed %d of %d", d->ops->name, k, gamma);
            put_input(ct, n - 1, ctx + n - 1, k + 1);
            lp->h_st->n_drafted = k;
            cudaCheck(cudaMemcpyAsync(&lp->st->n_drafted, &lp->h_st->n_drafted, sizeof(int), cudaMemcpyHostToDevice,
                                      ct->stream));
            if (q_host && k > 0)
                cudaCheck(cudaMemcpyAsync(lp->Q, q_host, sizeof(float) * (size_t)k * V, cudaMemcpyHostToDevice, ct->stream));
            rows = k + 1;
        }
        cudaCheck(cudaEventRecord(lp->ev_mid, ct->stream));
        if (with_ahead)
            run_verify_ahead(lp, ct, dct, rows);
        else
            run_verify(lp, ct, rows);
        cudaCheck(cudaEventRecord(lp->ev_end, ct->stream));
        read_result(lp, ct, lp->h_st->want_candidates ? rows : 0);

        const RoundResult *vr = lp->h_res;
        int k = vr->n_drafted, acc = vr->n_accepted;
        double drafter_round = dct ? elapsed_s(lp->ev_start, lp->ev_mid) : drafter_host;
        double target_round = elapsed_s(lp->ev_mid, lp->ev_end);
        r->drafter_s += drafter_round;
        r->drafter_tokens += k;
        r->target_s += target_round;
        r->target_calls++;
        r->verify_calls++;
        record_round(r, gamma, k, acc, vr->expected_acceptance, entropy, V);
        if (g->use_egag && !d->is_model) last_target_entropy = vr->target_entropy;
        if (g->trace)
            trace_round(g->trace, round, gamma, vr->n_drafted, vr->n_accepted, vr->next_token, entropy, vr->p_draft,
                        vr->q_draft, drafter_round, target_round);

        memcpy(ctx + n, vr->tokens, sizeof(int) * (size_t)(acc + 1));
        generated += emit_tokens(r, c, g, ctx + n, acc + 1);
        /* the tail scored ctx[n - 1] (head) and drafts 1 .. gamma - 1; the accepted ones stay */
        if (dct && gamma > 0) dlen = n + (acc < gamma - 1 ? acc : gamma - 1);
        device_input = dct && gamma > 0 && !ahead; /* draft-ahead: the host sets it, or the continuation did */
        if (with_ahead && acc == gamma && k == gamma) {
            dlen = n + gamma; /* the continuation scored the last draft */
            kept = vr->n_ahead == ahead && !vr->ahead_stopped && vr->ahead[0] == vr->next_token;
            r->ahead_kept += kept;
        }
        r->ahead_rounds += with_ahead;
        n += acc + 1;
        if (!dct) {
            const Candidates *cand = lp->h_st->want_candidates ? lp->h_cand : NULL;
            double to = now_seconds();
            set_rows(p_rows, V, ctx + n - (acc + 1), cand, acc + 1);
            d->ops->observe(d->st, ctx, n, acc, p_rows, acc + 1);
            unset_rows(p_rows, V, ctx + n - (acc + 1), cand, acc + 1);
            r->drafter_s += now_seconds() - to;
        }
        round++;
    }
    r->decode_s = now_seconds() - t1;
    t->len = n - 1;
    if (dct) {
        dt->len = dlen;
        cuda_target_set_stream(dct, drafter_stream);
    }
    /* the drafter's host-side bookkeeping never saw the device rounds: start it afresh */
    d->ops->reset(d->st, g->seed);
    free(ctx);
    free(q_host);
    free(p_rows);
}
