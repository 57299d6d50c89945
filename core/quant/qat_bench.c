/* qat_bench.c — FP vs QAT training-step time through the engine's loop (see qat_bench.h). */
#include "quant/qat_bench.h"

#include <stdlib.h>
#include <string.h>

#include "base/bench.h"
#include "base/util.h"
#include "model/model.h"
#include "quant/qat.h"
#include "train/data.h"
#include "train/trainer.h"

/* Wall seconds per step of one short run (the loop only), and process CPU seconds
 * per step (robust when other work shares the cores); -1 on failure. */
static double time_run(const pq_model_config *mc, const pq_train_config *tc, int T, const pq_token_stream *ts,
                       const pq_quantizer *q, double *hook_fwd, double *hook_bwd, double *cpu_per_step) {
    pq_model *m = pq_model_new(mc);
    pq_model_init(m, tc->seed);
    pq_qat *qa = q ? pq_qat_new(m, q) : NULL;
    pq_param_group *extra = NULL;
    int n_extra = 0;
    if (qa) pq_qat_param_groups(qa, &extra, &n_extra);
    pq_trainer_spec sp = {.kind = q ? "bench-qat" : "bench-fp", .model = m, .train = *tc, .seq_len = T,
                          .train_data = ts, .hook = qa ? &qa->hook : NULL, .extra = extra, .n_extra = n_extra};
    pq_train_log log;
    double per_step = -1.0, c0 = pq_cpu_now();
    if (pq_train(&sp, &log) == 0) {
        per_step = log.steps_done > 0 ? log.seconds / (double)log.steps_done : -1.0;
        *cpu_per_step = log.steps_done > 0 ? (pq_cpu_now() - c0) / (double)log.steps_done : -1.0;
        pq_train_log_free(&log);
    }
    if (qa && hook_fwd) pq_qat_time_overhead(qa, 3, hook_fwd, hook_bwd);
    free(extra);
    pq_qat_free(qa);
    pq_model_free(m);
    return per_step;
}

json_t *pq_qat_bench(const pq_model_config *mc, int batch, int seq_len, int steps, int repeats, const char *quantizer,
                     pq_qbits bits) {
    pq_quantizer q;
    if (pq_quantizer_init(&q, quantizer, bits) || pq_model_config_check(mc)) return NULL;
    if (steps < 1) steps = 1;
    if (repeats < 1) repeats = 1;
    const int T = seq_len > 0 ? seq_len : mc->ctx;
    pq_train_config tc = pq_train_config_default();
    tc.batch = batch, tc.grad_accum = 1, tc.seed = 1, tc.warmup = 0, tc.eval_interval = 0, tc.ckpt_interval = 0;
    tc.tokens = (int64_t)steps * batch * T;
    pq_token_stream ts;
    pq_tokens_synthetic(&ts, 1, 0, (int64_t)(steps + 1) * batch * T + 1, mc->vocab);
    double fp = 1e30, qt = 1e30, hf = 1e30, hb = 1e30, fpc = 1e30, qtc = 1e30;
    for (int r = 0; r < repeats; r++) {
        double f, b, ac, cc;
        double a = time_run(mc, &tc, T, &ts, NULL, NULL, NULL, &ac);
        double c = time_run(mc, &tc, T, &ts, &q, &f, &b, &cc);
        if (a < 0 || c < 0) {
            pq_tokens_free(&ts);
            return NULL;
        }
        fp = PQ_MIN(fp, a), qt = PQ_MIN(qt, c), hf = PQ_MIN(hf, f), hb = PQ_MIN(hb, b);
        fpc = PQ_MIN(fpc, ac), qtc = PQ_MIN(qtc, cc);
    }
    pq_tokens_free(&ts);
    json_t *o = json_object();
    json_object_set_new(o, "quantizer", json_string(q.name));
    json_object_set_new(o, "bits", json_string(pq_qbits_name(bits)));
    json_object_set_new(o, "batch", json_integer(batch));
    json_object_set_new(o, "seq_len", json_integer(T));
    json_object_set_new(o, "steps", json_integer(steps));
    json_object_set_new(o, "repeats", json_integer(repeats));
    json_object_set_new(o, "fp_step_seconds", json_real(fp));
    json_object_set_new(o, "qat_step_seconds", json_real(qt));
    json_object_set_new(o, "overhead", json_real(qt / fp - 1.0));
    json_object_set_new(o, "fp_step_cpu_seconds", json_real(fpc));
    json_object_set_new(o, "qat_step_cpu_seconds", json_real(qtc));
    json_object_set_new(o, "overhead_cpu", json_real(qtc / fpc - 1.0));
    json_object_set_new(o, "fake_quant_forward_seconds", json_real(hf));
    json_object_set_new(o, "fake_quant_backward_seconds", json_real(hb));
    /* The hook's own cost relative to an FP step: far less noisy than the
     * difference of two step times on a shared machine. */
    json_object_set_new(o, "fake_quant_fraction_of_fp_step", json_real((hf + hb) / fp));
    return o;
}
