/* pq eval — placeholder until issue #6 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_eval(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq eval ...\n\nNot implemented yet (issue #6).\n");
        return 0;
    }
    fprintf(stderr, "pq eval: not implemented yet (issue #6)\n");
    return 3;
}
