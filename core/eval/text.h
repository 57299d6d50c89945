/* text.h — the few string measures lm-evaluation-harness takes from Python.
 *
 * lm-eval counts with Python str semantics, on Unicode code points: len(choice)
 * for acc_norm, str.rstrip() for the context's trailing whitespace, and
 * len(re.split(r"\s+", doc)) for word perplexity. These functions reproduce
 * them on UTF-8 bytes so our numbers mean the same thing. Whitespace is the set
 * Python's str.isspace() (and so re's \s) accepts. */
#ifndef PQ_EVAL_TEXT_H
#define PQ_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Code points in len bytes of UTF-8 (Python len(str)). Invalid bytes count one each. */
int64_t pq_utf8_length(const char *s, size_t len);

/* Byte length of s[0..len) without its trailing Python whitespace (str.rstrip()). */
size_t pq_text_rstrip_len(const char *s, size_t len);

/* len(re.split(r"\s+", s)): one more than the number of maximal whitespace runs,
 * so "" -> 1, "a b" -> 2, " a" -> 2, "a b\n" -> 3 (empty pieces count, as in Python). */
int64_t pq_text_count_words(const char *s, size_t len);

#endif
