/* gptq.c — RTN and GPTQ for one linear layer (see gptq.h). */
#include "quant/gptq.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* LAPACK from OpenBLAS (column-major, Fortran calling convention). */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

void pq_gptq_hessian_add(double *H, int cols, const float *X, int n) {
    /* XᵀX of this batch in float by one syrk, accumulated into the double H so
     * that many batches add up without losing the small ones. */
    float *G = pq_calloc((size_t)cols * cols, sizeof *G);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, cols, n, 2.0f, X, cols, 0.0f, G, cols);
    for (int i = 0; i < cols; i++)
        for (int j = i; j < cols; j++) {
            H[(size_t)i * cols + j] += G[(size_t)i * cols + j];
            if (j != i) H[(size_t)j * cols + i] += G[(size_t)i * cols + j];
        }
    free(G);
}

static inline float quant1(const pq_quantizer *q, float w, float alpha) {
    float a = pq_quant_alpha(q, alpha);
    return pq_quant_qhat(q, w / a) * a;
}

static inline uint8_t code1(const pq_quantizer *q, float w, float alpha) {
    float a = pq_quant_alpha(q, alpha);
    return (uint8_t)pq_quant_code(q, w / a);
}

void pq_rtn_quantize(const pq_quantizer *q, float *W, const float *alpha, int rows, int cols, uint8_t *codes) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t k = (size_t)i * cols + j;
            if (codes) codes[k] = code1(q, W[k], alpha[i]);
            W[k] = quant1(q, W[k], alpha[i]);
        }
}

/* U with H⁻¹ = UᵀU, row-major upper triangle (lower zeroed), in place over Hd.
 * A symmetric row-major matrix is its own column-major image, and LAPACK's
 * column-major lower factor L read row-major is Lᵀ: the upper factor we need. */
static int inverse_cholesky_upper(double *Hd, int n) {
    int info = 0;
    dpotrf_("L", &n, Hd, &n, &info);
    if (info != 0) return pq_fail("gptq: Hessian is not positive definite (leading minor %d); raise the damping", info);
    dpotri_("L", &n, Hd, &n, &info);
    if (info != 0) return pq_fail("gptq: Hessian is singular (pivot %d)", info);
    /* dpotri filled the column-major lower triangle = row-major upper: mirror it. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) Hd[(size_t)j * n + i] = Hd[(size_t)i * n + j];
    dpotrf_("L", &n, Hd, &n, &info);
    if (info != 0) return pq_fail("gptq: inverse Hessian is not positive definite (leading minor %d)", info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) Hd[(size_t)i * n + j] = 0.0;
    return 0;
}

int pq_gptq_quantize(const pq_quantizer *q, float *W, const float *alpha, int rows, int cols, const double *H, double damp,
                     int block, uint8_t *codes) {
    if (block < 1) block = PQ_GPTQ_BLOCK;
    const size_t nn = (size_t)cols * cols;
    double *Hd = pq_malloc(nn * sizeof *Hd);
    memcpy(Hd, H, nn * sizeof *Hd);
    /* Work on Wᵀ [cols, rows] so that a column of W (one input feature) is contiguous. */
    float *Wt = pq_malloc((size_t)cols * rows * sizeof *Wt);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) Wt[(size_t)j * rows + i] = W[(size_t)i * cols + j];

    double mean_diag = 0.0;
    for (int j = 0; j < cols; j++) {
        if (Hd[(size_t)j * cols + j] == 0.0) { /* an input that never fired: its weights cannot matter */
            Hd[(size_t)j * cols + j] = 1.0;
            memset(Wt + (size_t)j * rows, 0, (size_t)rows * sizeof *Wt);
        }
        mean_diag += Hd[(size_t)j * cols + j];
    }
    mean_diag /= cols;
    for (int j = 0; j < cols; j++) Hd[(size_t)j * cols + j] += damp * mean_diag;
    if (inverse_cholesky_upper(Hd, cols) < 0) {
        free(Hd), free(Wt);
        return -1;
    }
    /* U in float, written over Hd's own memory (float k lands at or before double k, read
     * first), which then shrinks: the factor never needs a second cols x cols buffer. */
    unsigned char *bytes = (unsigned char *)Hd; /* byte copies: float and double views of one buffer */
    for (size_t k = 0; k < nn; k++) {
        double d;
        memcpy(&d, bytes + k * sizeof d, sizeof d);
        float f = (float)d;
        memcpy(bytes + k * sizeof f, &f, sizeof f);
    }
    float *U = pq_realloc(Hd, nn * sizeof *U);

    float *Err = pq_malloc((size_t)block * rows * sizeof *Err); /* [count, rows] */
    for (int i1 = 0; i1 < cols; i1 += block) {
        const int i2 = PQ_MIN(i1 + block, cols), count = i2 - i1;
        for (int c = 0; c < count; c++) {
            const int j = i1 + c;
            float *w = Wt + (size_t)j * rows, *err = Err + (size_t)c * rows;
            const float d = U[(size_t)j * cols + j];
            for (int r = 0; r < rows; r++) {
                float qv = quant1(q, w[r], alpha[r]);
                if (codes) codes[(size_t)r * cols + j] = code1(q, w[r], alpha[r]);
                err[r] = (w[r] - qv) / d;
                w[r] = qv;
            }
            /* Spread the error over the rest of this block: W[:, k] -= err·U[j, k]. */
            for (int k = j + 1; k < i2; k++) {
                const float u = U[(size_t)j * cols + k];
                float *wk = Wt + (size_t)k * rows;
                for (int r = 0; r < rows; r++) wk[r] -= err[r] * u;
            }
        }
        /* ... and, once per block, over every later column: Wᵀ[i2:, :] -= U[i1:i2, i2:]ᵀ · Err. */
        if (i2 < cols)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols - i2, rows, count, -1.0f, U + (size_t)i1 * cols + i2, cols,
                        Err, rows, 1.0f, Wt + (size_t)i2 * rows, rows);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) W[(size_t)i * cols + j] = Wt[(size_t)j * rows + i];
    free(Err), free(U), free(Wt);
    return 0;
}

double pq_gptq_relative_error(const float *W, const float *W_hat, int rows, int cols, const double *H) {
    double num = 0.0, den = 0.0;
    double *d = pq_malloc((size_t)cols * sizeof *d), *w = pq_malloc((size_t)cols * sizeof *w);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            w[j] = W[(size_t)i * cols + j];
            d[j] = w[j] - W_hat[(size_t)i * cols + j];
        }
        for (int a = 0; a < cols; a++) {
            double hd = 0.0, hw = 0.0;
            for (int b = 0; b < cols; b++) hd += H[(size_t)a * cols + b] * d[b], hw += H[(size_t)a * cols + b] * w[b];
            num += d[a] * hd, den += w[a] * hw;
        }
    }
    free(d), free(w);
    return den > 0 ? num / den : 0.0;
}
