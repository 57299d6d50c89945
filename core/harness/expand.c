/* expand.c — what each suite runs: one expander per paper artifact.
 *
 * Expanders share four building blocks (pretrain, qat, ptq, eval) so that the
 * same FP checkpoint or QAT run requested by several suites is one run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "harness/suite.h"
#include "model/config.h"
#include "quant/quantizer.h"
#include "train/optim.h"
#include "train/trainer.h"

typedef struct {
    pq_suite *s;
    pq_plan *plan;
    long long seed;
    json_t *tasks;  /* borrowed */
    long long eval_limit; /* items per task (0 = all) */
} expander;

/* ---- building blocks -------------------------------------------------------- */

/* Model configs live next to the suite files: <suites dir>/models/<name>.json. */
static json_t *model_config(expander *x, const char *model) {
    char name[1024];
    const char *slash = strrchr(x->s->path, '/');
    int dir_len = slash ? (int)(slash - x->s->path) : 1;
    snprintf(name, sizeof name, "%.*s/models/%s.json", dir_len, slash ? x->s->path : ".", model);
    json_t *config = pq_json_read(name);
    if (!config) pq_suite_field_error(x->s, "models", pq_error());
    return config;
}

static int pretrain(expander *x, const char *model, long long tokens) {
    json_t *config = model_config(x, model);
    if (!config) return -1;
    json_t *args = json_pack("{s:s, s:o, s:I, s:I}", "model", model, "config", config, "tokens", tokens, "seed", x->seed);
    return pq_plan_add0(x->plan, "pretrain", args);
}

/* The member a quantizer name resolves to at a bit width ("paretoq" at 2 bits: "seq"; names
 * the quantizer module does not know, such as "none", stay as they are). */
static const char *resolved(const char *quantizer, double bits, pq_quantizer *q) {
    char text[16];
    pq_qbits qb;
    snprintf(text, sizeof text, "%g", bits);
    if (pq_qbits_parse(text, &qb) == 0 && pq_quantizer_init(q, quantizer, qb) == 0) return q->name;
    return quantizer;
}

/* The model's pretraining settings (its config file's "train", defaults filled in). */
static int train_config(expander *x, const char *model, pq_train_config *tc) {
    json_t *config = model_config(x, model);
    if (!config) return -1;
    json_t *train = json_object_get(config, "train");
    int rc = train ? pq_train_config_from_json(tc, train, model) : (*tc = pq_train_config_default(), 0);
    json_decref(config);
    return rc ? pq_suite_field_error(x->s, "models", pq_error()) : 0;
}

/* The QAT learning rate of a fine-tune under a rule (pq qat's default_lr): "recipe" is
 * pretraining lr/10 at <= 2 bits and lr/20 at 3-8 bits; "equal" is lr/20 at every width,
 * the control for Fig. 4, whose <= 2-bit runs otherwise have twice the LR. */
static double qat_lr(double pretrain_lr, double bits, const char *rule) {
    int low = bits < 2.5 && strcmp(rule, "equal");
    return pretrain_lr / (low ? 10.0 : 20.0);
}

/* A fine-tune at `bits` under an LR rule; an explicit "lr" only where the rule departs
 * from pq qat's default, so recipe runs keep their ids and "equal" 3-4-bit runs are the
 * recipe runs. quantizer "none" is the full-precision control: its bits only choose the
 * LR, so it is planned at 2 or 4 bits (one run per distinct LR). */
static int qat_rule(expander *x, int from, const char *model, double bits, const char *quantizer, long long tokens,
                    const char *rule) {
    pq_train_config tc;
    if (train_config(x, model, &tc)) return -1;
    double lr = qat_lr(tc.lr, bits, rule);
    double plan_bits = bits;
    if (!strcmp(quantizer, "none")) plan_bits = lr == qat_lr(tc.lr, 2, "recipe") ? 2 : 4;
    pq_quantizer q;
    json_t *args = json_pack("{s:s, s:f, s:s, s:I, s:I}", "model", model, "bits", plan_bits, "quantizer",
                             resolved(quantizer, plan_bits, &q), "tokens", tokens, "seed", x->seed);
    if (lr != qat_lr(tc.lr, plan_bits, "recipe")) json_object_set_new(args, "lr", json_real(lr));
    return pq_plan_add1(x->plan, "qat", args, "from", from);
}

/* from < 0: QAT from random init (the model config goes into the arguments). The
 * quantizer is planned under its resolved name ("paretoq" at 2 bits is "seq"), so the
 * same computation asked for by two suites under two names is one run. */
static int qat(expander *x, int from, const char *model, double bits, const char *quantizer, long long tokens) {
    pq_quantizer q;
    json_t *args = json_pack("{s:s, s:f, s:s, s:I, s:I}", "model", model, "bits", bits, "quantizer",
                             resolved(quantizer, bits, &q), "tokens", tokens, "seed", x->seed);
    if (from >= 0) return pq_plan_add1(x->plan, "qat", args, "from", from);
    json_t *config = model_config(x, model);
    if (!config) {
        json_decref(args);
        return -1;
    }
    json_object_set_new(args, "config", config);
    return pq_plan_add0(x->plan, "qat", args);
}

static int ptq(expander *x, int from, const char *method, double bits) {
    json_t *args = json_pack("{s:s, s:f, s:I}", "method", method, "bits", bits, "seed", x->seed);
    return pq_plan_add1(x->plan, "ptq", args, "from", from);
}

/* The validation tokens the model's trainer scores (its config's train.eval_tokens;
 * the trainer's default otherwise): the model run's, or that of the run it came from. */
static long long val_tokens_of(expander *x, int run) {
    while (!json_is_string(json_object_get(x->plan->runs[run].args, "model")) && x->plan->runs[run].ndeps > 0)
        run = x->plan->runs[run].deps[0];
    const char *model = json_string_value(json_object_get(x->plan->runs[run].args, "model"));
    json_t *config = model ? model_config(x, model) : NULL;
    json_t *v = json_object_get(json_object_get(config, "train"), "eval_tokens");
    long long n = json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 16384;
    json_decref(config);
    return n;
}

/* Scores the tasks, and the validation documents every configuration of the model
 * shares (the units of val_loss intervals). */
static int evaluate(expander *x, int model_run) {
    if (model_run < 0) return -1;
    json_t *args = json_pack("{s:O, s:I}", "tasks", x->tasks, "val_tokens", val_tokens_of(x, model_run));
    if (x->eval_limit > 0) json_object_set_new(args, "limit", json_integer(x->eval_limit));
    return pq_plan_add1(x->plan, "eval", args, "model", model_run);
}

/* A row of one seed; the aggregation merges the seeds of a configuration (its key). */
static void add_row(expander *x, json_t *row, const char *role1, int run1, const char *role2, int run2) {
    json_t *sources = json_object();
    if (role1) json_object_set_new(sources, role1, json_integer(run1));
    if (role2) json_object_set_new(sources, role2, json_integer(run2));
    json_object_set_new(row, "sources", sources);
    json_object_set_new(row, "_seed", json_integer(x->seed));
    json_array_append_new(x->s->rows, row);
}

static int get_models(expander *x, json_t **models) {
    if (pq_suite_array(x->s, "models", models) != 0) return -1;
    size_t i;
    json_t *m;
    json_array_foreach(*models, i, m) if (!json_is_string(m)) return pq_suite_field_error(x->s, "models", "expected model names");
    return 0;
}

static int get_numbers(expander *x, const char *field, json_t **arr) {
    if (pq_suite_array(x->s, field, arr) != 0) return -1;
    size_t i;
    json_t *v;
    json_array_foreach(*arr, i, v) if (!json_is_number(v)) return pq_suite_field_error(x->s, field, "expected numbers");
    return 0;
}

static int positive(expander *x, const char *field, long long *out) {
    if (pq_suite_int(x->s, field, out) != 0) return -1;
    if (*out <= 0) return pq_suite_field_error(x->s, field, "must be positive");
    return 0;
}

/* The standard pipeline most suites share: FP checkpoint, then QAT at `bits`. */
static int standard_qat(expander *x, const char *model, double bits, const char *quantizer) {
    long long pre, qt;
    if (positive(x, "pretrain_tokens", &pre) || positive(x, "qat_tokens", &qt)) return -1;
    int fp = pretrain(x, model, pre);
    if (fp < 0 || bits >= 16) return fp;
    return qat(x, fp, model, bits, quantizer, qt);
}

typedef struct {
    const char *method;
    int run;
} method_run;

/* One row per method: the row's fields plus "method", its model run and that run's eval. */
static int method_rows(expander *x, json_t *fields, const method_run *methods, size_t n) {
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        int e = evaluate(x, methods[k].run);
        if (methods[k].run < 0 || e < 0) {
            rc = -1;
            break;
        }
        json_t *row = json_deep_copy(fields);
        json_object_set_new(row, "method", json_string(methods[k].method));
        add_row(x, row, "model", methods[k].run, "eval", e);
    }
    json_decref(fields);
    return rc;
}

/* A tier's optional switches of the controls: "fp_control": true adds the full-precision
 * continuation of each QAT run (pq qat --quantizer none). */
static int fp_control_on(expander *x, int *on) {
    json_t *v = json_object_get(x->s->tier, "fp_control");
    if (v && !json_is_boolean(v)) return pq_suite_field_error(x->s, "fp_control", "expected true or false");
    *on = json_is_true(v);
    return 0;
}

/* "lr_rules": ["recipe", "equal"] (default ["recipe"]). */
static int lr_rules(expander *x, json_t **rules) {
    *rules = json_object_get(x->s->tier, "lr_rules");
    if (!*rules) return 0;
    size_t i;
    json_t *r;
    if (!json_is_array(*rules) || !json_array_size(*rules)) return pq_suite_field_error(x->s, "lr_rules", "expected [\"recipe\", \"equal\"]");
    json_array_foreach(*rules, i, r) if (!json_is_string(r) || (strcmp(json_string_value(r), "recipe") && strcmp(json_string_value(r), "equal")))
        return pq_suite_field_error(x->s, "lr_rules", "rules are \"recipe\" or \"equal\"");
    return 0;
}

/* ---- the suites ---------------------------------------------------------------- */

/* The budget suite's FP checkpoints with "schedule": "wsd" in the tier: one WSD run of
 * the largest FP budget keeps its state at the decay start of every smaller budget, and
 * each smaller one branches there (pq pretrain --branch-from) and only runs its own
 * decay: bitwise the WSD run of that budget from scratch, for a fraction of the cost
 * (DESIGN.md §7). Without it, one cosine run per budget. */
typedef struct {
    int wsd;
    double decay_fraction;
    long long largest; /* FP tokens of the longest run */
    int parent;        /* its run index, once planned */
} fp_budgets;

static int fp_budgets_init(expander *x, fp_budgets *fb, long long largest) {
    memset(fb, 0, sizeof *fb);
    fb->largest = largest, fb->parent = -1;
    json_t *sched = json_object_get(x->s->tier, "schedule");
    if (!sched) return 0;
    if (!json_is_string(sched) || (strcmp(json_string_value(sched), "wsd") && strcmp(json_string_value(sched), "cosine")))
        return pq_suite_field_error(x->s, "schedule", "expected \"wsd\" or \"cosine\"");
    fb->wsd = !strcmp(json_string_value(sched), "wsd");
    json_t *d = json_object_get(x->s->tier, "decay_fraction");
    fb->decay_fraction = d ? json_number_value(d) : 0.2;
    if (d && (!json_is_number(d) || !(fb->decay_fraction > 0 && fb->decay_fraction <= 1)))
        return pq_suite_field_error(x->s, "decay_fraction", "expected a number in (0, 1]");
    return 0;
}

/* A WSD pretraining run's arguments (the model config with the schedule set). */
static json_t *wsd_args(expander *x, const char *model, long long tokens, double decay_fraction, pq_train_config *tc) {
    json_t *config = model_config(x, model);
    if (!config) return NULL;
    json_t *train = json_object_get(config, "train");
    if (!json_is_object(train)) json_object_set_new(config, "train", train = json_object());
    json_object_set_new(train, "schedule", json_string("wsd"));
    json_object_set_new(train, "decay_fraction", json_real(decay_fraction));
    json_object_set_new(train, "tokens", json_integer(tokens));
    pq_model_config mc;
    if (pq_model_config_from_json(&mc, json_object_get(config, "model"), model) ||
        pq_train_config_from_json(tc, train, model)) {
        json_decref(config);
        pq_suite_field_error(x->s, "models", pq_error());
        return NULL;
    }
    return json_pack("{s:s, s:o, s:I, s:I}", "model", model, "config", config, "tokens", tokens, "seed", x->seed);
}

/* The branch point of a WSD run of `tokens`: its decay start (0: no branch, train it whole). */
static long long branch_step(const pq_train_config *tc, int ctx, long long tokens, double decay_fraction) {
    pq_train_config t = *tc;
    t.tokens = tokens;
    return pq_wsd_decay_start(pq_train_steps(&t, ctx), decay_fraction);
}

static int budget_fp_run(expander *x, fp_budgets *fb, const char *model, long long tokens, json_t *fractions, long long total) {
    if (!fb->wsd) return pretrain(x, model, tokens);
    pq_train_config tc;
    json_t *args = wsd_args(x, model, fb->largest, fb->decay_fraction, &tc);
    if (!args) return -1;
    int ctx = (int)json_integer_value(json_object_get(json_object_get(json_object_get(args, "config"), "model"), "ctx"));
    long long largest_steps = pq_train_steps(&tc, ctx);
    /* the longest run keeps the state at every other budget's branch point */
    json_t *keep = json_array();
    size_t k;
    json_t *f;
    json_array_foreach(fractions, k, f) {
        long long s = branch_step(&tc, ctx, llround(json_number_value(f) * (double)total), fb->decay_fraction);
        if (s > 0 && s < largest_steps && llround(json_number_value(f) * (double)total) < fb->largest) {
            int seen = 0;
            for (size_t i = 0; i < json_array_size(keep); i++) seen |= json_integer_value(json_array_get(keep, i)) == s;
            if (!seen) json_array_append_new(keep, json_integer(s));
        }
    }
    if (json_array_size(keep)) json_object_set_new(args, "keep_steps", keep);
    else json_decref(keep);
    int parent = pq_plan_add0(x->plan, "pretrain", args);
    if (tokens == fb->largest || parent < 0) return parent;
    long long s = branch_step(&tc, ctx, tokens, fb->decay_fraction);
    json_t *own = wsd_args(x, model, tokens, fb->decay_fraction, &tc);
    if (!own) return -1;
    if (s <= 0) return pq_plan_add0(x->plan, "pretrain", own);
    json_object_set_new(own, "branch_step", json_integer(s));
    return pq_plan_add1(x->plan, "pretrain", own, "branch", parent);
}

static int expand_budget(expander *x) {
    json_t *models, *bits, *fractions;
    long long total;
    int control;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits) || get_numbers(x, "fp_fractions", &fractions) ||
        positive(x, "total_tokens", &total) || fp_control_on(x, &control))
        return -1;
    size_t i, j, k;
    json_t *m, *b, *f;
    long long largest = control ? total : 0;
    json_array_foreach(fractions, k, f) {
        double frac = json_number_value(f);
        if (frac < 0 || frac > 1) return pq_suite_field_error(x->s, "fp_fractions", "fractions must lie in [0, 1]");
        largest = PQ_MAX(largest, llround(frac * (double)total));
    }
    fp_budgets fb;
    if (fp_budgets_init(x, &fb, largest)) return -1;
    json_array_foreach(models, i, m) {
        const char *model = json_string_value(m);
        if (control) { /* full precision for the whole budget: what every split is measured against */
            int p = budget_fp_run(x, &fb, model, total, fractions, total);
            int e = evaluate(x, p);
            if (p < 0 || e < 0) return -1;
            add_row(x,
                    json_pack("{s:s, s:i, s:f, s:I, s:I, s:I}", "model", model, "bits", 16, "fp_fraction", 1.0, "fp_tokens", total,
                              "qat_tokens", (json_int_t)0, "total_tokens", total),
                    "model", p, "eval", e);
        }
    }
    json_array_foreach(models, i, m) json_array_foreach(bits, j, b) json_array_foreach(fractions, k, f) {
        double frac = json_number_value(f);
        const char *model = json_string_value(m);
        long long fp_tokens = llround(frac * (double)total), qat_tokens = total - fp_tokens;
        int q;
        if (fp_tokens == 0) {
            q = qat(x, -1, model, json_number_value(b), "paretoq", total);
        } else {
            int p = budget_fp_run(x, &fb, model, fp_tokens, fractions, total);
            if (p < 0) return -1;
            q = qat(x, p, model, json_number_value(b), "paretoq", qat_tokens);
        }
        int e = evaluate(x, q);
        if (q < 0 || e < 0) return -1;
        add_row(x,
                json_pack("{s:s, s:O, s:f, s:I, s:I, s:I}", "model", model, "bits", b, "fp_fraction", frac, "fp_tokens",
                          fp_tokens, "qat_tokens", qat_tokens, "total_tokens", total),
                "qat", q, "eval", e);
    }
    return 0;
}

static int expand_tokens(expander *x) {
    json_t *models, *bits, *sweep;
    long long pre;
    int control;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits) || get_numbers(x, "qat_token_sweep", &sweep) ||
        positive(x, "pretrain_tokens", &pre) || fp_control_on(x, &control))
        return -1;
    size_t i, j, k;
    json_t *m, *b, *t;
    json_array_foreach(models, i, m) {
        const char *model = json_string_value(m);
        int p = pretrain(x, model, pre);
        if (p < 0) return -1;
        json_array_foreach(bits, j, b) json_array_foreach(sweep, k, t) {
            long long tokens = (long long)json_number_value(t);
            /* init 2: the full-precision control, the same fine-tune without quantization */
            for (int scratch = 0; scratch < 2 + control; scratch++) {
                if (scratch && tokens == 0) continue; /* random init with no training measures nothing */
                int q = scratch == 2 ? qat_rule(x, p, model, json_number_value(b), "none", tokens, "recipe")
                                     : qat(x, scratch ? -1 : p, model, json_number_value(b), "paretoq", tokens);
                int e = evaluate(x, q);
                if (q < 0 || e < 0) return -1;
                add_row(x,
                        json_pack("{s:s, s:O, s:s, s:I}", "model", model, "bits", b, "init",
                                  scratch == 2 ? "fp_control" : scratch ? "scratch" : "finetune", "qat_tokens", tokens),
                        "qat", q, "eval", e);
            }
        }
    }
    return 0;
}

/* Rows per (model, bits, lr_rule, method): method "qat" (ParetoQ at that LR rule) or
 * "fp_control" (the same fine-tune in full precision: the weight change QAT's is
 * measured against). */
static int expand_transition(expander *x) {
    json_t *models, *bits, *rules;
    long long pre, qt;
    int control;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits) || lr_rules(x, &rules) || fp_control_on(x, &control) ||
        positive(x, "pretrain_tokens", &pre) || positive(x, "qat_tokens", &qt))
        return -1;
    size_t i, j, k;
    json_t *m, *b;
    int n_rules = rules ? (int)json_array_size(rules) : 1;
    json_array_foreach(models, i, m) json_array_foreach(bits, j, b) for (k = 0; k < (size_t)n_rules; k++) {
        const char *model = json_string_value(m), *rule = rules ? json_string_value(json_array_get(rules, k)) : "recipe";
        int p = pretrain(x, model, pre);
        if (p < 0) return -1;
        for (int c = 0; c <= control; c++) {
            int q = qat_rule(x, p, model, json_number_value(b), c ? "none" : "paretoq", qt, rule);
            if (q < 0) return -1;
            add_row(x, json_pack("{s:s, s:O, s:s, s:s}", "model", model, "bits", b, "lr_rule", rule, "method", c ? "fp_control" : "qat"),
                    "qat", q, NULL, 0);
        }
    }
    return 0;
}

static int expand_quantfn(expander *x) {
    json_t *models, *quantizers;
    if (get_models(x, &models)) return -1;
    quantizers = json_object_get(x->s->tier, "quantizers");
    if (!json_is_object(quantizers) || !json_object_size(quantizers))
        return pq_suite_field_error(x->s, "quantizers", "expected {\"<bits>\": [quantizer names]}");
    size_t i, k;
    json_t *m, *names, *name;
    const char *bits_text;
    json_array_foreach(models, i, m) json_object_foreach(quantizers, bits_text, names) {
        char *end;
        double bits = strtod(bits_text, &end);
        if (*end || bits <= 0 || !json_is_array(names))
            return pq_suite_field_error(x->s, "quantizers", "keys are bit widths, values arrays of quantizer names");
        json_array_foreach(names, k, name) {
            if (!json_is_string(name)) return pq_suite_field_error(x->s, "quantizers", "expected quantizer names");
            int q = standard_qat(x, json_string_value(m), bits, json_string_value(name));
            int e = evaluate(x, q);
            if (q < 0 || e < 0) return -1;
            add_row(x,
                    json_pack("{s:s, s:f, s:s}", "model", json_string_value(m), "bits", bits, "quantizer",
                              json_string_value(name)),
                    "qat", q, "eval", e);
        }
    }
    return 0;
}

static int expand_pareto(expander *x) {
    json_t *models, *bits;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits)) return -1;
    size_t i, j;
    json_t *m, *b;
    json_array_foreach(models, i, m) json_array_foreach(bits, j, b) {
        int q = standard_qat(x, json_string_value(m), json_number_value(b), "paretoq");
        int e = evaluate(x, q);
        if (q < 0 || e < 0) return -1;
        add_row(x,
                json_pack("{s:s, s:O, s:s}", "model", json_string_value(m), "bits", b, "quantizer",
                          json_number_value(b) >= 16 ? "none" : "paretoq"),
                "model", q, "eval", e);
    }
    return 0;
}

static int expand_speed(expander *x) {
    json_t *models, *bits;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits)) return -1;
    size_t i, j;
    json_t *m, *b;
    json_array_foreach(models, i, m) json_array_foreach(bits, j, b) {
        int q = standard_qat(x, json_string_value(m), json_number_value(b), "paretoq");
        int e = evaluate(x, q);
        if (q < 0 || e < 0) return -1;
        int d = pq_plan_add1(x->plan, "decode", json_pack("{s:O}", "bits", b), "model", q);
        json_t *row = json_pack("{s:s, s:O}", "model", json_string_value(m), "bits", b);
        add_row(x, row, "eval", e, "decode", d);
    }
    return 0;
}

static int expand_ternary(expander *x) {
    json_t *models;
    long long pre, qt;
    if (get_models(x, &models) || positive(x, "pretrain_tokens", &pre) || positive(x, "qat_tokens", &qt)) return -1;
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *model = json_string_value(m);
        int p = pretrain(x, model, pre);
        if (p < 0) return -1;
        method_run methods[] = {
            {"paretoq", qat(x, p, model, 1.58, "paretoq", qt)},
            {"rtn", ptq(x, p, "rtn", 1.58)},
            {"minmax_qat", qat(x, p, model, 1.58, "minmax", qt)},
            /* BitNet b1.58-like: absmean ternary trained from scratch on the same total budget. */
            {"absmean_scratch", qat(x, -1, model, 1.58, "absmean", pre + qt)},
        };
        if (method_rows(x, json_pack("{s:s, s:f}", "model", model, "bits", 1.58), methods, PQ_COUNT(methods)))
            return -1;
    }
    return 0;
}

static int expand_baselines(expander *x) {
    json_t *models, *bits;
    long long pre, qt;
    if (get_models(x, &models) || get_numbers(x, "bits", &bits) || positive(x, "pretrain_tokens", &pre) ||
        positive(x, "qat_tokens", &qt))
        return -1;
    size_t i, j;
    json_t *m, *b;
    json_array_foreach(models, i, m) json_array_foreach(bits, j, b) {
        const char *model = json_string_value(m);
        double nbits = json_number_value(b);
        int p = pretrain(x, model, pre);
        if (p < 0) return -1;
        method_run methods[] = {
            {"paretoq", qat(x, p, model, nbits, "paretoq", qt)},
            {"rtn", ptq(x, p, "rtn", nbits)},
            {"gptq", ptq(x, p, "gptq", nbits)},
            {"minmax_qat", qat(x, p, model, nbits, "minmax", qt)},
        };
        if (method_rows(x, json_pack("{s:s, s:f}", "model", model, "bits", nbits), methods, PQ_COUNT(methods)))
            return -1;
    }
    return 0;
}

static int expand_kernels(expander *x) {
    json_t *quick = json_object_get(x->s->tier, "quick");
    if (quick && !json_is_boolean(quick)) return pq_suite_field_error(x->s, "quick", "expected true or false");
    int k = pq_plan_add0(x->plan, "bench_kernels", json_pack("{s:b}", "quick", json_is_true(quick)));
    add_row(x, json_object(), "bench", k, NULL, 0);
    return 0;
}

static int expand_grids(expander *x) {
    /* No runs: the aggregator evaluates each quantizer's transfer function directly. */
    json_t *quantizers, *spec;
    if (pq_suite_array(x->s, "quantizers", &quantizers) != 0) return -1;
    size_t i;
    json_array_foreach(quantizers, i, spec) {
        const char *name = json_string_value(json_object_get(spec, "name"));
        const char *bits_text = json_string_value(json_object_get(spec, "bits"));
        pq_qbits bits;
        pq_quantizer q;
        if (!name || !bits_text)
            return pq_suite_field_error(x->s, "quantizers", "expected [{\"name\": ..., \"bits\": \"1.58\"}, ...]");
        if (pq_qbits_parse(bits_text, &bits) != 0 || pq_quantizer_init(&q, name, bits) != 0)
            return pq_suite_field_error(x->s, "quantizers", pq_error());
    }
    return 0;
}

/* A tier's seeds: "seeds": [1, 2, 3] (distinct positive integers) or "seed": 1. */
static int tier_seeds(pq_suite *s, long long **seeds, int *n) {
    json_t *list = json_object_get(s->tier, "seeds");
    if (!list) {
        *seeds = pq_malloc(sizeof **seeds), *n = 1;
        return pq_suite_int(s, "seed", *seeds);
    }
    if (json_object_get(s->tier, "seed")) return pq_suite_field_error(s, "seeds", "give \"seeds\" or \"seed\", not both");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return pq_suite_field_error(s, "seeds", "expected a non-empty array of seeds");
    *n = (int)json_array_size(list);
    *seeds = pq_malloc(sizeof **seeds * (size_t)*n);
    for (int i = 0; i < *n; i++) {
        json_t *v = json_array_get(list, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return pq_suite_field_error(s, "seeds", "seeds are non-negative integers");
        (*seeds)[i] = json_integer_value(v);
        for (int j = 0; j < i; j++)
            if ((*seeds)[j] == (*seeds)[i]) return pq_suite_field_error(s, "seeds", "a seed is listed twice");
    }
    return 0;
}

int pq_suite_expand(pq_suite *s, pq_plan *plan) {
    expander x = {s, plan, 1, NULL, 0};
    long long *seeds = NULL;
    int n_seeds = 1;
    if (strcmp(s->name, "grids") && strcmp(s->name, "kernels")) {
        int rc = tier_seeds(s, &seeds, &n_seeds);
        if (rc == 0) rc = pq_suite_array(s, "tasks", &x.tasks);
        if (rc == 0 && json_object_get(s->tier, "eval_limit")) rc = pq_suite_int(s, "eval_limit", &x.eval_limit);
        if (rc != 0) {
            free(seeds);
            return -1;
        }
    }
    static const struct { const char *name; int (*fn)(expander *); } table[] = {
        {"grids", expand_grids},     {"budget", expand_budget},   {"tokens", expand_tokens},
        {"transition", expand_transition}, {"quantfn", expand_quantfn}, {"pareto", expand_pareto},
        {"speed", expand_speed},     {"ternary", expand_ternary}, {"baselines", expand_baselines},
        {"kernels", expand_kernels},
    };
    int rc = pq_fail("suite '%s' has no expander", s->name);
    for (size_t i = 0; i < PQ_COUNT(table); i++)
        if (!strcmp(table[i].name, s->name)) {
            /* Every configuration once per seed: pretraining and QAT both take the seed
             * (initialisation and data order). */
            rc = 0;
            for (int k = 0; k < n_seeds && rc == 0; k++) {
                if (seeds) x.seed = seeds[k];
                rc = table[i].fn(&x);
            }
        }
    free(seeds);
    return rc;
}
