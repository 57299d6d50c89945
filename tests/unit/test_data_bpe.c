/* BPE tokenizer: pre-tokenizer rules, the incremental trainer against a naive
 * re-counting reference, encode/decode round trips, and the file format. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/bpe.h"

/* Splits text into chunks joined by '|' (for readable expectations). */
static char *chunks(const char *text) {
    size_t n = strlen(text);
    char *out = calloc(1, 2 * n + 2);
    size_t o = 0;
    for (size_t pos = 0; pos < n;) {
        size_t e = pq_bpe_chunk_end((const uint8_t *)text, n, pos);
        cr_assert_gt(e, pos);
        if (pos) out[o++] = '|';
        memcpy(out + o, text + pos, e - pos);
        o += e - pos;
        pos = e;
    }
    return out;
}

#define EXPECT_CHUNKS(text, want)                                                \
    do {                                                                         \
        char *got = chunks(text);                                                \
        cr_assert_str_eq(got, want, "chunks of '%s'", text);                     \
        free(got);                                                               \
    } while (0)

Test(data_bpe, pretokenizer_rules) {
    EXPECT_CHUNKS("Hello world", "Hello| world");
    EXPECT_CHUNKS("a  b", "a| | b");
    EXPECT_CHUNKS("a   b", "a|  | b");
    EXPECT_CHUNKS("don't stop, I'll go", "don|'t| stop|,| I|'ll| go");
    EXPECT_CHUNKS("'tis", "'|tis");
    EXPECT_CHUNKS("end.\n\nThe", "end|.|\n\n|The");
    EXPECT_CHUNKS("x \nY", "x| \n|Y");
    EXPECT_CHUNKS("in 1611 AD", "in| 1611| AD");
    EXPECT_CHUNKS("abc123", "abc|123");
    EXPECT_CHUNKS("\xe2\x80\x9cQuote\xe2\x80\x9d caf\xc3\xa9", "\xe2\x80\x9c|Quote|\xe2\x80\x9d| caf\xc3\xa9");
    EXPECT_CHUNKS(" --- ", " ---| ");
    char longword[200];
    memset(longword, 'a', 150);
    longword[150] = 0;
    size_t e = pq_bpe_chunk_end((const uint8_t *)longword, 150, 0);
    cr_assert_eq(e, PQ_BPE_MAX_CHUNK);
}

/* ---- a naive reference trainer: recount every pair after every merge ---- */

typedef struct {
    int32_t s[PQ_BPE_MAX_CHUNK];
    int len;
    long freq;
} ref_word;

static int ref_train(const char *text, int want, int32_t (*merges)[2], ref_word **words_out, int *nw_out) {
    size_t n = strlen(text);
    ref_word *w = calloc(n + 1, sizeof *w);
    int nw = 0;
    for (size_t pos = 0; pos < n;) {
        size_t e = pq_bpe_chunk_end((const uint8_t *)text, n, pos);
        int found = -1;
        for (int k = 0; k < nw && found < 0; k++) {
            if (w[k].len != (int)(e - pos)) continue;
            int same = 1;
            for (int i = 0; i < w[k].len; i++) same &= w[k].s[i] == (uint8_t)text[pos + i];
            if (same) found = k;
        }
        if (found < 0) {
            found = nw++;
            w[found].len = (int)(e - pos);
            for (int i = 0; i < w[found].len; i++) w[found].s[i] = (uint8_t)text[pos + i];
        }
        w[found].freq++;
        pos = e;
    }
    int nm = 0;
    while (nm < want) {
        long best = 0;
        int32_t ba = 0, bb = 0;
        for (int k = 0; k < nw; k++)
            for (int i = 0; i + 1 < w[k].len; i++) {
                int32_t a = w[k].s[i], b = w[k].s[i + 1];
                long c = 0;
                for (int k2 = 0; k2 < nw; k2++)
                    for (int j = 0; j + 1 < w[k2].len; j++)
                        if (w[k2].s[j] == a && w[k2].s[j + 1] == b) c += w[k2].freq;
                if (c > best || (c == best && (a < ba || (a == ba && b < bb)))) best = c, ba = a, bb = b;
            }
        if (best < 2) break;
        int32_t id = PQ_BPE_FIRST_MERGE + nm;
        merges[nm][0] = ba, merges[nm][1] = bb;
        nm++;
        for (int k = 0; k < nw; k++) {
            int j = 0;
            for (int i = 0; i < w[k].len;) {
                if (i + 1 < w[k].len && w[k].s[i] == ba && w[k].s[i + 1] == bb) w[k].s[j++] = id, i += 2;
                else w[k].s[j++] = w[k].s[i++];
            }
            w[k].len = j;
        }
    }
    *words_out = w;
    *nw_out = nw;
    return nm;
}

static pq_bpe *train(const char *text, int vocab) {
    pq_bpe_trainer *t = pq_bpe_trainer_new();
    pq_bpe_trainer_add(t, text, strlen(text));
    return pq_bpe_trainer_finish(t, vocab, 0);
}

Test(data_bpe, tie_break_is_smaller_pair) {
    pq_bpe *b = train("ab ab cd cd", 300);
    cr_assert_eq(pq_bpe_n_merges(b), 3);
    int32_t l, r;
    pq_bpe_merge(b, 0, &l, &r);
    cr_assert(l == ' ' && r == 'c');
    pq_bpe_merge(b, 1, &l, &r);
    cr_assert(l == 'a' && r == 'b');
    pq_bpe_merge(b, 2, &l, &r);
    cr_assert(l == 258 && r == 'd');
    pq_bpe_free(b);
}

/* Random text over a small alphabet makes many overlapping pairs ("aaa") and ties. */
static char *random_text(uint64_t seed, int n) {
    static const char alphabet[] = "aaabbcde  \n.,'";
    char *s = malloc(n + 1);
    for (int i = 0; i < n; i++) s[i] = alphabet[pq_rng_below(seed, 1, i, sizeof alphabet - 1)];
    s[n] = 0;
    return s;
}

Test(data_bpe, incremental_trainer_matches_naive_reference) {
    for (uint64_t seed = 1; seed <= 4; seed++) {
        char *text = random_text(seed, 1500);
        int32_t ref[200][2];
        ref_word *words;
        int nw;
        int nm = ref_train(text, 150, ref, &words, &nw);
        pq_bpe *b = train(text, PQ_BPE_FIRST_MERGE + 150);
        cr_assert_eq(pq_bpe_n_merges(b), nm, "seed %llu", (unsigned long long)seed);
        for (int i = 0; i < nm; i++) {
            int32_t l, r;
            pq_bpe_merge(b, i, &l, &r);
            cr_assert(l == ref[i][0] && r == ref[i][1], "seed %llu merge %d: (%d,%d) vs (%d,%d)",
                      (unsigned long long)seed, i, l, r, ref[i][0], ref[i][1]);
        }
        /* the cached encoder agrees with GPT-2's rule applied naively to each chunk:
         * merge the adjacent pair of lowest rank until none is a merge */
        int32_t *tok = NULL;
        size_t nt = 0, cap = 0, n = strlen(text), at = 0;
        pq_bpe_encode(b, text, n, &tok, &nt, &cap);
        for (size_t pos = 0; pos < n;) {
            size_t e = pq_bpe_chunk_end((const uint8_t *)text, n, pos);
            int32_t s[PQ_BPE_MAX_CHUNK];
            int L = 0;
            for (size_t i = pos; i < e; i++) s[L++] = (uint8_t)text[i];
            for (;;) {
                int best = -1;
                for (int i = 0; i + 1 < L; i++)
                    for (int r = 0; r < nm; r++)
                        if (ref[r][0] == s[i] && ref[r][1] == s[i + 1] && (best < 0 || r < best)) best = r;
                if (best < 0) break;
                int j = 0;
                for (int i = 0; i < L;) {
                    if (i + 1 < L && s[i] == ref[best][0] && s[i + 1] == ref[best][1]) s[j++] = PQ_BPE_FIRST_MERGE + best, i += 2;
                    else s[j++] = s[i++];
                }
                L = j;
            }
            for (int i = 0; i < L; i++) cr_assert_eq(tok[at + i], s[i], "seed %llu at %zu", (unsigned long long)seed, at + i);
            at += L;
            pos = e;
        }
        cr_assert_eq(at, nt);
        free(tok);
        free(words);
        free(text);
        pq_bpe_free(b);
    }
}

static const char *SAMPLE =
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters.\n\n\"My dear Mr. Bennet,\" said his lady to "
    "him one day, \"have you heard that Netherfield Park is let at last?\"\n";

Test(data_bpe, round_trips) {
    pq_bpe *b = train(SAMPLE, 400);
    cr_assert_gt(pq_bpe_n_merges(b), 50);
    const char *texts[] = {SAMPLE, "", "a", "  leading and trailing  ", "unseen: Zyxwv 0987 \xf0\x9f\x98\x80 \xff\xfe bad utf8",
                           "tabs\tand\r\nnewlines\n\n\n"};
    for (size_t k = 0; k < PQ_COUNT(texts); k++) {
        int32_t *tok = NULL;
        size_t nt = 0, cap = 0, nd;
        pq_bpe_encode(b, texts[k], strlen(texts[k]), &tok, &nt, &cap);
        char *back = pq_bpe_decode(b, tok, nt, &nd);
        cr_assert_eq(nd, strlen(texts[k]));
        cr_assert_str_eq(back, texts[k]); /* decode(encode(text)) == text */
        int32_t *again = NULL;
        size_t n2 = 0, cap2 = 0;
        pq_bpe_encode(b, back, nd, &again, &n2, &cap2); /* encode(decode(x)) == x */
        cr_assert_eq(n2, nt);
        for (size_t i = 0; i < nt; i++) cr_assert_eq(again[i], tok[i]);
        free(tok), free(again), free(back);
    }
    /* random bytes, including every byte value */
    char raw[4096];
    for (int i = 0; i < 4096; i++) raw[i] = (char)pq_rng_below(7, 2, i, 256);
    int32_t *tok = NULL;
    size_t nt = 0, cap = 0, nd;
    pq_bpe_encode(b, raw, sizeof raw, &tok, &nt, &cap);
    char *back = pq_bpe_decode(b, tok, nt, &nd);
    cr_assert_eq(nd, sizeof raw);
    cr_assert_eq(memcmp(back, raw, nd), 0);
    free(back);
    free(tok);
    /* BOS/EOS decode to nothing; an id outside the vocab is an error */
    int32_t special[] = {PQ_BPE_BOS, 'h', 'i', PQ_BPE_EOS};
    back = pq_bpe_decode(b, special, 4, &nd);
    cr_assert_str_eq(back, "hi");
    free(back);
    int32_t bad[] = {'h', 100000};
    cr_assert_null(pq_bpe_decode(b, bad, 2, &nd));
    pq_bpe_free(b);
}

Test(data_bpe, save_load_and_malformed_files) {
    char dir[] = "/tmp/pq-test-bpe-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *path = pq_path_join(dir, "tok.bpe");
    pq_bpe *b = train(SAMPLE, 350);
    cr_assert_eq(pq_bpe_save(b, path), 0);
    pq_bpe *c = pq_bpe_load(path);
    cr_assert_not_null(c, "%s", pq_error());
    cr_assert_eq(pq_bpe_vocab_size(c), pq_bpe_vocab_size(b));
    cr_assert_str_eq(pq_bpe_hash(c), pq_bpe_hash(b));
    char hex[PQ_SHA256_HEX];
    cr_assert_eq(pq_sha256_file(path, hex), 0);
    cr_assert_str_eq(hex, pq_bpe_hash(b)); /* the hash is the file's SHA-256 */
    int32_t *t1 = NULL, *t2 = NULL;
    size_t n1 = 0, n2 = 0, c1 = 0, c2 = 0;
    pq_bpe_encode(b, SAMPLE, strlen(SAMPLE), &t1, &n1, &c1);
    pq_bpe_encode(c, SAMPLE, strlen(SAMPLE), &t2, &n2, &c2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(t1, t2, n1 * sizeof *t1), 0);
    free(t1), free(t2);
    pq_bpe_free(c);

    size_t n;
    char *good = pq_read_file(path, &n);
    struct {
        const char *name, *text, *want;
    } bad[] = {
        {"magic", "pq-bpe 2\nvocab 258\nbos 256\neos 257\nmerges 0\n", ":1:"},
        {"header", "pq-bpe 1\nvocab x\nbos 256\neos 257\nmerges 0\n", "malformed header"},
        {"count", "pq-bpe 1\nvocab 260\nbos 256\neos 257\nmerges 1\n97 98\n", "inconsistent header"},
        {"trunc", "pq-bpe 1\nvocab 260\nbos 256\neos 257\nmerges 2\n97 98\n", ":7: truncated"},
        {"future", "pq-bpe 1\nvocab 260\nbos 256\neos 257\nmerges 2\n97 98\n259 1\n", ":7: merge uses an id"},
        {"special", "pq-bpe 1\nvocab 259\nbos 256\neos 257\nmerges 1\n256 1\n", ":6: merge uses an id"},
        {"garbage", "pq-bpe 1\nvocab 259\nbos 256\neos 257\nmerges 1\n97 98\nextra\n", "unexpected data"},
        {"line", "pq-bpe 1\nvocab 259\nbos 256\neos 257\nmerges 1\n97,98\n", ":6: malformed merge"},
        /* each merge doubles a token: 40 such lines had overflowed the 32-bit lengths and asked for 4 GiB */
        {"long", "pq-bpe 1\nvocab 265\nbos 256\neos 257\nmerges 7\n97 97\n258 258\n259 259\n260 260\n261 261\n262 262\n263 263\n",
         "merge 6 makes a token of 128 bytes"},
    };
    for (size_t k = 0; k < PQ_COUNT(bad); k++) {
        cr_assert_eq(pq_write_file_atomic(path, bad[k].text, strlen(bad[k].text)), 0);
        cr_assert_null(pq_bpe_load(path), "%s should fail", bad[k].name);
        cr_assert(strstr(pq_error(), "tok.bpe"), "%s", pq_error());
        cr_assert(strstr(pq_error(), bad[k].want), "%s: '%s' not in %s", bad[k].name, bad[k].want, pq_error());
    }
    free(good);
    pq_bpe_free(b);
    free(path);
    pq_remove_tree(dir);
}
