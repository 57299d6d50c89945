#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pq_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pq %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'pq %s --help')\n", cmd);
    va_end(ap);
    exit(2);
}

int pq_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    }
    return 0;
}

long long pq_parse_int(const char *cmd, const char *flag, const char *text) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    /* Accept 1e6-style token counts too, as long as they are whole numbers. */
    if (*end == 'e' || *end == 'E' || *end == '.') {
        double d = strtod(text, &end);
        if (*end == '\0' && d == (double)(long long)d) return (long long)d;
    }
    if (errno || end == text || *end != '\0') pq_usage_error(cmd, "%s expects an integer, got '%s'", flag, text);
    return v;
}

double pq_parse_double(const char *cmd, const char *flag, const char *text) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0') pq_usage_error(cmd, "%s expects a number, got '%s'", flag, text);
    return v;
}
