/* gpu_none.c — the GPU interface of a build without CUDA (make without CUDA=1;
 * the Makefile leaves this file out of CUDA builds). Constructors fail with one
 * line; the rest cannot be reached without a pq_gpu_model. */
#include "base/util.h"
#include "gpu/gpu.h"

#define NO_CUDA "built without CUDA: rebuild with make CUDA=1"

int pq_gpu_built(void) { return 0; }

json_t *pq_gpu_info(pq_gpu_precision p) {
    (void)p;
    pq_fail(NO_CUDA);
    return NULL;
}

pq_gpu_model *pq_gpu_model_new(const pq_model *m, int B, int T, pq_gpu_precision p, const pq_gpu_weight_hook *hook) {
    (void)m, (void)B, (void)T, (void)p, (void)hook;
    pq_fail(NO_CUDA);
    return NULL;
}

void pq_gpu_model_free(pq_gpu_model *g) { (void)g; }

_Noreturn static void no_cuda(void) { pq_die(NO_CUDA); }
void pq_gpu_set_params(pq_gpu_model *g, const float *p) { (void)g, (void)p, no_cuda(); }
void pq_gpu_get_params(pq_gpu_model *g, float *p) { (void)g, (void)p, no_cuda(); }
void pq_gpu_get_grads(pq_gpu_model *g, float *p) { (void)g, (void)p, no_cuda(); }
void pq_gpu_set_moments(pq_gpu_model *g, const float *m, const float *v) { (void)g, (void)m, (void)v, no_cuda(); }
void pq_gpu_get_moments(pq_gpu_model *g, float *m, float *v) { (void)g, (void)m, (void)v, no_cuda(); }
void pq_gpu_set_extra(pq_gpu_model *g, const float *e, const float *m, const float *v) {
    (void)g, (void)e, (void)m, (void)v, no_cuda();
}
void pq_gpu_get_extra(pq_gpu_model *g, float *e, float *m, float *v) { (void)g, (void)e, (void)m, (void)v, no_cuda(); }
void pq_gpu_get_extra_grads(pq_gpu_model *g, float *d) { (void)g, (void)d, no_cuda(); }
void pq_gpu_zero_grads(pq_gpu_model *g) { (void)g, no_cuda(); }
void pq_gpu_refresh_weights(pq_gpu_model *g) { (void)g, no_cuda(); }
void pq_gpu_finish_grads(pq_gpu_model *g) { (void)g, no_cuda(); }
void pq_gpu_row_losses(pq_gpu_model *g, double *out) { (void)g, (void)out, no_cuda(); }
double pq_gpu_forward(pq_gpu_model *g, const uint16_t *tokens, const uint16_t *targets, int B, int T, int for_backward,
                      float grad_scale) {
    (void)g, (void)tokens, (void)targets, (void)B, (void)T, (void)for_backward, (void)grad_scale, no_cuda();
    return 0;
}
void pq_gpu_backward(pq_gpu_model *g, const uint16_t *tokens) { (void)g, (void)tokens, no_cuda(); }
void pq_gpu_logits(pq_gpu_model *g, const uint16_t *tokens, int T, float *out) {
    (void)g, (void)tokens, (void)T, (void)out, no_cuda();
}
double pq_gpu_grad_norm(pq_gpu_model *g) {
    (void)g, no_cuda();
    return 0;
}
void pq_gpu_adamw_step(pq_gpu_model *g, const pq_gpu_adamw_args *a) { (void)g, (void)a, no_cuda(); }
