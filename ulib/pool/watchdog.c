// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The watchdog: a thread per pool that notices a worker stuck in one task.
 *
 * A preemptible task gives its worker back after a quantum, so a worker
 * that has run the same task for many quanta is blocked where no
 * preemption can reach it: a raw blocking system call (the kmod upcall
 * only arrives when it returns), a long kpf_defer_begin() section, or - in
 * cooperative mode - simply a long task. The pool cannot unblock it; the
 * counter makes it visible (kpf_pool_stats.watchdog_stalls), once per
 * stall.
 */
#include <errno.h>
#include <time.h>

#include "pool_internal.h"

/* Look at every worker once. */
static void kpf_watchdog_scan(struct kpf_pool *pool)
{
	unsigned int i;

	for (i = 0; i < pool->nworkers; i++) {
		struct kpf_pool_worker *w = &pool->workers[i];
		uint64_t p = __atomic_load_n(&w->progress, __ATOMIC_RELAXED);

		if (p == w->seen_progress &&
		    __atomic_load_n(&w->running, __ATOMIC_RELAXED)) {
			if (!w->stalled)
				__atomic_add_fetch(&w->stalls, 1,
						   __ATOMIC_RELAXED);
			w->stalled = 1;
		} else {
			w->stalled = 0;
		}
		w->seen_progress = p;
	}
}

/**
 * kpf_watchdog_main() - the watchdog thread
 * @arg: the pool
 *
 * Return: NULL once the pool stops.
 */
void *kpf_watchdog_main(void *arg)
{
	struct kpf_pool *pool = arg;
	struct timespec ts;

	pthread_mutex_lock(&pool->wd_lock);
	while (!__atomic_load_n(&pool->stop, __ATOMIC_RELAXED)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += pool->wd_period_ns % 1000000000ull;
		ts.tv_sec += pool->wd_period_ns / 1000000000ull +
			     ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		if (pthread_cond_timedwait(&pool->wd_cond, &pool->wd_lock,
					   &ts) == ETIMEDOUT)
			kpf_watchdog_scan(pool);
	}
	pthread_mutex_unlock(&pool->wd_lock);
	return NULL;
}
