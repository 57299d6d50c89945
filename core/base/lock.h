/* lock.h — one process at a time per directory, and no leftovers from killed ones.
 *
 * A lock is an flock(2) on DIR/.lock. The kernel drops it when its holder
 * exits, however it exits (kill -9 included), so a lock is never stale. The
 * file holds the holder's pid and command line, so whoever finds the lock
 * taken can say who has it. The descriptor is close-on-exec: a child pq does
 * not inherit (and so cannot keep) its parent's lock.
 *
 * Used for a run directory (pq pretrain/qat/ptq --out) and for a suite's runs
 * directory (pq suite run, pq check). */
#ifndef PQ_LOCK_H
#define PQ_LOCK_H

typedef struct {
    int fd; /* -1: not held */
    char *path;
} pq_lock;

enum { PQ_LOCK_TRY = 0, PQ_LOCK_WAIT = 1 };

/* Creates dir if needed and locks it. PQ_LOCK_TRY: when another process holds
 * it, -1 + pq_error() "DIR is in use by pid N (COMMAND)". PQ_LOCK_WAIT: says so
 * once on stderr and waits for it. Once held, removes the stale temporary files
 * of the directory (pq_remove_stale_tmp). */
int pq_lock_dir(pq_lock *l, const char *dir, int mode);
void pq_lock_release(pq_lock *l);

/* pq_lock_dir(dir, PQ_LOCK_TRY) held until the process exits. */
int pq_lock_dir_until_exit(const char *dir);

/* Removes the files "<name>.tmp.<pid>" (pq_atomic_open's temporaries) directly
 * in dir whose writer, process <pid>, is no longer running: what a killed
 * writer left behind. Returns how many were removed. */
int pq_remove_stale_tmp(const char *dir);

#endif
