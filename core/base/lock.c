#include "base/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"

/* "pid N (argv joined by spaces)" of this process, from /proc/self/cmdline. */
static void describe_self(char *out, size_t n) {
    char cmd[512] = "";
    size_t len = 0;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f) {
        len = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
    }
    for (size_t i = 0; i + 1 < len; i++)
        if (cmd[i] == '\0') cmd[i] = ' ';
    cmd[len] = '\0';
    snprintf(out, n, "pid %ld (%s)", (long)getpid(), cmd);
}

/* Who holds the lock, as its holder wrote it ("" while it has not yet). */
static void read_holder(int fd, char *out, size_t n) {
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    if (!*out) snprintf(out, n, "another process");
}

static void write_holder(int fd) {
    char who[600];
    describe_self(who, sizeof who);
    size_t len = strlen(who);
    who[len++] = '\n';
    /* Advisory text only: a failure here leaves a less helpful message, no more. */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, who, len, 0) < 0) who[0] = '\0';
}

/* flock that retries when a signal interrupts it; 0, or -1 with errno set. */
static int flock_retrying(int fd, int op) {
    int rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR) {
    }
    return rc;
}

int pq_lock_dir(pq_lock *l, const char *dir, int mode) {
    l->fd = -1;
    l->path = NULL;
    if (pq_mkdirs(dir) != 0) return -1;
    char *path = pq_path_join(dir, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(path);
        return pq_fail("%s: cannot create its lock file .lock: %s", dir, strerror(e));
    }
    int rc = flock_retrying(fd, LOCK_EX | LOCK_NB);
    if (rc != 0 && errno == EWOULDBLOCK) {
        char who[600];
        read_holder(fd, who, sizeof who);
        if (mode != PQ_LOCK_WAIT) {
            close(fd), free(path);
            return pq_fail("%s is in use by %s; wait for it to finish or stop it", dir, who);
        }
        fprintf(stderr, "pq: %s is in use by %s; waiting for it\n", dir, who);
        rc = flock_retrying(fd, LOCK_EX);
    }
    if (rc != 0) {
        int e = errno;
        close(fd), free(path);
        return pq_fail("%s: cannot lock: %s", dir, strerror(e));
    }
    write_holder(fd);
    l->fd = fd;
    l->path = path;
    pq_remove_stale_tmp(dir);
    return 0;
}

void pq_lock_release(pq_lock *l) {
    if (l->fd >= 0) {
        /* Emptied first, so that nobody reads a released lock's holder. */
        if (ftruncate(l->fd, 0) != 0) { /* the text is advisory */
        }
        close(l->fd); /* releases the flock */
    }
    free(l->path);
    l->fd = -1;
    l->path = NULL;
}

int pq_lock_dir_until_exit(const char *dir) {
    pq_lock l;
    if (pq_lock_dir(&l, dir, PQ_LOCK_TRY) != 0) return -1;
    free(l.path); /* the descriptor stays open (and locked) until exit */
    return 0;
}

int pq_remove_stale_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        while (t && strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp."); /* the last one */
        if (!t || !t[5]) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        /* ESRCH: no such process. EPERM means it exists (another user's): keep. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = pq_path_join(dir, e->d_name);
        if (pq_remove_tree(path) == 0) removed++;
        free(path);
    }
    closedir(d);
    return removed;
}
