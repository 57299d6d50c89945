/* Rolling-window perplexity: lm-eval's window arithmetic and the corpus metrics. */
#include <criterion/criterion.h>
#include <math.h>

#include "eval/ppl.h"
#include "eval/text.h"
#include "eval/windows.h"
#include "eval_toy.h"

/* Expected windows, produced by lm-eval's get_rolling_token_windows +
 * make_disjoint_window on tokens = range(n) with prefix -1:
 * (context start (-1 = prefix), context length, first target, target count). */
typedef struct {
    int n, L, c, count;
    int64_t w[8][4];
} window_case;

static const window_case cases[] = {
    {34, 10, 1, 4, {{-1, 1, 0, 10}, {9, 1, 10, 10}, {19, 1, 20, 10}, {23, 7, 30, 4}}},
    {5, 10, 1, 1, {{-1, 1, 0, 5}}},
    {10, 10, 1, 1, {{-1, 1, 0, 10}}},
    {11, 10, 1, 2, {{-1, 1, 0, 10}, {0, 10, 10, 1}}},
    {25, 8, 3, 4, {{-1, 1, 0, 8}, {5, 3, 8, 6}, {11, 3, 14, 6}, {16, 4, 20, 5}}},
    {7, 1, 1, 7, {{-1, 1, 0, 1}, {0, 1, 1, 1}, {1, 1, 2, 1}, {2, 1, 3, 1}, {3, 1, 4, 1}, {4, 1, 5, 1}, {5, 1, 6, 1}}},
};

Test(eval_windows, match_lm_eval) {
    for (size_t k = 0; k < PQ_COUNT(cases); k++) {
        const window_case *c = &cases[k];
        pq_window *w;
        int64_t n = pq_rolling_windows(c->n, c->L, c->c, &w);
        cr_assert_eq(n, c->count, "case %zu: %lld windows", k, (long long)n);
        int64_t predicted = 0;
        for (int i = 0; i < n; i++) {
            cr_assert_eq(w[i].ctx_start, c->w[i][0], "case %zu window %d", k, i);
            cr_assert_eq(w[i].ctx_len, c->w[i][1], "case %zu window %d", k, i);
            cr_assert_eq(w[i].pred_start, c->w[i][2], "case %zu window %d", k, i);
            cr_assert_eq(w[i].pred_len, c->w[i][3], "case %zu window %d", k, i);
            cr_assert_eq(w[i].pred_start, predicted); /* every token predicted exactly once */
            predicted += w[i].pred_len;
            /* context + targets minus the last is what the model reads: at most L. */
            cr_assert_leq(w[i].ctx_len + w[i].pred_len - 1, c->L);
        }
        cr_assert_eq(predicted, c->n);
        free(w);
    }
    pq_window *w;
    cr_assert_eq(pq_rolling_windows(0, 10, 1, &w), 0);
    cr_assert_eq(pq_rolling_windows(5, 4, 5, &w), -1);
}

/* One token per character. */
static const char *const chars[] = {"a", "b", "c", " ", "\n"};
static toy_tok ctok = {chars, 5};

Test(eval_ppl, document_longer_than_the_context) {
    /* "abcbacbbcab" = [a b c b a c b b c a b]: 11 tokens, context 4. The model
     * reads [BOS a b c] and predicts tokens 0..3; reads tokens 3..6 [b a c b]
     * (context: token 3 alone) and predicts 4..7; the last, partial window reads
     * tokens 6..9 [b b c a] (two tokens of extra left context) and predicts 8..10. */
    spy s = {.V = 6, .max_len = 4};
    pq_lm lm = spy_lm(&s);
    pq_eval_tokenizer tok = toy_tokenizer(&ctok);
    const char *text = "abcbacbbcab";
    pq_doc doc = {text, strlen(text)};
    pq_ppl_stats st;
    double ll;
    cr_assert_eq(pq_ppl_score(&lm, &tok, &doc, 1, &ll, &st, NULL, NULL), 0, "%s", pq_error());
    cr_assert_eq(s.n_seen, 3);
    int32_t want[3][4] = {{5, 0, 1, 2}, {1, 0, 2, 1}, {1, 1, 2, 0}};
    int want_pred[3] = {4, 4, 3};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(s.seen_len[k], 4);
        cr_assert_eq(s.seen_pred[k], want_pred[k]);
        for (int t = 0; t < 4; t++) cr_assert_eq(s.seen[k][t], want[k][t], "window %d token %d", k, t);
    }
    /* Uniform over 6 tokens: each of the 11 tokens costs ln 6. */
    cr_assert_eq(st.windows, 3);
    cr_assert_eq(st.tokens, 11);
    cr_assert_eq(st.bytes, 11);
    cr_assert_eq(st.words, 1);
    cr_assert_float_eq(ll, -11 * log(6.0), 1e-12);
    cr_assert_float_eq(st.token_perplexity, 6.0, 1e-12);
    cr_assert_float_eq(st.bits_per_byte, log2(6.0), 1e-12);
    cr_assert_float_eq(st.word_perplexity, pow(6.0, 11), 1e-3);
}

Test(eval_ppl, corpus_metrics_divide_sums) {
    /* Two documents: Σ loglik / Σ units, not a mean of per-document ratios. */
    spy s = {.V = 6, .max_len = 8};
    pq_lm lm = spy_lm(&s);
    pq_eval_tokenizer tok = toy_tokenizer(&ctok);
    pq_doc docs[2] = {{"ab c", 4}, {"a\nb c ", 6}};
    pq_ppl_stats st;
    cr_assert_eq(pq_ppl_score(&lm, &tok, docs, 2, NULL, &st, NULL, NULL), 0, "%s", pq_error());
    cr_assert_eq(st.tokens, 10);
    cr_assert_eq(st.bytes, 10);
    cr_assert_eq(st.words, 2 + 4); /* re.split(r"\s+"): ["ab","c"], ["a","b","c",""] */
    cr_assert_float_eq(st.word_perplexity, exp(10 * log(6.0) / 6), 1e-9);
    cr_assert_float_eq(st.byte_perplexity, 6.0, 1e-12);
}

Test(eval_ppl, untokenizable_document_is_an_error) {
    spy s = {.V = 6, .max_len = 8};
    pq_lm lm = spy_lm(&s);
    pq_eval_tokenizer tok = toy_tokenizer(&ctok);
    pq_doc docs[2] = {{"ab", 2}, {"aXb", 3}};
    pq_ppl_stats st;
    cr_assert_eq(pq_ppl_score(&lm, &tok, docs, 2, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "document 1"), "%s", pq_error());
}

Test(eval_text, python_string_measures) {
    cr_assert_eq(pq_utf8_length("caf\xc3\xa9", 5), 4);
    cr_assert_eq(pq_utf8_length("\xe2\x82\xac!", 4), 2);
    cr_assert_eq(pq_text_rstrip_len("ab \t\n", 5), 2);
    cr_assert_eq(pq_text_rstrip_len("ab\xc2\xa0", 4), 2); /* NBSP is Python whitespace */
    cr_assert_eq(pq_text_rstrip_len("   ", 3), 0);
    cr_assert_eq(pq_text_count_words("", 0), 1);
    cr_assert_eq(pq_text_count_words("a b", 3), 2);
    cr_assert_eq(pq_text_count_words(" a", 2), 2);
    cr_assert_eq(pq_text_count_words("a  \n b\n", 7), 3);
}
