#include "base/blas.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

/* Declared here to avoid depending on a particular cblas.h variant. */
extern char *openblas_get_config(void);

/* Kernels of OpenBLAS 0.3.21's DYNAMIC_ARCH build that use no AVX2 (names as
 * openblas_get_corename() reports them). Unknown names are left alone. */
static const char *const kernels_without_avx2[] = {
    "Katmai",  "Coppermine", "Northwood", "Prescott", "Banias",       "Atom",      "Core2",
    "Penryn",  "Dunnington", "Nehalem",   "Athlon",   "Opteron",      "Opteron_SSE3", "Barcelona",
    "Nano",    "Sandybridge", "Bobcat",   "Bulldozer", "Piledriver",  "Steamroller",
};

const char *pq_blas_better_core(const char *detected, unsigned flags) {
    if (!detected) return NULL;
    int old = 0;
    for (size_t i = 0; i < sizeof kernels_without_avx2 / sizeof *kernels_without_avx2; i++)
        if (!strcasecmp(detected, kernels_without_avx2[i])) old = 1;
    if (!old) return NULL;
    const unsigned avx2 = PQ_CPU_AVX2 | PQ_CPU_FMA;
    if ((flags & avx2) != avx2) return NULL;
    return (flags & PQ_CPU_AVX512_SKX) == PQ_CPU_AVX512_SKX ? "SkylakeX" : "Haswell";
}

unsigned pq_cpu_simd_flags(void) {
    /* __builtin_cpu_supports also asks the OS (XGETBV) whether the registers are saved. */
    __builtin_cpu_init();
    unsigned f = 0;
    if (__builtin_cpu_supports("avx2")) f |= PQ_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= PQ_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= PQ_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= PQ_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= PQ_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512dq")) f |= PQ_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512cd")) f |= PQ_CPU_AVX512CD;
    return f;
}

/* The decision travels to the re-executed process (and to child pq processes,
 * which inherit it and decide nothing) in these variables. */
#define ENV_STAGE "PQ_BLAS_CORE_SET" /* "detect": OpenBLAS detected the CPU in this process; "1": decided */
#define ENV_DETECTED "PQ_BLAS_DETECTED"
#define ENV_CHOSEN "PQ_BLAS_CHOSEN"
#define ENV_REASON "PQ_BLAS_REASON"
#define ENV_OVERRIDE "PQ_BLAS_OVERRIDE" /* set when pq replaced OpenBLAS's choice */

static void record(const char *detected, const char *chosen, const char *reason) {
    setenv(ENV_DETECTED, detected ? detected : "", 1);
    setenv(ENV_CHOSEN, chosen, 1);
    setenv(ENV_REASON, reason, 1);
}

/* OpenMP (libgomp) reads its wait policy when it loads, like OpenBLAS its
 * kernel: pq's loops must wait passively, or idle workers spin on the core
 * that OpenBLAS needs (on 2 shared vCPUs that can halve speed). Returns 1 if
 * the variable had to be set (a re-execution is then needed). */
static int want_passive_openmp(void) {
    if (getenv("OMP_WAIT_POLICY")) return 0;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    return 1;
}

static void reexec(char **argv) {
    execv("/proc/self/exe", argv);
    /* If re-execution is impossible we carry on with the kernel already loaded;
     * the manifest still records which one that is. */
}

static void describe_flags(unsigned flags, char *buf, size_t n) {
    if ((flags & PQ_CPU_AVX512_SKX) == PQ_CPU_AVX512_SKX)
        snprintf(buf, n, "AVX-512 (F, BW, VL, DQ, CD)");
    else
        snprintf(buf, n, "AVX2 and FMA");
}

/* In a process where OpenBLAS chose its kernel from CPUID: keep it, or replace
 * a kernel without AVX2 on a CPU that has better. Returns 1 if OPENBLAS_CORETYPE
 * was set (a re-execution is then needed). */
static int correct_detection(void) {
    const char *detected = getenv("PQ_BLAS_TEST_DETECTED"); /* tests: pretend OpenBLAS detected this */
    if (!detected || !*detected) detected = pq_blas_core();
    unsigned flags = pq_cpu_simd_flags();
    /* Without DYNAMIC_ARCH, OpenBLAS has one kernel and ignores OPENBLAS_CORETYPE. */
    const char *config = openblas_get_config();
    const char *better = config && strstr(config, "DYNAMIC_ARCH") ? pq_blas_better_core(detected, flags) : NULL;
    if (!better) {
        record(detected, detected, "detected by OpenBLAS");
        return 0;
    }
    char has[64], reason[256];
    describe_flags(flags, has, sizeof has);
    snprintf(reason, sizeof reason,
             "OpenBLAS detected %s, a kernel without AVX2, on a CPU with %s; pq chose %s "
             "(PQ_BLAS_CORE=<name> overrides)",
             detected, has, better);
    record(detected, better, reason);
    setenv(ENV_OVERRIDE, "1", 1);
    setenv("OPENBLAS_CORETYPE", better, 1);
    return 1;
}

void pq_select_blas_core(int argc, char **argv) {
    (void)argc;
    const char *stage = getenv(ENV_STAGE);
    if (stage && !strcmp(stage, "1")) return; /* decided, by this process before exec or by a parent pq */
    int need_exec = want_passive_openmp();
    const char *wanted = getenv("PQ_BLAS_CORE");
    const char *current = getenv("OPENBLAS_CORETYPE");
    if (wanted && *wanted) {
        if (!current || strcmp(current, wanted) != 0) need_exec = 1;
        setenv("OPENBLAS_CORETYPE", wanted, 1);
        record(NULL, wanted, "forced by PQ_BLAS_CORE");
    } else if (current) {
        /* OpenBLAS loaded someone else's choice: let it detect the CPU, then decide. */
        unsetenv("OPENBLAS_CORETYPE");
        setenv(ENV_STAGE, "detect", 1);
        reexec(argv);
        record(NULL, pq_blas_core(), "OPENBLAS_CORETYPE was set and pq could not re-execute itself");
    } else if (correct_detection()) {
        need_exec = 1;
    }
    setenv(ENV_STAGE, "1", 1);
    if (need_exec) reexec(argv);
}

static const char *env_or_null(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *pq_blas_core_detected(void) { return env_or_null(ENV_DETECTED); }
const char *pq_blas_core_chosen(void) { return env_or_null(ENV_CHOSEN); }
const char *pq_blas_core_reason(void) { return env_or_null(ENV_REASON); }

void pq_blas_note_override(void) {
    static int said;
    if (said || !env_or_null(ENV_OVERRIDE) || !pq_blas_core_reason()) return;
    said = 1;
    fprintf(stderr, "pq: note: %s\n", pq_blas_core_reason());
}

const char *pq_blas_core(void) { return openblas_get_corename(); }

void pq_blas_set_threads(int n) { openblas_set_num_threads(n); }

/* OpenBLAS's level3_thread.c: job_t is BLASLONG working[MAX_CPU_NUMBER][CACHE_LINE_SIZE (8)
 * x DIVIDE_RATE (2)], and MAX_CPU_NUMBER of them are malloc'ed per call when MAX_CPU_NUMBER
 * exceeds BLAS3_MEM_ALLOC_THRESHOLD (32; below, they live on the stack). */
static size_t blas3_job_array_bytes(const char *config) {
    const char *p = config ? strstr(config, "MAX_THREADS=") : NULL;
    if (!p) return 0;
    long n = strtol(p + strlen("MAX_THREADS="), NULL, 10);
    if (n <= 32 || n > 4096) return 0;
    return (size_t)n * (size_t)n * 8 * 2 * sizeof(long);
}

size_t pq_malloc_mmap_threshold(const char *config) {
    const size_t floor = (size_t)256 << 10, ceiling = (size_t)32 << 20; /* glibc's HEAP_MAX / 2 */
    size_t job = blas3_job_array_bytes(config ? config : openblas_get_config());
    size_t t = job ? job + ((size_t)64 << 10) : 0; /* room for malloc's chunk header and rounding */
    return t < floor ? floor : t > ceiling ? ceiling : t;
}

void pq_set_malloc_thresholds(void) {
    size_t t = pq_malloc_mmap_threshold(NULL);
    mallopt(M_MMAP_THRESHOLD, (int)t);
    mallopt(M_TRIM_THRESHOLD, (int)(2 * t));
}
