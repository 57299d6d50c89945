#include <criterion/criterion.h>
#include <string.h>

#include "base/util.h"

Test(util, fail_records_the_message) {
    cr_expect_eq(pq_fail("%s: bad magic %d", "a.bin", 7), -1);
    cr_expect_str_eq(pq_error(), "a.bin: bad magic 7");
}

Test(util, fail_prefix_prepends_context) {
    pq_fail("checkpoint tensor '%s' is missing", "0.wq.qcodes");
    cr_expect_eq(pq_fail_prefix("%s: layer %d", "model.bin", 3), -1);
    cr_expect_str_eq(pq_error(), "model.bin: layer 3: checkpoint tensor '0.wq.qcodes' is missing");
    pq_fail_prefix("outer");
    cr_expect_str_eq(pq_error(), "outer: model.bin: layer 3: checkpoint tensor '0.wq.qcodes' is missing");
}

/* The old pattern, pq_fail("%s: %s", x, pq_error()), formatted the buffer into
 * itself and gave "X: X: 0.wq.qcodes' is ..."; pq_fail now formats into a
 * scratch buffer first, so even that reads the old message intact. */
Test(util, fail_reading_its_own_buffer_is_safe) {
    pq_fail("checkpoint tensor '0.wq.qcodes' is missing");
    pq_fail("%s: %s", "model.bin", pq_error());
    cr_expect_str_eq(pq_error(), "model.bin: checkpoint tensor '0.wq.qcodes' is missing");
}

Test(util, long_messages_are_truncated_not_overrun) {
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    pq_fail("%s", big);
    cr_expect_eq(strlen(pq_error()), 1023);
    pq_fail_prefix("%s", big);
    cr_expect_eq(strlen(pq_error()), 1023);
    cr_expect_eq(pq_error()[0], 'x');
}
