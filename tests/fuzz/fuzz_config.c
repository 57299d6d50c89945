/* fuzz_config.c — model/training config files (pq_config_load, model/config.c).
 *
 * Input: the JSON text of a config file. A config that loads must pass its own
 * checks, have parameter counts and FLOPs computable without overflow, and
 * print and parse back to the same values. */
#include "model/config.h"
#include "fuzz.h"

/* obj printed as text and parsed back (what a run directory's config.json goes through). */
static json_t *reprinted(json_t *obj) {
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    json_t *back = json_loads(text, 0, NULL);
    free(text);
    FUZZ_CHECK(back);
    return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pq_model_config m;
    pq_train_config t;
    json_t *raw = NULL;
    if (pq_config_load(fuzz_file("config.json", data, n), &m, &t, &raw) != 0) {
        FUZZ_CHECK(pq_error()[0] && !raw);
        return 0;
    }
    FUZZ_CHECK(json_is_object(raw));
    json_decref(raw);
    FUZZ_CHECK(pq_model_config_check(&m) == 0 && pq_train_config_check(&t) == 0);
    pq_param_counts pc = pq_model_param_counts(&m);
    FUZZ_CHECK(pc.embedding > 0 && pc.block_linear > 0 && pc.total == pc.embedding + pc.non_embedding + pc.head);
    FUZZ_CHECK(pq_model_train_flops_per_token(&m, m.ctx) > 0);

    pq_model_config m2;
    pq_train_config t2;
    json_t *mo = reprinted(pq_model_config_to_json(&m)), *to = reprinted(pq_train_config_to_json(&t));
    FUZZ_CHECK(pq_model_config_from_json(&m2, mo, "model") == 0 && pq_train_config_from_json(&t2, to, "train") == 0);
    FUZZ_CHECK(!memcmp(&m, &m2, sizeof m));
    FUZZ_CHECK(t.batch == t2.batch && t.grad_accum == t2.grad_accum && t.lr == t2.lr && t.min_lr_ratio == t2.min_lr_ratio);
    FUZZ_CHECK(t.warmup == t2.warmup && t.seed == t2.seed && t.tokens == t2.tokens && t.eps == t2.eps);
    FUZZ_CHECK(t.eval_interval == t2.eval_interval && t.eval_tokens == t2.eval_tokens && t.ckpt_interval == t2.ckpt_interval);
    json_decref(mo);
    json_decref(to);
    return 0;
}
