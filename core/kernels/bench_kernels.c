/* Placeholder until the kernels (issue #7) land: fails loudly. */
#include "kernels/bench_kernels.h"

#include "base/util.h"

int pq_bench_kernels(const char *out_dir, int quick) {
    (void)out_dir, (void)quick;
    return pq_fail("bench kernels: not implemented yet (issue #7)");
}
