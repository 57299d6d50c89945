/* Data identity in checkpoints: pq pretrain, qat and ptq record the tokenizer
 * their tokens came from, qat and ptq carry it forward and refuse --data of
 * another tokenizer, pq eval refuses a tokenizer other than the recorded one,
 * and checkpoints that record none still load (vocabulary size check only).
 * Two tokenizers of the same vocabulary size but different merges, and two
 * shard sets holding the same tokens under their two hashes, make the mismatch
 * invisible to every check but the recorded hash. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckpt.h"
#include "base/fsio.h"
#include "base/util.h"
#include "cli/cli.h"
#include "data/bpe.h"
#include "data/shards.h"
#include "eval/model_lm.h"
#include "train/data.h"

static char dir[256], shards_a[320], shards_b[320], tok_a[320], tok_b[320], fp_ckpt[320], data_dir[320];
static char hash_a[PQ_SHA256_HEX], hash_b[PQ_SHA256_HEX];
static int vocab;

static char *path_in(const char *name) {
    static char bufs[8][400];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
    return p;
}

/* The tokenizer with these merges, saved to path; its hash into hash. */
static void save_bpe(const int32_t (*merges)[2], int n, const char *path, char hash[PQ_SHA256_HEX]) {
    pq_bpe *b = pq_bpe_from_merges(merges, n);
    cr_assert(b, "%s", pq_error());
    cr_assert_eq(pq_bpe_save(b, path), 0, "%s", pq_error());
    memcpy(hash, pq_bpe_hash(b), PQ_SHA256_HEX);
    vocab = pq_bpe_vocab_size(b);
    pq_bpe_free(b);
}

/* A train and a val shard of synthetic tokens, stamped with tokenizer hash. */
static void write_shards(const char *shard_dir, const char *hash) {
    cr_assert_eq(pq_mkdirs(shard_dir), 0, "%s", pq_error());
    const char *splits[] = {"train_000.bin", "val.bin"};
    for (int s = 0; s < 2; s++) {
        pq_token_stream ts;
        pq_tokens_synthetic(&ts, 5, s, s ? 2000 : 8000, vocab);
        int32_t *ids = pq_malloc(sizeof(int32_t) * (size_t)ts.n);
        for (int64_t i = 0; i < ts.n; i++) ids[i] = ts.tokens[i];
        char *p = pq_path_join(shard_dir, splits[s]);
        pq_shard_writer *w = pq_shard_writer_open(p, (uint32_t)vocab, hash);
        cr_assert(w, "%s", pq_error());
        cr_assert_eq(pq_shard_writer_add_doc(w, ids, (size_t)ts.n), 0, "%s", pq_error());
        cr_assert_eq(pq_shard_writer_commit(w), 0, "%s", pq_error());
        free(p), free(ids);
        pq_tokens_free(&ts);
    }
}

static const char *ckpt_tokenizer(const char *path, char out[PQ_SHA256_HEX]) {
    pq_ckpt *c = pq_ckpt_load(path);
    cr_assert(c, "%s", pq_error());
    const char *h = pq_ckpt_tokenizer_hash(c->meta);
    out[0] = 0;
    if (h) snprintf(out, PQ_SHA256_HEX, "%s", h);
    pq_ckpt_free(c);
    return h ? out : NULL;
}

static int pretrain(const char *data, const char *out) {
    const char *argv[] = {"pretrain", "--config", path_in("cfg.json"), "--data", data, "--out", out};
    return cmd_pretrain(7, (char **)argv);
}

static void setup(void) {
    setenv("PQ_PROGRESS", "0", 1);
    snprintf(dir, sizeof dir, "/tmp/pq-test-provenance-%d", (int)getpid());
    pq_remove_tree(dir);
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    snprintf(shards_a, sizeof shards_a, "%s/shards-a", dir);
    snprintf(shards_b, sizeof shards_b, "%s/shards-b", dir);
    snprintf(tok_a, sizeof tok_a, "%s/data/tokenizer.bpe", dir);
    snprintf(tok_b, sizeof tok_b, "%s/other.bpe", dir);
    snprintf(fp_ckpt, sizeof fp_ckpt, "%s/fp/model.ckpt", dir);
    cr_assert_eq(pq_mkdirs(data_dir), 0, "%s", pq_error());
    /* Same vocabulary size (256 bytes + BOS/EOS + 3 merges), different merges. */
    const int32_t merges_a[][2] = {{' ', 't'}, {'h', 'e'}, {258, 259}};
    const int32_t merges_b[][2] = {{'a', 'b'}, {'c', 'd'}, {'e', 'f'}};
    save_bpe(merges_a, 3, tok_a, hash_a);
    int vocab_a = vocab;
    save_bpe(merges_b, 3, tok_b, hash_b);
    cr_assert_eq(vocab, vocab_a);
    cr_assert_str_neq(hash_a, hash_b);
    write_shards(shards_a, hash_a);
    write_shards(shards_b, hash_b);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"model\": {\"dim\": 32, \"n_layers\": 1, \"n_heads\": 2, \"n_kv_heads\": 1, \"ffn_dim\": 48, "
             "\"vocab\": %d, \"ctx\": 16},\n \"train\": {\"batch\": 4, \"lr\": 3e-3, \"warmup\": 2, \"seed\": 3, "
             "\"tokens\": 640, \"eval_interval\": 0, \"eval_tokens\": 256, \"ckpt_interval\": 0}}\n",
             vocab);
    cr_assert_eq(pq_write_file_atomic(path_in("cfg.json"), cfg, strlen(cfg)), 0, "%s", pq_error());
    const char *task = "{\"context\": \"the cat sat on the\", \"choices\": [\"mat\", \"hat\"], \"gold\": 0}\n";
    cr_assert_eq(pq_mkdirs(path_in("data/tasks")), 0, "%s", pq_error());
    cr_assert_eq(pq_write_file_atomic(path_in("data/tasks/choice.jsonl"), task, strlen(task)), 0, "%s", pq_error());
    cr_assert_eq(pretrain(shards_a, path_in("fp")), 0, "%s", pq_error());
}

static void teardown(void) { pq_remove_tree(dir); }

TestSuite(train_provenance, .init = setup, .fini = teardown);
/* Tests that provoke an error redirect stderr (the error is checked through
 * pq_error()): the expected message would otherwise alarm a reader of the log. */

Test(train_provenance, pretrain_records_the_tokenizer_of_its_shards) {
    char h[PQ_SHA256_HEX];
    cr_assert(ckpt_tokenizer(fp_ckpt, h), "model.ckpt records no tokenizer");
    cr_assert_str_eq(h, hash_a);
    cr_assert(ckpt_tokenizer(path_in("fp/state.ckpt"), h), "state.ckpt records no tokenizer");
    cr_assert_str_eq(h, hash_a);
    /* The evaluator reads the same field. */
    json_t *meta;
    pq_model *m = pq_eval_load_model(fp_ckpt, &meta);
    cr_assert(m, "%s", pq_error());
    cr_assert_str_eq(pq_ckpt_tokenizer_hash(meta), hash_a);
    json_decref(meta);
    pq_model_free(m);
    /* Synthetic tokens have no tokenizer: nothing is recorded. */
    cr_assert_eq(pretrain("synthetic:4000", path_in("syn")), 0, "%s", pq_error());
    cr_assert_null(ckpt_tokenizer(path_in("syn/model.ckpt"), h));
}

static int qat(const char *from, const char *data, const char *out) {
    const char *argv[] = {"qat", "--from", from, "--bits", "2", "--quantizer", "paretoq", "--tokens", "320",
                          "--data", data, "--out", out};
    return cmd_qat(13, (char **)argv);
}

static int ptq(const char *from, const char *data, const char *out) {
    const char *argv[] = {"ptq", "--from", from, "--method", "gptq", "--bits", "2", "--calib-tokens", "256",
                          "--eval-tokens", "256", "--out", out, "--data", data};
    return cmd_ptq(data ? 15 : 13, (char **)argv);
}

Test(train_provenance, qat_refuses_data_of_another_tokenizer_and_carries_the_hash, .init = cr_redirect_stderr) {
    cr_assert_eq(qat(fp_ckpt, shards_b, path_in("qb")), 1);
    const char *err = pq_error();
    cr_assert(strstr(err, fp_ckpt) && strstr(err, shards_b), "error names neither file: %s", err);
    cr_assert(strstr(err, "tokenizer"), "%s", err);
    cr_assert_not(pq_file_exists(path_in("qb/model.ckpt")));
    cr_assert_not(pq_file_exists(path_in("qb/state.ckpt")));

    cr_assert_eq(qat(fp_ckpt, shards_a, path_in("qa")), 0, "%s", pq_error());
    char h[PQ_SHA256_HEX];
    cr_assert(ckpt_tokenizer(path_in("qa/model.ckpt"), h));
    cr_assert_str_eq(h, hash_a);
    cr_assert(ckpt_tokenizer(path_in("qa/state.ckpt"), h));
    cr_assert_str_eq(h, hash_a);
}

Test(train_provenance, ptq_refuses_data_of_another_tokenizer_and_carries_the_hash, .init = cr_redirect_stderr) {
    cr_assert_eq(ptq(fp_ckpt, shards_b, path_in("pb")), 1);
    cr_assert(strstr(pq_error(), fp_ckpt) && strstr(pq_error(), shards_b), "%s", pq_error());
    cr_assert_not(pq_file_exists(path_in("pb/model.ckpt")));

    cr_assert_eq(ptq(fp_ckpt, shards_a, path_in("pa")), 0, "%s", pq_error());
    char h[PQ_SHA256_HEX];
    cr_assert(ckpt_tokenizer(path_in("pa/model.ckpt"), h));
    cr_assert_str_eq(h, hash_a);
    /* RTN needs no data: the hash still comes along from --from. */
    const char *argv[] = {"ptq", "--from", fp_ckpt, "--method", "rtn", "--bits", "3", "--out", path_in("rtn")};
    cr_assert_eq(cmd_ptq(9, (char **)argv), 0, "%s", pq_error());
    cr_assert(ckpt_tokenizer(path_in("rtn/model.ckpt"), h));
    cr_assert_str_eq(h, hash_a);
}

Test(train_provenance, checkpoint_without_the_field_still_loads) {
    /* A checkpoint from before the field existed: no hash, so any data of its vocabulary size goes. */
    pq_ckpt *c = pq_ckpt_load(fp_ckpt);
    cr_assert(c, "%s", pq_error());
    json_object_del(c->meta, PQ_CKPT_TOKENIZER_KEY);
    cr_assert_null(pq_ckpt_tokenizer_hash(c->meta));
    cr_assert_eq(pq_ckpt_save(c, path_in("old.ckpt"), 0), 0, "%s", pq_error());
    pq_ckpt_free(c);
    cr_assert_eq(qat(path_in("old.ckpt"), shards_b, path_in("qold")), 0, "%s", pq_error());
    char h[PQ_SHA256_HEX];
    cr_assert(ckpt_tokenizer(path_in("qold/model.ckpt"), h)); /* trained on shards-b: records b */
    cr_assert_str_eq(h, hash_b);
    cr_assert_eq(ptq(path_in("old.ckpt"), shards_b, path_in("pold")), 0, "%s", pq_error());
    const char *argv[] = {"eval", "--model", path_in("old.ckpt"), "--tasks", "choice", "--data-dir", data_dir,
                          "--tokenizer", tok_b, "--out", path_in("eold.json")};
    cr_assert_eq(cmd_eval(11, (char **)argv), 0, "%s", pq_error());
}

Test(train_provenance, eval_refuses_a_tokenizer_other_than_the_recorded_one, .init = cr_redirect_stderr) {
    const char *bad[] = {"eval", "--model", fp_ckpt, "--tasks", "choice", "--data-dir", data_dir,
                         "--tokenizer", tok_b, "--out", path_in("eb.json")};
    cr_assert_eq(cmd_eval(11, (char **)bad), 1);
    cr_assert(strstr(pq_error(), fp_ckpt) && strstr(pq_error(), tok_b), "%s", pq_error());
    cr_assert_not(pq_file_exists(path_in("eb.json")));
    /* The data directory's own tokenizer (the one the shards were made with) is accepted. */
    const char *good[] = {"eval", "--model", fp_ckpt, "--tasks", "choice", "--data-dir", data_dir,
                          "--out", path_in("ea.json")};
    cr_assert_eq(cmd_eval(9, (char **)good), 0, "%s", pq_error());
    /* A quantized checkpoint carries the hash forward and is checked alike. */
    cr_assert_eq(qat(fp_ckpt, shards_a, path_in("qa")), 0, "%s", pq_error());
    const char *bad_q[] = {"eval", "--model", path_in("qa/model.ckpt"), "--tasks", "choice", "--data-dir", data_dir,
                           "--tokenizer", tok_b, "--out", path_in("eqb.json")};
    cr_assert_eq(cmd_eval(11, (char **)bad_q), 1);
}
