/* pq ptq — placeholder until issue #5 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_ptq(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq ptq ...\n\nNot implemented yet (issue #5).\n");
        return 0;
    }
    fprintf(stderr, "pq ptq: not implemented yet (issue #5)\n");
    return 3;
}
