/* quantizer_gpu_none.c — quantizer_gpu.h in a build without CUDA (the Makefile leaves this
 * file out of CUDA builds). Unreachable: no GPU model, hence no GPU hook, exists there. */
#include "base/util.h"
#include "quant/quantizer_gpu.h"

void pq_quant_forward_gpu(const pq_quantizer *q, const float *W, float *alpha, int rows, int cols, float *W_eff) {
    (void)q, (void)W, (void)alpha, (void)rows, (void)cols, (void)W_eff;
    pq_die("built without CUDA: rebuild with make CUDA=1");
}

void pq_quant_backward_gpu(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, const float *g,
                           float *dW, float *dalpha) {
    (void)q, (void)W, (void)alpha, (void)rows, (void)cols, (void)g, (void)dW, (void)dalpha;
    pq_die("built without CUDA: rebuild with make CUDA=1");
}
