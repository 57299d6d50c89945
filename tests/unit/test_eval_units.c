/* Per-document validation losses (eval/units.h): documents cut at BOS, the
 * trainer's windows, and the sum over documents equal to the trainer's loss. */
#include <criterion/criterion.h>
#include <math.h>

#include "eval/model_lm.h"
#include "eval/units.h"
#include "train/data.h"
#include "train/trainer.h"
#include "eval_toy.h"

enum { V = 3, BOS = 2 };

static double table[V * V];

static void fill_table(void) {
    for (int p = 0; p < V; p++)
        for (int q = 0; q < V; q++) table[p * V + q] = -0.1 * (p + 1) - 0.01 * (q + 1);
}

Test(eval_units, documents_are_cut_at_bos_and_windows_follow_the_trainer) {
    fill_table();
    bigram b = {V, table, 0, 0};
    pq_lm lm = bigram_lm(&b, 8);
    /* BOS at 0, 4 and 7: inputs 0-3 are document 0, 4-6 document 1, 7-8 document 2. */
    const uint16_t tokens[] = {2, 0, 1, 0, 2, 1, 1, 2, 0, 0, 1};
    pq_doc_losses d;
    cr_assert_eq(pq_eval_doc_losses(&lm, tokens, 11, 3, 9, BOS, &d), 0, "%s", pq_error());
    cr_expect_eq(d.windows, 3);
    cr_expect_eq(d.tokens, 9);
    cr_assert_eq(d.n_docs, 3);
    const int first[] = {0, 4, 7, 9};
    for (int k = 0; k < 3; k++) {
        double want = 0;
        for (int p = first[k]; p < first[k + 1]; p++) want -= table[tokens[p] * V + tokens[p + 1]];
        cr_expect(fabs(d.nll[k] - want) < 1e-12, "document %d: %g, expected %g", k, d.nll[k], want);
        cr_expect_eq(d.targets[k], first[k + 1] - first[k]);
    }
    pq_doc_losses_free(&d);
    /* Fewer tokens than one window still score one; more than the stream hold stop at its end. */
    cr_assert_eq(pq_eval_doc_losses(&lm, tokens, 11, 3, 1, BOS, &d), 0);
    cr_expect_eq(d.windows, 1);
    cr_expect_eq(d.n_docs, 1);
    pq_doc_losses_free(&d);
    cr_assert_eq(pq_eval_doc_losses(&lm, tokens, 11, 3, 1000, BOS, &d), 0);
    cr_expect_eq(d.windows, 3);
    pq_doc_losses_free(&d);
    cr_expect_eq(pq_eval_doc_losses(&lm, tokens, 11, 9, 9, BOS, &d), -1, "windows longer than the context");
}

Test(eval_units, the_documents_add_up_to_the_trainers_validation_loss) {
    pq_model_config cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48, .vocab = 50, .ctx = 16};
    cr_assert_eq(pq_model_config_check(&cfg), 0, "%s", pq_error());
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 7);
    pq_token_stream ts;
    pq_tokens_synthetic(&ts, 3, 1, 400, cfg.vocab);
    for (int64_t i = 0; i < ts.n; i += 23) ts.tokens[i] = 49; /* documents of 23 tokens */
    pq_data_order order;
    cr_assert_eq(pq_data_order_init(&order, &ts, cfg.ctx, 1), 0);
    pq_acts *a = pq_acts_new(&cfg, 4, cfg.ctx);
    double trainer = pq_eval_loss(m, a, &order, 160, 4, cfg.ctx);
    pq_lm lm;
    pq_model_lm_init(&lm, m);
    pq_doc_losses d;
    cr_assert_eq(pq_eval_doc_losses(&lm, ts.tokens, ts.n, cfg.ctx, 160, 49, &d), 0, "%s", pq_error());
    double sum = 0;
    int64_t targets = 0;
    for (int64_t k = 0; k < d.n_docs; k++) sum += d.nll[k], targets += d.targets[k];
    cr_expect_eq(targets, 160);
    int64_t docs = 1;
    for (int p = 1; p < 160; p++) docs += ts.tokens[p] == 49;
    cr_expect(docs >= 7);
    cr_expect_eq(d.n_docs, docs);
    cr_expect(fabs(sum / (double)targets - trainer) < 1e-4, "documents %.6f, trainer %.6f", sum / targets, trainer);
    pq_doc_losses_free(&d);
    if (lm.free) lm.free(lm.impl);
    pq_acts_free(a);
    pq_data_order_free(&order);
    pq_tokens_free(&ts);
    pq_model_free(m);
}
