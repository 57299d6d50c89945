/* proc.h — child processes that do not outlive the pq that started them.
 *
 * pq suite run starts one pq process per run. Killing the suite must take
 * them with it: a child left running keeps training into a run directory that
 * the next suite run wants (and, with run locks, finds locked). Two mechanisms:
 * each child asks the kernel for SIGTERM when its parent dies, however it dies
 * (PR_SET_PDEATHSIG; covers kill -9), and a parent that is asked to stop
 * (SIGTERM, SIGINT, SIGHUP) passes the signal on and waits for its children
 * before it exits, so that when it is gone they are too. */
#ifndef PQ_PROC_H
#define PQ_PROC_H

#include <sys/types.h>

/* fork() for a child that must not outlive us. Returns as fork() does. */
pid_t pq_child_fork(void);
/* The child has been waited for (by waitpid): forget it. */
void pq_child_reaped(pid_t pid);
/* From now on SIGTERM, SIGINT and SIGHUP pass the signal to every child of
 * pq_child_fork, wait for them (10 s, then SIGKILL) and exit with 128 + signal. */
void pq_children_stop_with_us(void);

#endif
