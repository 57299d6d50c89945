/* pq generate — placeholder until issue #7 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_generate(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq generate ...\n\nNot implemented yet (issue #7).\n");
        return 0;
    }
    fprintf(stderr, "pq generate: not implemented yet (issue #7)\n");
    return 3;
}
