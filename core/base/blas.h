/* blas.h — choosing and describing the OpenBLAS kernel in use.
 *
 * OpenBLAS picks its kernel when the library loads, from OPENBLAS_CORETYPE or
 * CPUID. Different kernels give different low bits, and the wrong one can halve
 * speed (this workplace exports OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs), so
 * pq decides deliberately: by default it clears OPENBLAS_CORETYPE and lets
 * OpenBLAS detect the CPU; PQ_BLAS_CORE=<name> forces a kernel. Because the
 * choice is read at load time, pq re-executes itself once when it must change
 * the variable. The kernel actually used is recorded in every manifest. */
#ifndef PQ_BLAS_H
#define PQ_BLAS_H

/* Call first thing in main(); may execv() the same program with a fixed environment. */
void pq_select_blas_core(int argc, char **argv);
/* OpenBLAS's name for the kernel in use, e.g. "SkylakeX". */
const char *pq_blas_core(void);
/* Sets OpenBLAS's thread count. */
void pq_blas_set_threads(int n);

#endif
