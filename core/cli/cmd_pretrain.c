/* pq pretrain — placeholder until issue #3 lands: it says so and fails, never pretends. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_pretrain(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq pretrain ...\n\nNot implemented yet (issue #3).\n");
        return 0;
    }
    fprintf(stderr, "pq pretrain: not implemented yet (issue #3)\n");
    return 3;
}
