/* make_seeds.c — writes the binary and generated seeds of tests/fuzz/corpus:
 * small valid inputs made by the library's own writers, in each target's input
 * form (see the comment at the top of each fuzz_<name>.c), and copies of the
 * suite files and two model configs. `make fuzz-seeds` rewrites them; run it
 * after a file format changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckpt.h"
#include "base/fsio.h"
#include "base/util.h"
#include "data/bpe.h"
#include "data/shards.h"
#include "data/tasks.h"
#include "harness/suite.h"

static const char *out_dir;

static char *seed_path(const char *target, const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, target);
    if (pq_mkdirs(dir)) pq_die("%s", pq_error());
    return pq_path_join(dir, name);
}

/* Writes <target>/<name>: one mode byte, then body. */
static void write_seed(const char *target, const char *name, int mode, const void *body, size_t n) {
    char *path = seed_path(target, name);
    unsigned char *buf = pq_malloc(n + 1);
    buf[0] = (unsigned char)mode;
    memcpy(buf + 1, body, n);
    if (pq_write_file_atomic(path, buf, n + 1)) pq_die("%s", pq_error());
    free(buf);
    free(path);
}

/* A file made by the library, re-read and written as a seed with a mode byte, then removed. */
static void seed_from_file(const char *target, const char *name, int mode, const char *file) {
    size_t n;
    char *bytes = pq_read_file(file, &n);
    if (!bytes) pq_die("%s", pq_error());
    write_seed(target, name, mode, bytes, n);
    free(bytes);
    remove(file);
}

static void ckpt_seeds(const char *scratch) {
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string("pretrain"));
    json_object_set_new(c->meta, "step", json_integer(3));
    float w[6] = {1, -2, 0.5f, 3, 0, -0.25f};
    pq_ckpt_add(c, "w", PQ_F32, 2, (int64_t[]){2, 3}, w);
    pq_ckpt_add(c, "codes", PQ_U8, 1, (int64_t[]){5}, (uint8_t[]){1, 2, 3, 4, 5});
    pq_ckpt_add(c, "steps", PQ_I64, 1, (int64_t[]){2}, (int64_t[]){7, 9});
    pq_ckpt_add(c, "empty", PQ_U16, 2, (int64_t[]){0, 4}, w);
    if (pq_ckpt_save(c, scratch, 1)) pq_die("%s", pq_error());
    seed_from_file("ckpt", "small.ckpt", 0, scratch);
    /* The same tensors as a raw payload for the sealing mode: u32 count, then the payload. */
    char meta[] = "{\"kind\":\"pretrain\",\"step\":3}";
    unsigned char raw[512];
    size_t n = 0;
    uint32_t count = 2, meta_len = (uint32_t)strlen(meta);
    memcpy(raw + n, &count, 4), n += 4;
    memcpy(raw + n, &meta_len, 4), n += 4;
    memcpy(raw + n, meta, meta_len), n += meta_len;
    raw[n++] = 1, raw[n++] = 0, raw[n++] = 'w', raw[n++] = PQ_F32, raw[n++] = 2;
    uint64_t dims[2] = {2, 3};
    memcpy(raw + n, dims, 16), n += 16;
    memcpy(raw + n, w, sizeof w), n += sizeof w;
    raw[n++] = 1, raw[n++] = 0, raw[n++] = 'c', raw[n++] = PQ_U8, raw[n++] = 1;
    uint64_t five = 5;
    memcpy(raw + n, &five, 8), n += 8;
    memcpy(raw + n, (uint8_t[]){1, 2, 3, 4, 5}, 5), n += 5;
    write_seed("ckpt", "small.payload", 1, raw, n);
    pq_ckpt_free(c);
}

static void shard_seeds(const char *scratch) {
    const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    int32_t doc1[] = {256, 72, 105, 33, 258, 259}, doc2[] = {256, 1, 2, 3};
    for (int wide = 0; wide < 2; wide++) {
        pq_shard_writer *w = pq_shard_writer_open(scratch, wide ? 70000 : 300, hash);
        if (!w || pq_shard_writer_add_doc(w, doc1, PQ_COUNT(doc1)) || pq_shard_writer_add_doc(w, doc2, PQ_COUNT(doc2)) ||
            pq_shard_writer_commit(w))
            pq_die("%s", pq_error());
        /* mode 1: the target rewrites the checksum, so a mutated payload still reaches the id checks */
        seed_from_file("shard", wide ? "u32.bin" : "u16.bin", wide, scratch);
    }
}

static void task_seeds(const char *scratch) {
    pq_task *t = pq_task_new("choice", PQ_TASK_CHOICE);
    pq_task_add(t, "q1", 1, (const char *[]){"Q: What is 2+2? A:"}, 3, (const char *[]){"4", "5", "22"}, 0);
    pq_task_add(t, "", 1, (const char *[]){"The sky is"}, 2, (const char *[]){"blue", "\"green\"\n"}, 0);
    pq_task *wino = pq_task_new("wino", PQ_TASK_WINO);
    pq_task_add(wino, "w1", 2, (const char *[]){"Anna helped Bob because Anna", "Anna helped Bob because Bob"}, 1,
                (const char *[]){"was kind."}, 0);
    pq_task *ppl = pq_task_new("ppl", PQ_TASK_PPL);
    pq_task_add(ppl, "", 1, (const char *[]){"A whole document.\nWith two lines, and \xc3\xa9."}, 0, NULL, -1);
    const pq_task *all[] = {t, wino, ppl};
    const char *names[] = {"choice.jsonl", "wino.jsonl", "ppl.jsonl"};
    for (int i = 0; i < 3; i++) {
        if (pq_task_write(all[i], scratch)) pq_die("%s", pq_error());
        char *path = seed_path("tasks", names[i]);
        size_t n;
        char *bytes = pq_read_file(scratch, &n);
        if (!bytes || pq_write_file_atomic(path, bytes, n)) pq_die("%s", pq_error());
        free(bytes), free(path);
        remove(scratch);
    }
    pq_task_free(t), pq_task_free(wino), pq_task_free(ppl);
}

static void bpe_seeds(const char *scratch) {
    static const char text[] = "the cat sat on the mat, the cat's hat; 1234 1234 the the thethe  aaaa aaaa";
    pq_bpe_trainer *tr = pq_bpe_trainer_new();
    pq_bpe_trainer_add_n(tr, text, sizeof text - 1, 3);
    pq_bpe *b = pq_bpe_trainer_finish(tr, 280, 0);
    const char *names[] = {"small.bpe", "bytes.bpe"};
    for (int i = 0; i < 2; i++) {
        if (pq_bpe_save(b, scratch)) pq_die("%s", pq_error());
        char *path = seed_path("bpe", names[i]);
        size_t n;
        char *bytes = pq_read_file(scratch, &n);
        if (!bytes || pq_write_file_atomic(path, bytes, n)) pq_die("%s", pq_error());
        free(bytes), free(path);
        remove(scratch);
        pq_bpe_free(b);
        static const int32_t none[1][2] = {{0, 0}};
        b = pq_bpe_from_merges(none, 0); /* the byte-only tokenizer */
    }
    pq_bpe_free(b);
}

/* suites/<name>.json behind the bytes that choose its name and the smoke tier. */
static void suite_seeds(const char *suites_dir) {
    for (int i = 0; i < pq_suite_count; i++) {
        char file[64];
        snprintf(file, sizeof file, "%s.json", pq_suite_names[i]);
        char *src = pq_path_join(suites_dir, file);
        size_t n;
        char *json = pq_read_file(src, &n);
        if (!json) pq_die("%s", pq_error());
        char *body = pq_malloc(n + 1);
        body[0] = 0; /* tier: smoke */
        memcpy(body + 1, json, n);
        write_seed("suite", file, i, body, n + 1);
        free(body), free(json), free(src);
    }
}

static void config_seeds(const char *suites_dir) {
    const char *names[] = {"tiny.json", "l.json"};
    for (int i = 0; i < 2; i++) {
        char *models = pq_path_join(suites_dir, "models");
        char *src = pq_path_join(models, names[i]), *dst = seed_path("config", names[i]);
        size_t n;
        char *json = pq_read_file(src, &n);
        if (!json || pq_write_file_atomic(dst, json, n)) pq_die("%s", pq_error());
        free(json), free(src), free(dst), free(models);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR SUITES_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    char *scratch = pq_path_join(out_dir, "scratch.tmp");
    ckpt_seeds(scratch);
    shard_seeds(scratch);
    task_seeds(scratch);
    bpe_seeds(scratch);
    suite_seeds(argv[2]);
    config_seeds(argv[2]);
    free(scratch);
    return 0;
}
