/* Which OpenBLAS kernel pq forces when OpenBLAS's own detection falls short
 * (OpenBLAS 0.3.21 runs its Prescott kernels on CPUs it does not know). */
#include <criterion/criterion.h>

#include "base/blas.h"

static const unsigned avx2_fma = PQ_CPU_AVX2 | PQ_CPU_FMA;
static const unsigned avx512 = PQ_CPU_AVX2 | PQ_CPU_FMA | PQ_CPU_AVX512_SKX;

Test(blas, prescott_on_an_avx512_cpu_becomes_skylakex) {
    cr_expect_str_eq(pq_blas_better_core("Prescott", avx512), "SkylakeX");
    cr_expect_str_eq(pq_blas_better_core("PRESCOTT", avx512), "SkylakeX");
}

Test(blas, every_kernel_without_avx2_is_replaced) {
    const char *old[] = {"Katmai", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Barcelona",
                         "Bulldozer", "Piledriver", "Steamroller", "Opteron_SSE3"};
    for (size_t i = 0; i < sizeof old / sizeof *old; i++) {
        const char *c = pq_blas_better_core(old[i], avx512);
        cr_expect(c && !strcmp(c, "SkylakeX"), "%s on AVX-512 gave %s", old[i], c ? c : "(kept)");
        c = pq_blas_better_core(old[i], avx2_fma);
        cr_expect(c && !strcmp(c, "Haswell"), "%s on AVX2+FMA gave %s", old[i], c ? c : "(kept)");
    }
}

Test(blas, avx2_without_full_avx512_becomes_haswell) {
    cr_expect_str_eq(pq_blas_better_core("Prescott", avx2_fma), "Haswell");
    /* AVX-512F alone (e.g. Knights Landing) lacks what the SkylakeX kernels use */
    cr_expect_str_eq(pq_blas_better_core("Prescott", avx2_fma | PQ_CPU_AVX512F), "Haswell");
    cr_expect_str_eq(pq_blas_better_core("Nehalem", avx512 & ~(unsigned)PQ_CPU_AVX512DQ), "Haswell");
}

Test(blas, a_cpu_without_avx2_and_fma_keeps_openblas_choice) {
    cr_expect_null(pq_blas_better_core("Prescott", 0));
    cr_expect_null(pq_blas_better_core("Prescott", PQ_CPU_AVX2));
    cr_expect_null(pq_blas_better_core("Sandybridge", PQ_CPU_FMA));
}

Test(blas, known_avx2_kernels_and_unknown_names_are_kept) {
    const char *good[] = {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator", "NewCore", ""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_expect_null(pq_blas_better_core(good[i], avx512), "%s was replaced", good[i]);
    cr_expect_null(pq_blas_better_core(NULL, avx512));
}

Test(blas, cpu_flags_are_consistent) {
    unsigned f = pq_cpu_simd_flags();
    if (f & PQ_CPU_AVX512F) cr_expect(f & PQ_CPU_AVX2, "AVX-512F without AVX2");
    cr_expect_eq(f & PQ_CPU_AVX2, __builtin_cpu_supports("avx2") ? (unsigned)PQ_CPU_AVX2 : 0u);
}
