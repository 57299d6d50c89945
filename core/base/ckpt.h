/* ckpt.h — the checkpoint container: named tensors + JSON metadata.
 *
 * On disk (all integers little-endian):
 *   header (64 bytes): magic "PQCKPT01", u32 format version, u32 tensor count,
 *       u64 raw payload bytes, u64 compressed payload bytes,
 *       32-byte SHA-256 of the raw payload
 *   payload, one zstd frame:
 *       u32 metadata length, metadata (JSON text)
 *       per tensor: u16 name length, name, u8 dtype, u8 ndim, u64 dims[ndim], data
 * Loading checks every size and the checksum before trusting a byte, so a
 * truncated, corrupted or wrong-version file is an error that names the file. */
#ifndef PQ_CKPT_H
#define PQ_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PQ_CKPT_VERSION 1
#define PQ_CKPT_MAX_DIMS 4

typedef enum { PQ_F32 = 0, PQ_F64 = 1, PQ_I32 = 2, PQ_I64 = 3, PQ_U8 = 4, PQ_U16 = 5, PQ_U32 = 6 } pq_dtype;

size_t pq_dtype_size(pq_dtype t);
const char *pq_dtype_name(pq_dtype t);

typedef struct {
    char *name;
    pq_dtype dtype;
    int ndim;
    int64_t dims[PQ_CKPT_MAX_DIMS];
    int64_t numel;
    void *data;   /* owned by the checkpoint unless borrowed */
    int borrowed; /* pq_ckpt_add_ref: data belongs to the caller */
} pq_tensor;

typedef struct {
    json_t *meta; /* a JSON object, owned; add what the writer wants to remember */
    int count, cap;
    pq_tensor *tensors;
} pq_ckpt;

pq_ckpt *pq_ckpt_new(void);
void pq_ckpt_free(pq_ckpt *c);

/* Copies data in. Names must be unique (pq_die on duplicates: a programming error). */
pq_tensor *pq_ckpt_add(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims, const void *data);
/* Refers to data without copying it (a checkpoint about to be saved need not hold a
 * second copy of a model): data must stay valid and unchanged while c is in use. */
pq_tensor *pq_ckpt_add_ref(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims, const void *data);
pq_tensor *pq_ckpt_add_f32(pq_ckpt *c, const char *name, const float *data, int64_t n);

/* NULL if absent. */
const pq_tensor *pq_ckpt_find(const pq_ckpt *c, const char *name);
/* The tensor's data if it exists with this dtype and element count; else NULL +
 * pq_error() naming the tensor and what differs. */
const void *pq_ckpt_expect(const pq_ckpt *c, const char *name, pq_dtype dtype, int64_t numel);

/* Atomic (temp + rename). level: zstd level, 0 = default (3). */
int pq_ckpt_save(const pq_ckpt *c, const char *path, int level);
/* NULL + pq_error() ("<path>: truncated ...", "<path>: checksum mismatch", ...). */
pq_ckpt *pq_ckpt_load(const char *path);
/* The metadata alone (no tensors, nothing verified past it) and the payload's size in
 * bytes, about what loading the whole checkpoint costs: for planning memory. */
pq_ckpt *pq_ckpt_peek(const char *path, uint64_t *payload_bytes);

#endif
