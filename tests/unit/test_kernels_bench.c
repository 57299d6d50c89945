/* The benchmark's verdicts: the cold/hot check of `pq bench kernels` and the
 * quiet-machine judgement, on made-up measurements (no timing here). */
#include <criterion/criterion.h>
#include <string.h>

#include "kernels/bench_kernels.h"
#include "base/bench_quiet.h"

/* One single-token row: bytes read in us microseconds. */
static json_t *row(const char *format, int threads, const char *placement, double us, long long bytes) {
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:I}", "kernel", "packed_gemv", "format", format, "act",
                     "q8", "rows", 8192, "cols", 2048, "threads", threads, "placement", placement, "median_us", us,
                     "weight_bytes", (json_int_t)bytes);
}

static const double limit[3] = {0.0, 40.0, 50.0}; /* GB/s of the best read pass, 1 and 2 threads */

Test(kernels_bench, cold_hot_passes_dram_bound_rows) {
    json_t *rows = json_array();
    /* 4 MB: 100 us resident, 110 us streamed = 38 GB/s on one thread (limit 40 x 1.25) */
    json_array_append_new(rows, row("b2", 1, "resident", 50.0, 4000000));
    json_array_append_new(rows, row("b2", 1, "streamed", 110.0, 4000000));
    json_array_append_new(rows, row("b2", 2, "resident", 30.0, 4000000));
    json_array_append_new(rows, row("b2", 2, "streamed", 70.0, 4000000)); /* 57 GB/s <= 62.5 */
    json_t *c = pq_bench_cold_hot_check(rows, limit);
    cr_assert(json_is_true(json_object_get(c, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(c, "checked")), 2);
    cr_assert_eq(json_array_size(json_object_get(c, "failures")), 0);
    json_decref(c), json_decref(rows);
}

Test(kernels_bench, cold_hot_catches_a_cached_stream) {
    json_t *rows = json_array();
    /* 4 MB streamed in 60 us = 67 GB/s on one thread: faster than DRAM (40 x 1.25 = 50) */
    json_array_append_new(rows, row("t2", 1, "resident", 50.0, 4000000));
    json_array_append_new(rows, row("t2", 1, "streamed", 60.0, 4000000));
    json_t *c = pq_bench_cold_hot_check(rows, limit);
    cr_assert(json_is_false(json_object_get(c, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(c, "failed")), 1);
    json_t *f = json_array_get(json_object_get(c, "failures"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "format")), "t2");
    cr_assert(strstr(json_string_value(json_object_get(f, "why")), "DRAM"));
    json_decref(c), json_decref(rows);
}

Test(kernels_bench, cold_hot_catches_streamed_faster_than_resident) {
    json_t *rows = json_array();
    /* 64 MB: resident 2000 us, streamed 1700 us (38 GB/s, within DRAM) but 0.85x resident */
    json_array_append_new(rows, row("b8", 1, "resident", 2000.0, 64000000));
    json_array_append_new(rows, row("b8", 1, "streamed", 1700.0, 64000000));
    json_t *c = pq_bench_cold_hot_check(rows, limit);
    cr_assert(json_is_false(json_object_get(c, "passed")));
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(json_object_get(c, "failures"), 0), "why")),
                     "resident"));
    json_decref(c), json_decref(rows);
}

Test(kernels_bench, cold_hot_without_streamed_rows_does_not_pass) {
    json_t *rows = json_array();
    json_array_append_new(rows, row("b2", 1, "resident", 50.0, 4000000));
    json_t *c = pq_bench_cold_hot_check(rows, limit);
    cr_assert(json_is_false(json_object_get(c, "passed")), "nothing checked is no evidence");
    json_decref(c), json_decref(rows);
}

/* The twin check on t2/b2 pairs (made-up medians; the bytes do not matter). */
static json_t *twin_rows(double t2_res, double b2_res, double t2_str, double b2_str) {
    json_t *rows = json_array();
    json_array_append_new(rows, row("t2", 1, "resident", t2_res, 4000000));
    json_array_append_new(rows, row("t2", 1, "streamed", t2_str, 4000000));
    json_array_append_new(rows, row("b2", 1, "resident", b2_res, 4000000));
    json_array_append_new(rows, row("b2", 1, "streamed", b2_str, 4000000));
    json_array_append_new(rows, row("b4", 1, "streamed", 500.0, 8000000)); /* no twin: ignored */
    return rows;
}

Test(kernels_bench, twins_that_agree_pass) {
    json_t *rows = twin_rows(61.0, 59.0, 209.0, 190.0); /* within 1.11x, as clean runs were */
    json_t *c = pq_bench_twin_check(rows);
    cr_assert(json_is_true(json_object_get(c, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(c, "checked")), 2);
    cr_assert_float_eq(json_real_value(json_object_get(c, "max_ratio")), 209.0 / 190.0, 1e-9);
    json_decref(c), json_decref(rows);
}

Test(kernels_bench, twins_that_disagree_either_way_fail) {
    /* c5fc5ea's 8192x2048: t2 106 vs b2 68 us resident, 401 vs 292 streamed */
    json_t *rows = twin_rows(106.0, 68.0, 292.0, 401.0);
    json_t *c = pq_bench_twin_check(rows);
    cr_assert(json_is_false(json_object_get(c, "passed")));
    cr_assert_eq(json_integer_value(json_object_get(c, "failed")), 2);
    json_t *f = json_array_get(json_object_get(c, "failures"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(f, "placement")), "streamed");
    cr_assert_float_eq(json_real_value(json_object_get(f, "b2_us")), 401.0, 1e-9);
    json_decref(c), json_decref(rows);
}

Test(kernels_bench, twins_on_two_threads_or_alone_are_not_checked) {
    json_t *rows = json_array();
    json_array_append_new(rows, row("t2", 2, "resident", 40.0, 4000000));
    json_array_append_new(rows, row("b2", 2, "resident", 80.0, 4000000)); /* 2x, but two threads */
    json_array_append_new(rows, row("t2", 1, "resident", 40.0, 4000000)); /* no b2 on one thread */
    json_t *c = pq_bench_twin_check(rows);
    cr_assert_eq(json_integer_value(json_object_get(c, "checked")), 0);
    cr_assert(json_is_false(json_object_get(c, "passed")), "nothing checked is no evidence");
    json_decref(c), json_decref(rows);
}

/* Two samples 10 s apart on 2 CPUs: this process used `own` CPU seconds, the machine `busy`. */
static void samples(pq_machine_sample *a, pq_machine_sample *b, double load, double own, double busy, double spin_after) {
    memset(a, 0, sizeof *a), memset(b, 0, sizeof *b);
    a->wall = 100.0, b->wall = 110.0;
    a->load1 = load, b->load1 = 1.0;
    a->busy_s = 1000.0, b->busy_s = 1000.0 + busy;
    a->own_cpu_s = 5.0, b->own_cpu_s = 5.0 + own;
    for (int i = 0; i < PQ_QUIET_SPINS; i++) a->spin_ms[i] = 20.0 + 0.1 * i, b->spin_ms[i] = spin_after + 0.1 * i;
    a->spin_median_ms = 20.2, b->spin_median_ms = spin_after + 0.2;
}

Test(kernels_bench, quiet_machine_is_quiet) {
    pq_machine_sample a, b;
    samples(&a, &b, 0.3, 12.0, 12.5, 20.0); /* others used 0.5 of 20 CPU-seconds */
    pq_quiet_verdict v = pq_quiet_judge(&a, &b, 2);
    cr_assert(v.quiet, "%s", v.why);
    cr_assert_str_eq(v.why, "");
    cr_assert_float_eq(v.others_cpu_fraction, 0.025, 1e-9);
}

Test(kernels_bench, busy_machine_is_named) {
    pq_machine_sample a, b;
    samples(&a, &b, 3.0, 12.0, 12.5, 20.0);
    pq_quiet_verdict v = pq_quiet_judge(&a, &b, 2);
    cr_assert(!v.quiet);
    cr_assert(strstr(v.why, "load average 3.00"), "%s", v.why);

    samples(&a, &b, 0.3, 12.0, 17.0, 20.0); /* others used 5 of 20 CPU-seconds */
    v = pq_quiet_judge(&a, &b, 2);
    cr_assert(!v.quiet);
    cr_assert(strstr(v.why, "other processes used 25%"), "%s", v.why);

    samples(&a, &b, 0.3, 12.0, 12.0, 26.0); /* the spin 30% slower after */
    v = pq_quiet_judge(&a, &b, 2);
    cr_assert(!v.quiet);
    cr_assert(strstr(v.why, "calibration spin"), "%s", v.why);

    json_t *j = pq_quiet_json(&a, &b, &v);
    cr_assert(json_is_false(json_object_get(j, "quiet")));
    cr_assert_eq(json_array_size(json_object_get(json_object_get(j, "before"), "spin_ms")), PQ_QUIET_SPINS);
    json_decref(j);
}
