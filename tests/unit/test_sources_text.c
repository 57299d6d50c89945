/* Text plumbing of the source decoders (UTF-8 cleaning, reflow, word counts,
 * string set), the plain-text sources (Gutenberg, Jargon File) and the fixed
 * held-out rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/hash.h"
#include "test_sources_sink.h"

Test(sources_text, utf8_validation) {
    cr_assert(pq_utf8_valid("plain", 5));
    cr_assert(pq_utf8_valid("\xC3\xA6\xE2\x80\x94\xF0\x9F\x98\x80", 9));
    cr_assert(!pq_utf8_valid("\xC3", 1));          /* truncated */
    cr_assert(!pq_utf8_valid("\xC0\xAF", 2));      /* overlong */
    cr_assert(!pq_utf8_valid("\xED\xA0\x80", 3));  /* surrogate */
    cr_assert(!pq_utf8_valid("caf\xE9", 4));       /* Latin-1 */
}

Test(sources_text, clean_keeps_utf8_and_converts_cp1252) {
    pq_buf b = {0};
    pq_text_append_clean(&b, "a\r\nb\rc\x01\td\xC3\xA6", 11);
    cr_assert_str_eq(pq_buf_cstr(&b), "a\nb\nc\td\xC3\xA6");
    pq_buf_clear(&b);
    pq_text_append_clean(&b, "caf\xE9 \x93quoted\x94 \x81", 16);
    cr_assert_str_eq(pq_buf_cstr(&b), "caf\xC3\xA9 \xE2\x80\x9Cquoted\xE2\x80\x9D ");
    pq_buf_free(&b);
}

Test(sources_text, reflow_paragraphs) {
    const char *t = "  First line\n  continues\there.\n\n\n Second   para\n   \nThird\n";
    pq_buf b = {0};
    pq_text_reflow(&b, t, strlen(t));
    cr_assert_str_eq(pq_buf_cstr(&b), "First line continues here.\nSecond para\nThird");
    cr_assert_eq(pq_text_words(b.data, b.len), 7);
    pq_buf_free(&b);
}

Test(sources_text, string_set) {
    pq_strset s = {0};
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "lemma %d", i);
        pq_strset_add(&s, key);
    }
    pq_strset_add(&s, "lemma 7");
    cr_assert_eq(s.count, 3000);
    cr_assert(pq_strset_has(&s, "lemma 2999"));
    cr_assert(!pq_strset_has(&s, "lemma 3000"));
    pq_strset_free(&s);
    cr_assert(!pq_strset_has(&s, "lemma 1"));
}

Test(sources_split, rules) {
    const char *held[] = {"Ruth", "Jonah", "Phil", "Jas"}, *kept[] = {"Gen", "Ps", "John", "Rev", "Jude", "Philem"};
    for (size_t i = 0; i < 4; i++) cr_assert(pq_split_bible_book_heldout(held[i]), "%s", held[i]);
    for (size_t i = 0; i < 6; i++) cr_assert(!pq_split_bible_book_heldout(kept[i]), "%s", kept[i]);
    cr_assert(pq_split_austen_heldout("persuasion"));
    cr_assert(!pq_split_austen_heldout("emma"));
    /* hashed rules: the documented formula, and roughly the documented rates */
    int fort = 0, gc = 0, wn = 0;
    char t[64];
    for (int i = 0; i < 20000; i++) {
        int k = snprintf(t, sizeof t, "fortune number %d", i);
        int f = pq_split_fortune_heldout(t, (size_t)k), g = pq_split_gcide_heldout(t, (size_t)k);
        cr_assert_eq(f, pq_fnv1a64(t, (size_t)k) % 100 < 2);
        cr_assert_eq(g, pq_fnv1a64(t, (size_t)k) % 100 < 1);
        fort += f, gc += g;
        wn += pq_split_wordnet_heldout('n', (uint32_t)i * 37u, 1);
        cr_assert(!pq_split_wordnet_heldout('v', (uint32_t)i * 37u, 1));
        cr_assert(!pq_split_wordnet_heldout('n', (uint32_t)i * 37u, 0));
    }
    cr_assert(fort > 300 && fort < 500, "%d", fort);
    cr_assert(gc > 130 && gc < 270, "%d", gc);
    cr_assert(wn > 1700 && wn < 2300, "%d", wn);
    cr_assert(pq_split_wordnet_heldout('n', 20827, 1)); /* n:00020827 "matter" */
    cr_assert(!pq_split_wordnet_heldout('n', 2084071, 1));
}

Test(sources_plain, gutenberg_body_and_chunks) {
    const char *t = "The Project Gutenberg EBook of Something\n\n"
                    "*** START OF THIS PROJECT GUTENBERG EBOOK SOMETHING ***\n\n"
                    "Produced by A Volunteer\n\n"
                    "CHAPTER I\n\nOne two three\nfour _five_ six.\n\nSeven eight nine ten.\n\n"
                    "Eleven twelve.\n\n"
                    "End of the Project Gutenberg EBook of Something\n\nlicence text\n";
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    cr_assert_eq(pq_gutenberg_emit("book", t, strlen(t), 9, &s), 0);
    cr_assert_eq(m.n, 2);
    cr_assert_str_eq(m.id[0], "gutenberg/book.0");
    cr_assert_str_eq(m.text[0], "CHAPTER I\nOne two three four five six.\nSeven eight nine ten.");
    cr_assert_str_eq(m.id[1], "gutenberg/book.1");
    cr_assert_str_eq(m.text[1], "Eleven twelve.");
    cr_assert(!m.heldout[0]);
    mem_sink_free(&m);
}

Test(sources_plain, jargon_sections_and_entries) {
    const char *t = "The Jargon File\n\nTable of Contents\n\n"
                    "Chapter 1. Hacker Slang\n\n   Prose about\n   slang {hack}.\n\n"
                    "   \xE2\x94\x8C\xE2\x94\x80\xE2\x94\x80 table \xE2\x94\x90\n\n"
                    "Glossary\n\n   0\n\n   1TBS\n\n"
                    "   :hack: n.\n\n   1. Originally, a quick job.\n   See {kluge}.\n\n"
                    "   :kluge: /klooj/\n\n   A clever\n   programming trick.\n\n"
                    "Appendix A. Hacker Folklore\n\n   Stories.\n";
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    cr_assert_eq(pq_jargon_emit(t, strlen(t), &s), 0);
    cr_assert_eq(m.n, 4);
    cr_assert_str_eq(m.id[0], "jargon/section.0");
    cr_assert_str_eq(m.text[0], "Chapter 1. Hacker Slang\nProse about slang hack.");
    cr_assert_str_eq(m.id[1], "jargon/entry.0");
    cr_assert_str_eq(m.text[1], "hack: n.\n1. Originally, a quick job. See kluge.");
    cr_assert_str_eq(m.text[2], "kluge: /klooj/\nA clever programming trick.");
    cr_assert_str_eq(m.id[3], "jargon/section.1");
    cr_assert_str_eq(m.text[3], "Appendix A. Hacker Folklore\nStories.");
    mem_sink_free(&m);
}

/* Cut from pg1661.txt of golang-github-pierrec-lz4-dev 2.5.2-2: BOM, CRLF, header, start, end, licence. */
Test(sources_plain, gutenberg_real_excerpt) {
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    pq_source_state st = {0};
    char *files[] = {FIXTURE("gutenberg_excerpt.txt")};
    pq_decode_ctx c = {"gutenberg", files, 1, &s, &st, NULL};
    cr_assert_eq(pq_decode_gutenberg(&c), 0, "%s", pq_error());
    cr_assert_eq(m.n, 1);
    cr_assert_str_eq(m.id[0], "gutenberg/gutenberg_excerpt.0");
    cr_assert_str_eq(m.text[0],
                     "THE ADVENTURES OF SHERLOCK HOLMES\nby\nSIR ARTHUR CONAN DOYLE\n"
                     "I. A Scandal in Bohemia II. The Red-headed League III. A Case of Identity IV. The Boscombe Valley "
                     "Mystery V. The Five Orange Pips VI. The Man with the Twisted Lip VII. The Adventure of the Blue "
                     "Carbuncle VIII. The Adventure of the Speckled Band IX. The Adventure of the Engineer's Thumb X. The "
                     "Adventure of the Noble Bachelor XI. The Adventure of the Beryl Coronet XII. The Adventure of the "
                     "Copper Beeches\nADVENTURE I. A SCANDAL IN BOHEMIA\nI.\n"
                     "To Sherlock Holmes she is always THE woman. I have seldom heard him mention her under any other "
                     "name. In his eyes she eclipses and predominates the whole of her sex. It was not that he felt any "
                     "emotion akin to love for Irene Adler. All emotions, and that one particularly, were abhorrent to "
                     "his cold, precise but admirably balanced mind. He was, I take it, the most perfect reasoning and "
                     "observing machine that the world has seen, but as a\n"
                     "of his problems, and she is now the head of a private school at Walsall, where I believe that she "
                     "has met with considerable success.");
    mem_sink_free(&m);
}

/* Cut from jargon.txt.gz of jargon-text 4.4.7-4.1: a chapter, the glossary list, two entries. */
Test(sources_plain, jargon_real_excerpt) {
    size_t n;
    char *t = pq_read_file(FIXTURE("jargon_excerpt.txt"), &n);
    cr_assert_not_null(t);
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    cr_assert_eq(pq_jargon_emit(t, n, &s), 0, "%s", pq_error());
    cr_assert_eq(m.n, 3);
    cr_assert_str_eq(m.id[0], "jargon/section.0");
    cr_assert(!strncmp(m.text[0], "Chapter 1. Hacker Slang and Hacker Culture\nThis document is a collection of slang "
                                  "terms used by various subcultures of computer hackers.", 120));
    cr_assert(strstr(m.text[0], "values. It has its own myths,") && !strstr(m.text[0], "Glossary"));
    cr_assert_str_eq(m.id[1], "jargon/entry.0");
    cr_assert_str_eq(m.text[1], "(TM): //\n[Usenet] ASCII rendition of the \xE2\x84\xA2 appended to phrases that the "
                                "author feels should be recorded for posterity, perhaps in future editions of this "
                                "lexicon. Sometimes used ironically as a form of protest against the recent spate of "
                                "software and algorithm patents and look and feel lawsuits. See also UN*X.");
    cr_assert(!strncmp(m.text[2], "/dev/null: /dev\xC2\xB7nuhl/, n.\n[from the Unix null device", 49));
    cr_assert(strstr(m.text[2], "flames to /dev/null\xE2\x80\x9D. See bit bucket."));
    free(t);
    mem_sink_free(&m);
}
