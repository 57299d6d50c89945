#include <criterion/criterion.h>
#include <jansson.h>

#include "harness/results_io.h"

static json_t *parse(const char *text) {
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    cr_assert(v, "bad test JSON: %s", e.text);
    return v;
}

static const char *previous_budget =
    "{\"key\": [\"model\", \"bits\"], \"rows\": ["
    "{\"model\": \"tiny\", \"bits\": 1, \"val_loss\": 3.5, \"run_ids\": [\"a\"]},"
    "{\"model\": \"tiny\", \"bits\": 2, \"val_loss\": 3.1, \"run_ids\": [\"b\"]},"
    "{\"model\": \"tiny\", \"bits\": 3, \"incomplete\": true, \"run_ids\": [\"c\"]}]}";

/* The defect: a run that could not measure anything replaced every good row
 * with an "incomplete" one. */
Test(results, unmeasured_rows_keep_the_previous_measurement) {
    json_t *previous = parse(previous_budget);
    json_t *fresh = parse("{\"key\": [\"model\", \"bits\"], \"rows\": ["
                          "{\"model\": \"tiny\", \"bits\": 1, \"incomplete\": true, \"run_ids\": [\"x\"]},"
                          "{\"model\": \"tiny\", \"bits\": 2, \"val_loss\": 3.0, \"run_ids\": [\"y\"]},"
                          "{\"model\": \"tiny\", \"bits\": 3, \"incomplete\": true, \"run_ids\": [\"z\"]}]}");
    cr_expect_eq(pq_results_keep_measured(fresh, previous), 1);
    json_t *rows = json_object_get(fresh, "rows");
    cr_assert_eq(json_array_size(rows), 3);
    /* bits 1: the old measured row, whole */
    cr_expect(json_equal(json_array_get(rows, 0), json_array_get(json_object_get(previous, "rows"), 0)));
    /* bits 2: the new measurement wins */
    cr_expect_float_eq(json_number_value(json_object_get(json_array_get(rows, 1), "val_loss")), 3.0, 0);
    /* bits 3: nothing measured before either, so it stays incomplete */
    cr_expect(json_is_true(json_object_get(json_array_get(rows, 2), "incomplete")));
    json_decref(fresh), json_decref(previous);
}

/* transition and kernels explode one suite row into many; an unfinished one is
 * a single row without the per-layer fields and takes all of them back. */
Test(results, an_unfinished_exploded_row_keeps_all_its_rows) {
    json_t *previous = parse("{\"key\": [\"model\", \"bits\", \"layer\"], \"rows\": ["
                             "{\"model\": \"tiny\", \"bits\": 2, \"layer\": 0, \"rel_l1\": 0.1},"
                             "{\"model\": \"tiny\", \"bits\": 2, \"layer\": 1, \"rel_l1\": 0.2},"
                             "{\"model\": \"tiny\", \"bits\": 4, \"layer\": 0, \"rel_l1\": 0.3},"
                             "{\"model\": \"tiny\", \"bits\": 4, \"layer\": 1, \"rel_l1\": 0.4}]}");
    json_t *fresh = parse("{\"key\": [\"model\", \"bits\", \"layer\"], \"rows\": ["
                          "{\"model\": \"tiny\", \"bits\": 2, \"incomplete\": true},"
                          "{\"model\": \"tiny\", \"bits\": 4, \"layer\": 0, \"rel_l1\": 0.5},"
                          "{\"model\": \"tiny\", \"bits\": 4, \"layer\": 1, \"rel_l1\": 0.6}]}");
    cr_expect_eq(pq_results_keep_measured(fresh, previous), 2);
    json_t *rows = json_object_get(fresh, "rows");
    cr_assert_eq(json_array_size(rows), 4);
    double want[] = {0.1, 0.2, 0.5, 0.6};
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(json_number_value(json_object_get(json_array_get(rows, i), "rel_l1")), want[i], 0);
    json_decref(fresh), json_decref(previous);
}

Test(results, a_row_without_key_fields_does_not_duplicate_fresh_rows) {
    json_t *previous = parse("{\"key\": [\"kernel\"], \"rows\": [{\"kernel\": \"a\", \"us\": 1}, {\"kernel\": \"b\", \"us\": 2}]}");
    json_t *fresh = parse("{\"key\": [\"kernel\"], \"rows\": [{\"incomplete\": true}, {\"kernel\": \"b\", \"us\": 3}]}");
    cr_expect_eq(pq_results_keep_measured(fresh, previous), 1);
    json_t *rows = json_object_get(fresh, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "kernel")), "a");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(rows, 1), "us")), 3);
    json_decref(fresh), json_decref(previous);
}
