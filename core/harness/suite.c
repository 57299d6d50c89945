#include "harness/suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "harness/intervals.h"

const char *const pq_suite_names[] = {"grids", "budget",  "tokens",  "transition", "quantfn",
                                      "pareto", "speed", "ternary", "baselines",  "kernels"};
const int pq_suite_count = (int)PQ_COUNT(pq_suite_names);

const char *const pq_tier_names[] = {"smoke", "small", "medium", "full"};
const int pq_tier_count = (int)PQ_COUNT(pq_tier_names);

int pq_tier_known(const char *tier) {
    for (int i = 0; i < pq_tier_count; i++)
        if (!strcmp(pq_tier_names[i], tier)) return 1;
    return 0;
}

const char *pq_tier_list(void) {
    static char list[64];
    if (!list[0])
        for (int i = 0; i < pq_tier_count; i++) strcat(strcat(list, i ? ", " : ""), pq_tier_names[i]);
    return list;
}

/* Line of the first quoted key `"<part>"` for each dot-separated part, in order:
 * good enough to point a user at the field, since keys appear in file order. */
static int line_of_field(const char *text, const char *dotted) {
    const char *at = text;
    char *copy = pq_strdup(dotted), *save = NULL;
    for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        char quoted[256];
        snprintf(quoted, sizeof quoted, "\"%s\"", part);
        const char *hit = strstr(at, quoted);
        if (!hit) break;
        at = hit;
    }
    free(copy);
    if (at == text) return 0;
    int line = 1;
    for (const char *p = text; p < at; p++) line += *p == '\n';
    return line;
}

int pq_suite_field_error(const pq_suite *s, const char *field, const char *what) {
    char dotted[512];
    snprintf(dotted, sizeof dotted, "tiers.%s.%s", s->tier_name, field);
    int line = line_of_field(s->text, dotted);
    if (line) return pq_fail("%s:%d: %s: %s", s->path, line, dotted, what);
    return pq_fail("%s: %s: %s", s->path, dotted, what);
}

static int file_error(const pq_suite *s, const char *field, const char *what) {
    int line = line_of_field(s->text, field);
    if (line) return pq_fail("%s:%d: %s: %s", s->path, line, field, what);
    return pq_fail("%s: %s: %s", s->path, field, what);
}

int pq_suite_load(pq_suite *s, const char *suites_dir, const char *name, const char *tier) {
    memset(s, 0, sizeof *s);
    int known = 0;
    for (int i = 0; i < pq_suite_count; i++) known |= !strcmp(pq_suite_names[i], name);
    if (!known) {
        char list[256] = "";
        for (int i = 0; i < pq_suite_count; i++) strcat(strcat(list, i ? ", " : ""), pq_suite_names[i]);
        return pq_fail("unknown suite '%s' (known: %s, all)", name, list);
    }
    char file[256];
    snprintf(file, sizeof file, "%s.json", name);
    s->name = pq_strdup(name);
    s->path = pq_path_join(suites_dir, file);
    s->text = pq_read_file(s->path, NULL);
    if (!s->text || !(s->root = pq_json_read(s->path))) return -1;
    if (!json_is_object(s->root)) return pq_fail("%s: a suite file must be a JSON object", s->path);
    const char *declared = json_string_value(json_object_get(s->root, "suite"));
    if (!declared || strcmp(declared, name) != 0) {
        char what[300];
        snprintf(what, sizeof what, "must be the string \"%s\" (the file's name)", name);
        return file_error(s, "suite", what);
    }
    static const char *required[] = {"artifact", "title", "finding"};
    for (size_t i = 0; i < PQ_COUNT(required); i++)
        if (!json_is_string(json_object_get(s->root, required[i])))
            return pq_fail("%s: missing string field \"%s\"", s->path, required[i]);
    json_t *key = json_object_get(s->root, "key");
    size_t ki;
    json_t *kf;
    int key_ok = json_is_array(key);
    json_array_foreach(key, ki, kf) key_ok &= json_is_string(kf);
    if (!key_ok) return file_error(s, "key", "must be an array of the row fields that identify a row");
    json_t *tiers = json_object_get(s->root, "tiers");
    if (!json_is_object(tiers)) return file_error(s, "tiers", "must be an object of tiers");
    static const char *tier_names[] = {"smoke", "small", "full"};
    for (size_t i = 0; i < PQ_COUNT(tier_names); i++)
        if (!json_is_object(json_object_get(tiers, tier_names[i])))
            return pq_fail("%s: tiers.%s: every suite defines the smoke, small and full tiers", s->path,
                           tier_names[i]);
    s->tier = json_object_get(tiers, tier);
    /* medium (16-64 cores) is optional: a suite that defines it runs it */
    if (!s->tier) return pq_fail("unknown tier '%s' (smoke, small, full; medium where a suite defines it)", tier);
    s->tier_name = tier;
    json_t *tol = json_object_get(s->root, "tolerances");
    if (!json_is_object(tol)) return file_error(s, "tolerances", "must be an object {metric: rule}");
    json_t *tier_tol = json_object_get(s->tier, "tolerances");
    if (tier_tol && !json_is_object(tier_tol)) return pq_suite_field_error(s, "tolerances", "must be an object {metric: rule}");
    s->tolerances = json_deep_copy(tol);
    if (tier_tol) json_object_update(s->tolerances, tier_tol); /* a tier may widen or tighten a rule */
    const char *metric;
    json_t *rule;
    json_object_foreach(s->tolerances, metric, rule) {
        static const char *kinds[] = {"exact", "rel", "abs", "stderr", "ratio", "ci"};
        int ok = json_is_object(rule) && json_object_size(rule) >= 1;
        const char *k;
        json_t *v;
        json_object_foreach(rule, k, v) {
            int known_kind = 0;
            for (size_t i = 0; i < PQ_COUNT(kinds); i++) known_kind |= !strcmp(k, kinds[i]);
            ok &= known_kind && (json_is_number(v) || json_is_true(v));
        }
        if (!ok) {
            char field[300];
            snprintf(field, sizeof field, "tolerances.%s", metric);
            return file_error(s, field, "must be {\"exact\": true}, {\"rel\": r}, {\"abs\": a}, {\"stderr\": k}, {\"ci\": k} or {\"ratio\": f}");
        }
    }
    if (pq_contrasts_check(json_object_get(s->root, "contrasts"), key, json_object_get(s->tier, "tasks"), s->path, s->text))
        return -1;
    s->rows = json_array();
    return 0;
}

void pq_suite_free(pq_suite *s) {
    free(s->name);
    free(s->path);
    free(s->text);
    json_decref(s->root);
    json_decref(s->rows);
    json_decref(s->tolerances);
    memset(s, 0, sizeof *s);
}

static json_t *field(const pq_suite *s, const char *name) { return json_object_get(s->tier, name); }

int pq_suite_int(const pq_suite *s, const char *name, long long *out) {
    json_t *v = field(s, name);
    if (!v) return pq_suite_field_error(s, name, "missing");
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v)) {
        *out = (long long)json_real_value(v);
        return 0;
    }
    return pq_suite_field_error(s, name, "expected an integer");
}

int pq_suite_number(const pq_suite *s, const char *name, double *out) {
    json_t *v = field(s, name);
    if (!v) return pq_suite_field_error(s, name, "missing");
    if (!json_is_number(v)) return pq_suite_field_error(s, name, "expected a number");
    *out = json_number_value(v);
    return 0;
}

int pq_suite_string(const pq_suite *s, const char *name, const char **out) {
    json_t *v = field(s, name);
    if (!v) return pq_suite_field_error(s, name, "missing");
    if (!json_is_string(v)) return pq_suite_field_error(s, name, "expected a string");
    *out = json_string_value(v);
    return 0;
}

int pq_suite_array(const pq_suite *s, const char *name, json_t **out) {
    json_t *v = field(s, name);
    if (!v) return pq_suite_field_error(s, name, "missing");
    if (!json_is_array(v) || json_array_size(v) == 0) return pq_suite_field_error(s, name, "expected a non-empty array");
    *out = v;
    return 0;
}
