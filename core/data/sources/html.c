/* html.c — HTML (as generators write it: Sphinx, mdBook, DocBook, Texinfo,
 * Publican, Doxygen-free pages) to paragraphs of text.
 *
 * Dropped whole, with everything inside: <head>, <script>, <style>, <nav>,
 * <header>, <footer>, <aside>, <form>, <noscript>, <svg>, <math>, <table>
 * (tables are data, not sentences), <pre> (code blocks), and any element whose
 * class, id or role names navigation or boilerplate (NAV_WORDS below; also any
 * class token starting with "nav", "toc" or "sidebar"). <script> and <style>
 * are raw text as in HTML: they end at the first "</script" / "</style", so
 * quotes and '<' in the code between do not matter. Block elements end a
 * paragraph; character references are decoded. Malformed: a comment, tag or
 * dropped element that never ends. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

static const char *SKIP_TAGS[] = {"head", "script", "style", "nav",  "header", "footer", "aside", "form",
                                  "noscript", "svg", "math", "table", "pre", "button", "select", "iframe", "object"};
static const char *BLOCK_TAGS[] = {"p",     "div",   "h1",  "h2", "h3",     "h4",      "h5",         "h6",
                                   "li",    "dt",    "dd",  "br", "ul",     "ol",      "dl",         "blockquote",
                                   "hr",    "tr",    "td",  "th", "section", "article", "figure",     "figcaption",
                                   "caption", "center", "main", "body", "title", "address", "details", "summary"};
static const char *VOID_TAGS[] = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "param",
                                  "source", "track", "wbr"};
static const char *NAV_WORDS[] = {"related",   "sphinxsidebar", "sidebar",    "footer",     "headerlink",
                                  "breadcrumb", "breadcrumbs",  "menu",       "menu-bar",   "search",   "searchbox",
                                  "toc",       "contents",      "navigation", "copyright",  "skip",     "mobile-nav",
                                  "footnotes-list", "nav-chapters", "nav-wrapper", "toctree-wrapper", "highlight",
                                  "docnav",    "titlepage",     "legalnotice", "revhistory"};

static int in_list(const char *s, size_t n, const char **list, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && !strncmp(list[i], s, n)) return 1;
    return 0;
}

/* The value of attribute attr (lower-case name) in a tag's attribute text. */
static int attr_value(const char *a, size_t n, const char *attr, const char **v, size_t *vn) {
    size_t al = strlen(attr);
    for (size_t i = 0; i + al < n; i++) {
        if ((i && !isspace((unsigned char)a[i - 1])) || strncasecmp(a + i, attr, al)) continue;
        size_t k = i + al;
        while (k < n && a[k] == ' ') k++;
        if (k >= n || a[k] != '=') continue;
        k++;
        while (k < n && a[k] == ' ') k++;
        if (k < n && (a[k] == '"' || a[k] == '\'')) {
            char q = a[k++];
            size_t e = k;
            while (e < n && a[e] != q) e++;
            *v = a + k, *vn = e - k;
        } else {
            size_t e = k;
            while (e < n && !isspace((unsigned char)a[e])) e++;
            *v = a + k, *vn = e - k;
        }
        return 1;
    }
    return 0;
}

/* 1 if a class/id/role token names navigation or boilerplate. */
static int nav_token(const char *t, size_t n) {
    if (in_list(t, n, NAV_WORDS, PQ_COUNT(NAV_WORDS))) return 1;
    return (n >= 3 && !strncmp(t, "nav", 3)) || (n >= 3 && !strncmp(t, "toc", 3)) || (n >= 7 && !strncmp(t, "sidebar", 7));
}

static int nav_attrs(const char *a, size_t n) {
    static const char *names[] = {"class", "id", "role"};
    for (size_t k = 0; k < PQ_COUNT(names); k++) {
        const char *v;
        size_t vn;
        if (!attr_value(a, n, names[k], &v, &vn)) continue;
        size_t i = 0;
        while (i < vn) {
            while (i < vn && isspace((unsigned char)v[i])) i++;
            size_t e = i;
            while (e < vn && !isspace((unsigned char)v[e])) e++;
            if (e > i && nav_token(v + i, e - i)) return 1;
            i = e;
        }
    }
    return 0;
}

/* The offset just past the "</name ...>" that ends a raw-text element whose
 * content starts at i (name lower-case), or n when it never ends. */
static size_t raw_text_end(const char *s, size_t n, size_t i, const char *name) {
    size_t nl = strlen(name);
    for (; i + 2 + nl <= n; i++) {
        if (s[i] != '<' || s[i + 1] != '/' || strncasecmp(s + i + 2, name, nl)) continue;
        char after = i + 2 + nl < n ? s[i + 2 + nl] : 0;
        if (after != '>' && !isspace((unsigned char)after)) continue;
        const char *gt = memchr(s + i, '>', n - i);
        return gt ? (size_t)(gt - s) + 1 : n;
    }
    return n;
}

static void paragraph_break(pq_buf *out) {
    if (out->len && out->data[out->len - 1] != '\n') pq_buf_putc(out, '\n');
}

int pq_html_to_text(const char *what, const char *s, size_t n, pq_buf *out) {
    char skip_name[32] = "";
    int skip_depth = 0; /* > 0: inside a dropped element named skip_name */
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '<') {
            if (i + 4 <= n && !memcmp(s + i, "<!--", 4)) {
                const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
                if (!e) return pq_fail("%s: comment at byte %zu never ends", what, i);
                i = (size_t)(e - s) + 3;
                continue;
            }
            if (i + 9 <= n && !memcmp(s + i, "<![CDATA[", 9)) {
                const char *e = memmem(s + i + 9, n - i - 9, "]]>", 3);
                if (!e) return pq_fail("%s: CDATA section at byte %zu never ends", what, i);
                if (!skip_depth) pq_buf_put(out, s + i + 9, (size_t)(e - s) - i - 9);
                i = (size_t)(e - s) + 3;
                continue;
            }
            size_t k = i + 1;
            int closing = k < n && s[k] == '/';
            if (closing) k++;
            if (k >= n || !(isalpha((unsigned char)s[k]) || s[k] == '!' || s[k] == '?')) {
                if (!skip_depth) pq_buf_putc(out, c); /* a bare '<' in text */
                i++;
                continue;
            }
            /* find the tag's end, honouring quoted attribute values */
            size_t e = k;
            char q = 0;
            while (e < n && (q || s[e] != '>')) {
                if (q && s[e] == q) q = 0;
                else if (!q && (s[e] == '"' || s[e] == '\'') && e > k && (s[e - 1] == '=' || s[e - 1] == ' ')) q = s[e];
                e++;
            }
            if (e >= n) return pq_fail("%s: tag at byte %zu never ends", what, i);
            size_t ns = k;
            while (k < e && (isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == ':')) k++;
            char name[32];
            size_t nl = PQ_MIN(k - ns, sizeof name - 1);
            for (size_t t = 0; t < nl; t++) name[t] = (char)tolower((unsigned char)s[ns + t]);
            name[nl] = 0;
            const char *attrs = s + k;
            size_t an = e - k;
            int self_closing = an && attrs[an - 1] == '/';
            i = e + 1;
            if (name[0] == 0) continue; /* <!DOCTYPE>, <?xml?> */
            int is_void = in_list(name, nl, VOID_TAGS, PQ_COUNT(VOID_TAGS)) || self_closing;
            if (skip_depth) {
                if (!strcmp(name, skip_name) && !is_void) skip_depth += closing ? -1 : 1;
                if (!strcmp(skip_name, "head") && !strcmp(name, "body")) skip_depth = 0; /* </head> may be omitted */
                if (!skip_depth) paragraph_break(out);
                continue;
            }
            /* the page's own containers are never dropped for their class (mdBook: <html class="sidebar-visible">) */
            int container = !strcmp(name, "html") || !strcmp(name, "body") || !strcmp(name, "main") || !strcmp(name, "article");
            /* <script> and <style> hold raw text (HTML's rule): their end is the first
             * "</script", "</style", whatever quotes and '<' the code between holds */
            if (!closing && !is_void && (!strcmp(name, "script") || !strcmp(name, "style"))) {
                size_t end = raw_text_end(s, n, i, name);
                if (end == n) return pq_fail("%s: <%s> element never ends", what, name);
                i = end;
                paragraph_break(out);
                continue;
            }
            if (!closing && !is_void &&
                (in_list(name, nl, SKIP_TAGS, PQ_COUNT(SKIP_TAGS)) || (!container && nav_attrs(attrs, an)))) {
                snprintf(skip_name, sizeof skip_name, "%s", name);
                skip_depth = 1;
                paragraph_break(out);
                continue;
            }
            if (in_list(name, nl, BLOCK_TAGS, PQ_COUNT(BLOCK_TAGS))) paragraph_break(out);
            /* raw-text elements whose content is not markup even when kept */
            continue;
        }
        if (skip_depth) { i++; continue; }
        if (c == '&') {
            size_t e = i + 1;
            while (e < n && e - i < 12 && (isalnum((unsigned char)s[e]) || s[e] == '#')) e++;
            if (e < n && s[e] == ';' && pq_entity_put(s + i + 1, e - i - 1, out)) {
                i = e + 1;
                continue;
            }
        }
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        pq_buf_putc(out, c);
        i++;
    }
    if (skip_depth) return pq_fail("%s: <%s> element never ends", what, skip_name);
    return 0;
}

int pq_decode_html(pq_decode_ctx *ctx) { return pq_decode_tree(ctx, pq_html_to_text); }
