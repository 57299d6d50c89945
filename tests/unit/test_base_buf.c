/* The growable byte buffer (base/buf.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "base/buf.h"

Test(base_buf, appends_formats_and_trims) {
    pq_buf b = {0};
    pq_buf_put(&b, NULL, 0); /* nothing, from nowhere: allowed */
    cr_assert_eq(b.len, 0);
    pq_buf_put(&b, "ab\0c", 4);
    pq_buf_putc(&b, 'd');
    pq_buf_puts(&b, "ef");
    pq_buf_printf(&b, "-%03d-%s", 7, "x");
    cr_assert_eq(b.len, 13);
    cr_assert(!memcmp(b.data, "ab\0cdef-007-x", 13));
    pq_buf_puts(&b, " \n\t \n");
    pq_buf_rtrim(&b);
    cr_assert_eq(b.len, 13);
    cr_assert_eq(pq_buf_cstr(&b)[13], 0);
    pq_buf_clear(&b);
    cr_assert_str_eq(pq_buf_cstr(&b), "");
    pq_buf_free(&b);
    cr_assert(b.data == NULL && b.len == 0 && b.cap == 0);
}

/* Growth past many doublings keeps every byte, and room for the NUL. */
Test(base_buf, grows_without_losing_bytes) {
    pq_buf b = {0};
    for (int i = 0; i < 100000; i++) pq_buf_putc(&b, (char)('a' + i % 26));
    cr_assert_eq(b.len, 100000);
    cr_assert_gt(b.cap, b.len);
    for (int i = 0; i < 100000; i++) cr_assert_eq(b.data[i], (char)('a' + i % 26), "byte %d", i);
    pq_buf_free(&b);
}
