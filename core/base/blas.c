#include "base/blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

void pq_select_blas_core(int argc, char **argv) {
    (void)argc;
    if (getenv("PQ_BLAS_CORE_SET")) return; /* already re-executed */
    const char *wanted = getenv("PQ_BLAS_CORE");
    const char *current = getenv("OPENBLAS_CORETYPE");
    int need_change = wanted && *wanted ? !current || strcmp(current, wanted) != 0 : current != NULL;
    setenv("PQ_BLAS_CORE_SET", "1", 1);
    /* OpenMP (libgomp) reads its wait policy when it loads, like OpenBLAS its
     * kernel: pq's loops must wait passively, or idle workers spin on the core
     * that OpenBLAS needs (on 2 shared vCPUs that can halve speed). */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        need_change = 1;
    }
    if (!need_change) return;
    if (wanted && *wanted)
        setenv("OPENBLAS_CORETYPE", wanted, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    execv("/proc/self/exe", argv);
    /* If re-execution is impossible we carry on with the kernel already loaded;
     * the manifest still records which one that is. */
}

const char *pq_blas_core(void) { return openblas_get_corename(); }

void pq_blas_set_threads(int n) { openblas_set_num_threads(n); }
