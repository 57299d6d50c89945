#include "eval/windows.h"

#include "base/util.h"

int64_t pq_rolling_windows(int64_t n, int64_t max_len, int64_t context_len, pq_window **out) {
    *out = NULL;
    if (max_len < 1 || context_len < 1 || context_len > max_len)
        return pq_fail("rolling windows: need 1 <= context_len (%lld) <= max_len (%lld)", (long long)context_len,
                       (long long)max_len);
    if (n <= 0) return 0;
    /* "+1 offset, going from input->preds" in lm-eval: a window of L inputs
     * predicts up to L - context_len + 1 tokens. */
    int64_t pred_len = max_len - context_len + 1;
    int64_t first = PQ_MIN(max_len, n);
    int64_t cap = 1 + (n - first + pred_len - 1) / pred_len;
    pq_window *w = pq_calloc((size_t)cap, sizeof *w);
    int64_t count = 0, predicted = first;
    /* First window: input [prefix] + tokens[:first-1], targets tokens[:first];
     * make_disjoint_window leaves the prefix alone as the context. */
    w[count++] = (pq_window){.ctx_start = -1, .ctx_len = 1, .pred_start = 0, .pred_len = first};
    while (predicted < n) {
        int64_t wlen = PQ_MIN(n - predicted, pred_len);
        int64_t end = predicted + wlen;
        /* input a = tokens[end - L - 1 : end - 1]; targets b = tokens[end - wlen : end];
         * disjoint context = a[:len(a) - (len(b) - 1)] = tokens[end - L - 1 : end - wlen]. */
        int64_t a_start = end - max_len - 1;
        w[count++] = (pq_window){.ctx_start = a_start, .ctx_len = (end - wlen) - a_start, .pred_start = end - wlen,
                                 .pred_len = wlen};
        predicted += wlen;
    }
    *out = w;
    return count;
}
