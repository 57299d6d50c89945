/* pq info — the machine, library and build description that manifests record. */
#include <stdio.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/manifest.h"
#include "cli/cli.h"

int cmd_info(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        printf("usage: pq info\n\nPrints, as JSON, what every manifest records about this machine and build.\n");
        return 0;
    }
    if (argc > 1) pq_usage_error("info", "unexpected argument '%s'", argv[1]);
    json_t *info = json_object();
    json_object_set_new(info, "code_version", json_string(pq_code_version()));
    json_object_set_new(info, "threads", json_integer(pq_threads()));
    /* built with MPI=1: mpirun -np K pq pretrain|qat splits steps over K ranks */
    json_object_set_new(info, "mpi", json_boolean(pq_dist_available()));
    json_object_set_new(info, "machine", pq_machine_info());
    json_object_set_new(info, "libraries", pq_library_info());
    char *s = json_dumps(info, JSON_INDENT(2) | JSON_SORT_KEYS);
    puts(s);
    free(s);
    json_decref(info);
    return 0;
}
