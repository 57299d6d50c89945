#include "harness/plan_summary.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void pq_format_tokens(long long t, char *buf, size_t n) {
    if (t < 1000) snprintf(buf, n, "%lld", t);
    else if (t < 1000000) snprintf(buf, n, "%lldK", (t + 500) / 1000);
    else if (t < 10000000) snprintf(buf, n, "%.2fM", (double)t / 1e6);
    else if (t < 100000000) snprintf(buf, n, "%.1fM", (double)t / 1e6);
    else { /* whole millions, thousands grouped: "1,412M" */
        long long m = (t + 500000) / 1000000;
        if (m < 1000) snprintf(buf, n, "%lldM", m);
        else if (m < 1000000) snprintf(buf, n, "%lld,%03lldM", m / 1000, m % 1000);
        else snprintf(buf, n, "%lld,%03lld,%03lldM", m / 1000000, m / 1000 % 1000, m % 1000);
    }
}

/* The model config a run trains or reads: its own "model", or that of the run it comes from. */
static const char *model_of(const pq_plan *p, const pq_run *r) {
    for (;;) {
        const char *m = json_string_value(json_object_get(r->args, "model"));
        if (m) return m;
        if (r->ndeps == 0) return "?";
        r = &p->runs[r->deps[0]];
    }
}

typedef struct {
    const char *model;
    int n[2];           /* pretrain, qat runs */
    long long tokens[2]; /* their training tokens */
} model_cost;

static void print_cost(FILE *out, const char *name, const model_cost *c) {
    static const char *const kinds[] = {"pretrain", "qat"};
    fprintf(out, "pq suite:   %s:", name);
    for (int k = 0, first = 1; k < 2; k++) {
        if (!c->n[k]) continue;
        char t[32];
        pq_format_tokens(c->tokens[k], t, sizeof t);
        fprintf(out, "%s %d %s %s tokens", first ? "" : ",", c->n[k], kinds[k], t);
        first = 0;
    }
    fprintf(out, "\n");
}

/* "to run: 3 pretrain, 56 qat, ...": the usual kinds in pipeline order, then any other. */
static void print_kinds(const pq_plan *p, FILE *out) {
    static const char *const order[] = {"pretrain", "qat", "ptq", "eval", "decode", "bench_kernels"};
    const char **kinds = pq_calloc((size_t)p->count + PQ_COUNT(order), sizeof *kinds);
    int nk = 0;
    for (size_t k = 0; k < PQ_COUNT(order); k++) kinds[nk++] = order[k];
    for (int i = 0; i < p->count; i++) {
        int known = 0;
        for (int k = 0; k < nk; k++) known |= !strcmp(kinds[k], p->runs[i].kind);
        if (!known) kinds[nk++] = p->runs[i].kind;
    }
    fprintf(out, "pq suite: to run:");
    for (int k = 0, first = 1; k < nk; k++) {
        int n = 0;
        for (int i = 0; i < p->count; i++) n += p->runs[i].state != RUN_DONE && !strcmp(p->runs[i].kind, kinds[k]);
        if (n) fprintf(out, "%s %d %s", first ? "" : ",", n, kinds[k]), first = 0;
    }
    fprintf(out, "\n");
    free(kinds);
}

void pq_plan_summary(const pq_plan *p, FILE *out) {
    int left = 0;
    for (int i = 0; i < p->count; i++) left += p->runs[i].state != RUN_DONE;
    fprintf(out, "pq suite: %d runs, %d already done, %d to run\n", p->count, p->count - left, left);
    if (!left) return;
    print_kinds(p, out);
    model_cost *models = pq_calloc((size_t)p->count, sizeof *models), all = {"all models", {0, 0}, {0, 0}};
    int nm = 0;
    for (int i = 0; i < p->count; i++) {
        const pq_run *r = &p->runs[i];
        int k = !strcmp(r->kind, "pretrain") ? 0 : !strcmp(r->kind, "qat") ? 1 : -1;
        if (r->state == RUN_DONE || k < 0) continue;
        const char *model = model_of(p, r);
        int m = 0;
        while (m < nm && strcmp(models[m].model, model)) m++;
        if (m == nm) models[nm++].model = model;
        models[m].n[k]++, models[m].tokens[k] += r->train_tokens;
        all.n[k]++, all.tokens[k] += r->train_tokens;
    }
    for (int m = 0; m < nm; m++) print_cost(out, models[m].model, &models[m]);
    if (nm > 1) print_cost(out, all.model, &all);
    free(models);
}
