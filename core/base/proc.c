#include "base/proc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The children a signal handler must stop: read in the handler, so plain
 * sig_atomic_t slots (0 = free) rather than anything allocated. */
enum { MAX_CHILDREN = 256 };
static volatile sig_atomic_t children[MAX_CHILDREN];

static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};

static void block_stop_signals(int how, sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++) sigaddset(&set, stop_signals[i]);
    sigprocmask(how, &set, old);
}

pid_t pq_child_fork(void) {
    pid_t parent = getpid();
    sigset_t old;
    /* Blocked across fork: a stop signal must find the child registered (in
     * the parent) and must not run the parent's handler in the child. */
    block_stop_signals(SIG_BLOCK, &old);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++) signal(stop_signals[i], SIG_DFL);
        for (int i = 0; i < MAX_CHILDREN; i++) children[i] = 0;
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(128 + SIGTERM); /* the parent died before prctl */
    } else if (pid > 0) {
        for (int i = 0; i < MAX_CHILDREN; i++)
            if (!children[i]) {
                children[i] = pid;
                break;
            }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

void pq_child_reaped(pid_t pid) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid) children[i] = 0;
}

/* Only async-signal-safe calls here: kill, waitpid, nanosleep, _exit. */
static void stop_children_and_exit(int sig) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) kill((pid_t)children[i], sig);
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        int left = 0;
        for (int i = 0; i < MAX_CHILDREN; i++) {
            if (children[i] <= 0) continue;
            pid_t r = waitpid((pid_t)children[i], NULL, WNOHANG);
            if (r == (pid_t)children[i] || (r < 0 && errno == ECHILD))
                children[i] = 0;
            else
                left++;
        }
        if (!left) break;
        if (waited == 1000) /* 10 s */
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (children[i] > 0) kill((pid_t)children[i], SIGKILL);
        nanosleep(&tick, NULL);
    }
    _exit(128 + sig);
}

void pq_children_stop_with_us(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_children_and_exit;
    sigfillset(&sa.sa_mask); /* one stop at a time */
    for (size_t i = 0; i < sizeof stop_signals / sizeof *stop_signals; i++) sigaction(stop_signals[i], &sa, NULL);
}
