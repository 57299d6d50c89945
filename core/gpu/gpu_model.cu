/* gpu_model.cu — the model's forward, backward and AdamW on the GPU (gpu.h).
 *
 * Mirrors model/model.c step by step (same buffers, same order of operations),
 * with device pointers found at the same offsets as the host model's views. */
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gpu/kernels.cuh"

#include "gpu/c_api.cuh"

struct dev_layer {
    float *attn_norm, *wqkv, *wo, *mlp_norm, *wgu, *wdown;
};

struct dev_acts {
    std::vector<float *> res, xn1, rstd1, qkv, lse, atty, res_mid, xn2, rstd2, gu, h;
    float *xf, *rstdf, *logits;
    float *dres, *dxn, *datty, *dqkv, *dgu, *dh, *delta, *partial;
    double *row_loss, *scratch;
    int scratch_len;
    int32_t *tok, *tgt, *emb_uniq, *emb_offs, *emb_pos;
};

/* One hooked linear: where its latent weight, gradient and effective weight (and its
 * gradient) start, in floats from the buffers' bases. */
struct hooked_linear {
    int layer, which, rows, cols;
    int64_t w_off, e_off;
};

struct pq_gpu_model {
    pq_model_config cfg;
    int B, T, D, F, H, KV, hd, KVD, C, L;
    int64_t n_params, n_extra, n_total; /* n_total = n_params + n_extra: the buffers' length */
    float *params, *grads, *m, *v, *rope_cos, *rope_sin;
    std::vector<dev_layer> w, g;   /* latent weights and their gradients */
    std::vector<dev_layer> we, ge; /* what the matmuls use: == w, g without a hook */
    pq_gpu_weight_hook hook;
    int hooked;
    float *eff, *geff, *extra, *dextra; /* with a hook */
    int64_t n_eff;
    std::vector<hooked_linear> lins;
    float *tok_emb, *final_norm, *g_tok_emb, *g_final_norm;
    float *head, *g_head; /* output head: == tok_emb, g_tok_emb unless cfg.untied_head */
    struct segment {
        int64_t off, n;
        int decay;
    };
    std::vector<segment> segs; /* one per model tensor, as the CPU's parameter groups */
    dev_acts a;
    int last_B, last_T, has_grad;
    cublasHandle_t blas;
    void *blas_ws;
    gk_attn_ws attn; /* attention through cuBLAS (attention_gemm.cu) when attn_gemm */
    int attn_gemm;
    std::vector<float *> allocs;
};

static float *dalloc(pq_gpu_model *g, size_t n) {
    float *p = nullptr;
    CUDA_OK(cudaMalloc(&p, sizeof(float) * (n ? n : 1)));
    CUDA_OK(cudaMemset(p, 0, sizeof(float) * (n ? n : 1)));
    g->allocs.push_back(p);
    return p;
}

template <typename T> static T *dalloc_as(pq_gpu_model *g, size_t n_elems) {
    return (T *)dalloc(g, (sizeof(T) * n_elems + sizeof(float) - 1) / sizeof(float));
}

static dev_layer offset_layer(const pq_layer_ptrs &p, const float *host_base, float *dev_base) {
    auto at = [&](const float *hp) { return hp ? dev_base + (hp - host_base) : nullptr; };
    return dev_layer{at(p.attn_norm), at(p.wqkv), at(p.wo), at(p.mlp_norm), at(p.wgu), at(p.wdown)};
}

static void plan_acts(pq_gpu_model *g) {
    size_t N = (size_t)g->B * g->T;
    dev_acts &a = g->a;
    int L = g->L;
    for (int l = 0; l <= L; l++) a.res.push_back(dalloc(g, N * g->D));
    for (int l = 0; l < L; l++) {
        a.xn1.push_back(dalloc(g, N * g->D));
        a.rstd1.push_back(dalloc(g, N));
        a.qkv.push_back(dalloc(g, N * g->C));
        a.lse.push_back(dalloc(g, (size_t)g->B * g->H * g->T));
        a.atty.push_back(dalloc(g, N * g->D));
        a.res_mid.push_back(dalloc(g, N * g->D));
        a.xn2.push_back(dalloc(g, N * g->D));
        a.rstd2.push_back(dalloc(g, N));
        a.gu.push_back(dalloc(g, N * 2 * g->F));
        a.h.push_back(dalloc(g, N * g->F));
    }
    a.xf = dalloc(g, N * g->D);
    a.rstdf = dalloc(g, N);
    a.logits = dalloc(g, N * g->cfg.vocab);
    a.dres = dalloc(g, N * g->D);
    a.dxn = dalloc(g, N * g->D);
    a.datty = dalloc(g, N * g->D);
    a.dqkv = dalloc(g, N * g->C);
    a.dgu = dalloc(g, N * 2 * g->F);
    a.dh = dalloc(g, N * g->F);
    a.delta = dalloc(g, (size_t)g->B * g->H * g->T);
    a.partial = dalloc(g, gk_rmsnorm_partial_floats((int)N, g->D));
    a.row_loss = dalloc_as<double>(g, N);
    a.scratch_len = (int)(g->n_total / 16384 + 2);
    a.scratch = dalloc_as<double>(g, a.scratch_len);
    a.tok = dalloc_as<int32_t>(g, N);
    a.tgt = dalloc_as<int32_t>(g, N);
    a.emb_uniq = dalloc_as<int32_t>(g, N);
    a.emb_offs = dalloc_as<int32_t>(g, N + 1);
    a.emb_pos = dalloc_as<int32_t>(g, N);
}

static int first_device_ok(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return pq_fail("cuda: no usable GPU (%s)", cudaGetErrorString(e));
    if (n < 1) return pq_fail("cuda: no GPU found");
    return 0;
}

extern "C" int pq_gpu_built(void) { return 1; }

extern "C" json_t *pq_gpu_info(pq_gpu_precision prec) {
    if (first_device_ok()) return NULL;
    cudaDeviceProp p;
    CUDA_OK(cudaGetDeviceProperties(&p, 0));
    int drv = 0, rt = 0, blas_ver = 0;
    cudaDriverGetVersion(&drv), cudaRuntimeGetVersion(&rt);
    cublasHandle_t h;
    if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
        cublasGetVersion(h, &blas_ver);
        cublasDestroy(h);
    }
    char sm[16], dv[32], rv[32];
    snprintf(sm, sizeof sm, "%d.%d", p.major, p.minor);
    snprintf(dv, sizeof dv, "%d.%d", drv / 1000, (drv % 1000) / 10);
    snprintf(rv, sizeof rv, "%d.%d", rt / 1000, (rt % 1000) / 10);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:I, s:s}", "name", p.name, "cuda_driver", dv, "cuda_runtime", rv,
                     "cublas", blas_ver, "sm", sm, "multiprocessors", p.multiProcessorCount, "memory_bytes",
                     (json_int_t)p.totalGlobalMem, "precision", pq_gpu_precision_name(prec));
}

/* The hooked linears of m and their offsets: in the parameters, and in the
 * effective-weight layout (every layer's block linears back to back, model.h). */
static void plan_hook(pq_gpu_model *g, const pq_model *m) {
    pq_model *mm = (pq_model *)m; /* pq_model_linear only reads */
    for (int l = 0; l < g->L; l++) {
        pq_layer_ptrs we;
        pq_model_eff_layout(&m->cfg, l, g->eff, &we);
        for (int k = 0; k < PQ_LIN_COUNT; k++) {
            hooked_linear h;
            const float *W = pq_model_linear(mm, l, (pq_linear_id)k, &h.rows, &h.cols, NULL);
            const pq_layer_ptrs &w = m->w[l];
            const float *fused = k <= PQ_LIN_V ? w.wqkv : k == PQ_LIN_O ? w.wo : k == PQ_LIN_DOWN ? w.wdown : w.wgu;
            const float *fused_e = k <= PQ_LIN_V ? we.wqkv : k == PQ_LIN_O ? we.wo : k == PQ_LIN_DOWN ? we.wdown : we.wgu;
            h.layer = l, h.which = k;
            h.w_off = W - m->params;
            h.e_off = (fused_e - g->eff) + (W - fused);
            g->lins.push_back(h);
        }
    }
}

extern "C" pq_gpu_model *pq_gpu_model_new(const pq_model *m, int B, int T, pq_gpu_precision prec,
                                          const pq_gpu_weight_hook *hook) {
    if (first_device_ok()) return NULL;
    if (!hook && m->hook) {
        pq_fail("cuda: the model has a weight hook but the GPU was given none");
        return NULL;
    }
    if (hook && !m->hook) {
        pq_fail("cuda: a GPU weight hook needs the model's own hook installed");
        return NULL;
    }
    const pq_model_config *c = &m->cfg;
    int hd = c->dim / c->n_heads;
    if (!gk_attention_supports(hd)) {
        pq_fail("cuda: head dim %d has no attention kernel (supported: 32, 64, 128)", hd);
        return NULL;
    }
    if (T > c->ctx) {
        pq_fail("cuda: sequence length %d exceeds the model context %d", T, c->ctx);
        return NULL;
    }
    pq_gpu_model *g = new pq_gpu_model();
    g->cfg = *c;
    g->B = B, g->T = T, g->D = c->dim, g->F = c->ffn_dim, g->H = c->n_heads, g->KV = c->n_kv_heads, g->hd = hd;
    g->KVD = g->KV * hd, g->C = g->D + 2 * g->KVD, g->L = c->n_layers;
    g->n_params = m->n_params;
    g->hooked = hook != nullptr;
    if (hook) g->hook = *hook;
    g->n_extra = hook ? hook->n_extra : 0;
    g->n_total = g->n_params + g->n_extra;
    g->params = dalloc(g, g->n_total);
    g->grads = dalloc(g, g->n_total);
    g->m = dalloc(g, g->n_total);
    g->v = dalloc(g, g->n_total);
    g->extra = g->params + g->n_params, g->dextra = g->grads + g->n_params;
    size_t half = (size_t)c->ctx * (hd / 2);
    g->rope_cos = dalloc(g, half);
    g->rope_sin = dalloc(g, half);
    CUDA_OK(cudaMemcpy(g->rope_cos, m->rope_cos, sizeof(float) * half, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(g->rope_sin, m->rope_sin, sizeof(float) * half, cudaMemcpyHostToDevice));
    for (int l = 0; l < g->L; l++) {
        g->w.push_back(offset_layer(m->w[l], m->params, g->params));
        g->g.push_back(offset_layer(m->g[l], m->grads, g->grads));
    }
    g->we = g->w, g->ge = g->g;
    if (hook) {
        /* every layer's effective weights and their gradients (the host keeps one layer's) */
        g->n_eff = pq_model_eff_floats(c);
        g->eff = dalloc(g, g->n_eff);
        g->geff = dalloc(g, g->n_eff);
        for (int l = 0; l < g->L; l++) {
            pq_layer_ptrs we, ge;
            pq_model_eff_layout(c, l, g->eff, &we), pq_model_eff_layout(c, l, g->geff, &ge);
            g->we[l] = offset_layer(we, g->eff, g->eff), g->ge[l] = offset_layer(ge, g->geff, g->geff);
            /* norms are never hooked: they stay the latent ones */
            g->we[l].attn_norm = g->w[l].attn_norm, g->we[l].mlp_norm = g->w[l].mlp_norm;
            g->ge[l].attn_norm = g->g[l].attn_norm, g->ge[l].mlp_norm = g->g[l].mlp_norm;
        }
        plan_hook(g, m);
    }
    g->tok_emb = g->params + (m->tok_emb - m->params), g->final_norm = g->params + (m->final_norm - m->params);
    g->g_tok_emb = g->grads + (m->g_tok_emb - m->grads), g->g_final_norm = g->grads + (m->g_final_norm - m->grads);
    g->head = g->params + (m->head - m->params), g->g_head = g->grads + (m->g_head - m->grads);
    for (int i = 0; i < m->n_tensors; i++)
        g->segs.push_back({m->tensors[i].param - m->params, m->tensors[i].numel, m->tensors[i].is_matrix});
    if (hook && hook->extra_trained && g->n_extra) g->segs.push_back({g->n_params, g->n_extra, 0});
    plan_acts(g);
    CUBLAS_OK(cublasCreate(&g->blas));
    /* A fixed workspace: cuBLAS then picks the same algorithms on every run. */
    size_t ws = 32u << 20;
    CUDA_OK(cudaMalloc(&g->blas_ws, ws));
    CUBLAS_OK(cublasSetWorkspace(g->blas, g->blas_ws, ws));
    CUBLAS_OK(cublasSetMathMode(g->blas, prec == PQ_GPU_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
    /* Attention as matrix products unless one sequence's scores would exceed the scratch
     * limit; then the tiled kernels, whose memory grows with T only. */
    g->attn_gemm = gk_attention_gemm_alloc(&g->attn, B, T, g->H, g->KV, hd, 0) == 0;
    pq_gpu_set_params(g, m->params);
    if (hook) pq_gpu_set_extra(g, hook->host_extra, NULL, NULL);
    return g;
}

extern "C" void pq_gpu_model_free(pq_gpu_model *g) {
    if (!g) return;
    for (float *p : g->allocs) cudaFree(p);
    cudaFree(g->blas_ws);
    gk_attention_gemm_free(&g->attn);
    cublasDestroy(g->blas);
    delete g;
}

static void copy_in(float *dst, const float *src, int64_t n) {
    CUDA_OK(cudaMemcpy(dst, src, sizeof(float) * n, cudaMemcpyHostToDevice));
}
static void copy_out(float *dst, const float *src, int64_t n) {
    CUDA_OK(cudaMemcpy(dst, src, sizeof(float) * n, cudaMemcpyDeviceToHost));
}

extern "C" void pq_gpu_set_params(pq_gpu_model *g, const float *p) { copy_in(g->params, p, g->n_params); }
extern "C" void pq_gpu_get_params(pq_gpu_model *g, float *p) { copy_out(p, g->params, g->n_params); }
extern "C" void pq_gpu_get_grads(pq_gpu_model *g, float *p) { copy_out(p, g->grads, g->n_params); }
extern "C" void pq_gpu_set_moments(pq_gpu_model *g, const float *m, const float *v) {
    copy_in(g->m, m, g->n_params), copy_in(g->v, v, g->n_params);
}
extern "C" void pq_gpu_get_moments(pq_gpu_model *g, float *m, float *v) {
    copy_out(m, g->m, g->n_params), copy_out(v, g->v, g->n_params);
}
extern "C" void pq_gpu_set_extra(pq_gpu_model *g, const float *extra, const float *m, const float *v) {
    if (!g->n_extra) return;
    if (extra) copy_in(g->extra, extra, g->n_extra);
    if (m) copy_in(g->m + g->n_params, m, g->n_extra);
    if (v) copy_in(g->v + g->n_params, v, g->n_extra);
}
extern "C" void pq_gpu_get_extra(pq_gpu_model *g, float *extra, float *m, float *v) {
    if (!g->n_extra) return;
    if (extra) copy_out(extra, g->extra, g->n_extra);
    if (m) copy_out(m, g->m + g->n_params, g->n_extra);
    if (v) copy_out(v, g->v + g->n_params, g->n_extra);
}
extern "C" void pq_gpu_get_extra_grads(pq_gpu_model *g, float *dextra) {
    if (g->n_extra) copy_out(dextra, g->dextra, g->n_extra);
}

extern "C" void pq_gpu_zero_grads(pq_gpu_model *g) {
    CUDA_OK(cudaMemset(g->grads, 0, sizeof(float) * g->n_total));
    if (g->geff) CUDA_OK(cudaMemset(g->geff, 0, sizeof(float) * g->n_eff));
}

extern "C" void pq_gpu_refresh_weights(pq_gpu_model *g) {
    if (!g->hooked) return;
    for (const hooked_linear &h : g->lins)
        g->hook.forward(g->hook.ctx, h.layer, (pq_linear_id)h.which, g->params + h.w_off, h.rows, h.cols, g->eff + h.e_off,
                        g->extra);
}

extern "C" void pq_gpu_finish_grads(pq_gpu_model *g) {
    if (!g->hooked) return;
    for (const hooked_linear &h : g->lins)
        g->hook.backward(g->hook.ctx, h.layer, (pq_linear_id)h.which, g->params + h.w_off, h.rows, h.cols,
                         g->geff + h.e_off, g->grads + h.w_off, g->extra, g->dextra);
    CUDA_OK(cudaMemset(g->geff, 0, sizeof(float) * g->n_eff));
}

static void upload_tokens(int32_t *dst, const uint16_t *src, int n, int V, const char *what) {
    std::vector<int32_t> t(n);
    for (int i = 0; i < n; i++) {
        if (src[i] >= V) pq_die("pq_gpu_forward: %s %u >= vocab %d", what, src[i], V);
        t[i] = src[i];
    }
    CUDA_OK(cudaMemcpy(dst, t.data(), sizeof(int32_t) * n, cudaMemcpyHostToDevice));
}

extern "C" double pq_gpu_forward(pq_gpu_model *g, const uint16_t *tokens, const uint16_t *targets, int B, int T,
                                 int for_backward, float grad_scale) {
    if (B > g->B || T > g->T) pq_die("pq_gpu_forward: B=%d T=%d exceed the plan (%d, %d)", B, T, g->B, g->T);
    dev_acts &a = g->a;
    int N = B * T, V = g->cfg.vocab, D = g->D, F = g->F;
    size_t ND = (size_t)N * D;
    const float eps = pq_model_norm_eps(&g->cfg); /* an imported model's, else 1e-5 */
    upload_tokens(a.tok, tokens, N, V, "token");
    gk_embed_forward(a.res[0], g->tok_emb, a.tok, N, D);
    for (int l = 0; l < g->L; l++) {
        const dev_layer &w = g->we[l];
        gk_rmsnorm_forward(a.xn1[l], a.rstd1[l], a.res[l], w.attn_norm, N, D, eps);
        gk_linear_forward(g->blas, a.qkv[l], a.xn1[l], w.wqkv, N, D, g->C, 0);
        gk_rope(a.qkv[l], g->C, B, T, g->H, g->hd, g->rope_cos, g->rope_sin, 0);
        gk_rope(a.qkv[l] + D, g->C, B, T, g->KV, g->hd, g->rope_cos, g->rope_sin, 0);
        if (g->attn_gemm)
            gk_attention_gemm_forward(g->blas, &g->attn, a.atty[l], a.lse[l], a.qkv[l], B, T, g->H, g->KV, g->hd);
        else
            gk_attention_forward(a.atty[l], a.lse[l], a.qkv[l], B, T, g->H, g->KV, g->hd);
        CUDA_OK(cudaMemcpy(a.res_mid[l], a.res[l], sizeof(float) * ND, cudaMemcpyDeviceToDevice));
        gk_linear_forward(g->blas, a.res_mid[l], a.atty[l], w.wo, N, D, D, 1);
        gk_rmsnorm_forward(a.xn2[l], a.rstd2[l], a.res_mid[l], w.mlp_norm, N, D, eps);
        gk_linear_forward(g->blas, a.gu[l], a.xn2[l], w.wgu, N, D, 2 * F, 0);
        gk_swiglu_forward(a.h[l], a.gu[l], N, F);
        CUDA_OK(cudaMemcpy(a.res[l + 1], a.res_mid[l], sizeof(float) * ND, cudaMemcpyDeviceToDevice));
        gk_linear_forward(g->blas, a.res[l + 1], a.h[l], w.wdown, N, F, D, 1);
    }
    gk_rmsnorm_forward(a.xf, a.rstdf, a.res[g->L], g->final_norm, N, D, eps);
    gk_linear_forward(g->blas, a.logits, a.xf, g->head, N, D, V, 0);
    g->last_B = B, g->last_T = T, g->has_grad = 0;
    if (!targets) return 0.0;
    upload_tokens(a.tgt, targets, N, V, "target");
    gk_cross_entropy(a.logits, a.row_loss, a.tgt, N, V, grad_scale, for_backward);
    double sum = gk_sum(a.row_loss, N, a.scratch);
    g->has_grad = for_backward;
    return sum / N;
}

/* Positions of each distinct token, in position order (a counting sort on the host):
 * the embedding gradient then adds rows in the CPU's order, without atomics. */
static int upload_token_buckets(dev_acts &a, const uint16_t *tokens, int N) {
    std::vector<int32_t> order(N), uniq, offs;
    std::vector<int> count(65536, 0);
    for (int n = 0; n < N; n++) count[tokens[n]]++;
    std::vector<int> start(65536, 0);
    int at = 0;
    for (int t = 0; t < 65536; t++) {
        if (!count[t]) continue;
        uniq.push_back(t), offs.push_back(at);
        start[t] = at, at += count[t];
    }
    offs.push_back(at);
    for (int n = 0; n < N; n++) order[start[tokens[n]]++] = n;
    int nu = (int)uniq.size();
    CUDA_OK(cudaMemcpy(a.emb_uniq, uniq.data(), sizeof(int32_t) * nu, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(a.emb_offs, offs.data(), sizeof(int32_t) * (nu + 1), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(a.emb_pos, order.data(), sizeof(int32_t) * N, cudaMemcpyHostToDevice));
    return nu;
}

extern "C" void pq_gpu_backward(pq_gpu_model *g, const uint16_t *tokens) {
    if (!g->has_grad) pq_die("pq_gpu_backward: the last forward did not prepare gradients");
    dev_acts &a = g->a;
    int B = g->last_B, T = g->last_T, N = B * T, V = g->cfg.vocab, D = g->D, F = g->F;
    gk_linear_backward(g->blas, a.dxn, g->g_head, a.logits, a.xf, g->head, N, D, V, 0);
    CUDA_OK(cudaMemset(a.dres, 0, sizeof(float) * (size_t)N * D));
    gk_rmsnorm_backward(a.dres, g->g_final_norm, a.dxn, a.res[g->L], g->final_norm, a.rstdf, N, D, a.partial);
    for (int l = g->L - 1; l >= 0; l--) {
        const dev_layer &w = g->we[l], &gr = g->ge[l];
        gk_linear_backward(g->blas, a.dh, gr.wdown, a.dres, a.h[l], w.wdown, N, F, D, 0);
        gk_swiglu_backward(a.dgu, a.dh, a.gu[l], N, F);
        gk_linear_backward(g->blas, a.dxn, gr.wgu, a.dgu, a.xn2[l], w.wgu, N, D, 2 * F, 0);
        gk_rmsnorm_backward(a.dres, gr.mlp_norm, a.dxn, a.res_mid[l], w.mlp_norm, a.rstd2[l], N, D, a.partial);
        gk_linear_backward(g->blas, a.datty, gr.wo, a.dres, a.atty[l], w.wo, N, D, D, 0);
        if (g->attn_gemm)
            gk_attention_gemm_backward(g->blas, &g->attn, a.dqkv, a.delta, a.datty, a.atty[l], a.lse[l], a.qkv[l], B, T,
                                       g->H, g->KV, g->hd);
        else
            gk_attention_backward(a.dqkv, a.delta, a.datty, a.atty[l], a.lse[l], a.qkv[l], B, T, g->H, g->KV, g->hd);
        gk_rope(a.dqkv, g->C, B, T, g->H, g->hd, g->rope_cos, g->rope_sin, 1);
        gk_rope(a.dqkv + D, g->C, B, T, g->KV, g->hd, g->rope_cos, g->rope_sin, 1);
        gk_linear_backward(g->blas, a.dxn, gr.wqkv, a.dqkv, a.xn1[l], w.wqkv, N, D, g->C, 0);
        gk_rmsnorm_backward(a.dres, gr.attn_norm, a.dxn, a.res[l], w.attn_norm, a.rstd1[l], N, D, a.partial);
    }
    int nu = upload_token_buckets(a, tokens, N);
    gk_embed_backward(g->g_tok_emb, a.dres, a.emb_uniq, a.emb_offs, a.emb_pos, nu, D);
    g->has_grad = 0;
}

extern "C" void pq_gpu_logits(pq_gpu_model *g, const uint16_t *tokens, int T, float *out) {
    pq_gpu_forward(g, tokens, NULL, 1, T, 0, 0.0f);
    copy_out(out, g->a.logits, (int64_t)T * g->cfg.vocab);
}

extern "C" void pq_gpu_row_losses(pq_gpu_model *g, double *out) {
    CUDA_OK(cudaMemcpy(out, g->a.row_loss, sizeof(double) * (size_t)g->last_B * g->last_T, cudaMemcpyDeviceToHost));
}

extern "C" double pq_gpu_grad_norm(pq_gpu_model *g) {
    /* One pass over the whole gradient buffer: the model's tensors tile it, and the hook's
     * parameters follow (their gradients stay zero when they are not trained). */
    return sqrt(gk_sumsq(g->grads, g->n_total, g->a.scratch, g->a.scratch_len));
}

extern "C" void pq_gpu_adamw_step(pq_gpu_model *g, const pq_gpu_adamw_args *a) {
    for (const auto &s : g->segs)
        gk_adamw(g->params + s.off, g->grads + s.off, g->m + s.off, g->v + s.off, s.n, a->lr, a->beta1, a->beta2, a->eps,
                 s.decay ? a->weight_decay : 0.0f, a->bc1, a->bc2, a->grad_mul);
}
