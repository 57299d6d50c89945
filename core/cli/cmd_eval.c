/* pq eval — zero-shot multiple-choice accuracy and perplexity of a checkpoint,
 * scored as lm-evaluation-harness scores them (core/eval/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "cli/cli.h"
#include "cli/mem_plan.h"
#include "cli/train_flags.h"
#include "data/bpe.h"
#include "data/databuild.h"
#include "eval/bpe_tok.h"
#include "eval/eval.h"
#include "eval/gpu_lm.h"
#include "eval/model_lm.h"
#include "eval/tokenizer.h"
#include "eval/units.h"
#include "model/config.h"
#include "train/data.h"

static void usage(void) {
    printf("usage: pq eval --model CKPT --tasks LIST --out FILE [options]\n"
           "\n"
           "Scores a full-precision or quantized checkpoint on zero-shot tasks with\n"
           "lm-evaluation-harness semantics and writes a results JSON (atomically).\n"
           "\n"
           "  --model CKPT      model checkpoint (pq pretrain / qat / ptq output)\n"
           "  --tasks LIST      comma-separated: built-in task names, 'all' (every built-in\n"
           "                    task), or paths of JSONL task files (data/tasks.h format:\n"
           "                    multiple choice, WinoGrande form, or perplexity documents)\n"
           "  --out FILE        results JSON\n"
           "  --data-dir DIR    built data (default $PQ_WORK/data): tasks in DIR/tasks,\n"
           "                    tokenizer DIR/tokenizer.bpe\n"
           "  --tokenizer FILE  pq's BPE (.bpe), a Hugging Face tokenizer.json (BPE) or\n"
           "                    a SentencePiece tokenizer.model (default: the one pq import hf\n"
           "                    recorded for an imported model, else DIR/tokenizer.bpe)\n"
           "  --bos ID          the id that starts every scored sequence (default: pq's BOS;\n"
           "                    for a model's own tokenizer, config.json's bos_token_id beside\n"
           "                    it, else the tokenizer's own)\n"
           "  --limit N         score only the first N items / documents of each task\n"
           "  --samples FILE    per-item log-likelihoods and predictions as JSONL\n"
           "  --units FILE      per-unit arrays for confidence intervals (JSON): per task\n"
           "                    0/1 correctness of each item (acc, acc_norm) or each\n"
           "                    document's NLL and bytes; with --val-tokens, each\n"
           "                    validation document's NLL and token count\n"
           "  --val-tokens N    also score the first N tokens of DIR/shards val.bin (shards-<V>\n"
           "                    for a model of vocab V other than 8192) in\n"
           "                    the trainer's validation windows (context length); the\n"
           "                    validation loss goes to the results (needs --units)\n"
           "  --device D        cpu (default; or PQ_DEVICE) or cuda: score on an NVIDIA GPU\n"
           "                    (make CUDA=1; 16 sequences per forward, fp32; same numbers up to\n"
           "                    float rounding)\n"
           "\n"
           "Per multiple-choice task: acc, acc_norm, their standard errors and the item\n"
           "count. Per perplexity set: token perplexity, word perplexity, byte perplexity\n"
           "and bits per byte (rolling windows of the model's context length). A table\n"
           "of these goes to stdout.\n");
}

/* Splits "a,b,,c" into its non-empty pieces (pointers into a copy: free out[0]'s block via *buf). */
static int split_list(const char *list, char **buf, const char ***out) {
    *buf = pq_strdup(list);
    int n = 0, cap = 8;
    const char **v = pq_malloc(sizeof *v * (size_t)cap);
    for (char *save = NULL, *tok = strtok_r(*buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok) continue;
        if (n == cap) v = pq_realloc(v, sizeof *v * (size_t)(cap *= 2));
        v[n++] = tok;
    }
    *out = v;
    return n;
}

static json_t *model_info(const char *path, const pq_model *m, json_t *meta) {
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "config", pq_model_config_to_json(&m->cfg));
    pq_param_counts pc = pq_model_param_counts(&m->cfg);
    json_object_set_new(o, "params_embedding", json_integer(pc.embedding));
    json_object_set_new(o, "params_non_embedding", json_integer(pc.non_embedding));
    json_t *q = json_object_get(meta, "quant");
    if (q) json_object_set(o, "quant", q);
    else
        json_object_set_new(o, "quant", json_null());
    return o;
}

/* A metric as the table shows it: "-" when it was not measured (null); fmt NULL
 * for a perplexity, which an untrained model can put anywhere up to 1e12. */
static const char *metric(const json_t *o, const char *key, const char *fmt, char *buf, size_t n) {
    const json_t *v = json_object_get(o, key);
    double x = json_number_value(v);
    if (!json_is_number(v)) snprintf(buf, n, "-");
    else if (fmt) snprintf(buf, n, fmt, x);
    else
        snprintf(buf, n, x < 1e5 ? "%.3f" : "%.3e", x);
    return buf;
}

static int is_ppl(const json_t *task) {
    const char *kind = json_string_value(json_object_get(task, "kind"));
    return kind && !strcmp(kind, "ppl");
}

/* The results for a person: one row per task (the JSON file has everything). */
static void print_table(FILE *f, const json_t *tasks, const json_t *pooled) {
    const char *name;
    json_t *t;
    char a[32], b[32], c[32], d[32];
    int header = 0;
    json_object_foreach((json_t *)tasks, name, t) {
        if (is_ppl(t)) continue;
        if (!header++)
            fprintf(f, "%-24s %7s %8s %8s %8s %8s\n", "task", "items", "acc", "stderr", "acc_norm", "stderr");
        fprintf(f, "%-24s %7lld %8s %8s %8s %8s\n", name, (long long)json_integer_value(json_object_get(t, "items")),
                metric(t, "acc", "%.4f", a, sizeof a), metric(t, "acc_stderr", "%.4f", b, sizeof b),
                metric(t, "acc_norm", "%.4f", c, sizeof c), metric(t, "acc_norm_stderr", "%.4f", d, sizeof d));
    }
    header = 0;
    int n_ppl = 0;
    json_object_foreach((json_t *)tasks, name, t) {
        if (!is_ppl(t)) continue;
        if (!header++)
            fprintf(f, "%-24s %7s %10s %10s %10s %9s\n", "perplexity set", "docs", "tokens", "token ppl", "word ppl",
                    "bits/byte");
        fprintf(f, "%-24s %7lld %10lld %10s %10s %9s\n", name, (long long)json_integer_value(json_object_get(t, "documents")),
                (long long)json_integer_value(json_object_get(t, "tokens")), metric(t, "token_perplexity", NULL, a, sizeof a),
                metric(t, "word_perplexity", NULL, b, sizeof b), metric(t, "bits_per_byte", "%.4f", c, sizeof c));
        n_ppl++;
    }
    if (pooled && n_ppl > 1)
        fprintf(f, "%-24s %7s %10lld %10s %10s %9s\n", "(all sets pooled)", "",
                (long long)json_integer_value(json_object_get(pooled, "tokens")),
                metric(pooled, "token_perplexity", NULL, a, sizeof a), metric(pooled, "word_perplexity", NULL, b, sizeof b),
                metric(pooled, "bits_per_byte", "%.4f", c, sizeof c));
}

/* Per-document losses over the trainer's validation windows of the model's vocab's
 * val.bin (DIR/shards, or DIR/shards-<V> for a vocab other than 8192). */
static json_t *val_documents(const pq_lm *lm, const char *data_dir, int vocab, int T, long long val_tokens, int32_t bos,
                             json_t *manifest) {
    pq_token_stream ts = {0};
    pq_data_paths paths;
    pq_data_paths_init(&paths, data_dir, vocab);
    int rc = pq_tokens_load_shards(&ts, paths.shards_dir, "val");
    pq_data_paths_free(&paths);
    if (rc != 0) return NULL;
    pq_tokens_add_inputs(manifest, &ts);
    pq_doc_losses d;
    if (pq_eval_doc_losses(lm, ts.tokens, ts.n, T, val_tokens, bos, &d) != 0) {
        pq_tokens_free(&ts);
        return NULL;
    }
    json_t *nll = json_array(), *targets = json_array();
    double sum = 0;
    for (int64_t i = 0; i < d.n_docs; i++) {
        json_array_append_new(nll, json_real(d.nll[i]));
        json_array_append_new(targets, json_integer(d.targets[i]));
        sum += d.nll[i];
    }
    json_t *o = json_pack("{s:s, s:I, s:i, s:I, s:I, s:I, s:f, s:o, s:o}", "split", "val", "val_tokens",
                          (json_int_t)val_tokens, "seq_len", T, "windows", (json_int_t)d.windows, "tokens",
                          (json_int_t)d.tokens, "documents", (json_int_t)d.n_docs, "loss", sum / (double)d.tokens,
                          "nll", nll, "targets", targets);
    pq_doc_losses_free(&d);
    pq_tokens_free(&ts);
    return o;
}

int cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *model_path = NULL, *tasks = NULL, *out = NULL, *data_dir = NULL, *tok_path = NULL, *samples = NULL;
    const char *units_path = NULL, *device_text = NULL;
    long long limit = 0, val_tokens = 0, bos = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() (next ? (i++, next) : (pq_usage_error(cmd, "%s needs a value", a), ""))
        if (!strcmp(a, "--model")) model_path = VALUE();
        else if (!strcmp(a, "--tasks")) tasks = VALUE();
        else if (!strcmp(a, "--out")) out = VALUE();
        else if (!strcmp(a, "--data-dir")) data_dir = VALUE();
        else if (!strcmp(a, "--tokenizer")) tok_path = VALUE();
        else if (!strcmp(a, "--bos")) bos = pq_parse_int_in(cmd, a, VALUE(), PQ_NONNEG, (1 << 24) - 1);
        else if (!strcmp(a, "--samples")) samples = VALUE();
        else if (!strcmp(a, "--units")) units_path = VALUE();
        else if (!strcmp(a, "--device")) device_text = VALUE();
        else if (!strcmp(a, "--val-tokens")) {
            val_tokens = pq_parse_int_in(cmd, a, VALUE(), PQ_POSITIVE, 0);
        }
        else if (!strcmp(a, "--limit")) {
            limit = pq_parse_int_in(cmd, a, VALUE(), PQ_POSITIVE, 0);
        } else
            pq_usage_error(cmd, "unknown option '%s'", a);
#undef VALUE
    }
    if (!model_path) pq_usage_error(cmd, "--model is required");
    if (!tasks) pq_usage_error(cmd, "--tasks is required");
    if (!out) pq_usage_error(cmd, "--out is required");
    if (val_tokens && !units_path) pq_usage_error(cmd, "--val-tokens needs --units FILE");
    if (pq_mem_guard_ckpt("eval", model_path, 0, 1)) return 1;
    pq_device device;
    int device_status = pq_device_flag("eval", device_text, &device);
    if (device_status) return device_status;

    char work_data[1024];
    if (!data_dir) {
        const char *work = getenv("PQ_WORK") ? getenv("PQ_WORK") : "work";
        snprintf(work_data, sizeof work_data, "%s/data", work);
        data_dir = work_data;
    }
    char *tasks_dir = pq_path_join(data_dir, "tasks");
    char *default_tok = pq_path_join(data_dir, "tokenizer.bpe");
    int tok_given = tok_path != NULL;
    if (!tok_path) tok_path = default_tok;

    /* Task names first: a typo should not wait for a model to load. */
    char *list_buf;
    const char **specs;
    int n_specs = split_list(tasks, &list_buf, &specs);
    if (n_specs == 0) pq_usage_error(cmd, "--tasks is empty");
    char **names, **paths;
    int n_tasks;
    if (pq_eval_resolve_tasks(specs, n_specs, tasks_dir, &names, &paths, &n_tasks) != 0)
        pq_usage_error(cmd, "%s", pq_error());

    json_t *config = json_object();
    json_object_set_new(config, "model", json_string(model_path));
    json_object_set_new(config, "tasks", json_string(tasks));
    json_object_set_new(config, "tokenizer", json_string(tok_path));
    json_object_set_new(config, "limit", limit ? json_integer(limit) : json_null());
    if (val_tokens) json_object_set_new(config, "val_tokens", json_integer(val_tokens));
    if (device == PQ_DEVICE_CUDA) json_object_set_new(config, "device", json_string("cuda"));
    json_t *manifest = pq_manifest_new("eval", config);
    json_decref(config);

    int rc = 1;
    json_t *meta = NULL, *results = NULL, *task_results = NULL, *units = NULL, *val = NULL;
    pq_model *model = NULL;
    pq_eval_tokenizer tok = {0};
    pq_tokenizer_info tinfo;
    pq_lm lm = {0};
    if (!(model = pq_eval_load_model(model_path, &meta))) goto done;
    if (!tok_given && pq_imported_tokenizer(meta, &tok_path, &bos)) /* the model's own, recorded by pq import hf */
        json_object_set_new(json_object_get(manifest, "config"), "tokenizer", json_string(tok_path));
    if (pq_eval_tokenizer_open(tok_path, (int32_t)bos, &tok, &tinfo)) goto done;
    if (strcmp(tinfo.kind, "pq-bpe") && tok.vocab_size < model->cfg.vocab)
        tok.vocab_size = model->cfg.vocab; /* an embedding padded past the tokenizer's ids (Qwen-style) */
    if (tok.bos < 0) {
        pq_fail("%s: no BOS id (no bos_token_id in a config.json beside it, none in the tokenizer); give --bos ID", tok_path);
        goto done;
    }
    if (device == PQ_DEVICE_CUDA) {
        if (pq_manifest_add_gpu(manifest, PQ_GPU_FP32) || pq_gpu_lm_init(&lm, model, 16, PQ_GPU_FP32)) goto done;
    } else {
        pq_model_lm_init(&lm, model);
    }
    if (pq_lm_check_tokenizer(&lm, &tok, model_path, tok_path) != 0) goto done;
    if (pq_check_ckpt_tokenizer(model_path, pq_ckpt_tokenizer_hash(meta), tok_path, tinfo.hash) != 0) goto done;
    if (pq_manifest_add_input(manifest, "model", model_path) != 0) goto done;
    if (pq_manifest_add_input(manifest, "tokenizer", tok_path) != 0) goto done;

    if (units_path) units = json_object();
    pq_eval_options opt = {.limit = limit, .samples = samples, .units = units};
    if (!(task_results = pq_eval_run(&lm, &tok, names, paths, n_tasks, &opt, manifest))) goto done;
    if (val_tokens && !(val = val_documents(&lm, data_dir, model->cfg.vocab, model->cfg.ctx, val_tokens, tok.bos, manifest))) goto done;

    results = json_object();
    json_object_set_new(results, "kind", json_string("eval"));
    json_object_set_new(results, "model", model_info(model_path, model, meta));
    json_t *ti = json_object();
    json_object_set_new(ti, "path", json_string(tok_path));
    json_object_set_new(ti, "kind", json_string(tinfo.kind));
    json_object_set_new(ti, "hash", json_string(tinfo.hash));
    json_object_set_new(ti, "vocab", json_integer(tok.vocab_size));
    json_object_set_new(ti, "bos", json_integer(tok.bos));
    json_object_set_new(ti, "bos_from", json_string(tinfo.bos_from));
    json_object_set_new(results, "tokenizer", ti);
    json_object_set_new(results, "conventions", pq_eval_conventions());
    json_t *pooled = pq_eval_pool_perplexity(task_results);
    json_object_set_new(results, "tasks", task_results);
    task_results = NULL;
    if (pooled) json_object_set_new(results, "perplexity", pooled);
    if (val) {
        json_object_set_new(results, "validation", json_pack("{s:O, s:O, s:O, s:O, s:O}", "loss", json_object_get(val, "loss"),
                                                             "tokens", json_object_get(val, "tokens"), "documents",
                                                             json_object_get(val, "documents"), "seq_len",
                                                             json_object_get(val, "seq_len"), "val_tokens",
                                                             json_object_get(val, "val_tokens")));
    }
    if (units_path) {
        json_t *file = json_pack("{s:s, s:O, s:O}", "kind", "eval_units", "tasks", units, "val", val ? val : json_null());
        rc = pq_json_write(file, units_path);
        json_decref(file);
        if (rc != 0) {
            rc = 1;
            goto done;
        }
    }
    pq_manifest_finish(manifest);
    json_object_set(results, "manifest", manifest);
    if (pq_json_write(results, out) != 0) goto done;
    print_table(stdout, json_object_get(results, "tasks"), json_object_get(results, "perplexity"));
    rc = 0;

done:
    if (rc != 0) fprintf(stderr, "pq eval: %s\n", pq_error());
    if (lm.free) lm.free(lm.impl);
    if (tok.free) tok.free(tok.impl);
    pq_model_free(model);
    json_decref(meta);
    json_decref(results);
    json_decref(task_results);
    json_decref(units);
    json_decref(val);
    json_decref(manifest);
    pq_eval_free_specs(names, paths, n_tasks);
    free(specs);
    free(list_buf);
    free(tasks_dir);
    free(default_tok);
    return rc;
}
