#include "base/fsio.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

char *pq_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = pq_malloc(a + b + 2);
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

int pq_mkdirs(const char *path) {
    char *p = pq_strdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return pq_fail("%s: cannot create directory: %s", path, strerror(e));
        }
        *s = saved;
        if (saved == '\0') break;
    }
    free(p);
    return 0;
}

static int make_parent_dirs(const char *path) {
    char *dir = pq_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = pq_mkdirs(dir);
    }
    free(dir);
    return rc;
}

int pq_atomic_open(pq_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (make_parent_dirs(path) != 0) return -1;
    af->path = pq_strdup(path);
    size_t n = strlen(path) + 32;
    af->tmp_path = pq_malloc(n);
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        int e = errno;
        pq_fail("%s: cannot create: %s", af->tmp_path, strerror(e));
        free(af->path), free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return -1;
    }
    return 0;
}

static void release(pq_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

void pq_atomic_abort(pq_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    release(af);
}

int pq_atomic_commit(pq_atomic_file *af) {
    int failed = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int e = errno;
    failed |= fclose(af->f) != 0;
    af->f = NULL;
    if (failed) {
        pq_fail("%s: write failed: %s", af->path, strerror(e));
        pq_atomic_abort(af);
        return -1;
    }
    if (rename(af->tmp_path, af->path) != 0) {
        pq_fail("%s: cannot rename into place: %s", af->path, strerror(errno));
        pq_atomic_abort(af);
        return -1;
    }
    release(af);
    return 0;
}

int pq_write_file_atomic(const char *path, const void *data, size_t n) {
    pq_atomic_file af;
    if (pq_atomic_open(&af, path) != 0) return -1;
    if (n && fwrite(data, 1, n, af.f) != n) {
        pq_fail("%s: write failed: %s", path, strerror(errno));
        pq_atomic_abort(&af);
        return -1;
    }
    return pq_atomic_commit(&af);
}

char *pq_read_file(const char *path, size_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pq_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = pq_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = pq_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        pq_fail("%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    if (n_out) *n_out = n;
    return buf;
}

int pq_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int pq_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : pq_fail("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return pq_fail("%s: cannot open directory: %s", path, strerror(errno));
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = pq_path_join(path, e->d_name);
            rc = pq_remove_tree(child);
            free(child);
        }
        closedir(d);
        if (rc != 0) return rc;
        if (rmdir(path) != 0) return pq_fail("%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0) return pq_fail("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}
