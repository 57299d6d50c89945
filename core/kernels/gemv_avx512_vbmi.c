/* gemv_avx512_vbmi.c — the AVX-512 kernels again, for CPUs with AVX512-VBMI:
 * the int8 T1_6 kernel looks its trits up with byte permutes (see the top of
 * gemv_avx512.c). gemv.c picks this version when CPUID reports VBMI. */
#define PQ_AVX512_VBMI 1
#include "kernels/gemv_avx512.c"
