/* spm.h — SentencePiece tokenizer.model files (LLaMA-2, MobileLLM, T5 style),
 * encoding as libsentencepiece's SentencePieceProcessor::Encode does.
 *
 * The file is a ModelProto protobuf, parsed here field by field (no protobuf
 * library): the pieces (text, score, type), trainer_spec (model_type,
 * byte_fallback, treat_whitespace_as_suffix, unk/bos/eos ids) and
 * normalizer_spec (precompiled_charsmap, add_dummy_prefix,
 * remove_extra_whitespaces, escape_whitespaces). Encoding:
 *   1. normalize: user-defined pieces are kept as they are; otherwise the
 *      longest rule of the precompiled charsmap (a darts-clone double array,
 *      the NFKC-style rules of "nmt_nfkc") replaces a prefix; invalid UTF-8
 *      becomes U+FFFD; extra whitespace is removed, the dummy prefix added and
 *      spaces escaped to U+2581 as the spec says;
 *   2. segment: BPE (merge the adjacent pair whose concatenation is the
 *      highest-scored piece, leftmost on ties, until none is a piece; UNUSED
 *      pieces are split back into what made them) or unigram (Viterbi over all
 *      pieces with float scores, user-defined pieces favoured, an unknown
 *      character costing min score − 10);
 *   3. unknown pieces become their UTF-8 bytes' <0xXX> pieces with
 *      byte_fallback, or one unk id per run of unknowns without.
 * Scores are summed in float exactly as libsentencepiece does, so ties resolve
 * the same way. WORD and CHAR models are refused. */
#ifndef PQ_SPM_H
#define PQ_SPM_H

#include <stddef.h>
#include <stdint.h>

typedef struct pq_spm pq_spm;

/* NULL + pq_error() "<path>: <what is wrong>". */
pq_spm *pq_spm_load(const char *path);
/* The same from bytes in memory; name is what errors call the file. */
pq_spm *pq_spm_parse(const uint8_t *data, size_t n, const char *name);
void pq_spm_free(pq_spm *s);

int pq_spm_vocab_size(const pq_spm *s);
/* trainer_spec's bos_id (-1: none). */
int32_t pq_spm_bos(const pq_spm *s);
/* trainer_spec's eos_id (-1: none). */
int32_t pq_spm_eos(const pq_spm *s);
/* "bpe" or "unigram". */
const char *pq_spm_model_type(const pq_spm *s);

/* Piece id as the file has it (U+2581 for spaces), its score and its
 * ModelProto type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte: GGUF's token types use the same numbers); NULL if id is out of range. */
const uint8_t *pq_spm_piece(const pq_spm *s, int32_t id, size_t *len, float *score, int *type);
/* 1 if normalizing can change the text beyond escaping spaces: a precompiled
 * charsmap (nmt_nfkc and the like) or remove_extra_whitespaces. */
int pq_spm_normalizes(const pq_spm *s);
/* normalizer_spec's add_dummy_prefix. */
int pq_spm_add_dummy_prefix(const pq_spm *s);

/* Appends the ids of text to *out (*n_out used, *cap allocated; may start
 * NULL/0); no BOS/EOS. */
void pq_spm_encode(const pq_spm *s, const char *text, size_t n, int32_t **out, size_t *n_out, size_t *cap);
/* The text of a piece as it decodes: U+2581 as a space, <0xXX> as that byte,
 * control and unknown pieces as nothing. Points into s. */
const uint8_t *pq_spm_token_bytes(const pq_spm *s, int32_t id, size_t *len);

#endif
