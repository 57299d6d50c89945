/* gemv_gpu_none.c — `pq bench gpu-kernels` in a build without CUDA (the Makefile leaves
 * this file out of CUDA builds; bench_gpu_kernels.cu is the real one). */
#include "base/util.h"
#include "kernels/bench_kernels.h"

int pq_bench_gpu_kernels(const char *out_dir, int quick) {
    (void)out_dir, (void)quick;
    return pq_fail("built without CUDA: rebuild with make CUDA=1");
}
