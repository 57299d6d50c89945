/* Documentation decoders (HTML, reStructuredText, POD, man, Info), the
 * commentary/dictd helpers they share and the corpus-wide duplicate removal,
 * on small hand-written fixtures (tests/fixtures/sources/README.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_sources_sink.h"

/* The converter's text for a fixture, tidied as the decoders emit it. */
static char *convert(pq_doc_convert_fn fn, const char *fixture) {
    pq_buf raw = {0}, text = {0}, tidy = {0};
    cr_assert_eq(pq_doc_read(fixture, &raw), 0, "%s", pq_error());
    cr_assert_eq(fn(fixture, raw.data, raw.len, &text), 0, "%s", pq_error());
    pq_doc_tidy(text.data ? text.data : "", text.len, &tidy);
    pq_buf_free(&raw), pq_buf_free(&text);
    return pq_buf_cstr(&tidy);
}

/* The error a converter gives for a malformed fixture. */
static const char *convert_error(pq_doc_convert_fn fn, const char *fixture) {
    pq_buf raw = {0}, text = {0};
    cr_assert_eq(pq_doc_read_nul(fixture, &raw, 1), 0, "%s", pq_error());
    cr_assert_eq(fn(fixture, raw.data, raw.len, &text), -1, "%s should be refused", fixture);
    pq_buf_free(&raw), pq_buf_free(&text);
    return pq_error();
}

Test(sources_docs, html_navigation_code_tables_dropped) {
    char *t = convert(pq_html_to_text, FIXTURE("doc_page.html"));
    cr_assert_str_eq(t, "What Is Ownership?\n"
                        "Ownership is a set of rules that govern how a Rust program manages memory \xE2\x80\x94 at compile "
                        "time. Call drop when done & move on.\n"
                        "Each value has an owner.\n"
                        "There can only be one owner at a time \xE2\x80\x94 or \xE2\x80\x94 none.");
    free(t);
    const char *e = convert_error(pq_html_to_text, FIXTURE("doc_bad.html"));
    cr_assert(strstr(e, "doc_bad.html: comment at byte") && strstr(e, "never ends"), "%s", e);
}

/* <script>/<style> are raw text: quotes and '<' in the code (sqlite3-doc's
 * pages) neither end them early nor run them past their end tag. */
Test(sources_docs, html_script_and_style_are_raw_text) {
    const char *in = "<p>Before</p><script>if (a<b && s==\"</div>\") { w='<p class=\"'; }</script>"
                     "<p>After</p><STYLE>p>a{content:'\"'}</style ><p>End</p>";
    pq_buf out = {0}, tidy = {0};
    cr_assert_eq(pq_html_to_text("t.html", in, strlen(in), &out), 0, "%s", pq_error());
    pq_doc_tidy(out.data, out.len, &tidy);
    cr_assert_str_eq(pq_buf_cstr(&tidy), "Before\nAfter\nEnd");
    pq_buf_clear(&out);
    const char *open = "<p>Text</p><script>var s = '</scriptx>';";
    cr_assert_eq(pq_html_to_text("u.html", open, strlen(open), &out), -1);
    cr_assert(strstr(pq_error(), "u.html: <script> element never ends"), "%s", pq_error());
    pq_buf_free(&out), pq_buf_free(&tidy);
}

/* Vim help: tags dropped, links to words, examples (after " >" up to "<" or
 * column 0) and separators and the modeline dropped, wrapped lines joined. */
Test(sources_docs, vimhelp_tags_links_examples) {
    const char *in = "*usr_05.txt*\tFor Vim version 9.0.  Last change: 2022 Nov 22\n"
                     "\n"
                     "==============================================================================\n"
                     "*05.1*\tThe vimrc file\t\t\t\t*vimrc-intro*\n"
                     "\n"
                     "The vimrc file can contain all the commands that you type after a colon.  See\n"
                     "|vimrc| and the 'backup' option.  For example: >\n"
                     "\tif has(\"vms\")\n"
                     "\n"
                     "\t  set nobackup\n"
                     "<\tThis keeps a backup copy.\n"
                     "\n"
                     "EXAMPLES\t\t\t\t\t\t*vimrc-examples* ~\n"
                     ">\n"
                     "\tmap Q gq\n"
                     "Back in column 0, a new paragraph about *not-a-tag words and 5*3*2.\n"
                     "\n"
                     " vim:tw=78:ts=8:noet:ft=help:norl:\n";
    pq_buf out = {0}, tidy = {0};
    cr_assert_eq(pq_vimhelp_to_text("usr_05.txt", in, strlen(in), &out), 0, "%s", pq_error());
    pq_doc_tidy(out.data, out.len, &tidy);
    cr_assert_str_eq(pq_buf_cstr(&tidy), "For Vim version 9.0. Last change: 2022 Nov 22\n"
                                         "The vimrc file\n"
                                         "The vimrc file can contain all the commands that you type after a colon. See vimrc "
                                         "and the 'backup' option. For example:\n"
                                         "This keeps a backup copy.\n"
                                         "EXAMPLES\n"
                                         "Back in column 0, a new paragraph about *not-a-tag words and 5*3*2.");
    pq_buf_clear(&out);
    const char *bad = "Just some text\nwithout the tag line.\n";
    cr_assert_eq(pq_vimhelp_to_text("x.txt", bad, strlen(bad), &out), -1);
    cr_assert(strstr(pq_error(), "x.txt: not a Vim help file"), "%s", pq_error());
    pq_buf_free(&out), pq_buf_free(&tidy);
}

Test(sources_docs, rst_markup_literals_directives_tables) {
    char *t = convert(pq_rst_to_text, FIXTURE("doc_page.rst"));
    cr_assert_str_eq(t, "Memory management\n"
                        "The kernel tracks pages with struct page and the alloc_pages helper; see the allocator and LWN "
                        "for more.\n"
                        "Example:\n"
                        "Pages are never freed twice.\n"
                        "Freeing a page twice corrupts the free lists.\n"
                        "first item runs over two lines\n"
                        "second item\n"
                        "GFP flags\n"
                        "Flags that say how to allocate.\n"
                        "Last paragraph.");
    free(t);
}

Test(sources_docs, pod_codes_verbatim_regions) {
    char *t = convert(pq_pod_to_text, FIXTURE("doc_page.pod"));
    cr_assert_str_eq(t, "NAME\n"
                        "perlintro - a brief introduction and overview of Perl\n"
                        "DESCRIPTION\n"
                        "This document is a quick introduction to the Perl language, see perlfunc print and the FAQ. Use "
                        "$x <=> $y to compare <numbers>.\n"
                        "Perl variables start with a sigil.\n"
                        "strict\n"
                        "Use strict.");
    free(t);
    const char *e = convert_error(pq_pod_to_text, FIXTURE("doc_bad.pod"));
    cr_assert(strstr(e, "doc_bad.pod:3: a formatting code never closes"), "%s", e);
}

Test(sources_docs, man_macros_escapes_nofill_tables) {
    char *t = convert(pq_man_to_text, FIXTURE("doc_page.7"));
    cr_assert_str_eq(t, "NAME\n"
                        "environ - user environment\n"
                        "SYNOPSIS\n"
                        "DESCRIPTION\n"
                        "The variable environ points to an array of pointers to strings called the "
                        "\xE2\x80\x9C" "environment" "\xE2\x80\x9D" ". The last pointer in this array has the value NULL.\n"
                        "This array of strings is made available to the process by the execve(2) call when a new program "
                        "is started\xE2\x80\x94see the standard.\n"
                        "HOME\n"
                        "A user's login directory, set by login(1).\n"
                        "Each string has the form name=value.");
    free(t);
    char *alias = convert(pq_man_to_text, FIXTURE("doc_alias.3"));
    cr_assert_str_eq(alias, "");
    free(alias);
    const char *e = convert_error(pq_man_to_text, FIXTURE("doc_bad.1"));
    cr_assert(strstr(e, "doc_bad.1:4: .TS without .TE"), "%s", e);
}

Test(sources_docs, info_nodes_menus_examples_index_markers) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    char *files[] = {FIXTURE("doc_manual.info")};
    char *paths[] = {"usr/share/info/demo.info"};
    pq_decode_ctx c = {"demo", files, 1, &s, NULL, paths};
    cr_assert_eq(pq_decode_info(&c), 0, "%s", pq_error());
    /* Top has fewer than PQ_DOC_MIN_WORDS words: dropped */
    cr_assert_eq(m.n, 1);
    cr_assert_str_eq(m.id[0], "demo/demo.info#Quoting");
    cr_assert_str_eq(m.text[0], "1 Quoting\n"
                                "Quoting removes the special meaning of characters, Single Quotes, and the escape character "
                                "inside double quotes.\n"
                                "'set' set [-abefhkmnptuvxBCEHPT] [-o OPTION-NAME] [--] [ARGUMENT ...]\n"
                                "Without options, display the name and value of each shell variable in a format that can be "
                                "reused as input.");
    mem_sink_free(&m);
    char *bad[] = {FIXTURE("doc_bad.info")};
    pq_decode_ctx cb = {"demo", bad, 1, &s, NULL, NULL};
    cr_assert_eq(pq_decode_info(&cb), -1);
    cr_assert(strstr(pq_error(), "doc_bad.info: node at byte 11 does not start with a \"File:\" line"), "%s", pq_error());
    mem_sink_free(&m);
}

Test(sources_docs, tree_decoder_ids_heldout_and_bad_files) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    char *files[] = {FIXTURE("doc_page.html")};
    char *paths[] = {"usr/share/doc/rust-doc/html/book/ch04.html"};
    pq_decode_ctx c = {"rust-books", files, 1, &s, NULL, paths};
    cr_assert_eq(pq_decode_html(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 1);
    cr_assert_str_eq(m.id[0], "rust-books/rust-doc/html/book/ch04.html");
    cr_assert_eq(m.heldout[0], pq_split_doc_heldout(m.id[0]));
    mem_sink_free(&m);
    /* invalid UTF-8 and a corrupt .gz are named with the file */
    char tmpl[] = "/tmp/pq-test-docs-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char *latin = pq_path_join(tmpl, "latin1.html"), *gz = pq_path_join(tmpl, "page.rst.gz");
    cr_assert_eq(pq_write_file_atomic(latin, "<p>caf\xE9 au lait</p>", 19), 0);
    cr_assert_eq(pq_write_file_atomic(gz, "\x1f\x8b\x08\x00garbage", 12), 0);
    pq_decode_ctx c1 = {"x", &latin, 1, &s, NULL, NULL};
    cr_assert_eq(pq_decode_html(&c1), -1);
    cr_assert(strstr(pq_error(), "latin1.html: not valid UTF-8 at byte 6"), "%s", pq_error());
    pq_decode_ctx c2 = {"x", &gz, 1, &s, NULL, NULL};
    cr_assert_eq(pq_decode_rst(&c2), -1);
    cr_assert(strstr(pq_error(), "page.rst.gz"), "%s", pq_error());
    pq_remove_tree(tmpl);
    free(latin), free(gz);
}

Test(sources_docs, code_detection) {
    cr_assert(pq_text_looks_like_code("int main(void) {\n    return 0;\n}", 31));
    cr_assert(pq_text_looks_like_code("$ ls -l\n$ echo hi", 17));
    const char *prose = "Without options, display the name and value of each shell variable.";
    cr_assert(!pq_text_looks_like_code(prose, strlen(prose)));
}

Test(sources_docs, dictd_generic_clean) {
    pq_buf out = {0};
    const char *e = "ACL\n\n   <security> {Access Control List}: a list of\n   permissions.\n";
    pq_dictd_generic_clean(e, strlen(e), &out);
    cr_assert_str_eq(pq_buf_cstr(&out), "ACL\n<security> Access Control List: a list of permissions.");
    pq_buf_free(&out);
}

Test(sources_docs, dedup_paragraphs_and_near_duplicate_documents) {
    pq_dedup *d = pq_dedup_new();
    pq_dedup_counts c = {0};
    const char *a = "Title\nThis paragraph is long enough to be compared with the others here.\nShort line.";
    size_t n;
    cr_assert_eq(pq_dedup_doc(d, a, strlen(a), &c), 1);
    cr_assert_str_eq(pq_dedup_kept(d, &n), a);
    /* the same paragraph in another case and punctuation goes; short lines stay */
    const char *b = "Title\nTHIS paragraph -- is long enough to be compared with the others, here!\nA new paragraph that is "
                    "also long enough to count as one.\nShort line.\nAnd one more paragraph of more than eight words in it.";
    cr_assert_eq(pq_dedup_doc(d, b, strlen(b), &c), 1);
    const char *kept = pq_dedup_kept(d, &n);
    cr_assert_eq(strlen(kept), n);
    cr_assert_str_eq(kept, "Title\nA new paragraph that is also long enough to count as one.\nShort line.\nAnd one more "
                           "paragraph of more than eight words in it.");
    cr_assert_eq(c.paragraphs, 1);
    cr_assert_eq(c.words, 12);
    cr_assert_eq(c.docs, 0);
    /* a document that is mostly text seen before is dropped whole */
    const char *dup = "A new paragraph that is also long enough to count as one.\nA brief new remark.";
    cr_assert_eq(pq_dedup_doc(d, dup, strlen(dup), &c), 0);
    cr_assert_eq(c.docs, 1);
    pq_dedup_free(d);
}
