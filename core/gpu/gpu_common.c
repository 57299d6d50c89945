/* gpu_common.c — the parts of the GPU interface that need no CUDA (built always). */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "gpu/gpu.h"

int pq_gpu_precision_parse(const char *text, pq_gpu_precision *out) {
    if (!strcmp(text, "fp32")) *out = PQ_GPU_FP32;
    else if (!strcmp(text, "tf32")) *out = PQ_GPU_TF32;
    else return pq_fail("unknown precision '%s' (known: fp32, tf32)", text);
    return 0;
}

const char *pq_gpu_precision_name(pq_gpu_precision p) { return p == PQ_GPU_TF32 ? "tf32" : "fp32"; }

int pq_device_parse(const char *text, pq_device *out) {
    if (!text || !*text) text = getenv("PQ_DEVICE");
    if (!text || !*text || !strcmp(text, "cpu")) {
        *out = PQ_DEVICE_CPU;
        return 0;
    }
    if (strcmp(text, "cuda")) return pq_fail("unknown device '%s' (known: cpu, cuda)", text);
    if (!pq_gpu_built()) return pq_fail("device cuda: built without CUDA: rebuild with make CUDA=1");
    *out = PQ_DEVICE_CUDA;
    return 0;
}

const char *pq_device_name(pq_device d) { return d == PQ_DEVICE_CUDA ? "cuda" : "cpu"; }
