/* blas.h — choosing and describing the OpenBLAS kernel in use.
 *
 * OpenBLAS picks its kernel when the library loads, from OPENBLAS_CORETYPE or
 * CPUID. Different kernels give different low bits, and the wrong one can halve
 * speed (this workplace exports OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs), so
 * pq decides deliberately: by default it clears OPENBLAS_CORETYPE and lets
 * OpenBLAS detect the CPU; PQ_BLAS_CORE=<name> forces a kernel. Because the
 * choice is read at load time, pq re-executes itself when it must change the
 * variable (at most twice: once to let OpenBLAS detect, once to correct it).
 *
 * OpenBLAS 0.3.21 (Debian 12) does not know recent CPUs (e.g. Intel family 6
 * model 207) and silently falls back to its Prescott kernels, ~10x slower. When
 * OpenBLAS detects a kernel without AVX2 on a CPU that has AVX-512 or AVX2+FMA,
 * pq forces SkylakeX or Haswell instead and says so once on stderr.
 *
 * What OpenBLAS detected, what was chosen and why are recorded in every
 * manifest ("libraries": openblas_core, openblas_core_choice). */
#ifndef PQ_BLAS_H
#define PQ_BLAS_H

#include <stddef.h>

/* Call first thing in main(); may execv() the same program with a fixed environment. */
void pq_select_blas_core(int argc, char **argv);
/* OpenBLAS's name for the kernel in use, e.g. "SkylakeX". */
const char *pq_blas_core(void);
/* Sets OpenBLAS's thread count. */
void pq_blas_set_threads(int n);

/* The mmap threshold pq gives glibc (mallopt M_MMAP_THRESHOLD) for the OpenBLAS whose
 * openblas_get_config() string is `config` (NULL: the one loaded). Blocks from 256 KiB
 * come from mmap so that freeing them gives them back (a checkpoint's tensors, loaded and
 * freed one by one, otherwise fragment the heap), except the work array OpenBLAS's
 * threaded level-3 path (sgemm at 2+ threads) mallocs and frees on every call when built
 * for more than 32 threads: MAX_THREADS^2 x 128 bytes, 512 KiB for Debian's 64. At 256 KiB
 * every such call mapped, faulted in and unmapped it, ~12,000 times a step of the s model,
 * and 2 threads ran no faster than 1 (README, Training). The threshold is raised just
 * above that array (at most glibc's 32 MiB ceiling). */
size_t pq_malloc_mmap_threshold(const char *config);
/* Sets that threshold (mallopt) for the OpenBLAS loaded, and the heap's trim threshold to
 * twice it, glibc's own pairing: at its 128 KiB default, freeing the array at the top of
 * the heap gave the pages back and the next call faulted them in again. */
void pq_set_malloc_thresholds(void);

/* SIMD features of this CPU (usable by the OS) that decide OpenBLAS's kernel. */
enum {
    PQ_CPU_AVX2 = 1 << 0,
    PQ_CPU_FMA = 1 << 1,
    PQ_CPU_AVX512F = 1 << 2,
    PQ_CPU_AVX512BW = 1 << 3,
    PQ_CPU_AVX512VL = 1 << 4,
    PQ_CPU_AVX512DQ = 1 << 5,
    PQ_CPU_AVX512CD = 1 << 6,
};
#define PQ_CPU_AVX512_SKX (PQ_CPU_AVX512F | PQ_CPU_AVX512BW | PQ_CPU_AVX512VL | PQ_CPU_AVX512DQ | PQ_CPU_AVX512CD)
unsigned pq_cpu_simd_flags(void);

/* The decision, a pure function: the OpenBLAS kernel pq should force instead of
 * `detected` (OpenBLAS's own choice) on a CPU with `flags`, or NULL to keep it.
 * Only kernels without AVX2 (Prescott, Core2, Nehalem, Sandybridge, ...) are
 * replaced: SkylakeX when the CPU has AVX-512 F/BW/VL/DQ/CD, else Haswell when
 * it has AVX2 and FMA. Names are compared case-insensitively. */
const char *pq_blas_better_core(const char *detected, unsigned flags);

/* The choice made at start-up, for manifests: what OpenBLAS detected (NULL when
 * PQ_BLAS_CORE forced a kernel or nothing was decided), the kernel pq asked for
 * (NULL when nothing was decided) and why (a sentence, NULL likewise). */
const char *pq_blas_core_detected(void);
const char *pq_blas_core_chosen(void);
const char *pq_blas_core_reason(void);
/* Prints the reason on stderr, once per process, when pq overrode OpenBLAS. */
void pq_blas_note_override(void);

#endif
