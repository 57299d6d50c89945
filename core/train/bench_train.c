/* Placeholder until the training engine (issue #3) lands: fails loudly. */
#include "train/bench_train.h"

#include "base/util.h"

int pq_bench_train(const char *out_dir, int quick) {
    (void)out_dir, (void)quick;
    return pq_fail("bench train: not implemented yet (issue #3)");
}
