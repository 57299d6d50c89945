/* pq data — placeholder until issue #4 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_data(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq data ...\n\nNot implemented yet (issue #4).\n");
        return 0;
    }
    fprintf(stderr, "pq data: not implemented yet (issue #4)\n");
    return 3;
}
