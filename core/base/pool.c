/* pool.c — the spinning worker pool of pool.h.
 *
 * A job is published by bumping `generation` (release) after writing fn, ctx
 * and nparts; a worker that sees a new generation (acquire) runs its part, if
 * it has one, and decrements `pending` (release), which the caller waits on
 * (acquire). Sleeping workers wait on `wake` under `lock`, and the caller
 * bumps the generation under the same lock, so no wake-up is lost. */
#include "base/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int pending;
    void (*fn)(void *, int, int);
    void *ctx;
    int nparts;
    int nworkers; /* started so far; worker i runs part i + 1 */
    unsigned start_generation;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Every SPINS_PER_YIELD turns of a spin loop the thread offers its CPU to
 * any other thread waiting for it (a few microseconds apart; nearly free when
 * none is). When the caller and a worker end up on the same CPU (the other one
 * busy, or the process pinned to one), a spin that never yields holds the CPU
 * the other needs: each call then took the 200 us of a worker's spin instead
 * of 3 us. */
#define SPINS_PER_YIELD 64

/* Waits for a generation other than `seen`: spinning, then asleep. */
static unsigned wait_for_job(unsigned seen) {
    double spin_until = pq_now() + PQ_POOL_SPIN_SECONDS;
    for (int i = 0;; i++) {
        unsigned g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if (i % SPINS_PER_YIELD == SPINS_PER_YIELD - 1) {
            if (pq_now() > spin_until) break;
            sched_yield();
        }
    }
    pthread_mutex_lock(&pool.lock);
    unsigned g;
    while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
        pthread_cond_wait(&pool.wake, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    return g;
}

static void *worker(void *arg) {
    int part = (int)(intptr_t)arg;
    /* the generation before any job it must run: read by the caller that
     * starts it, since the first job may be published before it gets here */
    unsigned seen = pool.start_generation;
    for (;;) {
        seen = wait_for_job(seen);
        if (part < pool.nparts) pool.fn(pool.ctx, part, pool.nparts);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
    }
    return NULL;
}

static void start_workers(int want) {
    pool.start_generation = atomic_load_explicit(&pool.generation, memory_order_relaxed);
    while (pool.nworkers < want) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(pool.nworkers + 1)) != 0) break;
        pthread_detach(t);
        pool.nworkers++;
    }
}

void pq_pool_run(void (*fn)(void *ctx, int part, int nparts), void *ctx, int nparts) {
    if (nparts > PQ_POOL_MAX_PARTS) nparts = PQ_POOL_MAX_PARTS;
    if (nparts > 1) start_workers(nparts - 1);
    if (nparts > pool.nworkers + 1) nparts = pool.nworkers + 1; /* a thread failed to start */
    if (nparts <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool.fn = fn, pool.ctx = ctx, pool.nparts = nparts;
    atomic_store_explicit(&pool.pending, pool.nworkers, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    fn(ctx, 0, nparts);
    for (int i = 0; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if (i % SPINS_PER_YIELD == SPINS_PER_YIELD - 1) sched_yield();
    }
}
