/* Source decoders on small byte-exact fixtures cut from the pinned packages
 * (tests/fixtures/sources/README.md says where each comes from): SWORD zText +
 * OSIS (WEB), R lazy-load/XDR (Austen), dictd (GCIDE, Devil), WordNet, fortunes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_sources_sink.h"

static char *web_files[] = {FIXTURE("web_ot.bzs"), FIXTURE("web_ot.bzv"), FIXTURE("web_ot.bzz"),
                            FIXTURE("web_nt.bzs"), FIXTURE("web_nt.bzv"), FIXTURE("web_nt.bzz")};

Test(sources_web, chapters_verses_notes_removed) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    pq_decode_ctx c = {"web", web_files, 6, &s, &st, NULL};
    cr_assert_eq(pq_decode_web(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.id[0], "web/Ruth.1");
    cr_assert_str_eq(m.text[0],
                     "In the days when the judges judged, there was a famine in the land. A certain man of Bethlehem "
                     "Judah went to live in the country of Moab with his wife and his two sons.\n"
                     "The name of the man was Elimelech, and the name of his wife Naomi. The names of his two sons were "
                     "Mahlon and Chilion, Ephrathites of Bethlehem Judah. They came into the country of Moab and lived "
                     "there.");
    cr_assert_str_eq(m.id[1], "web/Jas.1");
    /* the footnote after "Christ," is gone and the words around it stay apart */
    cr_assert_str_eq(m.text[1], "James, a servant of God and of the Lord Jesus Christ, to the twelve tribes which are in "
                                "the Dispersion: Greetings.");
    cr_assert(m.heldout[0] && m.heldout[1]);
    mem_sink_free(&m);
}

Test(sources_web, truncated_block_file_is_named) {
    char tmpl[] = "/tmp/pq-test-web-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char *files[6];
    for (int i = 0; i < 6; i++) {
        size_t n;
        char *d = pq_read_file(web_files[i], &n);
        cr_assert_not_null(d);
        const char *base = strrchr(web_files[i], '/') + 1;
        files[i] = pq_path_join(tmpl, base);
        cr_assert_eq(pq_write_file_atomic(files[i], d, i == 2 ? n / 2 : n), 0); /* cut ot.bzz in half */
        free(d);
    }
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    pq_decode_ctx c = {"web", files, 6, &s, &st, NULL};
    cr_assert_eq(pq_decode_web(&c), -1);
    cr_assert(strstr(pq_error(), "web_ot.bzz") && strstr(pq_error(), "truncated"), "%s", pq_error());
    mem_sink_free(&m);
    for (int i = 0; i < 6; i++) free(files[i]);
    pq_remove_tree(tmpl);
}

Test(sources_web, osis_strip) {
    const char *x = "<w lemma=\"a\">Holy</w> <title type=\"x\">Heading</title>text &amp; more<note n=\"1\">a <i>note</i></note>."
                    "<lb/>next";
    pq_buf b = {0};
    pq_osis_strip(x, strlen(x), &b);
    cr_assert_str_eq(pq_buf_cstr(&b), "Holy text & more. next");
    pq_buf_free(&b);
}

static int collect_lines(void *ctx, const char *name, char **lines, long count) {
    mem_sink *m = ctx;
    cr_assert_str_eq(name, "tiny");
    cr_assert_eq(count, 12);
    cr_assert_str_eq(lines[0], "TINY NOVEL");
    cr_assert_str_eq(lines[4], "It was a truth \xE2\x80\x94 universally");
    cr_assert_str_eq(lines[8], ""); /* NA */
    pq_sink s = mem_sink_of(m);
    return pq_austen_emit("persuasion", lines, count, &s);
}

Test(sources_austen, rdata_lazy_load_db) {
    mem_sink m = {0};
    cr_assert_eq(pq_rdata_read_db(FIXTURE("tiny.rdx"), FIXTURE("tiny.rdb"), collect_lines, &m), 0, "%s", pq_error());
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.id[0], "austen/persuasion.1");
    cr_assert_str_eq(m.text[0], "It was a truth \xE2\x80\x94 universally acknowledged.\nSecond para.");
    cr_assert_str_eq(m.id[1], "austen/persuasion.2");
    cr_assert_str_eq(m.text[1], "The end.");
    cr_assert(m.heldout[0] && m.heldout[1]);
    mem_sink_free(&m);
    /* the same through the decoder: novels other than Persuasion are training text */
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    char *files[] = {FIXTURE("tiny.rdx"), FIXTURE("tiny.rdb")};
    pq_decode_ctx c = {"austen", files, 2, &s, &st, NULL};
    cr_assert_eq(pq_decode_austen(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.id[0], "austen/tiny.1");
    cr_assert(!m.heldout[0]);
    mem_sink_free(&m);
}

/* The real janeaustenr index parses: its first object, emma, lies beyond the tiny rdb. */
Test(sources_austen, real_index_parses) {
    mem_sink m = {0};
    cr_assert_eq(pq_rdata_read_db(FIXTURE("austen_real.rdx"), FIXTURE("tiny.rdb"), collect_lines, &m), -1);
    cr_assert(strstr(pq_error(), "tiny.rdb: object 'emma' lies past the end"), "%s", pq_error());
}

Test(sources_austen, bad_serializations) {
    char **lines;
    const uint8_t ascii[] = "A\n1\n";
    cr_assert_eq(pq_rdata_strings(ascii, 4, "x.rds", &lines), -1);
    cr_assert(strstr(pq_error(), "x.rds: not an XDR"), "%s", pq_error());
    size_t n;
    char *d = pq_read_file(FIXTURE("tiny.rdb"), &n);
    char *cut = pq_path_join("/tmp", "pq-test-tiny-cut.rdb");
    cr_assert_eq(pq_write_file_atomic(cut, d, n - 20), 0);
    mem_sink m = {0};
    cr_assert_eq(pq_rdata_read_db(FIXTURE("tiny.rdx"), cut, collect_lines, &m), -1);
    cr_assert(strstr(pq_error(), "pq-test-tiny-cut.rdb"), "%s", pq_error());
    unlink(cut);
    free(cut), free(d);
}

Test(sources_dictd, base64_numbers) {
    uint64_t v;
    cr_assert_eq(pq_dictd_b64("A", 1, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(pq_dictd_b64("BS", 2, &v), 0);
    cr_assert_eq(v, 82);
    cr_assert_eq(pq_dictd_b64("/", 1, &v), 0);
    cr_assert_eq(v, 63);
    cr_assert_eq(pq_dictd_b64("Gl8J", 4, &v), 0);
    cr_assert_eq(v, ((6ull * 64 + 37) * 64 + 60) * 64 + 9);
    cr_assert_eq(pq_dictd_b64("A=", 2, &v), -1);
}

Test(sources_dictd, gcide_markup_wordnet_and_lemmas) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    pq_strset_add(&st.heldout_lemmas, "apple"); /* a held-out WordNet lemma */
    char *files[] = {FIXTURE("gcide.index"), FIXTURE("gcide.dict.gz")};
    pq_decode_ctx c = {"gcide", files, 2, &s, &st, NULL};
    cr_assert_eq(pq_decode_gcide(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 3, "metadata and the WordNet-only entry 'B C' are dropped");
    cr_assert_str_eq(m.id[0], "gcide/0");
    cr_assert_str_eq(m.text[0],
                     "Abacus, n.; E. pl. Abacuses; L. pl. Abaci (-si). 1. A table or tray strewn with sand, anciently "
                     "used for drawing, calculating, etc. [Obs.]\n"
                     "2. A calculating table or frame; an instrument for performing arithmetical calculations by balls "
                     "sliding on wires, or counters in grooves, the lowest line representing units, the second line, "
                     "tens, etc. It is still employed in China.\n"
                     "3. (Arch.) (a) The uppermost member or division of the capital of a column, immediately under the "
                     "architrave. See Column. (b) A tablet, panel, or compartment in ornamented or mosaic work.\n"
                     "4. A board, tray, or table, divided into perforated compartments, for holding cups, bottles, or "
                     "the like; a kind of cupboard, buffet, or sideboard.\n"
                     "Abacus harmonicus (Mus.), an ancient diagram showing the structure and disposition of the keys of "
                     "an instrument. --Crabb.");
    cr_assert_str_eq(m.id[1], "gcide/1");
    cr_assert_str_eq(m.text[1], "Apple, v. i. To grow like an apple; to bear apples. --Holland.");
    cr_assert_eq(m.heldout[1], 1, "headword is a held-out lemma");
    cr_assert_str_eq(m.id[2], "gcide/3");
    /* the "Syn: carbonisation. [WordNet 1.5]" paragraph is dropped */
    cr_assert_str_eq(m.text[2], "Carbonization, n. 1. The act or process of carbonizing.\n"
                                "2. the destructive distillation of coal (as in coke ovens).");
    cr_assert_eq(m.heldout[0], pq_split_gcide_heldout(m.text[0], strlen(m.text[0])));
    mem_sink_free(&m);
    pq_strset_free(&st.heldout_lemmas);
}

Test(sources_dictd, gcide_character_codes) {
    const char *e = "Caf\\Caf\\, n. [ae]ther and f[oe]tus, [=a]ble [Obs.] {cross ref} the [pi]-meson\n"
                    "   [1913 Webster]\n\n   {Caf au lait} \\Caf` au lait\"\\ (k[a^]f), coffee.\n";
    pq_buf b = {0};
    pq_gcide_clean(e, strlen(e), &b);
    cr_assert_str_eq(pq_buf_cstr(&b), "Caf, n. \xC3\xA6ther and f\xC5\x93tus, able [Obs.] cross ref the \xCF\x80-meson\n"
                                      "Caf au lait, coffee.");
    pq_buf_free(&b);
}

Test(sources_dictd, devil_and_truncated_dictzip) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    char *files[] = {FIXTURE("devil.index"), FIXTURE("devil.dict.gz")};
    pq_decode_ctx c = {"devil", files, 2, &s, &st, NULL};
    cr_assert_eq(pq_decode_devil(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.id[0], "devil/0");
    cr_assert_str_eq(m.text[0], "ABASEMENT, n. A decent and customary mental attitude in the presence of wealth of "
                                "power. Peculiarly appropriate in an employee when addressing an employer.");
    cr_assert(!strncmp(m.text[1], "ABDICATION, n. An act whereby a sovereign attests his sense of the\x20high", 70));
    mem_sink_free(&m);
    size_t n;
    char *d = pq_read_file(FIXTURE("devil.dict.gz"), &n);
    char *cut = pq_path_join("/tmp", "pq-test-devil-cut.dict.gz");
    cr_assert_eq(pq_write_file_atomic(cut, d, n - 40), 0);
    char *files2[] = {FIXTURE("devil.index"), cut};
    pq_decode_ctx c2 = {"devil", files2, 2, &s, &st, NULL};
    cr_assert_eq(pq_decode_devil(&c2), -1);
    cr_assert(strstr(pq_error(), "pq-test-devil-cut.dict.gz: truncated"), "%s", pq_error());
    unlink(cut);
    free(cut), free(d);
    mem_sink_free(&m);
}

Test(sources_wordnet, glosses_examples_synsets_heldout) {
    char synpath[] = "/tmp/pq-test-synsets-XXXXXX";
    int fd = mkstemp(synpath);
    cr_assert(fd >= 0);
    close(fd);
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {.synsets_path = synpath};
    char *files[] = {FIXTURE("wordnet_noun.txt"), "/dev/null", FIXTURE("wordnet_adj.txt"), "/dev/null"};
    pq_decode_ctx c = {"wordnet", files, 4, &s, &st, NULL};
    cr_assert_eq(pq_decode_wordnet(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 5);
    int dog = mem_find(&m, "wordnet/n:02084071"), matter = mem_find(&m, "wordnet/n:00020827");
    int handy = mem_find(&m, "wordnet/a:00019731");
    cr_assert(dog >= 0 && matter >= 0 && handy >= 0);
    cr_assert_str_eq(m.text[dog], "dog, domestic dog, Canis familiaris: a member of the genus Canis (probably descended "
                                  "from the common wolf) that has been domesticated by man since prehistoric times; "
                                  "occurs in many breeds\n\"the dog barked all night\"");
    cr_assert_eq(m.heldout[dog], 0);
    cr_assert_eq(m.heldout[matter], 1, "fnv1a64(\"n:00020827\") %% 10 == 0");
    cr_assert_str_eq(m.text[handy], "handy, ready to hand: easy to reach\n\"found a handy spot for the can opener\"");
    cr_assert(pq_strset_has(&st.heldout_lemmas, "matter"));
    cr_assert(!pq_strset_has(&st.heldout_lemmas, "dog"));
    size_t n;
    char *syn = pq_read_file(synpath, &n);
    cr_assert_not_null(syn);
    cr_assert(strstr(syn, "{\"id\":\"n:02084071\",\"pos\":\"n\",\"lemmas\":[\"dog\",\"domestic dog\",\"Canis familiaris\"],"
                          "\"gloss\":\"a member of the genus Canis (probably descended from the common wolf) that has "
                          "been domesticated by man since prehistoric times; occurs in many breeds\",\"examples\":[\"the "
                          "dog barked all night\"],\"hypernyms\":[\"n:02083346\",\"n:01317541\"],\"heldout\":false}\n"));
    cr_assert(strstr(syn, "{\"id\":\"a:00019731\",\"pos\":\"s\",\"lemmas\":[\"handy\",\"ready to hand\"]"));
    cr_assert(strstr(syn, "\"id\":\"n:00020827\"") && strstr(syn, "\"heldout\":true}"));
    free(syn);
    unlink(synpath);
    mem_sink_free(&m);
    pq_strset_free(&st.heldout_lemmas);
    /* a malformed line is reported with its file and line */
    const char *bad = "  1 licence\n00001740 03 n zz entity 0 000 | gloss\n";
    cr_assert_eq(pq_wordnet_emit('n', bad, strlen(bad), "data.noun", &s, NULL, NULL), -1);
    cr_assert(strstr(pq_error(), "data.noun:2: malformed"), "%s", pq_error());
    mem_sink_free(&m);
}

Test(sources_fortunes, entries_and_split) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    char *files[] = {FIXTURE("fortunes_head.txt")};
    pq_decode_ctx c = {"fortunes", files, 1, &s, &st, NULL};
    cr_assert_eq(pq_decode_fortunes(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 4);
    cr_assert_str_eq(m.id[0], "fortunes/fortunes_head.txt.0");
    cr_assert_str_eq(m.text[0], "A day for firm decisions!!!!!  Or is it?");
    cr_assert_str_eq(m.text[3], "A long-forgotten loved one will appear soon.\n\nBuy the negatives at any price.");
    for (int i = 0; i < m.n; i++) cr_assert_eq(m.heldout[i], pq_split_fortune_heldout(m.text[i], strlen(m.text[i])));
    mem_sink_free(&m);
}
