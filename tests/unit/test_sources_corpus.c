/* The corpus build end to end, offline: two small Debian packages are built
 * here with `dpkg-deb -b` from the fixtures, pinned by recipes, and the build
 * fetches (finds them in debs/), verifies, extracts, decodes, splits and
 * writes; then the cache, and every kind of bad input. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/hash.h"
#include "base/manifest.h"
#include "data/corpus.h"
#include "test_sources_sink.h"

static char dir[256];

static char *at(const char *rel) { return pq_path_join(dir, rel); }

static void copy_fixture(const char *fixture, const char *dest_rel) {
    size_t n;
    char *d = pq_read_file(fixture, &n);
    cr_assert_not_null(d, "%s", pq_error());
    char *p = at(dest_rel);
    cr_assert_eq(pq_write_file_atomic(p, d, n), 0, "%s", pq_error());
    free(d), free(p);
}

static void write_text(const char *rel, const char *text) {
    char *p = at(rel);
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0, "%s", pq_error());
    free(p);
}

static void sha_of(const char *rel, char hex[PQ_SHA256_HEX]) {
    char *p = at(rel);
    cr_assert_eq(pq_sha256_file(p, hex), 0, "%s", pq_error());
    free(p);
}

/* Builds debs/<pkg>_1.0_all.deb from root/<pkg>/. */
static void build_deb(const char *pkg) {
    char control[300], cmd[1024];
    snprintf(control, sizeof control, "root/%s/DEBIAN/control", pkg);
    char text[256];
    snprintf(text, sizeof text, "Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: pq <pq@example.invalid>\n"
                                "Description: paretoq test package\n", pkg);
    write_text(control, text);
    char *debs = at("data/debs");
    cr_assert_eq(pq_mkdirs(debs), 0);
    free(debs);
    snprintf(cmd, sizeof cmd, "dpkg-deb --root-owner-group -b '%s/root/%s' '%s/data/debs/%s_1.0_all.deb' >/dev/null", dir,
             pkg, dir, pkg);
    cr_assert_eq(system(cmd), 0, "dpkg-deb -b failed");
}

static const char *WN = "usr/share/pqtest/";

/* Recipes for the two packages; bad_* corrupt one hash on purpose. */
static void write_recipes(int bad_deb, int bad_file, const char *missing_pkg) {
    char deb_w[PQ_SHA256_HEX], deb_f[PQ_SHA256_HEX], h[4][PQ_SHA256_HEX], hf[PQ_SHA256_HEX];
    sha_of("data/debs/pqtest-words_1.0_all.deb", deb_w);
    sha_of("data/debs/pqtest-fortunes_1.0_all.deb", deb_f);
    const char *names[4] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    for (int i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "root/pqtest-words/%s%s", WN, names[i]);
        sha_of(rel, h[i]);
    }
    sha_of("root/pqtest-fortunes/usr/share/pqtest/fortunes", hf);
    if (bad_deb) deb_w[0] = deb_w[0] == '0' ? '1' : '0';
    if (bad_file) hf[5] = hf[5] == '0' ? '1' : '0';
    json_t *files = json_array();
    for (int i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%s", WN, names[i]);
        json_array_append_new(files, json_pack("{s:s, s:s}", "path", p, "sha256", h[i]));
    }
    json_t *wn = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:o}]}", "name", "wordnet", "decoder", "wordnet", "packages",
                           "package", "pqtest-words", "version", "1.0", "arch", "all", "deb_sha256", deb_w, "files", files);
    json_t *fo = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}]}", "name", "fortunes", "decoder",
                           "fortunes", "packages", "package", missing_pkg ? missing_pkg : "pqtest-fortunes", "version",
                           "1.0", "arch", "all", "deb_sha256", deb_f, "files", "path", "usr/share/pqtest/fortunes",
                           "sha256", hf);
    json_t *co = json_pack("{s:i, s:[s, s]}", "format", 1, "sources", "wordnet", "fortunes");
    char *p1 = at("recipes/wordnet.json"), *p2 = at("recipes/fortunes.json"), *p3 = at("recipes/corpus.json");
    cr_assert_eq(pq_json_write(wn, p1), 0);
    cr_assert_eq(pq_json_write(fo, p2), 0);
    cr_assert_eq(pq_json_write(co, p3), 0);
    json_decref(wn), json_decref(fo), json_decref(co);
    free(p1), free(p2), free(p3);
}

static void setup(void) {
    strcpy(dir, "/tmp/pq-test-corpus-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char rel[256];
    snprintf(rel, sizeof rel, "root/pqtest-words/%sdata.noun", WN);
    copy_fixture(FIXTURE("wordnet_noun.txt"), rel);
    snprintf(rel, sizeof rel, "root/pqtest-words/%sdata.adj", WN);
    copy_fixture(FIXTURE("wordnet_adj.txt"), rel);
    snprintf(rel, sizeof rel, "root/pqtest-words/%sdata.verb", WN);
    write_text(rel, "  1 no verbs here\n");
    snprintf(rel, sizeof rel, "root/pqtest-words/%sdata.adv", WN);
    write_text(rel, "  1 no adverbs here\n");
    copy_fixture(FIXTURE("fortunes_head.txt"), "root/pqtest-fortunes/usr/share/pqtest/fortunes");
    build_deb("pqtest-words");
    build_deb("pqtest-fortunes");
}

static void teardown(void) { pq_remove_tree(dir); }

TestSuite(sources_corpus, .init = setup, .fini = teardown, .timeout = 60);

static int count_doc(void *ctx, const char *id, const char *text, size_t n) {
    (*(int *)ctx)++;
    return 0;
}

static int lines_in(const char *rel) {
    char *p = at(rel);
    int n = 0;
    cr_assert_eq(pq_corpus_read_jsonl(p, count_doc, &n), 0, "%s", pq_error());
    free(p);
    return n;
}

Test(sources_corpus, build_cache_and_manifest) {
    write_recipes(0, 0, NULL);
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_assert_eq(lines_in("data/corpus/wordnet.train.jsonl"), 4);
    cr_assert_eq(lines_in("data/corpus/wordnet.heldout.jsonl"), 1); /* n:00020827 matter */
    cr_assert_eq(lines_in("data/corpus/fortunes.train.jsonl") + lines_in("data/corpus/fortunes.heldout.jsonl"), 4);
    char *sp = at("data/corpus/wordnet_synsets.jsonl");
    size_t sn;
    char *syn = pq_read_file(sp, &sn);
    cr_assert_not_null(syn);
    int nl = 0;
    for (size_t i = 0; i < sn; i++) nl += syn[i] == '\n';
    cr_assert_eq(nl, 5);
    free(syn), free(sp);
    char *mp = at("data/corpus/manifest.json");
    json_t *m = pq_json_read(mp);
    cr_assert_not_null(m, "%s", pq_error());
    cr_assert_eq(json_integer_value(json_object_get(m, "format")), PQ_CORPUS_FORMAT);
    json_t *wn = json_object_get(json_object_get(m, "sources"), "wordnet");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(wn, "train"), "documents")), 4);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(wn, "heldout"), "documents")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(wn, "packages"), 0), "version")), "1.0");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(m, "totals"), "train"), "documents")),
                 4 + json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(m, "sources"), "fortunes"), "train"), "documents")));
    /* unchanged recipes: nothing is rebuilt, the manifest is untouched */
    struct stat st1, st2;
    cr_assert_eq(stat(mp, &st1), 0);
    cr_assert(pq_corpus_up_to_date(recipes, data));
    usleep(20000);
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_assert_eq(stat(mp, &st2), 0);
    cr_assert_eq(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
    cr_assert_eq(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
    /* a changed output is noticed */
    char *tp = at("data/corpus/fortunes.train.jsonl");
    FILE *f = fopen(tp, "ab");
    fputs("{\"id\":\"x\",\"text\":\"y\"}\n", f);
    fclose(f);
    cr_assert(!pq_corpus_up_to_date(recipes, data));
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_assert(pq_corpus_up_to_date(recipes, data));
    /* no temporary files are left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s/data/corpus' | grep -q tmp", dir);
    cr_assert_neq(system(cmd), 0);
    json_decref(m);
    free(mp), free(tp), free(recipes), free(data);
}

Test(sources_corpus, deb_hash_mismatch_names_the_deb) {
    write_recipes(1, 0, NULL);
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "pqtest-words_1.0_all.deb: SHA-256 mismatch"), "%s", pq_error());
    cr_assert(!pq_corpus_up_to_date(recipes, data));
    free(recipes), free(data);
}

Test(sources_corpus, extracted_file_mismatch_names_the_file) {
    write_recipes(0, 1, NULL);
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "usr/share/pqtest/fortunes: SHA-256 mismatch"), "%s", pq_error());
    /* nothing half-written: no manifest, no corpus files, no temporary extraction */
    char *mp = at("data/corpus/manifest.json"), *tp = at("data/corpus/wordnet.train.jsonl");
    cr_assert(!pq_file_exists(mp) && !pq_file_exists(tp));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -R '%s/data' | grep -q '\\.tmp'", dir);
    cr_assert_neq(system(cmd), 0);
    free(mp), free(tp), free(recipes), free(data);
}

/* dpkg-deb's own error is shown to users; here it is expected, so captured. */
Test(sources_corpus, truncated_deb_names_the_deb, .init = cr_redirect_stderr) {
    char *deb = at("data/debs/pqtest-fortunes_1.0_all.deb");
    size_t n;
    char *d = pq_read_file(deb, &n);
    cr_assert_eq(pq_write_file_atomic(deb, d, n / 2), 0);
    free(d);
    write_recipes(0, 0, NULL); /* pins the truncated file's hash: dpkg-deb must catch it */
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "pqtest-fortunes_1.0_all.deb: `dpkg-deb -x` failed"), "%s", pq_error());
    fflush(stderr);
    char err[1024];
    size_t got = fread(err, 1, sizeof err - 1, cr_get_redirected_stderr());
    err[got] = 0;
    cr_expect(strstr(err, "dpkg-deb"), "%s", err);
    free(deb), free(recipes), free(data);
}

Test(sources_corpus, missing_package_names_the_file) {
    write_recipes(0, 0, "pq-no-such-package-xyzzy");
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "pq-no-such-package-xyzzy_1.0_all.deb: missing"), "%s", pq_error());
    free(recipes), free(data);
}

Test(sources_corpus, bad_recipes) {
    write_recipes(0, 0, NULL);
    write_text("recipes/fortunes.json", "{\"name\": \"fortunes\", \"decoder\": \"nope\", \"packages\": []}\n");
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "recipes/fortunes.json: \"decoder\" must name a known decoder"), "%s", pq_error());
    write_text("recipes/fortunes.json", "{\"name\": \"fortunes\",");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "recipes/fortunes.json:"), "%s", pq_error());
    free(recipes), free(data);
}

Test(sources_corpus, malformed_jsonl_line) {
    write_text("bad.jsonl", "{\"id\":\"a\",\"text\":\"b\"}\n{\"id\":\"a\"}\n");
    int n = 0;
    char *p = at("bad.jsonl");
    cr_assert_eq(pq_corpus_read_jsonl(p, count_doc, &n), -1);
    cr_assert(strstr(pq_error(), "bad.jsonl:2:"), "%s", pq_error());
    free(p);
}

/* ---- downloads: a stand-in apt-get on PATH serves archive/ (no network) ---- */

/* Moves the built .deb of pkg from data/debs/ to archive/ and puts an apt-get
 * on PATH that "downloads" from there into its working directory, or, with
 * PQ_TEST_APT=fail, leaves a 0-byte .deb and fails, as apt-get does on a full disk. */
static void serve_from_archive(const char *pkg) {
    char *archive = at("archive"), *bin = at("bin");
    cr_assert_eq(pq_mkdirs(archive), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mv '%s/data/debs/%s_1.0_all.deb' '%s/'", dir, pkg, archive);
    cr_assert_eq(system(cmd), 0);
    write_text("bin/apt-get", "#!/bin/sh\n"
                              "for a; do spec=$a; done\n"
                              "pkg=${spec%%=*}\n"
                              "if [ \"$PQ_TEST_APT\" = fail ]; then : >\"${pkg}_1.0_all.deb\"; exit 100; fi\n"
                              "cp \"$PQ_TEST_ARCHIVE/${pkg}_1.0_all.deb\" .\n");
    char *apt = at("bin/apt-get");
    cr_assert_eq(chmod(apt, 0755), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    setenv("PQ_TEST_ARCHIVE", archive, 1);
    free(archive), free(bin), free(apt);
}

static int no_download_leftovers(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s/data/debs' | grep -q tmp", dir);
    return system(cmd) != 0;
}

/* The defect: a failed download left a 0-byte .deb, and every later build,
 * --force included, stopped at its SHA-256 mismatch. */
Test(sources_corpus, empty_cached_deb_is_fetched_again) {
    write_recipes(0, 0, NULL);
    serve_from_archive("pqtest-words");
    write_text("data/debs/pqtest-words_1.0_all.deb", "");
    char *recipes = at("recipes"), *data = at("data");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_assert_eq(lines_in("data/corpus/wordnet.train.jsonl"), 4);
    char a[PQ_SHA256_HEX], b[PQ_SHA256_HEX];
    sha_of("data/debs/pqtest-words_1.0_all.deb", a);
    sha_of("archive/pqtest-words_1.0_all.deb", b);
    cr_expect_str_eq(a, b);
    cr_expect(no_download_leftovers());
    free(recipes), free(data);
}

Test(sources_corpus, failed_download_leaves_no_deb) {
    write_recipes(0, 0, NULL);
    serve_from_archive("pqtest-words");
    setenv("PQ_TEST_APT", "fail", 1);
    char *recipes = at("recipes"), *data = at("data"), *deb = at("data/debs/pqtest-words_1.0_all.deb");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "pqtest-words_1.0_all.deb: missing, and `apt-get download pqtest-words=1.0` failed"),
              "%s", pq_error());
    cr_expect(!pq_file_exists(deb), "a failed download left %s", deb);
    cr_expect(no_download_leftovers());
    unsetenv("PQ_TEST_APT"); /* the archive is back: the next build goes through */
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_expect(pq_file_exists(deb));
    free(recipes), free(data), free(deb);
}

/* A download that does not match its pin is not kept either. */
Test(sources_corpus, mismatched_download_is_not_kept) {
    write_recipes(1, 0, NULL);
    serve_from_archive("pqtest-words");
    char *recipes = at("recipes"), *data = at("data"), *deb = at("data/debs/pqtest-words_1.0_all.deb");
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "downloaded: ") && strstr(pq_error(), "pqtest-words_1.0_all.deb: SHA-256 mismatch"), "%s",
              pq_error());
    cr_expect(!pq_file_exists(deb));
    cr_expect(no_download_leftovers());
    free(recipes), free(data), free(deb);
}

/* An opt-in selection (corpus-<name>.json) builds only its own sources, and
 * adding one changes neither the default build key nor the default build. */
Test(sources_corpus, opt_in_selection) {
    write_recipes(0, 0, NULL);
    char *recipes = at("recipes"), *data = at("data");
    char before[PQ_SHA256_HEX], after[PQ_SHA256_HEX], sel[PQ_SHA256_HEX];
    cr_assert_eq(pq_corpus_build_key(recipes, NULL, before), 0, "%s", pq_error());
    write_text("recipes/corpus-small.json", "{\"format\": 1, \"sources\": [\"wordnet\"]}\n");
    cr_assert_eq(pq_corpus_build_key(recipes, NULL, after), 0, "%s", pq_error());
    cr_assert_str_eq(before, after);
    cr_assert_eq(pq_corpus_build_key(recipes, "small", sel), 0, "%s", pq_error());
    cr_assert_str_neq(before, sel);

    cr_assert_eq(pq_corpus_build_sel(recipes, "small", data, 0, 0), 0, "%s", pq_error());
    cr_assert_eq(lines_in("data/corpus/wordnet.train.jsonl"), 4);
    char *fo = at("data/corpus/fortunes.train.jsonl");
    cr_assert(!pq_file_exists(fo), "a source outside the selection was written");
    cr_assert(pq_corpus_up_to_date_sel(recipes, "small", data));
    cr_assert(!pq_corpus_up_to_date(recipes, data));
    char *mp = at("data/corpus/manifest.json");
    json_t *m = pq_json_read(mp);
    cr_assert_not_null(m, "%s", pq_error());
    cr_assert_str_eq(json_string_value(json_object_get(m, "build_key")), sel);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(m, "manifest"), "config"), "selection")),
                     "small");
    json_decref(m);

    /* the default build over it: both sources again, and no "selection" recorded */
    cr_assert_eq(pq_corpus_build_from(recipes, data, 0, 0), 0, "%s", pq_error());
    cr_assert(pq_file_exists(fo));
    m = pq_json_read(mp);
    cr_assert_str_eq(json_string_value(json_object_get(m, "build_key")), before);
    cr_assert_null(json_object_get(json_object_get(json_object_get(m, "manifest"), "config"), "selection"));
    json_decref(m);

    /* a missing selection names its file; a name that is not plain is refused */
    cr_assert_eq(pq_corpus_build_sel(recipes, "nope", data, 0, 0), -1);
    cr_assert(strstr(pq_error(), "corpus-nope.json"), "%s", pq_error());
    cr_assert_eq(pq_corpus_build_key(recipes, "../x", sel), -1);
    cr_assert(strstr(pq_error(), "selection '../x'"), "%s", pq_error());
    free(fo), free(mp), free(recipes), free(data);
}

/* The repository's recipes: the default build key is the one datasets/stats.json
 * was measured on (so stats.json is regenerated whenever a recipe, the source
 * order or PQ_CORPUS_FORMAT changes), and stats.json has one row per source of
 * corpus.json, in its order. */
Test(sources_corpus, repository_default) {
    json_t *stats = pq_json_read("datasets/stats.json"), *corpus = pq_json_read("datasets/corpus.json");
    cr_assert_not_null(stats, "%s", pq_error());
    cr_assert_not_null(corpus, "%s", pq_error());
    char key[PQ_SHA256_HEX];
    cr_assert_eq(pq_corpus_build_key("datasets", NULL, key), 0, "%s", pq_error());
    cr_assert_str_eq(key, json_string_value(json_object_get(stats, "corpus_build_key")));
    json_t *order = json_object_get(corpus, "sources"), *rows = json_object_get(stats, "sources");
    cr_assert_eq(json_object_size(rows), json_array_size(order));
    size_t i = 0;
    const char *name;
    json_t *row;
    json_object_foreach(rows, name, row) {
        cr_assert_str_eq(name, json_string_value(json_array_get(order, i)), "stats.json row %zu", i);
        cr_assert(json_is_object(json_object_get(row, "tokens_8192")), "%s: no 8k tokens in stats.json", name);
        cr_assert(json_is_object(json_object_get(row, "tokens_4096")), "%s: no 4k tokens in stats.json", name);
        i++;
    }
    json_decref(stats), json_decref(corpus);
}
