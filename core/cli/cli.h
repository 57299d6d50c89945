/* cli.h — the `pq` subcommands and the helpers they share.
 *
 * Each subcommand lives in core/cli/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`
 * with argv[0] = the subcommand name. Exit codes: 0 success, 1 failure at work
 * (bad input file, failed check), 2 usage error (unknown flag, missing argument). */
#ifndef PQ_CLI_H
#define PQ_CLI_H

#include "base/util.h"

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
/* Parses a whole argument as a number or calls pq_usage_error naming the flag. */
long long pq_parse_int(const char *cmd, const char *flag, const char *text);
double pq_parse_double(const char *cmd, const char *flag, const char *text);

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

#endif
