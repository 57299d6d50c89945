/* pq qat — placeholder until issue #5 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_qat(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq qat ...\n\nNot implemented yet (issue #5).\n");
        return 0;
    }
    fprintf(stderr, "pq qat: not implemented yet (issue #5)\n");
    return 3;
}
