/* pq check — placeholder until issue #8 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_check(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq check ...\n\nNot implemented yet (issue #8).\n");
        return 0;
    }
    fprintf(stderr, "pq check: not implemented yet (issue #8)\n");
    return 3;
}
