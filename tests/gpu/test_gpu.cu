/* test_gpu.cu — `make test-gpu`: the CUDA backend against the CPU path, on a GPU.
 *
 * No Criterion (the GPU machine has none): each check prints one line, PASS or
 * FAIL with the measured error, and the exit status is the number of failures.
 *   1. every layer kernel against model/layers.c on random inputs, and every quantizer of
 *      quant/quantizer.c (forward, backward, per-row dL/dα) bitwise;
 *   2. the tiny model: logits (FP32, within 1e-4 relative) and all gradients against the CPU;
 *   3. finite differences of the GPU loss along each tensor's GPU gradient;
 *   4. 200 training steps of the tiny config: loss curve within 1% of the CPU's,
 *      two runs bitwise identical, and a stopped + resumed run bitwise identical;
 *   5. QAT (the quantizers as the model's GPU weight hook): logits, gradients and per-row
 *      dL/dα of the hooked tiny model against the CPU's, finite differences of the loss
 *      along dL/dα (sign, where α·sign(W) is linear in α), and 200 QAT steps as in 4;
 *   6. the packed low-bit GEMV (B2, T2, T1_6, B4) against the CPU reference: int8
 *      activations bitwise (and their quantization on the GPU), float ones within the CPU
 *      kernels' tolerance, on ragged shapes and edge rows and tokens;
 *   7. fp16 scales (pq qat --scale-fp16): the quantizers bitwise with the rounded α, the
 *      hooked tiny model under two of them;
 *   8. an imported model's config (RoPE θ, ε, LLaMA-3 scaling, untied head; each shown to
 *      move the logits): 2. and 3. again with the head's gradient and finite differences,
 *      5. under three quantizers and 200 QAT steps with fp16 scales as in 4. */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_fp16.h>

#include "gpu/kernels.cuh"
#include "kernels/gemv_gpu.cuh"

#define _Noreturn [[noreturn]]
extern "C" {
#include "base/manifest.h"
#include "base/rng.h"
#include "base/util.h"
#include "gpu/gpu.h"
#include "kernels/gemv.h"
#include "model/layers.h"
#include "model/model.h"
#include "quant/qat.h"
#include "quant/quantizer.h"
#include "quant/quantizer_gpu.h"
#include "train/data.h"
#include "train/optim.h"
#include "train/trainer.h"
}
#undef _Noreturn

static int failures = 0;

static void check(const char *what, double err, double tol) {
    int ok = err <= tol && std::isfinite(err);
    if (!ok) failures++;
    printf("%s %-48s err %.3e (tol %.1e)\n", ok ? "PASS" : "FAIL", what, err, tol);
    fflush(stdout);
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

static std::vector<float> randn(size_t n, uint64_t stream, double scale = 1.0) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = (float)(scale * pq_rng_normal(7, stream, i));
    return v;
}

/* A device copy of a host vector, freed with the struct. */
struct dbuf {
    float *p = nullptr;
    size_t n = 0;
    explicit dbuf(const std::vector<float> &h) : n(h.size()) {
        CUDA_OK(cudaMalloc(&p, sizeof(float) * (n ? n : 1)));
        CUDA_OK(cudaMemcpy(p, h.data(), sizeof(float) * n, cudaMemcpyHostToDevice));
    }
    explicit dbuf(size_t count) : n(count) {
        CUDA_OK(cudaMalloc(&p, sizeof(float) * (n ? n : 1)));
        CUDA_OK(cudaMemset(p, 0, sizeof(float) * (n ? n : 1)));
    }
    ~dbuf() { cudaFree(p); }
    std::vector<float> get() const {
        std::vector<float> h(n);
        CUDA_OK(cudaMemcpy(h.data(), p, sizeof(float) * n, cudaMemcpyDeviceToHost));
        return h;
    }
};

/* ---- 1. kernels ------------------------------------------------------------------- */

static void test_rmsnorm(void) {
    int N = 300, D = 320;
    auto x = randn((size_t)N * D, 1), w = randn(D, 2), g = randn((size_t)N * D, 3), dx0 = randn((size_t)N * D, 4);
    std::vector<float> out(x.size()), rstd(N), dx = dx0, dw(D, 0.5f);
    pq_rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, D, PQ_RMS_EPS);
    pq_rmsnorm_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), rstd.data(), N, D);
    dbuf dX(x), dW(w), dG(g), dOut(x.size()), dR((size_t)N), dDX(dx0), dDW(std::vector<float>(D, 0.5f)),
        dP(gk_rmsnorm_partial_floats(N, D));
    gk_rmsnorm_forward(dOut.p, dR.p, dX.p, dW.p, N, D, PQ_RMS_EPS);
    gk_rmsnorm_backward(dDX.p, dDW.p, dG.p, dX.p, dW.p, dR.p, N, D, dP.p);
    check("rmsnorm forward", rel_err(dOut.get().data(), out.data(), out.size()), 1e-5);
    check("rmsnorm rstd", rel_err(dR.get().data(), rstd.data(), N), 1e-5);
    check("rmsnorm backward dx (accumulated)", rel_err(dDX.get().data(), dx.data(), dx.size()), 1e-5);
    check("rmsnorm backward dw (accumulated)", rel_err(dDW.get().data(), dw.data(), D), 1e-5);
}

static void test_rope_swiglu(void) {
    int B = 2, T = 50, H = 4, hd = 32, ld = H * hd + 64, ctx = 64, F = 200, N = B * T;
    std::vector<float> cs((size_t)ctx * hd / 2), sn(cs.size());
    pq_rope_tables(cs.data(), sn.data(), ctx, hd, PQ_ROPE_THETA);
    auto x = randn((size_t)N * ld, 5);
    for (int inv = 0; inv < 2; inv++) {
        std::vector<float> y = x;
        pq_rope_apply(y.data(), ld, B, T, H, hd, cs.data(), sn.data(), inv);
        dbuf dx(x), dc(cs), ds(sn);
        gk_rope(dx.p, ld, B, T, H, hd, dc.p, ds.p, inv);
        check(inv ? "rope inverse" : "rope forward", rel_err(dx.get().data(), y.data(), y.size()), 1e-6);
    }
    auto gu = randn((size_t)N * 2 * F, 6, 3.0), dh = randn((size_t)N * F, 7);
    std::vector<float> h((size_t)N * F), dgu(gu.size());
    pq_swiglu_forward(h.data(), gu.data(), N, F);
    pq_swiglu_backward(dgu.data(), dh.data(), gu.data(), N, F);
    dbuf dGU(gu), dH((size_t)N * F), dDH(dh), dDGU(gu.size());
    gk_swiglu_forward(dH.p, dGU.p, N, F);
    gk_swiglu_backward(dDGU.p, dDH.p, dGU.p, N, F);
    check("swiglu forward", rel_err(dH.get().data(), h.data(), h.size()), 1e-5);
    check("swiglu backward", rel_err(dDGU.get().data(), dgu.data(), dgu.size()), 1e-5);
}

static void test_attention(int B, int T, int H, int KV, int hd) {
    int C = (H + 2 * KV) * hd, D = H * hd, N = B * T;
    auto qkv = randn((size_t)N * C, 8 + hd), dout = randn((size_t)N * D, 9 + hd);
    std::vector<float> out((size_t)N * D), att((size_t)B * H * T * T), dqkv(qkv.size()), scratch((size_t)T * T);
    pq_attention_forward(out.data(), att.data(), qkv.data(), B, T, H, KV, hd);
    pq_attention_backward(dqkv.data(), dout.data(), att.data(), qkv.data(), scratch.data(), B, T, H, KV, hd);
    dbuf dQKV(qkv), dOut((size_t)N * D), dL((size_t)B * H * T), dDout(dout), dD((size_t)N * C), dDelta((size_t)B * H * T);
    gk_attention_forward(dOut.p, dL.p, dQKV.p, B, T, H, KV, hd);
    gk_attention_backward(dD.p, dDelta.p, dDout.p, dOut.p, dL.p, dQKV.p, B, T, H, KV, hd);
    char name[96];
    snprintf(name, sizeof name, "attention forward B%d T%d H%d KV%d hd%d", B, T, H, KV, hd);
    check(name, rel_err(dOut.get().data(), out.data(), out.size()), 1e-5);
    snprintf(name, sizeof name, "attention backward B%d T%d H%d KV%d hd%d", B, T, H, KV, hd);
    check(name, rel_err(dD.get().data(), dqkv.data(), dqkv.size()), 1e-5);
    /* the cuBLAS path (FP32, pedantic; one sequence per chunk), twice: the same bits */
    cublasHandle_t blas;
    void *bws;
    CUBLAS_OK(cublasCreate(&blas));
    CUDA_OK(cudaMalloc(&bws, 32u << 20));
    CUBLAS_OK(cublasSetWorkspace(blas, bws, 32u << 20));
    CUBLAS_OK(cublasSetMathMode(blas, CUBLAS_PEDANTIC_MATH));
    gk_attn_ws ws;
    if (gk_attention_gemm_alloc(&ws, B, T, H, KV, hd, 1)) pq_die("attention gemm scratch");
    std::vector<float> o1, d1;
    for (int rep = 0; rep < 2; rep++) {
        gk_attention_gemm_forward(blas, &ws, dOut.p, dL.p, dQKV.p, B, T, H, KV, hd);
        gk_attention_gemm_backward(blas, &ws, dD.p, dDelta.p, dDout.p, dOut.p, dL.p, dQKV.p, B, T, H, KV, hd);
        auto o = dOut.get(), d = dD.get();
        if (rep == 0) {
            o1 = o, d1 = d;
            continue;
        }
        snprintf(name, sizeof name, "attention (cublas) forward B%d T%d H%d KV%d hd%d", B, T, H, KV, hd);
        check(name, rel_err(o.data(), out.data(), out.size()), 1e-5);
        snprintf(name, sizeof name, "attention (cublas) backward B%d T%d H%d KV%d hd%d", B, T, H, KV, hd);
        check(name, rel_err(d.data(), dqkv.data(), dqkv.size()), 1e-5);
        int same = !memcmp(o.data(), o1.data(), 4 * o.size()) && !memcmp(d.data(), d1.data(), 4 * d.size());
        snprintf(name, sizeof name, "attention (cublas) rerun bitwise B%d T%d", B, T);
        check(name, same ? 0 : 1, 0);
    }
    gk_attention_gemm_free(&ws);
    cudaFree(bws);
    cublasDestroy(blas);
}

static void test_cross_entropy_and_sums(void) {
    int N = 96, V = 8192;
    auto logits = randn((size_t)N * V, 10, 3.0);
    std::vector<uint16_t> tg(N);
    std::vector<int32_t> tg32(N);
    for (int n = 0; n < N; n++) tg[n] = (uint16_t)((n * 977) % V), tg32[n] = tg[n];
    std::vector<float> grad = logits;
    double cpu = pq_cross_entropy(grad.data(), tg.data(), N, V, 0.01f, 1);
    dbuf dLg(logits);
    double *rows, *scratch;
    int32_t *dt;
    CUDA_OK(cudaMalloc(&rows, sizeof(double) * N));
    CUDA_OK(cudaMalloc(&scratch, sizeof(double) * 64));
    CUDA_OK(cudaMalloc(&dt, sizeof(int32_t) * N));
    CUDA_OK(cudaMemcpy(dt, tg32.data(), sizeof(int32_t) * N, cudaMemcpyHostToDevice));
    gk_cross_entropy(dLg.p, rows, dt, N, V, 0.01f, 1);
    double gpu = gk_sum(rows, N, scratch);
    check("cross entropy loss sum", fabs(gpu - cpu) / fabs(cpu), 1e-6);
    check("cross entropy gradient", rel_err(dLg.get().data(), grad.data(), grad.size()), 1e-5);
    auto g = randn(100003, 11);
    double ss = 0;
    for (float v : g) ss += (double)v * v;
    dbuf dG(g);
    check("sum of squares (grad norm)", fabs(gk_sumsq(dG.p, (int64_t)g.size(), scratch, 64) - ss) / ss, 1e-6);
    cudaFree(rows), cudaFree(scratch), cudaFree(dt);
}


/* Bitwise: W_eff, recomputed α (statistic members) and dW; dL/dα within 1 ulp (a double row
 * sum in another order than the CPU's SIMD one, rounded to float), and counted if not equal. */
static int ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4), memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0)) return a == b ? 0 : 1 << 30;
    return abs(ia - ib);
}

/* One member at one width (fp16: with pq_quantizer_set_scale_fp16) on W, G. */
static void quant_case(const char *qname, const char *qbits, int fp16, const std::vector<float> &W,
                       const std::vector<float> &G, int rows, int cols) {
    pq_quantizer q;
    pq_qbits bits;
    if (pq_qbits_parse(qbits, &bits) || pq_quantizer_init(&q, qname, bits) || (fp16 && pq_quantizer_set_scale_fp16(&q))) {
        printf("     (skipped %s@%s: %s)\n", qname, qbits, pq_error());
        return;
    }
    std::vector<float> alpha(rows), eff((size_t)rows * cols), dW = randn((size_t)rows * cols, 42, 1e-3),
                                    dA = randn(rows, 43, 1e-3);
    pq_quant_init_scales(&q, W.data(), rows, cols, alpha.data());
    if (q.learned)
        for (int r = 0; r < rows; r++) alpha[r] *= 0.7f + 0.01f * r; /* learned α drift: some weights clip */
    if (q.learned && fp16) /* below PQ_ALPHA_MIN, and just above it: the fp16 rounding must not undo the clamp */
        alpha[1] = 2e-6f, alpha[2] = 1.02e-5f, alpha[3] = -1e-3f;
    dbuf dWt(W), dAl(alpha), dEff(eff.size()), dG(G), ddW(dW), ddA(dA);
    pq_quant_forward(&q, W.data(), alpha.data(), rows, cols, eff.data());
    pq_quant_backward(&q, W.data(), alpha.data(), rows, cols, G.data(), dW.data(), dA.data());
    pq_quant_forward_gpu(&q, dWt.p, dAl.p, rows, cols, dEff.p);
    pq_quant_backward_gpu(&q, dWt.p, dAl.p, rows, cols, dG.p, ddW.p, ddA.p);
    auto e = dEff.get(), a = dAl.get(), w = ddW.get(), da = ddA.get();
    size_t bad = 0;
    for (size_t i = 0; i < e.size(); i++) bad += memcmp(&e[i], &eff[i], 4) != 0;
    for (int r = 0; r < rows; r++) bad += memcmp(&a[r], &alpha[r], 4) != 0;
    for (size_t i = 0; i < w.size(); i++) bad += memcmp(&w[i], &dW[i], 4) != 0;
    int worst = 0, unequal = 0;
    for (int r = 0; r < rows; r++) {
        int u = ulp_diff(da[r], dA[r]);
        worst = u > worst ? u : worst, unequal += u != 0;
    }
    const char *sfx = fp16 ? " fp16 scales" : "";
    char name[96];
    snprintf(name, sizeof name, "quantizer %s@%s%s fwd, alpha, dW bitwise", qname, qbits, sfx);
    check(name, (double)bad, 0);
    snprintf(name, sizeof name, "quantizer %s@%s%s dalpha ulps (%d/%d rows differ)", qname, qbits, sfx, unequal, rows);
    check(name, (double)worst, 1);
    if (fp16) {
        /* the scales the forward used are fp16 units (and were moved by the rounding in
         * most rows, so the bitwise check above compared rounded scales) */
        int off_grid = 0, moved = 0;
        for (int r = 0; r < rows; r++) {
            float used = pq_quant_alpha(&q, alpha[r]), unit = used / q.scale_unit_inv;
            off_grid += (float)(__half)unit != unit || used < PQ_ALPHA_MIN;
            moved += used != (alpha[r] > PQ_ALPHA_MIN ? alpha[r] : PQ_ALPHA_MIN);
        }
        snprintf(name, sizeof name, "quantizer %s@%s fp16 units on the grid (%d/%d moved)", qname, qbits, moved, rows);
        check(name, (double)off_grid + (moved < rows / 2), 0);
    }
}

static void test_quantizers(void) {
    struct { const char *name, *bits; } cases[] = {{"sign", "1"},   {"sign_max", "1"}, {"seq", "1.58"}, {"seq", "2"},
                                                   {"seq", "3"},    {"lsq", "2"},      {"lsq", "3"},    {"lsq", "4"},
                                                   {"lsq_wide", "2"}, {"minmax", "2"},  {"clip", "3"},   {"rtn", "4"},
                                                   {"absmean", "1.58"}, {"int8", "8"},  {"seq", "4"},   {"seq", "8"},
                                                   {"lsq", "1.58"},  {"lsq", "8"},     {"lsq_wide", "4"}, {"minmax", "1"},
                                                   {"minmax", "1.58"}, {"clip", "1.58"}, {"clip", "8"},  {"rtn", "2"},
                                                   {"paretoq", "3"}};
    /* every member that takes fp16 scales (pq_quantizer_set_scale_fp16 refuses the others'
     * grids at 2-8 bits), at each kind of unit: α, α/2^b (SEQ), α·2/3 (SEQ ternary) */
    struct { const char *name, *bits; } fp16_cases[] = {{"sign", "1"},   {"seq", "1.58"},   {"seq", "2"},       {"seq", "3"},
                                                        {"seq", "4"},    {"lsq", "1.58"},   {"lsq", "2"},       {"lsq", "4"},
                                                        {"lsq_wide", "2"}, {"absmean", "1.58"}, {"int8", "8"},   {"minmax", "1.58"},
                                                        {"clip", "1"},   {"rtn", "1.58"}};
    const int rows = 37, cols = 301;
    auto W = randn((size_t)rows * cols, 40, 0.02), G = randn((size_t)rows * cols, 41, 1e-3);
    for (int i = 0; i < rows * cols; i += 97) W[i] *= 6.0f; /* outliers beyond the clip */
    W[5] = 0.0f;                                            /* sign(0) */
    for (auto &c : cases) quant_case(c.name, c.bits, 0, W, G, rows, cols);
    /* row 4's weights so small that α falls below PQ_ALPHA_MIN (its fp16 unit, subnormal,
     * rounds below the clamp and is stepped back up); row 6's unit a subnormal fp16 */
    auto Wf = W;
    for (int j = 0; j < cols; j++) Wf[(size_t)4 * cols + j] *= 1e-4f, Wf[(size_t)6 * cols + j] *= 2e-3f;
    for (auto &c : fp16_cases) quant_case(c.name, c.bits, 1, Wf, G, rows, cols);
}

/* ---- 2./3. the tiny model ------------------------------------------------------------- */

static pq_model_config tiny_config(void) {
    pq_model_config c = {.dim = 64, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 176, .vocab = 8192, .ctx = 64};
    return c;
}

/* The tiny shape with what an imported Hugging Face model brings (config.h's optional
 * fields, as pq import hf sets them): RoPE θ = 5e5, RMSNorm ε = 1e-6, an untied head and
 * LLaMA-3 RoPE scaling whose original context puts the head dim's 16 frequencies in all
 * three bands (kept: i = 0, 1; interpolated: i = 2; divided by the factor: i >= 3). */
static pq_model_config imported_config(void) {
    pq_model_config c = tiny_config();
    c.rope_theta = 5e5, c.norm_eps = 1e-6, c.untied_head = 1;
    c.rope_llama3_factor = 8, c.rope_llama3_low = 1, c.rope_llama3_high = 4, c.rope_llama3_orig_ctx = 64;
    return c;
}

/* The imported config's checks could not fail if its fields did not change the model:
 * the CPU logits with each field back at its default must move by 10x the 1e-4 the GPU
 * is held to, or more (measured: θ 3.2e-3, ε 1.4e-2, LLaMA-3 scaling 3.2e-3,
 * the tied head 2.0; RoPE moves little at init, where attention is nearly uniform).
 * Returns the smallest such change. */
static double imported_fields_matter(const pq_model_config &ic, const pq_model *m, const uint16_t *x, int T,
                                     const std::vector<float> &ref) {
    double least = INFINITY;
    for (int f = 0; f < 4; f++) {
        pq_model_config c = ic;
        if (f == 0) c.rope_theta = 0;
        if (f == 1) c.norm_eps = 0;
        if (f == 2) c.rope_llama3_factor = 0;
        if (f == 3) c.untied_head = 0; /* the head is the last tensor: the rest keep their offsets */
        pq_model *v = pq_model_new(&c);
        memcpy(v->params, m->params, sizeof(float) * v->n_params);
        pq_acts *a = pq_acts_new(&c, 1, T);
        std::vector<float> l(ref.size());
        pq_model_logits(v, a, x, T, l.data());
        least = fmin(least, rel_err(l.data(), ref.data(), ref.size()));
        pq_acts_free(a);
        pq_model_free(v);
    }
    return least;
}

static void test_model(const pq_model_config &c, const char *label) {
    int B = 3, T = 64, N = B * T;
    pq_model *m = pq_model_new(&c);
    pq_model_init(m, 1);
    pq_acts *a = pq_acts_new(&c, B, T);
    std::vector<uint16_t> x(N), y(N);
    for (int i = 0; i < N; i++) x[i] = (uint16_t)(pq_rng_uniform(3, 1, i) * 300), y[i] = (uint16_t)(pq_rng_uniform(3, 2, i) * 8192);
    pq_gpu_model *g = pq_gpu_model_new(m, B, T, PQ_GPU_FP32, NULL);
    if (!g) {
        printf("FAIL gpu model: %s\n", pq_error());
        failures++;
        return;
    }
    /* logits of one sequence */
    std::vector<float> lc((size_t)T * c.vocab), lg(lc.size());
    pq_model_logits(m, a, x.data(), T, lc.data());
    pq_gpu_logits(g, x.data(), T, lg.data());
    char name[128];
    snprintf(name, sizeof name, "%s model logits (fp32)", label);
    check(name, rel_err(lg.data(), lc.data(), lc.size()), 1e-4);
    if (c.untied_head) {
        /* err = 1e-3 / the smallest change: the change is >= 1e-3 (10x the tolerance) */
        double least = imported_fields_matter(c, m, x.data(), T, lc);
        snprintf(name, sizeof name, "%s: one field at its default moves the logits %.1e", label, least);
        check(name, 1e-3 / least, 1.0);
    }
    /* loss and every gradient, accumulated over two micro-batches */
    pq_model_zero_grads(m);
    pq_gpu_zero_grads(g);
    double lcpu = 0, lgpu = 0;
    for (int r = 0; r < 2; r++) {
        lcpu += pq_model_forward(m, a, x.data(), y.data(), B, T, 1, 1.0f / (2 * N));
        pq_model_backward(m, a, x.data());
        lgpu += pq_gpu_forward(g, x.data(), y.data(), B, T, 1, 1.0f / (2 * N));
        pq_gpu_backward(g, x.data());
    }
    snprintf(name, sizeof name, "%s model loss", label);
    check(name, fabs(lgpu - lcpu) / lcpu, 1e-5);
    std::vector<float> gg(m->n_params);
    pq_gpu_get_grads(g, gg.data());
    double worst = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        double e = rel_err(gg.data() + (t->grad - m->grads), t->grad, t->numel);
        if (e > worst) worst = e;
    }
    snprintf(name, sizeof name, "%s model gradients (worst tensor)", label);
    check(name, worst, 1e-3);
    if (c.untied_head) {
        const pq_model_tensor *h = pq_model_find_tensor(m, "head");
        snprintf(name, sizeof name, "%s untied head gradient", label);
        check(name, rel_err(gg.data() + (h->grad - m->grads), h->grad, h->numel), 1e-3);
    }
    /* grad norm and one AdamW step against the CPU's */
    pq_param_group *groups = NULL;
    int ng = 0;
    pq_model_param_groups(m, &groups, &ng);
    double ncpu = pq_groups_grad_norm(groups, ng), ngpu = pq_gpu_grad_norm(g);
    snprintf(name, sizeof name, "%s gradient norm", label);
    check(name, fabs(ngpu - ncpu) / ncpu, 1e-3);
    pq_optim_config oc = {.lr = 1e-3, .min_lr_ratio = 0.1, .warmup = 0, .total_steps = 10, .weight_decay = 0.1,
                          .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .clip = 1.0};
    pq_adamw *opt = pq_adamw_new(&oc, groups, ng);
    {
        /* the CPU's gradients on both sides, so only the update is compared */
        std::vector<float> p0(m->params, m->params + m->n_params), cg(m->grads, m->grads + m->n_params);
        pq_adamw_step(opt, 1e-3, 0.5f);
        dbuf dp(p0), dgr(cg), dm((size_t)m->n_params), dv((size_t)m->n_params);
        for (int i = 0; i < m->n_tensors; i++) {
            const pq_model_tensor *t = &m->tensors[i];
            size_t off = t->param - m->params;
            gk_adamw(dp.p + off, dgr.p + off, dm.p + off, dv.p + off, t->numel, 1e-3f, 0.9f, 0.95f, 1e-8f,
                     t->is_matrix ? 0.1f : 0.0f, (float)(1.0 - 0.9), (float)(1.0 - 0.95), 0.5f);
        }
        snprintf(name, sizeof name, "%s adamw update", label);
        check(name, rel_err(dp.get().data(), m->params, m->n_params), 1e-6);
        memcpy(m->params, p0.data(), sizeof(float) * m->n_params);
    }
    pq_adamw_free(opt);
    free(groups);

    /* 3. finite differences: L(p + h u) - L(p - h u) over 2h vs <g, u>, u = the tensor's gradient direction */
    pq_gpu_set_params(g, m->params);
    pq_gpu_zero_grads(g);
    pq_gpu_forward(g, x.data(), y.data(), B, T, 1, 1.0f / N);
    pq_gpu_backward(g, x.data());
    pq_gpu_get_grads(g, gg.data());
    const char *names[] = {"tok_emb", "layers.0.attn_norm", "layers.0.wq", "layers.0.wk", "layers.0.wv", "layers.0.wo",
                           "layers.1.mlp_norm", "layers.1.w_gate", "layers.1.w_up", "layers.1.w_down", "final_norm", "head"};
    std::vector<float> p(m->params, m->params + m->n_params);
    for (const char *nm : names) {
        if (!strcmp(nm, "head") && !c.untied_head) continue;
        const pq_model_tensor *t = pq_model_find_tensor(m, nm);
        size_t off = t->param - m->params;
        double gn = 0;
        for (int64_t i = 0; i < t->numel; i++) gn += (double)gg[off + i] * gg[off + i];
        gn = sqrt(gn);
        double h = 3e-2 / gn; /* a step of norm 3e-2 */
        double l[2];
        for (int s = 0; s < 2; s++) {
            std::vector<float> q = p;
            for (int64_t i = 0; i < t->numel; i++) q[off + i] = (float)(p[off + i] + (s ? -h : h) * gg[off + i]);
            pq_gpu_set_params(g, q.data());
            l[s] = pq_gpu_forward(g, x.data(), y.data(), B, T, 0, 0.0f);
        }
        double fd = (l[0] - l[1]) / (2 * h), an = gn * gn;
        snprintf(name, sizeof name, "%s finite differences %s", label, nm);
        printf("     |g| %.3e  fd %.6e  analytic %.6e\n", gn, fd, an);
        check(name, fabs(fd - an) / an, 2e-2);
    }
    pq_gpu_model_free(g);
    pq_acts_free(a);
    pq_model_free(m);
}

/* ---- 5. the tiny model under QAT ---------------------------------------------------------- */

/* spec: "name@bits", or "name@bits+fp16" for pq_quantizer_set_scale_fp16. */
static void parse_quant(const char *spec, pq_quantizer *q) {
    char name[32];
    snprintf(name, sizeof name, "%s", spec);
    char *at = strchr(name, '@'), *plus = strchr(name, '+');
    *at = 0;
    if (plus) *plus = 0;
    pq_qbits bits;
    if (pq_qbits_parse(at + 1, &bits) || pq_quantizer_init(q, name, bits) || (plus && pq_quantizer_set_scale_fp16(q)))
        pq_die("%s: %s", spec, pq_error());
}

/* label: "" for the tiny config, "imported " for imported_config(). */
static void test_qat_model(const char *spec, const pq_model_config &c, const char *label) {
    int B = 3, T = 64, N = B * T;
    pq_quantizer q;
    parse_quant(spec, &q);
    pq_model *m = pq_model_new(&c);
    pq_model_init(m, 1);
    pq_qat *qa = pq_qat_new(m, &q); /* CPU hook installed, effective weights refreshed */
    if (q.learned)
        for (int64_t i = 0; i < qa->n_alpha; i++) qa->alpha[i] *= 0.8f + 0.002f * (float)(i % 100); /* some weights clip */
    pq_model_refresh_weights(m);
    pq_acts *a = pq_acts_new(&c, B, T);
    std::vector<uint16_t> x(N), y(N);
    for (int i = 0; i < N; i++) x[i] = (uint16_t)(pq_rng_uniform(3, 1, i) * 300), y[i] = (uint16_t)(pq_rng_uniform(3, 2, i) * 8192);
    pq_gpu_weight_hook gh;
    pq_qat_gpu_hook(qa, &gh);
    pq_gpu_model *g = pq_gpu_model_new(m, B, T, PQ_GPU_FP32, &gh);
    char name[128];
    if (!g) {
        printf("FAIL gpu qat model %s%s: %s\n", label, spec, pq_error());
        failures++;
        return;
    }
    pq_gpu_refresh_weights(g);
    std::vector<float> ga(qa->n_alpha);
    pq_gpu_get_extra(g, ga.data(), NULL, NULL);
    snprintf(name, sizeof name, "%sqat %s scales after refresh bitwise", label, spec);
    check(name, memcmp(ga.data(), qa->alpha, 4 * ga.size()) ? 1 : 0, 0);
    std::vector<float> lc((size_t)T * c.vocab), lg(lc.size());
    pq_model_logits(m, a, x.data(), T, lc.data());
    pq_gpu_logits(g, x.data(), T, lg.data());
    snprintf(name, sizeof name, "%sqat %s logits (fp32)", label, spec);
    check(name, rel_err(lg.data(), lc.data(), lc.size()), 1e-4);
    /* two micro-batches, then the hook's backward: latent gradients and dL/dα */
    pq_model_zero_grads(m);
    memset(qa->dalpha, 0, sizeof(float) * qa->n_alpha);
    pq_gpu_zero_grads(g);
    for (int r = 0; r < 2; r++) {
        pq_model_forward(m, a, x.data(), y.data(), B, T, 1, 1.0f / (2 * N));
        pq_model_backward(m, a, x.data());
        pq_gpu_forward(g, x.data(), y.data(), B, T, 1, 1.0f / (2 * N));
        pq_gpu_backward(g, x.data());
    }
    pq_model_finish_grads(m);
    pq_gpu_finish_grads(g);
    std::vector<float> gg(m->n_params), gda(qa->n_alpha);
    pq_gpu_get_grads(g, gg.data());
    pq_gpu_get_extra_grads(g, gda.data());
    double worst = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        worst = fmax(worst, rel_err(gg.data() + (t->grad - m->grads), t->grad, t->numel));
    }
    snprintf(name, sizeof name, "%sqat %s latent gradients (worst tensor)", label, spec);
    check(name, worst, 1e-3);
    if (q.learned) {
        double wa = 0;
        for (int l = 0; l < c.n_layers * PQ_LIN_COUNT; l++) {
            int64_t off = qa->offset[l];
            wa = fmax(wa, rel_err(gda.data() + off, qa->dalpha + off, qa->rows[l]));
        }
        snprintf(name, sizeof name, "%sqat %s dL/dalpha (worst linear)", label, spec);
        check(name, wa, 1e-3);
        double gn_cpu = 0;
        pq_param_group *groups = NULL;
        int ng = 0;
        pq_model_param_groups(m, &groups, &ng);
        pq_qat_param_groups(qa, &groups, &ng);
        gn_cpu = pq_groups_grad_norm(groups, ng);
        free(groups);
        snprintf(name, sizeof name, "%sqat %s gradient norm with scales", label, spec);
        check(name, fabs(pq_gpu_grad_norm(g) - gn_cpu) / gn_cpu, 1e-3);
    }
    /* sign: W_eff = α·sign(W) is linear in α, so dL/dα (= dalpha / grad_scale) is the true
     * derivative: finite differences of the GPU loss along it, for layer 0's wq */
    if (q.method == PQ_Q_SIGN) {
        int rows = qa->rows[0], cols = qa->cols[0];
        int64_t off = qa->offset[0];
        double gs = 1.0 / sqrt((double)rows * cols), dot = 0, un = 0;
        for (int i = 0; i < rows; i++) dot += (double)gda[off + i] / gs * gda[off + i], un += (double)gda[off + i] * gda[off + i];
        double h = 5e-2 * qa->alpha[off] / sqrt(un);
        std::vector<float> base(qa->alpha, qa->alpha + qa->n_alpha);
        double l[2];
        for (int s2 = 0; s2 < 2; s2++) {
            std::vector<float> al = base;
            for (int i = 0; i < rows; i++) al[off + i] = (float)(base[off + i] + (s2 ? -h : h) * gda[off + i]);
            pq_gpu_set_extra(g, al.data(), NULL, NULL);
            pq_gpu_refresh_weights(g);
            l[s2] = pq_gpu_forward(g, x.data(), y.data(), B, T, 0, 0.0f) * 2 * N; /* the summed loss, scaled as above */
        }
        double fd = (l[0] - l[1]) / (2 * h) / (2 * N);
        printf("     dalpha fd %.6e  analytic %.6e\n", fd, dot);
        snprintf(name, sizeof name, "%sqat %s finite differences along dL/dalpha (wq 0)", label, spec);
        check(name, fabs(fd - dot) / fabs(dot), 2e-2);
    }
    pq_gpu_model_free(g);
    pq_acts_free(a);
    pq_qat_free(qa);
    pq_model_free(m);
}

/* ---- 4. training ------------------------------------------------------------------------ */

struct run_out {
    std::vector<float> loss, params;
    double tok_s;
};

/* quant: NULL trains full precision, else QAT (parse_quant's spec) from the same random init. */
static run_out train_tiny(pq_device dev, int64_t steps, const char *out_dir, int64_t stop_after, const char *quant,
                          const pq_model_config &c) {
    pq_train_config tc = pq_train_config_default();
    tc.batch = 8, tc.grad_accum = 2, tc.lr = 3e-3, tc.warmup = 10, tc.weight_decay = 0.1, tc.clip = 1.0, tc.seed = 1;
    tc.tokens = steps * tc.batch * tc.grad_accum * c.ctx, tc.eval_interval = 50, tc.eval_tokens = 4096, tc.ckpt_interval = 40;
    pq_token_stream tr, va;
    pq_tokens_synthetic(&tr, 1, 0, 400000, c.vocab);
    pq_tokens_synthetic(&va, 1, 1, 40000, c.vocab);
    pq_model *m = pq_model_new(&c);
    pq_model_init(m, tc.seed);
    pq_trainer_spec sp = {};
    sp.kind = "pretrain", sp.out_dir = out_dir, sp.model = m, sp.train = tc, sp.train_data = &tr, sp.val_data = &va;
    sp.device = dev, sp.precision = PQ_GPU_FP32, sp.stop_after_steps = stop_after;
    pq_qat *qa = NULL;
    pq_param_group *extra = NULL;
    int n_extra = 0;
    pq_gpu_weight_hook gh;
    if (quant) {
        pq_quantizer q;
        parse_quant(quant, &q);
        qa = pq_qat_new(m, &q);
        pq_qat_param_groups(qa, &extra, &n_extra);
        sp.kind = "qat", sp.hook = &qa->hook, sp.extra = extra, sp.n_extra = n_extra;
        if (dev == PQ_DEVICE_CUDA) pq_qat_gpu_hook(qa, &gh), sp.gpu_hook = &gh;
    }
    pq_train_log log;
    run_out r;
    if (pq_train(&sp, &log)) {
        printf("FAIL training on %s: %s\n", pq_device_name(dev), pq_error());
        failures++;
    } else {
        r.loss.assign(log.train_loss, log.train_loss + log.steps_done);
        for (int i = 0; i < log.n_val; i++) r.loss.push_back(log.val_loss[i]);
        r.tok_s = log.tokens_per_sec;
        pq_train_log_free(&log);
    }
    r.params.assign(m->params, m->params + m->n_params);
    if (qa) r.params.insert(r.params.end(), qa->alpha, qa->alpha + qa->n_alpha);
    pq_qat_free(qa);
    free(extra);
    pq_model_free(m);
    pq_tokens_free(&tr), pq_tokens_free(&va);
    return r;
}

static void test_training(const char *quant = NULL, const pq_model_config &c = tiny_config(), const char *label = "") {
    const int64_t steps = 200;
    char what[64];
    snprintf(what, sizeof what, "%s%s", label, quant ? quant : "fp32");
    run_out cpu = train_tiny(PQ_DEVICE_CPU, steps, NULL, 0, quant, c);
    run_out g1 = train_tiny(PQ_DEVICE_CUDA, steps, NULL, 0, quant, c);
    run_out g2 = train_tiny(PQ_DEVICE_CUDA, steps, NULL, 0, quant, c);
    if (cpu.loss.size() != g1.loss.size() || g1.loss.empty()) {
        check("training ran", 1, 0);
        return;
    }
    double worst = 0;
    for (size_t i = 0; i < cpu.loss.size(); i++) worst = fmax(worst, fabs((double)g1.loss[i] - cpu.loss[i]) / cpu.loss[i]);
    printf("     200 steps %s: cpu first %.4f last %.4f | gpu first %.4f last %.4f | %.0f vs %.0f tok/s\n", what,
           cpu.loss[0], cpu.loss[steps - 1], g1.loss[0], g1.loss[steps - 1], cpu.tok_s, g1.tok_s);
    char name[128];
    snprintf(name, sizeof name, "%s 200-step loss curve vs cpu (worst step, rel.)", what);
    check(name, worst, 1e-2);
    int same = g1.loss.size() == g2.loss.size() && !memcmp(g1.loss.data(), g2.loss.data(), 4 * g1.loss.size()) &&
               !memcmp(g1.params.data(), g2.params.data(), 4 * g1.params.size());
    snprintf(name, sizeof name, "%s two gpu runs bitwise identical (curve + weights)", what);
    check(name, same ? 0 : 1, 0);
    /* stop at step 70 (state saved at 40), resume: same bits as the uninterrupted run */
    char dir[] = "/tmp/pq-test-gpu-XXXXXX";
    if (!mkdtemp(dir)) pq_die("mkdtemp");
    train_tiny(PQ_DEVICE_CUDA, steps, dir, 70, quant, c);
    run_out res = train_tiny(PQ_DEVICE_CUDA, steps, dir, 0, quant, c);
    same = res.params.size() == g1.params.size() && !memcmp(res.params.data(), g1.params.data(), 4 * g1.params.size());
    snprintf(name, sizeof name, "%s gpu stop at 70 + resume bitwise identical", what);
    check(name, same ? 0 : 1, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) printf("     (could not remove %s)\n", dir);
}

/* ---- 6. packed GEMV ---------------------------------------------------------------------- */

/* Bitwise, with NaN equal to NaN (a token holding Inf has d = NaN on both sides). */
static int same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || !memcmp(&a, &b, 4); }

/* Tokens of width cols: random, large with exact rounding ties (x * 127/max|x| = k + 0.5),
 * all zero, one Inf. */
static std::vector<std::vector<float>> gemv_tokens(int cols) {
    std::vector<std::vector<float>> t(4, std::vector<float>(cols, 0.0f));
    for (int i = 0; i < cols; i++) {
        t[0][i] = (float)pq_rng_normal(9, 1, i);
        t[1][i] = i == 0 ? 127.0f : (float)((i % 254) - 127) + (i % 2 ? 0.5f : 0.0f);
        t[3][i] = (float)pq_rng_normal(9, 2, i);
    }
    t[3][cols / 2] = INFINITY;
    return t;
}

static void test_gemv(void) {
    /* ragged columns (tails of 1..4 vectors, T1_6 blocks cut short), odd row counts, rows
     * long enough for row_dot's 4-loads-in-flight loop (11000: 172 chunks of B2 at 32
     * lanes), and PQ_MAX_COLS, where Σ u·q is largest */
    const int shapes[][2] = {{37, 301}, {5, 1},     {19, 256}, {64, 576},  {33, 1000},
                             {8, 2240}, {3, 640},   {130, 1536}, {7, 11000}, {6, PQ_MAX_COLS}};
    const pq_format fmts[] = {PQ_FMT_B2, PQ_FMT_T2, PQ_FMT_T1_6, PQ_FMT_B4};
    size_t quant_bad = 0, quant_n = 0;
    for (pq_format f : fmts) {
        size_t q8_bad = 0, n_out = 0;
        double f32_worst = 0;
        int levels = pq_format_levels(f);
        for (auto &sh : shapes) {
            int rows = sh[0], cols = sh[1];
            std::vector<uint8_t> codes((size_t)rows * cols);
            for (size_t i = 0; i < codes.size(); i++) codes[i] = (uint8_t)(pq_rng_uniform(11, rows, i) * levels);
            for (int c = 0; c < cols; c++) codes[c] = (uint8_t)(levels - 1), codes[rows > 1 ? cols + c : c] = 0;
            std::vector<float> scale(rows), offset(rows);
            for (int r = 0; r < rows; r++)
                scale[r] = (float)(pq_rng_normal(12, 1, r) * 0.05), offset[r] = (float)(pq_rng_normal(12, 2, r) * 0.1);
            /* edge scales: zero, subnormal (no flush to zero on either side), huge and negative */
            const float edge[][2] = {{0.0f, 0.0f}, {3e-39f, -1e-38f}, {-1e30f, 2e30f}};
            for (int e = 0; e < 3 && 2 + e < rows; e++) scale[2 + e] = edge[e][0], offset[2 + e] = edge[e][1];
            pq_packed *p = pq_pack(f, rows, cols, codes.data(), scale.data(), offset.data());
            if (!p) pq_die("test gemv: %s", pq_error());
            gk_packed w = gk_packed_upload(p);
            float *dy, *dx, *dsc;
            int8_t *dq;
            int32_t *dqs;
            CUDA_OK(cudaMalloc(&dy, sizeof(float) * rows));
            for (auto &x : gemv_tokens(cols)) {
                pq_act_batch a;
                pq_act_batch_init(&a);
                std::vector<float> ref(rows), got(rows);
                /* Q8: the GPU quantizes the token itself, then the GEMV */
                pq_act_batch_set(&a, PQ_ACT_Q8, x.data(), 1, cols);
                int stride = a.stride;
                CUDA_OK(cudaMalloc(&dx, sizeof(float) * stride));
                CUDA_OK(cudaMemset(dx, 0, sizeof(float) * stride));
                CUDA_OK(cudaMalloc(&dq, stride));
                CUDA_OK(cudaMalloc(&dsc, sizeof(float) * 3));
                CUDA_OK(cudaMalloc(&dqs, sizeof(int32_t)));
                CUDA_OK(cudaMemcpy(dx, x.data(), sizeof(float) * cols, cudaMemcpyHostToDevice));
                gk_quantize_q8(dx, cols, stride, dq, dsc, dsc + 1, dqs, 0);
                std::vector<int8_t> q(stride);
                float sc[2];
                int32_t qs;
                CUDA_OK(cudaMemcpy(q.data(), dq, stride, cudaMemcpyDeviceToHost));
                CUDA_OK(cudaMemcpy(sc, dsc, sizeof sc, cudaMemcpyDeviceToHost));
                CUDA_OK(cudaMemcpy(&qs, dqs, sizeof qs, cudaMemcpyDeviceToHost));
                quant_bad += memcmp(q.data(), a.q, stride) != 0;
                quant_bad += !same_float(sc[0], a.d[0]) + !same_float(sc[1], a.dqsum[0]) + (qs != a.qsum[0]);
                quant_n++;
                pq_matmul_rows(p, &a, ref.data(), PQ_ISA_REF, 0, rows);
                gk_gemv_q8(&w, dq, dsc, dsc + 1, dy, 0);
                CUDA_OK(cudaMemcpy(got.data(), dy, sizeof(float) * rows, cudaMemcpyDeviceToHost));
                for (int r = 0; r < rows; r++) q8_bad += !same_float(got[r], ref[r]);
                n_out += rows;
                /* F32, finite tokens: within PQ_GEMV_F32_RTOL of |scale| sum|u x| + |offset sum x| */
                if (std::isfinite(x[cols / 2])) {
                    pq_act_batch_set(&a, PQ_ACT_F32, x.data(), 1, cols);
                    CUDA_OK(cudaMemcpy(dsc + 2, &a.xsum[0], sizeof(float), cudaMemcpyHostToDevice));
                    pq_matmul_rows(p, &a, ref.data(), PQ_ISA_REF, 0, rows);
                    gk_gemv_f32(&w, dx, dsc + 2, dy, 0);
                    CUDA_OK(cudaMemcpy(got.data(), dy, sizeof(float) * rows, cudaMemcpyDeviceToHost));
                    for (int r = 0; r < rows; r++) {
                        if (!std::isfinite(ref[r])) { /* an overflow must overflow alike */
                            f32_worst = fmax(f32_worst, same_float(got[r], ref[r]) ? 0.0 : INFINITY);
                            continue;
                        }
                        double mag = 0;
                        for (int c = 0; c < cols; c++) mag += fabs((double)codes[(size_t)r * cols + c] * x[c]);
                        double bound = PQ_GEMV_F32_RTOL * (fabs(scale[r]) * mag + fabs(offset[r] * a.xsum[0])) + 1e-30;
                        f32_worst = fmax(f32_worst, fabs((double)got[r] - ref[r]) / bound);
                    }
                }
                cudaFree(dx), cudaFree(dq), cudaFree(dsc), cudaFree(dqs);
                pq_act_batch_free(&a);
            }
            cudaFree(dy);
            gk_packed_free(&w);
            pq_packed_free(p);
        }
        char name[96];
        snprintf(name, sizeof name, "gemv %s q8 bitwise vs cpu (%zu outputs differ of %zu)", pq_format_name(f), q8_bad, n_out);
        check(name, (double)q8_bad, 0);
        snprintf(name, sizeof name, "gemv %s f32 vs cpu (error / gemv.h bound)", pq_format_name(f));
        check(name, f32_worst, 1.0);
    }
    char name[96];
    snprintf(name, sizeof name, "quantize q8 on gpu bitwise (%zu tokens)", quant_n);
    check(name, (double)quant_bad, 0);
}

int main(void) {
    json_t *info = pq_gpu_info(PQ_GPU_FP32);
    if (!info) {
        printf("test-gpu: %s\n", pq_error());
        return 1;
    }
    char *s = json_dumps(info, JSON_SORT_KEYS);
    printf("test-gpu on %s\n", s);
    free(s), json_decref(info);
    test_rmsnorm();
    test_rope_swiglu();
    test_attention(2, 70, 4, 2, 32);
    test_attention(1, 97, 6, 3, 64);
    test_attention(2, 33, 2, 1, 128);
    test_cross_entropy_and_sums();
    test_gemv();
    test_quantizers();
    test_model(tiny_config(), "tiny");
    test_training();
    const char *qat_cases[] = {"sign@1",  "seq@1.58", "seq@2",      "lsq@3",  "lsq_wide@2", "minmax@2",
                               "clip@3",  "rtn@4",    "absmean@1.58", "int8@8", "seq@2+fp16", "lsq@4+fp16"};
    for (const char *qc : qat_cases) test_qat_model(qc, tiny_config(), "");
    test_training("seq@2");
    test_training("sign@1");
    /* what pq import hf brings: θ, ε, LLaMA-3 RoPE scaling and an untied head */
    const pq_model_config ic = imported_config();
    test_model(ic, "imported");
    for (const char *qc : {"seq@2+fp16", "lsq@3", "sign@1"}) test_qat_model(qc, ic, "imported ");
    test_training("seq@2+fp16", ic, "imported ");
    printf("test-gpu: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
