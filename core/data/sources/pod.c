/* pod.c — Perl's POD (perl-doc's perl*.pod) to paragraphs of text.
 *
 * Kept: ordinary paragraphs, =head1..=head4 titles and =item labels (a bare
 * "*" or number label is dropped). Dropped: verbatim paragraphs (indented:
 * code), =begin ... =end and =for regions (other formats), text outside POD
 * (before the first command, between =cut and the next command). Formatting
 * codes to text: B<x> I<x> C<x> F<x> S<x> -> x, L<text|target> -> text,
 * L<target> -> target with "/" as a space, E<name> -> the character, X<> Z<>
 * -> nothing; C<< x >> with more brackets likewise. Malformed: a formatting
 * code that never closes, =begin without =end, =back without =over. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

/* Formatting codes of [p, p+n) to text appended to out; *bad set if a code does
 * not close. Returns the bytes consumed (stops at a closing run when nested). */
static size_t pod_codes(const char *p, size_t n, const char *close, size_t close_n, pq_buf *out, int *bad) {
    size_t i = 0;
    while (i < n) {
        if (close_n && i + close_n <= n && !memcmp(p + i, close, close_n) &&
            (close_n == 1 || i == 0 || p[i - 1] == ' ' || p[i - 1] == '\n'))
            return i;
        char c = p[i];
        if (c >= 'A' && c <= 'Z' && i + 1 < n && p[i + 1] == '<' && strchr("BICFSLEXZ", c)) {
            size_t k = i + 1, m = 0;
            while (k < n && p[k] == '<') k++, m++;
            char cl[16];
            size_t cln = 1;
            if (m >= 2 && k < n && (p[k] == ' ' || p[k] == '\n')) { /* C<< x >> */
                cln = PQ_MIN(m, sizeof cl - 1);
                memset(cl, '>', cln);
                while (k < n && (p[k] == ' ' || p[k] == '\n')) k++;
            } else {
                k = i + 2; /* single-bracket form: C<<x> is C< "<x" > */
                cl[0] = '>';
                cln = 1;
            }
            pq_buf inner = {0};
            size_t used = pod_codes(p + k, n - k, cl, cln, &inner, bad);
            if (k + used >= n || memcmp(p + k + used, cl, cln)) {
                *bad = 1;
                pq_buf_free(&inner);
                pq_buf_put(out, p + i, n - i);
                return n;
            }
            const char *t = inner.data ? inner.data : "";
            size_t tn = inner.len;
            while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\n')) tn--;
            if (c == 'E') {
                if (!pq_entity_put(t, tn, out)) {
                    if (tn == 6 && !memcmp(t, "verbar", 6)) pq_buf_putc(out, '|');
                    else if (tn > 2 && (t[0] == '0')) { /* E<0x201E> */
                        char tmp[16];
                        snprintf(tmp, sizeof tmp, "#%.*s", (int)PQ_MIN(tn - 1, (size_t)12), t + 1);
                        pq_entity_put(tmp, strlen(tmp), out);
                    } else if (tn && isdigit((unsigned char)t[0])) {
                        char tmp[16];
                        snprintf(tmp, sizeof tmp, "#%.*s", (int)PQ_MIN(tn, (size_t)12), t);
                        pq_entity_put(tmp, strlen(tmp), out);
                    }
                }
            } else if (c == 'L') {
                const char *bar = memchr(t, '|', tn);
                if (bar) pq_buf_put(out, t, (size_t)(bar - t));
                else {
                    const char *q = t, *qe = t + tn;
                    if (qe - q > 4 && memmem(q, (size_t)(qe - q), "://", 3)) pq_buf_put(out, q, (size_t)(qe - q));
                    else
                        for (; q < qe; q++) {
                            if (*q == '"') continue;
                            pq_buf_putc(out, *q == '/' ? ' ' : *q);
                        }
                }
            } else if (c != 'X' && c != 'Z') {
                pq_buf_put(out, t, tn);
            }
            pq_buf_free(&inner);
            i = k + used + cln;
            continue;
        }
        pq_buf_putc(out, c == '\n' ? ' ' : c);
        i++;
    }
    return n;
}

static int paragraph_text(const char *what, long line, const char *p, size_t n, pq_buf *out) {
    int bad = 0;
    pod_codes(p, n, "", 0, out, &bad);
    if (bad) return pq_fail("%s:%ld: a formatting code never closes", what, line);
    pq_buf_putc(out, '\n');
    return 0;
}

typedef struct {
    int in_pod, over;
    char begin[64]; /* inside =begin <format> */
    long begin_line;
} pod_state;

/* One paragraph (a command, verbatim or ordinary), starting at line first_line. */
static int pod_paragraph(pod_state *st, const char *what, long first_line, const char *p, size_t pn, pq_buf *out) {
    if (p[0] == '=' && pn > 1 && isalpha((unsigned char)p[1])) {
        size_t k = 1;
        while (k < pn && !isspace((unsigned char)p[k])) k++;
        const char *cmd = p + 1;
        size_t cn = k - 1;
        while (k < pn && isspace((unsigned char)p[k])) k++;
        const char *arg = p + k;
        size_t an = pn - k;
        st->in_pod = !(cn == 3 && !memcmp(cmd, "cut", 3));
        if (st->begin[0]) {
            if (cn == 3 && !memcmp(cmd, "end", 3)) st->begin[0] = 0;
            return 0;
        }
        if (cn == 5 && !memcmp(cmd, "begin", 5)) {
            snprintf(st->begin, sizeof st->begin, "%.*s", (int)PQ_MIN(an, (size_t)60), an ? arg : "?");
            st->begin_line = first_line;
        } else if (cn == 4 && !memcmp(cmd, "over", 4)) {
            st->over++;
        } else if (cn == 4 && !memcmp(cmd, "back", 4)) {
            if (!st->over) return pq_fail("%s:%ld: =back without =over", what, first_line);
            st->over--;
        } else if ((cn == 5 && !memcmp(cmd, "head", 4) && cmd[4] >= '1' && cmd[4] <= '6') ||
                   (cn == 4 && !memcmp(cmd, "item", 4))) {
            size_t a = 0; /* drop bullet and number labels */
            if (cmd[0] == 'i') {
                if (a < an && arg[a] == '*') a++;
                else
                    while (a < an && isdigit((unsigned char)arg[a])) a++;
                if (a < an && arg[a] == '.' && a > 0 && isdigit((unsigned char)arg[a - 1])) a++;
                if (a < an && !isspace((unsigned char)arg[a])) a = 0; /* "*foo" is a label */
                while (a < an && isspace((unsigned char)arg[a])) a++;
            }
            if (a < an) return paragraph_text(what, first_line, arg + a, an - a, out);
        }
        return 0; /* =pod =cut =for =encoding: nothing to keep */
    }
    if (!st->in_pod || st->begin[0]) return 0;
    if (p[0] == ' ' || p[0] == '\t') return 0; /* verbatim: code */
    return paragraph_text(what, first_line, p, pn, out);
}

int pq_pod_to_text(const char *what, const char *s, size_t n, pq_buf *out) {
    pod_state st = {0};
    pq_buf par = {0};
    long line = 0, par_line = 0;
    int rc = 0;
    size_t i = 0;
    while (i <= n && !rc) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        line++;
        size_t k = i;
        while (k < e && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
        if (k == e) { /* blank (or the end): the paragraph is complete */
            if (par.len) {
                while (par.len && par.data[par.len - 1] == '\n') par.len--;
                rc = pod_paragraph(&st, what, par_line, par.data, par.len, out);
                pq_buf_clear(&par);
            }
        } else {
            if (!par.len) par_line = line;
            pq_buf_put(&par, s + i, e - i);
            pq_buf_putc(&par, '\n');
        }
        i = e + 1;
    }
    pq_buf_free(&par);
    if (!rc && st.begin[0]) rc = pq_fail("%s:%ld: =begin %s without =end", what, st.begin_line, st.begin);
    return rc;
}

int pq_decode_pod(pq_decode_ctx *ctx) { return pq_decode_tree(ctx, pq_pod_to_text); }
