/* source.h — what the source decoders share: text helpers, the document sink,
 * the held-out rules and one entry point per decoder.
 *
 * A decoder turns the extracted files of one Debian package (already verified
 * against the recipe's SHA-256s) into clean UTF-8 documents and hands each one
 * to a sink together with its held-out flag. Decoders that work on a memory
 * buffer expose that buffer-level function too, so unit tests can feed them
 * small byte-exact fixtures without touching the file system. */
#ifndef PQ_SOURCE_H
#define PQ_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h" /* pq_buf, which every decoder writes into */

/* ---- text helpers ---------------------------------------------------------- */

/* 1 if [s, s+n) is valid UTF-8 (no overlongs, no surrogates). */
int pq_utf8_valid(const char *s, size_t n);
/* Appends s as UTF-8: kept as is if valid, else each byte read as Windows-1252
 * (ISO-8859-1 plus the curly quotes and dashes that old texts use). CR LF and
 * lone CR become LF; other C0 controls except TAB and LF are dropped. */
void pq_text_append_clean(pq_buf *out, const char *s, size_t n);
/* Hard-wrapped text to paragraphs: lines are joined with one space, runs of
 * blank lines end a paragraph, paragraphs are joined with "\n". Leading and
 * trailing spaces of every line are dropped and inner runs of spaces/tabs
 * collapse to one space. Appends to out. */
void pq_text_reflow(pq_buf *out, const char *s, size_t n);
/* Whitespace-separated words. */
int64_t pq_text_words(const char *s, size_t n);

/* pq_fail_prefix("%s", what): "<what>: <the current error>". */
int pq_fail_in(const char *what);

/* ---- a set of strings (for held-out WordNet lemmas) -------------------------- */

typedef struct {
    char **slots;
    size_t cap, count;
} pq_strset;

void pq_strset_add(pq_strset *s, const char *key);
int pq_strset_has(const pq_strset *s, const char *key);
void pq_strset_free(pq_strset *s);

/* ---- the document sink ----------------------------------------------------- */

/* Receives one finished document; text is valid UTF-8 of length n. Returns 0 or
 * -1 with pq_error() set. Empty documents are never emitted. */
typedef int (*pq_emit_fn)(void *ctx, const char *id, const char *text, size_t n, int heldout);

typedef struct {
    pq_emit_fn emit;
    void *ctx;
} pq_sink;

/* Emits unless the text is empty after trimming. */
int pq_sink_emit(pq_sink *sink, const char *id, const char *text, size_t n, int heldout);

/* ---- duplicate removal across the corpus (corpus.c) ----------------------------- */

/* Paragraphs (lines) of at least 8 words are compared after normalisation
 * (ASCII letters and digits lower-cased, any other run of bytes one separator):
 * one seen anywhere earlier in the build (sources in corpus.json order) is
 * dropped; a document that would lose at least half its words is dropped
 * whole (the same page in another rendering or version). */
typedef struct pq_dedup pq_dedup;
typedef struct {
    int64_t docs, paragraphs, words; /* dropped */
} pq_dedup_counts;
pq_dedup *pq_dedup_new(void);
void pq_dedup_free(pq_dedup *d);
/* 1 and the text that is kept (pq_dedup_kept, valid until the next call), or
 * 0 when the whole document is a duplicate; counts what was dropped into c. */
int pq_dedup_doc(pq_dedup *d, const char *text, size_t n, pq_dedup_counts *c);
const char *pq_dedup_kept(pq_dedup *d, size_t *n);

/* ---- held-out rules (split.c; documented in README "## Data sources") --------- */

/* Bible books held out in both translations, by their OSIS names. */
int pq_split_bible_book_heldout(const char *osis_book);
/* Austen: Persuasion is held out. */
int pq_split_austen_heldout(const char *novel);
/* Fortunes: pq_fnv1a64(text) % 100 < 2. */
int pq_split_fortune_heldout(const char *text, size_t n);
/* GCIDE: pq_fnv1a64(cleaned entry text) % 100 < 1. */
int pq_split_gcide_heldout(const char *text, size_t n);
/* WordNet task synsets: noun synsets with a gloss whose id ("n:%08u")
 * hashes to pq_fnv1a64(id) % 10 == 0. */
int pq_split_wordnet_heldout(char pos_file, uint32_t offset, int has_gloss);

/* ---- decoders -------------------------------------------------------------- */

/* Shared state a build passes from one decoder to the next. */
typedef struct {
    pq_strset heldout_lemmas; /* lower-cased lemmas of held-out WordNet synsets */
    const char *synsets_path; /* where the WordNet decoder writes structured synsets */
} pq_source_state;

typedef struct {
    const char *name;           /* source name, e.g. "kjv" */
    char **files;               /* extracted files, in recipe order */
    int nfiles;
    pq_sink *sink;
    pq_source_state *state;
    char **paths;               /* the same files' paths inside their package (may be NULL) */
} pq_decode_ctx;

typedef int (*pq_decoder_fn)(pq_decode_ctx *ctx);

/* The decoder registered under name (recipes name it), or NULL. */
pq_decoder_fn pq_decoder_find(const char *name);

/* The decoders, by the name recipes use ("kjv", "web", ...). */
int pq_decode_kjv(pq_decode_ctx *ctx);
int pq_decode_web(pq_decode_ctx *ctx);
int pq_decode_austen(pq_decode_ctx *ctx);
int pq_decode_gcide(pq_decode_ctx *ctx);
int pq_decode_devil(pq_decode_ctx *ctx);
int pq_decode_wordnet(pq_decode_ctx *ctx);
int pq_decode_fortunes(pq_decode_ctx *ctx);
int pq_decode_gutenberg(pq_decode_ctx *ctx);
int pq_decode_jargon(pq_decode_ctx *ctx);
/* Documentation trees and other dictionaries (docs.c, html.c, rst.c, pod.c,
 * man.c, info.c, sword.c, dictd.c): one document per file (Info: per node),
 * held out by pq_split_doc_heldout(id). */
int pq_decode_html(pq_decode_ctx *ctx);
int pq_decode_rst(pq_decode_ctx *ctx);
int pq_decode_pod(pq_decode_ctx *ctx);
int pq_decode_man(pq_decode_ctx *ctx);
int pq_decode_info(pq_decode_ctx *ctx);
int pq_decode_commentary(pq_decode_ctx *ctx);
int pq_decode_dictd(pq_decode_ctx *ctx);
int pq_decode_vimhelp(pq_decode_ctx *ctx); /* vimhelp.c: Vim help files */

/* ---- documentation decoders (docs.c) --------------------------------------------- */

/* Documents with fewer words after cleaning are dropped (index pages, stubs). */
#define PQ_DOC_MIN_WORDS 20

/* New sources: pq_fnv1a64(id) % 100 < 2, id = "<source>/<local id>". */
int pq_split_doc_heldout(const char *id);
/* Reads a file (gunzipped if it ends in .gz) into out, NUL-terminated; -1 +
 * "<path>: ..." unless it is valid UTF-8 without NUL bytes. */
int pq_doc_read(const char *path, pq_buf *out);
/* The same, NUL bytes allowed when allow_nul (Info's index markers). */
int pq_doc_read_nul(const char *path, pq_buf *out, int allow_nul);
/* 1 if a block of lines reads as code: over 8% of its visible characters are
 * {}[]();=<>$#|\&*_@%^~` or a third of its lines end in ; { } \ or start with
 * $ # // slash-star >>. */
int pq_text_looks_like_code(const char *s, size_t n);
/* Appends s with every line's whitespace runs collapsed to one space, lines
 * trimmed, empty lines dropped: one paragraph per line. */
void pq_doc_tidy(const char *s, size_t n, pq_buf *out);
/* A package path without its usr/share/doc/ or usr/share/ prefix. */
const char *pq_doc_local_id(const char *path);
/* Appends the character named by an HTML entity name ("amp", "#233", "#xE9");
 * 0 if unknown (nothing appended). */
int pq_entity_put(const char *name, size_t n, pq_buf *out);

/* One file's bytes (valid UTF-8) to paragraphs, appended to out; -1 +
 * "<what>: ..." when the file is malformed. */
typedef int (*pq_doc_convert_fn)(const char *what, const char *in, size_t n, pq_buf *out);
/* The loop the one-document-per-file decoders share: read, convert, tidy, drop
 * under PQ_DOC_MIN_WORDS, emit as "<source>/<local id>". */
int pq_decode_tree(pq_decode_ctx *ctx, pq_doc_convert_fn convert);

int pq_html_to_text(const char *what, const char *in, size_t n, pq_buf *out);
int pq_rst_to_text(const char *what, const char *in, size_t n, pq_buf *out);
int pq_pod_to_text(const char *what, const char *in, size_t n, pq_buf *out);
int pq_man_to_text(const char *what, const char *in, size_t n, pq_buf *out);
int pq_vimhelp_to_text(const char *what, const char *in, size_t n, pq_buf *out);
/* Info: calls emit for each node (name, text) of one file. */
typedef int (*pq_info_node_fn)(void *ctx, const char *node, const char *text, size_t n);
int pq_info_nodes(const char *what, const char *in, size_t n, pq_info_node_fn fn, void *ctx);
/* Generic dictd entry (FOLDOC, VERA, elements): {braces} removed, reflowed. */
void pq_dictd_generic_clean(const char *entry, size_t n, pq_buf *out);

/* Unix compress (LZW, block mode) without its 3-byte header. Appends the
 * decoded bytes to out; -1 + pq_error() on a corrupt code. */
int pq_lzw_decode(const uint8_t *in, size_t n, int maxbits, pq_buf *out);

/* KJV container (bible-kjv-text's bible.data) to its plain text. */
int pq_kjv_unpack(const uint8_t *data, size_t n, const char *what, pq_buf *out);
/* KJV plain text ("Ge1:1 In the beginning ...") to one document per chapter. */
int pq_kjv_emit(const char *text, size_t n, pq_sink *sink);

/* OSIS XML of one verse to plain text: notes, titles and tags removed. */
void pq_osis_strip(const char *xml, size_t n, pq_buf *out);

/* R serialization (XDR, format 2 or 3): the character vector stored at the
 * top level of buf. Returns the count and sets *lines (caller frees each and
 * the array; NA becomes ""). -1 + pq_error() on malformed input. */
long pq_rdata_strings(const uint8_t *buf, size_t n, const char *what, char ***lines);
/* Reads an R lazy-load database (x.rdx + x.rdb) and calls fn for each object
 * that is a character vector. */
typedef int (*pq_rdata_fn)(void *ctx, const char *name, char **lines, long count);
int pq_rdata_read_db(const char *rdx_path, const char *rdb_path, pq_rdata_fn fn, void *ctx);
/* One Austen novel's lines to one document per chapter. */
int pq_austen_emit(const char *novel, char **lines, long count, pq_sink *sink);

/* gzip/dictzip file to memory (NUL-terminated); NULL + pq_error() on failure. */
char *pq_gunzip_file(const char *path, size_t *n_out);
/* In-memory gunzip of every gzip member in [in, in+n). */
int pq_gunzip(const uint8_t *in, size_t n, const char *what, pq_buf *out);
/* Decodes dictd's base64 numbers ("A".."/", most significant first). */
int pq_dictd_b64(const char *s, size_t n, uint64_t *out);
/* GCIDE entry cleaning: markup stripped, WordNet-sourced paragraphs dropped.
 * Returns 0 with out empty when nothing of the entry remains. */
void pq_gcide_clean(const char *entry, size_t n, pq_buf *out);
/* Devil's Dictionary entry cleaning. */
void pq_devil_clean(const char *entry, size_t n, pq_buf *out);

/* Fortune file ("%" lines between entries) to documents. */
int pq_fortune_emit(const char *file_label, const char *text, size_t n, pq_sink *sink);

/* WordNet data.<pos> file: emits training documents and appends synsets as
 * JSON lines to synsets (may be NULL). Held-out lemmas go into lemmas. */
int pq_wordnet_emit(char pos_file, const char *text, size_t n, const char *what, pq_sink *sink, FILE *synsets,
                    pq_strset *lemmas);

/* Project Gutenberg text: header/footer removed, reflowed, cut into documents
 * of about target_words words at paragraph boundaries. */
int pq_gutenberg_emit(const char *book, const char *text, size_t n, int target_words, pq_sink *sink);
/* Jargon File text: one document per chapter, appendix and lexicon entry. */
int pq_jargon_emit(const char *text, size_t n, pq_sink *sink);

#endif
