#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/lock.h"
#include "base/util.h"

static char dir[64];

static void setup(void) {
    strcpy(dir, "/tmp/pq_lock_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) { pq_remove_tree(dir); }

TestSuite(lock, .init = setup, .fini = teardown);

/* flock belongs to an open file, so a second open in this same process
 * contends like another process would. */
Test(lock, a_held_lock_is_refused_naming_its_holder) {
    char *run = pq_path_join(dir, "run");
    pq_lock a, b;
    cr_assert_eq(pq_lock_dir(&a, run, PQ_LOCK_TRY), 0, "%s", pq_error());
    cr_assert_eq(pq_lock_dir(&b, run, PQ_LOCK_TRY), -1);
    char want[128];
    snprintf(want, sizeof want, "run is in use by pid %ld (", (long)getpid());
    cr_expect(strstr(pq_error(), want), "%s", pq_error());
    pq_lock_release(&a);
    cr_assert_eq(pq_lock_dir(&b, run, PQ_LOCK_TRY), 0, "%s", pq_error());
    pq_lock_release(&b);
    free(run);
}

static void touch(const char *name) {
    char *p = pq_path_join(dir, name);
    cr_assert_eq(pq_write_file_atomic(p, "x", 1), 0);
    free(p);
}

static int exists(const char *name) {
    char *p = pq_path_join(dir, name);
    int e = pq_file_exists(p);
    free(p);
    return e;
}

Test(lock, only_temporaries_of_dead_writers_are_removed) {
    /* pid 2^22 + 1 is above Linux's pid_max limit: never a running process. */
    char dead[64], mine[64], parent[64];
    snprintf(dead, sizeof dead, "state.ckpt.tmp.%d", (1 << 22) + 1);
    snprintf(mine, sizeof mine, "kernels.json.tmp.%ld", (long)getpid());
    snprintf(parent, sizeof parent, "results.json.tmp.%ld", (long)getppid());
    touch(dead), touch(mine), touch(parent), touch("notes.tmp.txt"), touch("model.ckpt");
    cr_expect_eq(pq_remove_stale_tmp(dir), 1);
    cr_expect(!exists(dead));
    cr_expect(exists(mine), "%s", mine);
    cr_expect(exists(parent), "%s", parent);
    cr_expect(exists("notes.tmp.txt"));
    cr_expect(exists("model.ckpt"));
}
