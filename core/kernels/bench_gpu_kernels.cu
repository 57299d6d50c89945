/* bench_gpu_kernels.cu — `pq bench gpu-kernels`: the packed GEMV kernels of gemv_gpu.cuh
 * against cuBLAS FP16 GEMV and against this GPU's memory bandwidth, measured in the same
 * run; and the attention kernels of a MobileLLM-125M layer, tiled against cuBLAS.
 *
 * Decode reads every weight once per token, so its speed limit is bandwidth / weight
 * bytes. Bandwidth: the best of several device-to-device copies (read + write counted)
 * and of a read-only kernel (what a GEMV does with its weights); the larger is the
 * denominator of every fraction. GEMVs are timed STREAMED: each call reads another copy
 * of the matrix, the copies totalling at least STREAM_BYTES (10x the H200's 50 MB L2),
 * launched from a CUDA graph (what a decoder would do: per-launch CPU cost would
 * otherwise dominate the small matrices), median of several replays. Rows: the CPU
 * kernel benchmark's MobileLLM-like shapes, and the whole MobileLLM-125M decode linears
 * (30 layers x qkv, o, gate+up, down) one token at a time. Every packed configuration is
 * also checked once against the CPU: Q8 bitwise, F32 within the CPU kernels' tolerance. */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>

#include "gpu/kernels.cuh"
#include "kernels/gemv_gpu.cuh"

#define _Noreturn [[noreturn]]
extern "C" {
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/rng.h"
#include "base/util.h"
#include "gpu/gpu.h"
#include "kernels/bench_kernels.h"
#include "kernels/gemv.h"
}
#undef _Noreturn

namespace {

struct shape {
    int rows, cols;
};
/* bench_kernels.c's shapes: MobileLLM-125M-like MLP matrices, squares, a larger MLP pair. */
const shape all_shapes[] = {{576, 1536}, {1536, 576}, {1024, 1024}, {2048, 2048}, {2048, 8192}, {8192, 2048}};
const shape quick_shapes[] = {{1536, 576}, {8192, 2048}};
/* One MobileLLM-125M layer's decode linears (qkv fused: 576 + 2 x 192 rows; gate+up fused). */
const shape layer_125m[] = {{960, 576}, {576, 576}, {3072, 576}, {576, 1536}};
const pq_format formats[] = {PQ_FMT_B2, PQ_FMT_T2, PQ_FMT_T1_6, PQ_FMT_B4};

struct bench {
    int quick, reps;
    size_t stream_bytes;
    cudaStream_t s;
    cublasHandle_t blas;
    void *blas_ws;
    double bw_gbs;
};

double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    size_t n = t.size();
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Seconds per replay of what enqueue puts on b.s, captured once as a graph: median of b.reps
 * replays after one warm-up. */
double time_graph(bench &b, const std::function<void()> &enqueue) {
    cudaGraph_t g;
    cudaGraphExec_t ex;
    CUDA_OK(cudaStreamBeginCapture(b.s, cudaStreamCaptureModeThreadLocal));
    enqueue();
    CUDA_OK(cudaStreamEndCapture(b.s, &g));
    CUDA_OK(cudaGraphInstantiate(&ex, g, 0));
    cudaEvent_t e0, e1;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    CUDA_OK(cudaGraphLaunch(ex, b.s));
    CUDA_OK(cudaStreamSynchronize(b.s));
    std::vector<double> t;
    for (int r = 0; r < b.reps; r++) {
        CUDA_OK(cudaEventRecord(e0, b.s));
        CUDA_OK(cudaGraphLaunch(ex, b.s));
        CUDA_OK(cudaEventRecord(e1, b.s));
        CUDA_OK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e-3);
    }
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaGraphExecDestroy(ex), cudaGraphDestroy(g);
    return median(t);
}

/* ---- bandwidth --------------------------------------------------------------------------- */

__global__ void read_k(const uint4 *p, size_t n, unsigned *out) {
    unsigned acc = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    out[(size_t)blockIdx.x * blockDim.x + threadIdx.x] = acc; /* keeps the loads; no atomics */
}

__global__ void empty_k() {}

json_t *measure_bandwidth(bench &b) {
    size_t bytes = b.quick ? (512ull << 20) : (2048ull << 20);
    uint8_t *buf;
    unsigned *sink;
    CUDA_OK(cudaMalloc(&buf, bytes));
    CUDA_OK(cudaMemset(buf, 1, bytes));
    int sms = 0;
    CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    int blocks = sms * 8, threads = 256;
    CUDA_OK(cudaMalloc(&sink, sizeof(unsigned) * blocks * threads));
    size_t half = bytes / 2;
    double copy = 0, read = 0;
    for (int pass = 0; pass < 5; pass++) {
        double t = time_graph(b, [&] { CUDA_OK(cudaMemcpyAsync(buf + half, buf, half, cudaMemcpyDeviceToDevice, b.s)); });
        copy = std::max(copy, 2.0 * half / t / 1e9);
        t = time_graph(b, [&] {
            read_k<<<blocks, threads, 0, b.s>>>((const uint4 *)buf, bytes / 16, sink);
            CUDA_LAUNCHED();
        });
        read = std::max(read, bytes / t / 1e9);
    }
    /* what one small launch costs inside a graph: 1000 empty kernels */
    double launch = time_graph(b, [&] {
                        for (int i = 0; i < 1000; i++) empty_k<<<1, 32, 0, b.s>>>();
                    }) /
                    1000;
    cudaFree(buf), cudaFree(sink);
    b.bw_gbs = std::max(copy, read);
    return json_pack("{s:f, s:f, s:f, s:I, s:f, s:s}", "copy_gbs", copy, "read_gbs", read, "bandwidth_gbs", b.bw_gbs,
                     "buffer_bytes", (json_int_t)bytes, "empty_kernel_in_graph_us", launch * 1e6, "how",
                     "best of 5: cudaMemcpyAsync device to device of half the buffer (read + write bytes counted), and a "
                     "read-only kernel over the whole buffer; bandwidth_gbs is the larger");
}

/* ---- GEMV sets: copies of a list of matrices, one call each --------------------------------- */

/* Codes, scales and offsets of a random rows x cols matrix of format f (every level in use;
 * the first row all top code, the second all zero: the edge rows). */
pq_packed *random_packed(pq_format f, int rows, int cols, uint64_t seed) {
    int levels = pq_format_levels(f);
    std::vector<uint8_t> codes((size_t)rows * cols);
    for (size_t i = 0; i < codes.size(); i++) codes[i] = (uint8_t)(pq_rng_uniform(seed, 1, i) * levels);
    for (int c = 0; c < cols; c++) codes[c] = (uint8_t)(levels - 1), codes[rows > 1 ? cols + c : c] = 0;
    std::vector<float> scale(rows), offset(rows);
    for (int r = 0; r < rows; r++)
        scale[r] = (float)(0.01 + 0.02 * pq_rng_uniform(seed, 2, r)), offset[r] = -scale[r] * (levels - 1) / 2;
    pq_packed *p = pq_pack(f, rows, cols, codes.data(), scale.data(), offset.data());
    if (!p) pq_die("bench gpu-kernels: %s", pq_error());
    return p;
}

/* One token's activations of width cols, on the host (kernel layout) and the device. */
struct acts {
    pq_act_batch q8, f32;
    int8_t *dq;
    float *dd, *ddq, *dx, *dxs;
};

void acts_make(acts &a, int cols, uint64_t seed) {
    std::vector<float> x(cols);
    for (int i = 0; i < cols; i++) x[i] = (float)pq_rng_normal(seed, 3, i);
    pq_act_batch_init(&a.q8), pq_act_batch_init(&a.f32);
    pq_act_batch_set(&a.q8, PQ_ACT_Q8, x.data(), 1, cols);
    pq_act_batch_set(&a.f32, PQ_ACT_F32, x.data(), 1, cols);
    int stride = a.q8.stride;
    CUDA_OK(cudaMalloc(&a.dq, stride));
    CUDA_OK(cudaMalloc(&a.dx, sizeof(float) * stride));
    CUDA_OK(cudaMalloc(&a.dd, sizeof(float) * 4));
    a.ddq = a.dd + 1, a.dxs = a.dd + 2;
    CUDA_OK(cudaMemcpy(a.dq, a.q8.q, stride, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(a.dx, a.f32.x, sizeof(float) * stride, cudaMemcpyHostToDevice));
    float sc[3] = {a.q8.d[0], a.q8.dqsum[0], a.f32.xsum[0]};
    CUDA_OK(cudaMemcpy(a.dd, sc, sizeof sc, cudaMemcpyHostToDevice));
}

void acts_free(acts &a) {
    pq_act_batch_free(&a.q8), pq_act_batch_free(&a.f32);
    cudaFree(a.dq), cudaFree(a.dx), cudaFree(a.dd);
}

/* Q8: bitwise equal outputs; F32: within gemv.h's tolerance. 1 if the GPU agrees with the CPU. */
int check_against_cpu(const pq_packed *p, const gk_packed &w, acts &a, float *dy, cudaStream_t s) {
    std::vector<float> ref(p->rows), got(p->rows);
    pq_matmul_rows(p, &a.q8, ref.data(), pq_isa_best(), 0, p->rows);
    gk_gemv_q8(&w, a.dq, a.dd, a.ddq, dy, s);
    CUDA_OK(cudaMemcpyAsync(got.data(), dy, sizeof(float) * p->rows, cudaMemcpyDeviceToHost, s));
    CUDA_OK(cudaStreamSynchronize(s));
    if (memcmp(ref.data(), got.data(), sizeof(float) * p->rows)) return 0;
    pq_matmul_rows(p, &a.f32, ref.data(), PQ_ISA_REF, 0, p->rows);
    gk_gemv_f32(&w, a.dx, a.dxs, dy, s);
    CUDA_OK(cudaMemcpyAsync(got.data(), dy, sizeof(float) * p->rows, cudaMemcpyDeviceToHost, s));
    CUDA_OK(cudaStreamSynchronize(s));
    return std::equal(ref.begin(), ref.end(), got.begin(), [](float r, float g) {
        return fabsf(r - g) <= 1e-4f * (1.0f + fabsf(r)); /* loose: the exact rule is in make test-gpu */
    });
}

struct timing {
    double seconds; /* per pass over the set (one token) */
    double bytes;   /* weight bytes read per pass */
};

json_t *timing_json(const bench &b, const timing &t, int calls) {
    double gbs = t.bytes / t.seconds / 1e9;
    return json_pack("{s:f, s:f, s:f, s:f}", "us_per_token", t.seconds * 1e6, "us_per_call", t.seconds * 1e6 / calls,
                     "gbs", gbs, "fraction_of_bandwidth", gbs / b.bw_gbs);
}

/* Copies needed so that the set's copies total at least stream_bytes. */
int copies_for(const bench &b, double set_bytes) {
    return std::max(1, (int)std::min(4096.0, std::ceil(b.stream_bytes / set_bytes)));
}

__global__ void fill_half_k(__half *p, size_t n, uint32_t seed) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    p[i] = __float2half(((float)(h & 0xFFFF) / 65536.0f - 0.5f) * 0.05f);
}

/* cuBLAS FP16 GEMV (GemmEx, n = 1, FP32 accumulation, FP16 out) over copies of the set. */
timing time_cublas(bench &b, const std::vector<shape> &set) {
    double set_bytes = 0;
    int maxc = 0, maxr = 0;
    for (auto &m : set) set_bytes += 2.0 * m.rows * m.cols, maxc = std::max(maxc, m.cols), maxr = std::max(maxr, m.rows);
    int copies = copies_for(b, set_bytes);
    size_t n = (size_t)(set_bytes / 2) * copies;
    __half *W, *x, *y;
    CUDA_OK(cudaMalloc(&W, n * sizeof(__half)));
    CUDA_OK(cudaMalloc(&x, maxc * sizeof(__half)));
    CUDA_OK(cudaMalloc(&y, maxr * sizeof(__half)));
    fill_half_k<<<(unsigned)((n + 255) / 256), 256, 0, b.s>>>(W, n, 1);
    fill_half_k<<<(maxc + 255) / 256, 256, 0, b.s>>>(x, maxc, 2);
    CUDA_LAUNCHED();
    const float one = 1.0f, zero = 0.0f;
    double t = time_graph(b, [&] {
        size_t at = 0;
        for (int c = 0; c < copies; c++)
            for (auto &m : set) {
                /* y[rows] = W[rows, cols] x: column-major W^T is [cols, rows] */
                CUBLAS_OK(cublasGemmEx(b.blas, CUBLAS_OP_T, CUBLAS_OP_N, m.rows, 1, m.cols, &one, W + at, CUDA_R_16F, m.cols,
                                       x, CUDA_R_16F, m.cols, &zero, y, CUDA_R_16F, m.rows, CUBLAS_COMPUTE_32F,
                                       CUBLAS_GEMM_DEFAULT));
                at += (size_t)m.rows * m.cols;
            }
    });
    cudaFree(W), cudaFree(x), cudaFree(y);
    return timing{t / copies, set_bytes};
}

/* The packed kernels (Q8 and F32 activations) over copies of the set; *agrees: every
 * matrix of the first copy checked against the CPU. */
void time_packed(bench &b, pq_format f, const std::vector<shape> &set, timing *q8, timing *f32, int *agrees) {
    std::vector<pq_packed *> host;
    std::vector<acts> act(set.size());
    double set_bytes = 0;
    int maxr = 0;
    for (size_t i = 0; i < set.size(); i++) {
        host.push_back(random_packed(f, set[i].rows, set[i].cols, 100 + i));
        acts_make(act[i], set[i].cols, 200 + i);
        set_bytes += (double)pq_packed_bytes(host[i]);
        maxr = std::max(maxr, set[i].rows);
    }
    int copies = copies_for(b, set_bytes);
    std::vector<gk_packed> dev;
    for (int c = 0; c < copies; c++)
        for (size_t i = 0; i < set.size(); i++) {
            if (c == 0) {
                dev.push_back(gk_packed_upload(host[i]));
                continue;
            }
            gk_packed w = dev[i]; /* a copy of the first: its own data, scales and offsets */
            size_t bytes = (size_t)w.rows * w.row_bytes;
            CUDA_OK(cudaMalloc(&w.data, bytes));
            CUDA_OK(cudaMalloc(&w.scale, sizeof(float) * w.rows));
            CUDA_OK(cudaMalloc(&w.offset, sizeof(float) * w.rows));
            CUDA_OK(cudaMemcpy(w.data, dev[i].data, bytes, cudaMemcpyDeviceToDevice));
            CUDA_OK(cudaMemcpy(w.scale, dev[i].scale, sizeof(float) * w.rows, cudaMemcpyDeviceToDevice));
            CUDA_OK(cudaMemcpy(w.offset, dev[i].offset, sizeof(float) * w.rows, cudaMemcpyDeviceToDevice));
            dev.push_back(w);
        }
    float *y;
    CUDA_OK(cudaMalloc(&y, sizeof(float) * maxr));
    *agrees = 1;
    for (size_t i = 0; i < set.size(); i++) *agrees &= check_against_cpu(host[i], dev[i], act[i], y, b.s);
    for (int kind = 0; kind < 2; kind++) {
        double t = time_graph(b, [&] {
            for (size_t k = 0; k < dev.size(); k++) {
                acts &a = act[k % set.size()];
                if (kind == 0) gk_gemv_q8(&dev[k], a.dq, a.dd, a.ddq, y, b.s);
                else gk_gemv_f32(&dev[k], a.dx, a.dxs, y, b.s);
            }
        });
        (kind == 0 ? *q8 : *f32) = timing{t / copies, set_bytes};
    }
    cudaFree(y);
    for (auto &w : dev) gk_packed_free(&w);
    for (size_t i = 0; i < set.size(); i++) pq_packed_free(host[i]), acts_free(act[i]);
}

/* One row of the results: cuBLAS FP16 and every format on the set. */
json_t *bench_set(bench &b, const char *name, const std::vector<shape> &set, int *all_agree) {
    json_t *row = json_pack("{s:s}", "name", name);
    json_t *mats = json_array();
    for (auto &m : set) json_array_append_new(mats, json_pack("[i, i]", m.rows, m.cols));
    json_object_set_new(row, "matrices_rows_cols", mats);
    int calls = (int)set.size();
    timing cu = time_cublas(b, set);
    json_object_set_new(row, "cublas_fp16", timing_json(b, cu, calls));
    for (pq_format f : formats) {
        timing q8, f32;
        int agrees = 0;
        time_packed(b, f, set, &q8, &f32, &agrees);
        *all_agree &= agrees;
        for (int kind = 0; kind < 2; kind++) {
            const timing &t = kind ? f32 : q8;
            json_t *o = timing_json(b, t, calls);
            json_object_set_new(o, "bits", json_real(pq_format_bits(f)));
            json_object_set_new(o, "speedup_vs_cublas_fp16", json_real(cu.seconds / t.seconds));
            json_object_set_new(o, "agrees_with_cpu", json_boolean(agrees));
            char key[32];
            snprintf(key, sizeof key, "%s_%s", pq_format_name(f), kind ? "f32" : "q8");
            json_object_set_new(row, key, o);
        }
        fprintf(stderr, "pq bench gpu-kernels: %-10s %-5s q8 %7.2f us (%.2f of bandwidth) vs cublas fp16 %7.2f us\n", name,
                pq_format_name(f), q8.seconds * 1e6, q8.bytes / q8.seconds / 1e9 / b.bw_gbs, cu.seconds * 1e6);
    }
    return row;
}

/* ---- attention of one MobileLLM-125M layer ------------------------------------------------ */

json_t *bench_attention(bench &b) {
    const int B = 4, T = 2048, H = 9, KV = 3, hd = 64, C = (H + 2 * KV) * hd, D = H * hd;
    const size_t N = (size_t)B * T;
    float *qkv, *out, *lse, *dout, *dqkv, *delta;
    CUDA_OK(cudaMalloc(&qkv, sizeof(float) * N * C));
    CUDA_OK(cudaMalloc(&dqkv, sizeof(float) * N * C));
    CUDA_OK(cudaMalloc(&out, sizeof(float) * N * D));
    CUDA_OK(cudaMalloc(&dout, sizeof(float) * N * D));
    CUDA_OK(cudaMalloc(&lse, sizeof(float) * B * H * T));
    CUDA_OK(cudaMalloc(&delta, sizeof(float) * B * H * T));
    std::vector<float> h(N * C);
    for (size_t i = 0; i < h.size(); i++) h[i] = (float)pq_rng_normal(5, 1, i);
    CUDA_OK(cudaMemcpy(qkv, h.data(), sizeof(float) * N * C, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dout, h.data(), sizeof(float) * N * D, cudaMemcpyHostToDevice));
    gk_attn_ws ws;
    if (gk_attention_gemm_alloc(&ws, B, T, H, KV, hd, 0)) pq_die("bench gpu-kernels: attention scratch");
    cudaEvent_t e0, e1;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    auto ms_of = [&](const std::function<void()> &f) {
        f(); /* warm-up */
        std::vector<double> t;
        for (int r = 0; r < b.reps; r++) {
            CUDA_OK(cudaEventRecord(e0, 0));
            f();
            CUDA_OK(cudaEventRecord(e1, 0));
            CUDA_OK(cudaEventSynchronize(e1));
            float ms = 0;
            CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
            t.push_back(ms);
        }
        return median(t);
    };
    CUBLAS_OK(cublasSetStream(b.blas, 0));
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "batch", B, "ctx", T, "heads", H, "kv_heads", KV, "head_dim",
                          hd, "layers", 30);
    double tf = ms_of([&] { gk_attention_forward(out, lse, qkv, B, T, H, KV, hd); });
    double tb = ms_of([&] { gk_attention_backward(dqkv, delta, dout, out, lse, qkv, B, T, H, KV, hd); });
    json_object_set_new(o, "tiled_fwd_ms", json_real(tf));
    json_object_set_new(o, "tiled_bwd_ms", json_real(tb));
    json_object_set_new(o, "tiled_step_ms_30_layers", json_real(30 * (tf + tb)));
    fprintf(stderr, "pq bench gpu-kernels: attention tiled fwd %.2f ms bwd %.2f ms per layer\n", tf, tb);
    for (int tf32 = 0; tf32 < 2; tf32++) {
        CUBLAS_OK(cublasSetMathMode(b.blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
        double gf = ms_of([&] { gk_attention_gemm_forward(b.blas, &ws, out, lse, qkv, B, T, H, KV, hd); });
        double gb = ms_of([&] { gk_attention_gemm_backward(b.blas, &ws, dqkv, delta, dout, out, lse, qkv, B, T, H, KV, hd); });
        const char *p = tf32 ? "tf32" : "fp32";
        char key[64];
        snprintf(key, sizeof key, "cublas_%s_fwd_ms", p), json_object_set_new(o, key, json_real(gf));
        snprintf(key, sizeof key, "cublas_%s_bwd_ms", p), json_object_set_new(o, key, json_real(gb));
        snprintf(key, sizeof key, "cublas_%s_step_ms_30_layers", p), json_object_set_new(o, key, json_real(30 * (gf + gb)));
        fprintf(stderr, "pq bench gpu-kernels: attention cublas %s fwd %.2f ms bwd %.2f ms per layer\n", p, gf, gb);
    }
    CUBLAS_OK(cublasSetMathMode(b.blas, CUBLAS_DEFAULT_MATH));
    CUBLAS_OK(cublasSetStream(b.blas, b.s));
    gk_attention_gemm_free(&ws);
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    cudaFree(qkv), cudaFree(dqkv), cudaFree(out), cudaFree(dout), cudaFree(lse), cudaFree(delta);
    return o;
}

} // namespace

extern "C" int pq_bench_gpu_kernels(const char *out_dir, int quick) {
    json_t *gpu = pq_gpu_info(PQ_GPU_FP32);
    if (!gpu) return -1;
    json_object_del(gpu, "precision");
    json_t *manifest = pq_manifest_new("bench gpu-kernels", NULL);
    bench b{};
    b.quick = quick, b.reps = quick ? 3 : 9;
    b.stream_bytes = quick ? (128ull << 20) : (512ull << 20);
    CUDA_OK(cudaStreamCreateWithFlags(&b.s, cudaStreamNonBlocking));
    CUBLAS_OK(cublasCreate(&b.blas));
    size_t wsb = 32u << 20;
    CUDA_OK(cudaMalloc(&b.blas_ws, wsb));
    CUBLAS_OK(cublasSetWorkspace(b.blas, b.blas_ws, wsb));
    CUBLAS_OK(cublasSetStream(b.blas, b.s));
    json_t *bw = measure_bandwidth(b);
    fprintf(stderr, "pq bench gpu-kernels: bandwidth copy %.0f GB/s, read %.0f GB/s\n",
            json_number_value(json_object_get(bw, "copy_gbs")), json_number_value(json_object_get(bw, "read_gbs")));
    json_t *rows = json_array();
    int all_agree = 1;
    const shape *sh = quick ? quick_shapes : all_shapes;
    size_t n_sh = quick ? sizeof quick_shapes / sizeof *sh : sizeof all_shapes / sizeof *sh;
    for (size_t i = 0; i < n_sh; i++) {
        char name[32];
        snprintf(name, sizeof name, "%dx%d", sh[i].rows, sh[i].cols);
        json_array_append_new(rows, bench_set(b, name, {sh[i]}, &all_agree));
    }
    std::vector<shape> model;
    for (int l = 0; l < 30; l++) model.insert(model.end(), layer_125m, layer_125m + 4);
    json_t *model_row = bench_set(b, "mobilellm-125m decode linears", model, &all_agree);
    json_t *attn = bench_attention(b);
    json_t *doc = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "what",
        "single-token GEMV of packed low-bit weights (the CPU kernels' layouts, pack.h) on the GPU: Q8 = int8 activations "
        "(dp4a, bitwise the CPU's), F32 = float activations; against cuBLAS FP16 GEMV (cublasGemmEx, n = 1, FP32 accumulate) "
        "on the same GPU in the same run; weights streamed from memory (copies >= stream_bytes, one CUDA graph per set), "
        "medians of replays. gbs counts weight bytes (packed codes + per-row scale and offset; FP16 matrix). "
        "attention: one MobileLLM-125M layer (batch 4, ctx 2048) forward and backward, the tiled CUDA-core kernels against "
        "the cuBLAS path",
        "command", quick ? "pq bench gpu-kernels --quick" : "pq bench gpu-kernels", "gpu", gpu, "memory", bw, "gemv", rows,
        "model_decode", model_row, "attention", attn, "all_agree_with_cpu", all_agree, "manifest", manifest);
    json_object_set_new(doc, "stream_bytes", json_integer((json_int_t)b.stream_bytes));
    pq_manifest_finish(json_object_get(doc, "manifest"));
    char *path = pq_path_join(out_dir, "gpu_kernels.json");
    int rc = pq_mkdirs(out_dir) || pq_json_write(doc, path) ? -1 : 0;
    if (rc == 0) fprintf(stderr, "pq bench gpu-kernels: wrote %s\n", path);
    free(path);
    json_decref(doc);
    cudaFree(b.blas_ws);
    cublasDestroy(b.blas);
    cudaStreamDestroy(b.s);
    if (rc == 0 && !all_agree) return pq_fail("bench gpu-kernels: a GPU kernel disagreed with the CPU (see the file)");
    return rc;
}
