/* bench_data.h — the tokenizer benchmark behind `pq bench tokenizer`.
 *
 * On the real corpus (<data>/corpus, built by `pq data build`): trains the 8k
 * and 4k tokenizers from the mixture exactly as `pq data build` does (load +
 * word counts + merges, timed apart), then encodes the whole training split
 * with a cold cache and again warm, and decodes it. Writes
 * out_dir/tokenizer.json with the times, MB/s and the targets (8k training
 * under 120 s on 2 cores, encoding at >= 10 MB/s). */
#ifndef PQ_BENCH_DATA_H
#define PQ_BENCH_DATA_H

/* 0 on success; 1 (with pq_error() saying why) if there is no corpus to run on;
 * -1 + pq_error() on failure. data_dir NULL = $PQ_WORK/data. quick: 4k only, 20 MB encoded. */
int pq_bench_tokenizer(const char *out_dir, const char *data_dir, int quick);

#endif
