#include "eval/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "data/bpe.h"
#include "data/hf_bpe.h"
#include "data/spm.h"
#include "eval/bpe_tok.h"
#include "train/data.h"

/* The three encoders behind the interface; each returns ids in a new array. */
static int finish(int32_t *ids, size_t n, size_t len, int32_t **out, int *n_out) {
    if (n > (size_t)1 << 30) {
        free(ids);
        return pq_fail("text of %zu bytes is too long to score", len);
    }
    *out = ids, *n_out = (int)n;
    return 0;
}

static int hf_encode(void *impl, const char *text, size_t len, int32_t **ids, int *n) {
    int32_t *v = NULL;
    size_t k = 0, cap = 0;
    pq_hf_bpe_encode(impl, text, len, &v, &k, &cap);
    return finish(v, k, len, ids, n);
}

static int spm_encode(void *impl, const char *text, size_t len, int32_t **ids, int *n) {
    int32_t *v = NULL;
    size_t k = 0, cap = 0;
    pq_spm_encode(impl, text, len, &v, &k, &cap);
    return finish(v, k, len, ids, n);
}

static const uint8_t *hf_bytes(void *impl, int32_t id, size_t *len) { return pq_hf_bpe_token_bytes(impl, id, len); }
static const uint8_t *spm_bytes(void *impl, int32_t id, size_t *len) { return pq_spm_token_bytes(impl, id, len); }
static void hf_free(void *impl) { pq_hf_bpe_free(impl); }
static void spm_free(void *impl) { pq_spm_free(impl); }
static void bpe_free(void *impl) { pq_bpe_free(impl); }

/* key (an id, or a list whose first is taken) of a config.json, or -1. */
static int32_t config_id(const json_t *config, const char *key) {
    const json_t *b = json_object_get(config, key);
    if (json_is_array(b)) b = json_array_get(b, 0);
    return json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) < (1 << 24) ? (int32_t)json_integer_value(b) : -1;
}

/* bos_token_id and eos_token_id of the config.json beside path (a Hugging Face
 * model directory); -1 where it or they are absent. */
static void config_ids(const char *path, int32_t *bos, int32_t *eos) {
    const char *slash = strrchr(path, '/');
    char *cfg = pq_malloc(strlen(path) + 16);
    sprintf(cfg, "%.*sconfig.json", slash ? (int)(slash - path + 1) : 0, path);
    json_t *j = pq_file_exists(cfg) ? pq_json_read(cfg) : NULL;
    *bos = config_id(j, "bos_token_id"), *eos = config_id(j, "eos_token_id");
    json_decref(j);
    free(cfg);
}

static int first_bytes(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return pq_fail("%s: cannot open", path);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
    return 0;
}

int pq_eval_tokenizer_open(const char *path, int32_t bos, pq_eval_tokenizer *tok, pq_tokenizer_info *info) {
    memset(tok, 0, sizeof *tok);
    memset(info, 0, sizeof *info);
    char head[64];
    if (first_bytes(path, head, sizeof head)) return -1;
    size_t skip = strspn(head, " \t\r\n");
    if (!strncmp(head, "pq-bpe ", 7)) {
        pq_bpe *b = pq_bpe_load(path);
        if (!b) return -1;
        pq_bpe_eval_tokenizer(tok, b);
        tok->free = bpe_free;
        info->kind = "pq-bpe";
        snprintf(info->hash, sizeof info->hash, "%s", pq_bpe_hash(b));
        info->bos_from = "pq-bpe";
        info->eos = PQ_BPE_EOS;
        if (bos >= 0) tok->bos = bos, info->bos_from = "given (--bos or the import record)";
        return 0;
    }
    /* A foreign tokenizer is read once: parsed and hashed from the same bytes. */
    size_t n;
    char *data = pq_read_file(path, &n);
    if (!data) return -1;
    int32_t own;
    if (head[skip] == '{') {
        pq_hf_bpe *t = pq_hf_bpe_parse(data, n, path);
        if (!t) return free(data), -1;
        *tok = (pq_eval_tokenizer){.vocab_size = pq_hf_bpe_vocab_size(t), .impl = t, .encode = hf_encode,
                                   .token_bytes = hf_bytes, .free = hf_free};
        info->kind = "tokenizer.json";
        own = pq_hf_bpe_template_bos(t);
        info->eos = -1;
    } else {
        pq_spm *s = pq_spm_parse((const uint8_t *)data, n, path);
        if (!s) return free(data), -1;
        *tok = (pq_eval_tokenizer){.vocab_size = pq_spm_vocab_size(s), .impl = s, .encode = spm_encode,
                                   .token_bytes = spm_bytes, .free = spm_free};
        info->kind = strcmp(pq_spm_model_type(s), "bpe") ? "sentencepiece-unigram" : "sentencepiece-bpe";
        own = pq_spm_bos(s);
        info->eos = pq_spm_eos(s);
    }
    pq_sha256_hex(data, n, info->hash);
    free(data);
    int32_t cfg, cfg_eos;
    config_ids(path, &cfg, &cfg_eos);
    if (bos >= 0) cfg = -1;
    if (cfg_eos >= 0) info->eos = cfg_eos;
    tok->bos = bos >= 0 ? bos : cfg >= 0 ? cfg : own;
    info->bos_from = bos >= 0 ? "given (--bos or the import record)" : cfg >= 0 ? "config.json bos_token_id" : own >= 0 ? "the tokenizer" : "none";
    return 0;
}

char *pq_record_tokenizer(json_t *meta, const char *dir, int model_vocab, char **why) {
    static const char *names[] = {"tokenizer.json", "tokenizer.model"};
    *why = NULL;
    for (size_t i = 0; i < PQ_COUNT(names); i++) {
        char *path = pq_path_join(dir, names[i]);
        char *abs = realpath(path, NULL);
        free(path);
        if (!abs) continue;
        pq_eval_tokenizer tok;
        pq_tokenizer_info info;
        int ok = pq_eval_tokenizer_open(abs, -1, &tok, &info) == 0;
        if (ok) {
            tok.free(tok.impl);
            if (tok.vocab_size > model_vocab)
                ok = 0, pq_fail("%s: %d tokens, more than the model's vocab %d", abs, tok.vocab_size, model_vocab);
        }
        if (!ok) {
            if (!*why) *why = pq_strdup(pq_error());
            free(abs);
            continue;
        }
        json_t *src = json_object_get(meta, "source");
        if (!json_is_object(src)) json_object_set_new(meta, "source", src = json_object());
        json_object_set_new(src, "tokenizer", json_string(abs));
        json_object_set_new(src, "tokenizer_kind", json_string(info.kind));
        json_object_set_new(src, "bos", tok.bos >= 0 ? json_integer(tok.bos) : json_null());
        pq_ckpt_set_tokenizer_hash(meta, info.hash);
        free(*why);
        *why = NULL;
        return abs;
    }
    return NULL;
}

int pq_imported_tokenizer(const json_t *meta, const char **path, long long *bos) {
    const json_t *src = json_object_get(meta, "source");
    const char *p = json_string_value(json_object_get(src, "tokenizer"));
    if (!p) return 0;
    *path = p;
    const json_t *b = json_object_get(src, "bos");
    if (*bos < 0 && json_is_integer(b)) *bos = json_integer_value(b);
    return 1;
}
