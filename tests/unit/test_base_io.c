#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/util.h"

static char dir[64];
static void make_dir(void) {
    strcpy(dir, "/tmp/pq_io_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void remove_dir(void) { pq_remove_tree(dir); }

TestSuite(io, .init = make_dir, .fini = remove_dir);

Test(io, atomic_write_replaces_whole_file) {
    char *path = pq_path_join(dir, "deep/er/file.txt");
    cr_assert_eq(pq_write_file_atomic(path, "first version", 13), 0, "%s", pq_error());
    cr_assert_eq(pq_write_file_atomic(path, "v2", 2), 0);
    size_t n;
    char *s = pq_read_file(path, &n);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(s, "v2");
    free(s);
    free(path);
}

Test(io, aborted_write_leaves_old_file_and_no_temp) {
    char *path = pq_path_join(dir, "keep.txt");
    cr_assert_eq(pq_write_file_atomic(path, "old", 3), 0);
    pq_atomic_file af;
    cr_assert_eq(pq_atomic_open(&af, path), 0);
    fputs("half-written", af.f);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
    pq_atomic_abort(&af);
    cr_expect(!pq_file_exists(tmp));
    char *s = pq_read_file(path, NULL);
    cr_expect_str_eq(s, "old");
    free(s);
    free(path);
}

Test(io, unwritable_destination_is_an_error) {
    cr_expect_eq(pq_write_file_atomic("/proc/pq-cannot-write/x", "x", 1), -1);
    cr_expect(strstr(pq_error(), "/proc/pq-cannot-write") != NULL, "%s", pq_error());
}

Test(io, json_read_reports_line_and_column) {
    char *path = pq_path_join(dir, "bad.json");
    const char *text = "{\n  \"dim\": 384,\n  \"layers\": ,\n}\n";
    cr_assert_eq(pq_write_file_atomic(path, text, strlen(text)), 0);
    cr_expect_null(pq_json_read(path));
    char want[300];
    snprintf(want, sizeof want, "%s:3:", path);
    cr_expect(strstr(pq_error(), want) != NULL, "error has file:line: %s", pq_error());
    free(path);
}

Test(io, json_read_rejects_duplicate_keys) {
    char *path = pq_path_join(dir, "dup.json");
    const char *text = "{\"a\": 1, \"a\": 2}";
    cr_assert_eq(pq_write_file_atomic(path, text, strlen(text)), 0);
    cr_expect_null(pq_json_read(path));
    cr_expect(strstr(pq_error(), "duplicate") != NULL, "%s", pq_error());
    free(path);
}

Test(io, manifest_records_provenance) {
    char *input = pq_path_join(dir, "input.bin");
    cr_assert_eq(pq_write_file_atomic(input, "abc", 3), 0);
    json_t *config = json_pack("{s:i}", "dim", 64);
    json_t *m = pq_manifest_new("test", config);
    cr_assert_eq(pq_manifest_add_input(m, "data", input), 0);
    cr_expect_eq(pq_manifest_add_input(m, "missing", "/nonexistent/file"), -1);
    pq_manifest_finish(m);
    cr_expect_str_eq(json_string_value(json_object_get(m, "kind")), "test");
    cr_expect(json_equal(json_object_get(m, "config"), config));
    cr_expect_str_eq(json_string_value(json_object_get(m, "code_version")), pq_code_version());
    json_t *in = json_object_get(json_object_get(m, "inputs"), "data");
    cr_expect_str_eq(json_string_value(json_object_get(in, "sha256")),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_expect(json_is_object(json_object_get(m, "machine")));
    cr_expect(json_string_length(json_object_get(json_object_get(m, "libraries"), "openblas_core")) > 0);
    cr_expect(json_real_value(json_object_get(m, "wall_seconds")) >= 0);
    cr_expect_null(json_object_get(m, "start_monotonic"));
    cr_expect_geq(json_integer_value(json_object_get(m, "threads")), 1);

    char *out = pq_path_join(dir, "results.json");
    cr_assert_eq(pq_json_write(m, out), 0);
    json_t *back = pq_json_read(out);
    cr_expect(json_equal(back, m));
    json_decref(back), json_decref(m), json_decref(config);
    free(out), free(input);
}

Test(io, duration_formatting) {
    char buf[32];
    pq_format_duration(9.54, buf, sizeof buf);
    cr_expect_str_eq(buf, "9.5s");
    pq_format_duration(724, buf, sizeof buf);
    cr_expect_str_eq(buf, "12m04s");
    pq_format_duration(3725, buf, sizeof buf);
    cr_expect_str_eq(buf, "1h02m");
}

Test(io, progress_is_silent_unless_asked, .init = cr_redirect_stderr) {
    setenv("PQ_PROGRESS", "0", 1);
    pq_progress p;
    pq_progress_begin(&p, "work", 10, "tok");
    for (int i = 1; i <= 10; i++) pq_progress_update(&p, i, 100 * i, "loss %.2f", 1.0);
    pq_progress_end(&p);
    fflush(stderr);
    cr_expect_stderr_eq_str("");
}

static size_t read_stderr(char *buf, size_t n) {
    fflush(stderr);
    size_t got = fread(buf, 1, n - 1, cr_get_redirected_stderr());
    buf[got] = 0;
    return got;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* stderr to a file (here a pipe): a line once an interval has passed, none sooner. */
Test(io, progress_in_a_log_prints_a_line_per_interval, .init = cr_redirect_stderr) {
    unsetenv("PQ_PROGRESS");
    setenv("PQ_PROGRESS_INTERVAL", "0.2", 1);
    pq_progress p;
    pq_progress_begin(&p, "work", 10, "tok");
    cr_expect_float_eq(p.interval, 0.2, 1e-12);
    pq_progress_update(&p, 1, 100, NULL); /* before the first interval: nothing */
    usleep(250000);
    pq_progress_update(&p, 2, 200, "loss %.2f", 2.5);
    pq_progress_update(&p, 3, 300, NULL); /* too soon after that line */
    pq_progress_end(&p);
    char buf[1024];
    read_stderr(buf, sizeof buf);
    cr_expect_eq(count_lines(buf), 2, "%s", buf);
    cr_expect(strstr(buf, "work  2/10") && strstr(buf, "loss 2.50") && !strchr(buf, '\r'), "%s", buf);
    cr_expect(strstr(buf, "work  done in"), "%s", buf);
}

/* The default interval is 30 s: work shorter than that leaves the log as it was. */
Test(io, progress_in_a_log_says_nothing_about_short_work, .init = cr_redirect_stderr) {
    unsetenv("PQ_PROGRESS");
    unsetenv("PQ_PROGRESS_INTERVAL");
    pq_progress p;
    pq_progress_begin(&p, "work", 10, "tok");
    cr_expect_float_eq(p.interval, 30.0, 1e-12);
    for (int i = 1; i <= 10; i++) pq_progress_update(&p, i, 100 * i, NULL);
    pq_progress_end(&p);
    char buf[256];
    cr_expect_eq(read_stderr(buf, sizeof buf), 0, "%s", buf);
}

Test(io, progress_prints_step_rate_and_eta_when_asked, .init = cr_redirect_stderr) {
    setenv("PQ_PROGRESS", "1", 1);
    pq_progress p;
    pq_progress_begin(&p, "work", 10, "tok");
    p.interval = 0;
    pq_progress_update(&p, 0, 0, NULL);
    usleep(2000);
    pq_progress_update(&p, 5, 500, "loss %.2f", 2.5);
    fflush(stderr);
    char buf[512] = {0};
    FILE *f = cr_get_redirected_stderr();
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    cr_assert_gt(n, 0);
    cr_expect(strstr(buf, "work  5/10") && strstr(buf, "tok/s") && strstr(buf, "ETA") && strstr(buf, "loss 2.50"),
              "%s", buf);
}
