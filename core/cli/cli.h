/* cli.h — the `pq` subcommands and the helpers they share.
 *
 * Each subcommand lives in core/cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`
 * with argv[0] = the subcommand name. Exit codes: 0 success, 1 failure at work
 * (bad input file, failed check), 2 usage error (unknown flag, missing argument). */
#ifndef PQ_CLI_H
#define PQ_CLI_H

#include <jansson.h>

#include "base/util.h"
#include "gpu/gpu.h"

typedef int (*pq_command_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    const char *summary;
    pq_command_fn run;
} pq_command;

/* Prints "pq <cmd>: <message> (see 'pq <cmd> --help')" and exits with 2. */
_Noreturn void pq_usage_error(const char *cmd, const char *fmt, ...) PQ_PRINTF(2, 3);
/* True if argv holds -h or --help before any "--". */
int pq_wants_help(int argc, char **argv);
/* Parses a whole argument as a number or calls pq_usage_error naming the flag:
 * an integer in decimal (or whole, like 1e6), a number finite. */
long long pq_parse_int(const char *cmd, const char *flag, const char *text);
double pq_parse_double(const char *cmd, const char *flag, const char *text);

/* What a numeric flag's value must be; a value outside is a usage error (exit 2)
 * such as "--batch must be a positive integer, got '-3'". */
typedef enum {
    PQ_ANY = 0,  /* any integer, any finite number */
    PQ_NONNEG,   /* >= 0 */
    PQ_POSITIVE, /* > 0 (an integer: >= 1) */
    PQ_FRACTION, /* a number in [0, 1] */
} pq_range;

/* pq_parse_int / pq_parse_double, then the range; max bounds an integer from
 * above as well (0: no bound beyond long long), e.g. INT_MAX for an int field. */
long long pq_parse_int_in(const char *cmd, const char *flag, const char *text, pq_range range, long long max);
double pq_parse_double_in(const char *cmd, const char *flag, const char *text, pq_range range);

/* --device cuda, what a run records. The identity's "device": {"name": "cuda", "precision":
 * p}: a GPU run is another computation (other rounding), so it never resumes or reuses a CPU
 * run's directory, nor the reverse (CPU identities have no "device"). */
void pq_identity_add_cuda(json_t *identity, pq_gpu_precision p);
/* The manifest's "gpu" (pq_gpu_info: the GPU, its driver and runtime, p); 0, or -1 +
 * pq_error() where no GPU can be used. */
int pq_manifest_add_gpu(json_t *manifest, pq_gpu_precision p);

int cmd_pretrain(int argc, char **argv);
int cmd_qat(int argc, char **argv);
int cmd_ptq(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_suite(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
