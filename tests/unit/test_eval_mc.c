/* Multiple-choice scoring against hand-computed log-likelihoods.
 *
 * Toy tokenizer pieces (id = index): ' '=0 a=1 b=2 c=3 ' b'=4 'd '=5 d=6, BOS=7.
 * Bigram model: P(next | prev) = 2^-bits(prev, next) with
 * bits = min(((next - prev) mod 8) + 1, 7): each row is 1/2, 1/4, ..., 1/128,
 * 1/128, a proper distribution. Every expected log-likelihood below is a whole
 * number of bits, worked out in the comments. */
#include <criterion/criterion.h>
#include <math.h>

#include "eval/mc.h"
#include "eval_toy.h"

static const char *const pieces[] = {" ", "a", "b", "c", " b", "d ", "d"};
static toy_tok ttok = {pieces, 7};
static double table[64];
static bigram bg;

static int bits(int prev, int next) {
    int r = ((next - prev) % 8 + 8) % 8 + 1;
    return r > 7 ? 7 : r;
}

static void setup(void) {
    for (int p = 0; p < 8; p++)
        for (int n = 0; n < 8; n++) table[p * 8 + n] = -bits(p, n) * log(2.0);
    bg = (bigram){.V = 8, .table = table};
}

#define LN2 0.69314718055994530942
#define EPS 1e-12

static pq_mc_result score1(const pq_mc_item *item, int max_len, pq_mc_stats *st) {
    pq_lm lm = bigram_lm(&bg, max_len);
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    pq_mc_result res;
    pq_mc_stats local;
    cr_assert_eq(pq_mc_score(&lm, &tok, item, 1, &res, st ? st : &local, NULL, NULL), 0, "%s", pq_error());
    return res;
}

TestSuite(eval_mc, .init = setup);

Test(eval_mc, rows_are_distributions) {
    for (int p = 0; p < 8; p++) {
        double s = 0;
        for (int n = 0; n < 8; n++) s += exp(table[p * 8 + n]);
        cr_assert_float_eq(s, 1.0, 1e-12);
    }
}

Test(eval_mc, hand_computed_logliks) {
    /* ("a", " b"): "a b" -> [a, ' b'], context [a] -> continuation [' b'];
     * bits(a=1, ' b'=4) = 4.  ("a", " c"): "a c" -> [a, ' ', c] -> [' ', c];
     * bits(1, 0) = 7, bits(0, 3) = 4: 11 bits. */
    const char *ctx[] = {"a"}, *ch[] = {"b", "c"};
    pq_mc_item item = {1, ctx, 2, ch, 1};
    pq_mc_result r = score1(&item, 64, NULL);
    cr_assert_eq(r.n, 2);
    cr_assert_float_eq(r.loglik[0], -4 * LN2, EPS);
    cr_assert_float_eq(r.loglik[1], -11 * LN2, EPS);
    cr_assert_eq(r.pred, 0);
    cr_assert_eq(r.pred_norm, 0);
}

Test(eval_mc, bos_starts_every_sequence) {
    /* Empty context: the continuation is predicted from BOS: [BOS=7, ' b'=4],
     * bits(7, 4) = 6. */
    const char *ctx[] = {""}, *ch[] = {"b"};
    pq_mc_item item = {1, ctx, 1, ch, 0};
    pq_mc_request req;
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    cr_assert_eq(pq_mc_encode(&tok, 64, "a", " b", &req), 0);
    cr_assert_eq(req.n_tokens, 3);
    cr_assert_eq(req.tokens[0], 7);
    free(req.tokens);
    pq_mc_result r = score1(&item, 64, NULL);
    cr_assert_float_eq(r.loglik[0], -6 * LN2, EPS);
}

Test(eval_mc, trailing_space_moves_to_continuation) {
    /* ("a ", " b") becomes ("a", "  b"): "a  b" -> [a, ' ', ' b'], continuation
     * [' ', ' b']: bits(1, 0) = 7 + bits(0, 4) = 5 = 12. (Left in the context it
     * would be [' b'] alone: 5 bits.) */
    const char *ctx[] = {"a "}, *ch[] = {"b"};
    pq_mc_item item = {1, ctx, 1, ch, 0};
    pq_mc_result r = score1(&item, 64, NULL);
    cr_assert_float_eq(r.loglik[0], -12 * LN2, EPS);
}

Test(eval_mc, continuation_is_what_follows_the_context_encoding) {
    /* ("d", " b"): the whole "d b" encodes as ['d ', b] but the context alone as
     * [d], so lm-eval's continuation is whole[1:] = [b], scored after 'd ':
     * bits(5, 2) = 6. */
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    pq_mc_request req;
    cr_assert_eq(pq_mc_encode(&tok, 64, "d", " b", &req), 0);
    cr_assert_eq(req.n_tokens, 3);
    cr_assert_eq(req.tokens[1], 5);
    cr_assert_eq(req.tokens[2], 2);
    cr_assert_eq(req.n_score, 1);
    free(req.tokens);
    const char *ctx[] = {"d"}, *ch[] = {"b"};
    pq_mc_item item = {1, ctx, 1, ch, 0};
    pq_mc_result r = score1(&item, 64, NULL);
    cr_assert_float_eq(r.loglik[0], -6 * LN2, EPS);
}

Test(eval_mc, ties_go_to_the_first_choice) {
    const char *ctx[] = {"a"}, *ch[] = {"b", "b"};
    pq_mc_item item = {1, ctx, 2, ch, 1};
    pq_mc_stats st;
    pq_mc_result r = score1(&item, 64, &st);
    cr_assert_eq(r.loglik[0], r.loglik[1]);
    cr_assert_eq(r.pred, 0);
    cr_assert_eq(r.pred_norm, 0);
    cr_assert_eq(st.acc, 0.0);
    double v[] = {-1, -3, -1, -3};
    cr_assert_eq(pq_argmax_first(v, 4), 0);
    double w[] = {-5, -2, -2};
    cr_assert_eq(pq_argmax_first(w, 3), 1);
}

Test(eval_mc, acc_norm_divides_by_choice_characters) {
    /* "b": 4 bits over len("b") = 1.  "bd": "a bd" -> [a, ' b', d]: 4 + bits(4, 6)
     * = 3 -> 7 bits over len("bd") = 2. acc takes "b" (-4 > -7); acc_norm takes
     * "bd" (-3.5 > -4). Dividing by len(" " + choice) instead would give -2 vs
     * -2.33 and take "b": the test tells the two apart. */
    const char *ctx[] = {"a"}, *ch[] = {"b", "bd"};
    pq_mc_item item = {1, ctx, 2, ch, 1};
    pq_mc_stats st;
    pq_mc_result r = score1(&item, 64, &st);
    cr_assert_float_eq(r.loglik[1], -7 * LN2, EPS);
    cr_assert_eq(r.denom[0], 1.0);
    cr_assert_eq(r.denom[1], 2.0);
    cr_assert_eq(r.pred, 0);
    cr_assert_eq(r.pred_norm, 1);
    cr_assert_eq(st.acc, 0.0);
    cr_assert_eq(st.acc_norm, 1.0);
}

Test(eval_mc, winogrande_form_scores_one_continuation_after_each_context) {
    /* ("a b", " b"): "a b b" -> [a, ' b', ' b'], context [a, ' b'], continuation
     * [' b'] after ' b': bits(4, 4) = 1.  ("a c", " b"): "a c b" -> [a, ' ', c, ' b'],
     * continuation [' b'] after c: bits(3, 4) = 2. The answer indexes contexts. */
    const char *ctx[] = {"a b", "a c"}, *cont[] = {"b"};
    pq_mc_item item = {2, ctx, 1, cont, 1};
    pq_mc_stats st;
    pq_mc_result r = score1(&item, 64, &st);
    cr_assert_eq(r.n, 2);
    cr_assert_float_eq(r.loglik[0], -1 * LN2, EPS);
    cr_assert_float_eq(r.loglik[1], -2 * LN2, EPS);
    cr_assert_eq(r.pred, 0);
    cr_assert_eq(st.acc, 0.0);
    /* lm-eval 0.4: completion_len over doc_to_choice = the contexts. */
    cr_assert_eq(r.denom[0], 3.0);
    /* The shared prefix [BOS, a] runs once: 2 + 2 + 3 inputs instead of 3 + 4. */
    cr_assert_eq(st.tokens_unshared, 7);
    cr_assert_eq(st.tokens_forward, 2 + 1 + 2);
}

Test(eval_mc, shared_context_runs_once) {
    const char *ctx[] = {"a c a c"}, *ch[] = {"b", "c", "bd"};
    pq_mc_item item = {1, ctx, 3, ch, 0};
    pq_mc_stats st;
    score1(&item, 64, &st);
    /* [BOS a ' ' c ' ' a ' ' c] = 8 prefix tokens; continuations [' b'], [' ', c],
     * [' b', d] read 0, 1, 1 more. */
    cr_assert_eq(st.tokens_forward, 8 + 0 + 1 + 1);
    cr_assert_eq(st.tokens_unshared, 8 + 9 + 9);
    cr_assert_eq(st.tokens_scored, 1 + 2 + 2);
}

Test(eval_mc, long_sequences_lose_tokens_on_the_left) {
    /* max_len 3: [BOS a ' ' c ' b'] has 5 tokens; lm-eval keeps the last 4,
     * the model reads [a ' ' c] and predicts ' b'. */
    spy s = {.V = 8, .max_len = 3};
    pq_lm lm = spy_lm(&s);
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    const char *ctx[] = {"a c"}, *ch[] = {"b"};
    pq_mc_item item = {1, ctx, 1, ch, 0};
    pq_mc_stats st;
    cr_assert_eq(pq_mc_score(&lm, &tok, &item, 1, NULL, &st, NULL, NULL), 0, "%s", pq_error());
    cr_assert_eq(s.n_seen, 1);
    cr_assert_eq(s.seen_len[0], 3);
    cr_assert_eq(s.seen[0][0], 1);
    cr_assert_eq(s.seen[0][2], 3);
    cr_assert_eq(st.truncated_requests, 1);
}

Test(eval_mc, stderr_is_the_sample_stderr_of_the_mean) {
    /* Three items, only the first right: mean 1/3, sample variance 1/3,
     * stderr sqrt(1/3) / sqrt(3) = 1/3. */
    const char *ctx[] = {"a"}, *ch[] = {"b", "c"};
    pq_mc_item items[3] = {{1, ctx, 2, ch, 0}, {1, ctx, 2, ch, 1}, {1, ctx, 2, ch, 1}};
    pq_lm lm = bigram_lm(&bg, 64);
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    pq_mc_stats st;
    cr_assert_eq(pq_mc_score(&lm, &tok, items, 3, NULL, &st, NULL, NULL), 0);
    cr_assert_eq(st.items, 3);
    cr_assert_float_eq(st.acc, 1.0 / 3, 1e-15);
    cr_assert_float_eq(st.acc_stderr, 1.0 / 3, 1e-15);
    cr_assert_float_eq(st.chance, 0.5, 1e-15);
    cr_assert(isnan(pq_mean_stderr((double[]){1}, 1)));
}

Test(eval_mc, malformed_items_are_errors) {
    pq_lm lm = bigram_lm(&bg, 64);
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    pq_mc_stats st;
    const char *ctx[] = {"a"}, *ch[] = {"b", "c"}, *empty[] = {"b", ""};
    pq_mc_item bad_gold[2] = {{1, ctx, 2, ch, 0}, {1, ctx, 2, ch, 2}};
    cr_assert_eq(pq_mc_score(&lm, &tok, bad_gold, 2, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "item 1") && strstr(pq_error(), "gold"), "%s", pq_error());
    pq_mc_item bad_choice = {1, ctx, 2, empty, 0};
    cr_assert_eq(pq_mc_score(&lm, &tok, &bad_choice, 1, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "empty"), "%s", pq_error());
    const char *two[] = {"a", "c"};
    pq_mc_item bad_wino = {2, two, 2, ch, 0};
    cr_assert_eq(pq_mc_score(&lm, &tok, &bad_wino, 1, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "exactly one continuation"), "%s", pq_error());
    /* A continuation the tokenizer cannot encode. */
    const char *unk[] = {"x"};
    pq_mc_item bad_text = {1, ctx, 1, unk, 0};
    cr_assert_eq(pq_mc_score(&lm, &tok, &bad_text, 1, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "item 0"), "%s", pq_error());
    /* A continuation longer than the model's context. */
    pq_lm short_lm = bigram_lm(&bg, 1);
    const char *longc[] = {"bd"};
    pq_mc_item too_long = {1, ctx, 1, longc, 0};
    cr_assert_eq(pq_mc_score(&short_lm, &tok, &too_long, 1, NULL, &st, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "longer than the model's context"), "%s", pq_error());
}

Test(eval_mc, vocab_mismatch_is_an_error) {
    pq_lm lm = bigram_lm(&bg, 64);
    pq_eval_tokenizer tok = toy_tokenizer(&ttok);
    cr_assert_eq(pq_lm_check_tokenizer(&lm, &tok, "m.ckpt", "t.bpe"), 0);
    tok.vocab_size = 9;
    cr_assert_eq(pq_lm_check_tokenizer(&lm, &tok, "m.ckpt", "t.bpe"), -1);
    cr_assert(strstr(pq_error(), "m.ckpt") && strstr(pq_error(), "9"), "%s", pq_error());
}
