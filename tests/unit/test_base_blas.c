/* Which OpenBLAS kernel pq forces when OpenBLAS's own detection falls short
 * (OpenBLAS 0.3.21 runs its Prescott kernels on CPUs it does not know), and the
 * mmap threshold that keeps OpenBLAS's per-call work array off mmap. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <sys/resource.h>

#include "base/blas.h"
#include "under_asan.h"

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

/* The mmap threshold pq sets: 256 KiB, above OpenBLAS's per-call work array when that is larger. */
Test(blas, mmap_threshold_clears_openblas_work_array) {
    const char *debian = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64";
    cr_expect_gt(pq_malloc_mmap_threshold(debian), (size_t)64 * 64 * 128 + 4096);
    cr_expect_lt(pq_malloc_mmap_threshold(debian), (size_t)1 << 20);
    cr_expect_eq(pq_malloc_mmap_threshold("OpenBLAS 0.3.21 Haswell MAX_THREADS=32"), (size_t)256 << 10);
    cr_expect_eq(pq_malloc_mmap_threshold("OpenBLAS 0.3.21 Haswell"), (size_t)256 << 10);
    cr_expect_gt(pq_malloc_mmap_threshold("OpenBLAS 0.3.26 MAX_THREADS=256"), (size_t)256 * 256 * 128);
    cr_expect_eq(pq_malloc_mmap_threshold("OpenBLAS MAX_THREADS=4096"), (size_t)32 << 20);
}

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* The regression it fixes: with the threshold at 256 KiB, every sgemm OpenBLAS ran on 2
 * threads mapped a fresh 516 KiB array (page faults, an munmap per call). With pq's
 * threshold, 400 such calls fault in (nearly) nothing new. */

Test(blas, threaded_sgemm_maps_no_memory_per_call) {
#ifdef UNDER_ASAN
    cr_skip_test("glibc's malloc thresholds do not apply under AddressSanitizer");
#endif
    pq_set_malloc_thresholds();
    openblas_set_num_threads(2);
    if (openblas_get_num_threads() < 2) cr_skip_test("OpenBLAS runs 1 thread here");
    enum { M = 64, N = 256, K = 64 }; /* 1M multiply-adds: above OpenBLAS's threading cut-off */
    static float a[M * K], b[N * K], c[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7);
    for (int i = 0; i < N * K; i++) b[i] = (float)(i % 5);
    for (int r = 0; r < 10; r++) /* warm-up: OpenBLAS's buffers, the heap's first growth */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    long before = minor_faults();
    for (int r = 0; r < 400; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    cr_expect_lt(minor_faults() - before, 40, "%ld page faults in 400 sgemm calls", minor_faults() - before);
}
