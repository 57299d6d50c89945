/* safetensors.h — Hugging Face's safetensors format, read and written.
 *
 * A file is: u64 little-endian N, N bytes of JSON header
 *   {"__metadata__": {str: str}?, "<name>": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * then the data; offsets count from the end of the header. A sharded model is
 * model.safetensors.index.json {"weight_map": {"<name>": "<file>"}} beside its files.
 * The reader checks every size before trusting it (a truncated file, offsets outside
 * the file, a size that does not match the shape) and reads tensors one at a time
 * (fseek + fread), so a large checkpoint is never held whole in memory. */
#ifndef PQ_SAFETENSORS_H
#define PQ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum { PQ_ST_F32, PQ_ST_F16, PQ_ST_BF16, PQ_ST_F64, PQ_ST_U8, PQ_ST_OTHER } pq_st_dtype;

typedef struct {
    char *name;
    char *file;        /* the file it lives in (owned) */
    pq_st_dtype dtype;
    char dtype_name[16];
    int ndim;
    int64_t shape[4];
    int64_t numel;
    uint64_t offset, bytes; /* absolute file offset of the data, and its length */
} pq_st_tensor;

typedef struct {
    int n, cap;
    pq_st_tensor *t;
} pq_st_set;

/* Adds the tensors of one .safetensors file; -1 + pq_error() naming the file (and tensor). */
int pq_st_read_header(pq_st_set *s, const char *path);
/* dir/model.safetensors, or every shard named in dir/model.safetensors.index.json
 * (each name in the weight map must be in its shard). */
int pq_st_open_dir(pq_st_set *s, const char *dir);
const pq_st_tensor *pq_st_find(const pq_st_set *s, const char *name);
/* Reads a float tensor (F32, F16, BF16, F64) converted to float; a non-finite value is
 * an error naming file and tensor. */
int pq_st_read_f32(const pq_st_tensor *t, float *out);
/* Reads the raw bytes (any dtype). */
int pq_st_read_raw(const pq_st_tensor *t, void *out);
void pq_st_free(pq_st_set *s);

/* IEEE binary16 and bfloat16 to float (exact). */
float pq_f16_to_f32(uint16_t h);
float pq_bf16_to_f32(uint16_t b);

/* One tensor to write: dtype "F32" or "U8", shape[ndim], data of numel * size bytes. */
typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[2];
    const void *data;
} pq_st_out;

/* Writes a .safetensors file (temp + rename), tensors in the given order, data aligned
 * to 8 bytes; metadata (string values) may be NULL. */
int pq_st_write(const char *path, const pq_st_out *t, int n, const json_t *metadata);

#endif
