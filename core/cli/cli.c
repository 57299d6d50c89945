#include "cli/cli.h"

#include <errno.h>
#include <math.h>
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
    if (end != text && *end == '\0' && !errno) return v;
    /* 1e6-style token counts too, as long as they are whole and in range (converting a
     * double outside long long is undefined); decimal only: no hex, inf or nan. */
    errno = 0;
    double d = strtod(text, &end);
    int decimal = text[strspn(text, "0123456789+-.eE")] == '\0';
    if (decimal && end != text && *end == '\0' && !errno && d == floor(d) && fabs(d) < 9.2e18) return (long long)d;
    pq_usage_error(cmd, "%s expects an integer, got '%s'", flag, text);
}

double pq_parse_double(const char *cmd, const char *flag, const char *text) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0') pq_usage_error(cmd, "%s expects a number, got '%s'", flag, text);
    if (!isfinite(v)) pq_usage_error(cmd, "%s expects a finite number, got '%s'", flag, text);
    return v;
}

long long pq_parse_int_in(const char *cmd, const char *flag, const char *text, pq_range range, long long max) {
    long long v = pq_parse_int(cmd, flag, text);
    if (range == PQ_NONNEG && v < 0) pq_usage_error(cmd, "%s must be a non-negative integer, got '%s'", flag, text);
    if (range == PQ_POSITIVE && v < 1) pq_usage_error(cmd, "%s must be a positive integer, got '%s'", flag, text);
    if (range == PQ_FRACTION && (v < 0 || v > 1)) pq_usage_error(cmd, "%s must be 0 or 1, got '%s'", flag, text);
    if (max > 0 && v > max) pq_usage_error(cmd, "%s must be at most %lld, got '%s'", flag, max, text);
    return v;
}

double pq_parse_double_in(const char *cmd, const char *flag, const char *text, pq_range range) {
    double v = pq_parse_double(cmd, flag, text);
    if (range == PQ_NONNEG && !(v >= 0)) pq_usage_error(cmd, "%s must be a non-negative number, got '%s'", flag, text);
    if (range == PQ_POSITIVE && !(v > 0)) pq_usage_error(cmd, "%s must be a positive number, got '%s'", flag, text);
    if (range == PQ_FRACTION && !(v >= 0 && v <= 1)) pq_usage_error(cmd, "%s must be a number in [0, 1], got '%s'", flag, text);
    return v;
}

void pq_identity_add_cuda(json_t *identity, pq_gpu_precision p) {
    json_object_set_new(identity, "device", json_pack("{s:s, s:s}", "name", "cuda", "precision", pq_gpu_precision_name(p)));
}

int pq_manifest_add_gpu(json_t *manifest, pq_gpu_precision p) {
    json_t *info = pq_gpu_info(p);
    if (!info) return -1;
    json_object_set_new(manifest, "gpu", info);
    return 0;
}
