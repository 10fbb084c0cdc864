// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pool's lifecycle: create, submit, destroy, stats.
 *
 * Every library call made here from inside a pool task (malloc, a queue
 * lock, an eventfd write) runs with preemption deferred: a task stopped
 * while it holds a run-queue lock would deadlock its own worker.
 *
 * A destroyed pool leaves a tombstone: its small struct kpf_pool stays
 * allocated (on a list, so leak checkers see it as reachable) with a dead
 * magic, so a late kpf_pool_submit() on the handle gets -ESHUTDOWN instead
 * of a use-after-free. Everything else of the pool is freed.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_internal.h"

static pthread_mutex_t kpf_pool_dead_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kpf_pool *kpf_pool_dead;

static int kpf_pool_alive(struct kpf_pool *pool)
{
	return __atomic_load_n(&pool->magic, __ATOMIC_ACQUIRE) ==
	       KPF_POOL_MAGIC;
}

/* The calling worker if it belongs to @pool (read without migrating). */
static struct kpf_pool_worker *kpf_pool_own_worker(struct kpf_pool *pool)
{
	struct kpf_pool_worker *w;

	if (!kpf_in_task())
		return kpf_pool_self && kpf_pool_self->pool == pool ?
		       kpf_pool_self : NULL;
	kpf_defer_begin();
	w = kpf_pool_self;
	kpf_defer_end();
	return w && w->pool == pool ? w : NULL;
}

/* Copy a user configuration that may be older or newer than ours. */
static int kpf_pool_config_copy(struct kpf_pool_config *c,
				const struct kpf_pool_config *user)
{
	size_t size, i;

	memset(c, 0, sizeof(*c));
	if (!user)
		return 0;
	size = user->size ? user->size : sizeof(*c);
	if (size < offsetof(struct kpf_pool_config, quantum_ns) +
		   sizeof(c->quantum_ns))
		return -EINVAL;
	/* a newer caller's extra fields must be zero (like clone3) */
	for (i = sizeof(*c); i < size; i++)
		if (((const unsigned char *)user)[i])
			return -E2BIG;
	memcpy(c, user, size < sizeof(*c) ? size : sizeof(*c));
	c->size = sizeof(*c);
	if (c->flags & ~(KPF_POOL_NO_PIN | KPF_POOL_NO_LINGER |
			  KPF_POOL_NO_LIFO))
		return -EINVAL;
	if (c->workers > KPF_POOL_MAX_WORKERS)
		return -EINVAL;
	if (c->ring_entries > KPF_POOL_MAX_RING)
		return -EINVAL;
	return 0;
}

/*
 * Stop and free the first @started workers of @pool (their queues empty);
 * @tombstone: keep the struct as a tombstone instead of freeing it.
 */
static void kpf_pool_teardown(struct kpf_pool *pool, unsigned int started,
			      unsigned int inited, int tombstone)
{
	unsigned int i;

	__atomic_store_n(&pool->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < started; i++)
		kpf_worker_wake(&pool->workers[i]);
	for (i = 0; i < started; i++)
		pthread_join(pool->workers[i].thread, NULL);
	if (pool->watchdog_started) {
		pthread_mutex_lock(&pool->wd_lock);
		pthread_cond_signal(&pool->wd_cond);
		pthread_mutex_unlock(&pool->wd_lock);
		pthread_join(pool->watchdog, NULL);
	}
	/* a submit that saw the pool alive may still wake a worker */
	while (__atomic_load_n(&pool->callers, __ATOMIC_SEQ_CST))
		sched_yield();
	for (i = 0; i < inited; i++) {
		kpf_io_worker_exit(&pool->workers[i]);
		pthread_mutex_destroy(&pool->workers[i].lock);
	}
	pthread_cond_destroy(&pool->wd_cond);
	pthread_mutex_destroy(&pool->wd_lock);
	free(pool->workers);
	pool->workers = NULL;
	if (!tombstone) {
		free(pool);
		return;
	}
	__atomic_store_n(&pool->magic, KPF_POOL_DEAD_MAGIC, __ATOMIC_RELEASE);
	pthread_mutex_lock(&kpf_pool_dead_lock);
	pool->next_dead = kpf_pool_dead;
	kpf_pool_dead = pool;
	pthread_mutex_unlock(&kpf_pool_dead_lock);
}

/* The CPUs the process may run on, in order; returns how many. */
static unsigned int kpf_pool_cpus(int *cpus, unsigned int max)
{
	cpu_set_t set;
	unsigned int n = 0;
	int c;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

/**
 * kpf_pool_create() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_pool_create(kpf_pool **poolp,
				    const struct kpf_pool_config *user)
{
	int cpus[KPF_POOL_MAX_WORKERS];
	struct kpf_pool_config cfg;
	pthread_condattr_t ca;
	struct kpf_pool *pool;
	unsigned int ncpus, i, inited = 0, started = 0;
	int ret;

	if (!poolp)
		return -EINVAL;
	ret = kpf_pool_config_copy(&cfg, user);
	if (ret)
		return ret;
	ret = kpf_init(NULL);
	if (ret)
		return ret;
	ncpus = kpf_pool_cpus(cpus, KPF_POOL_MAX_WORKERS);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->magic = KPF_POOL_MAGIC;
	pool->nworkers = cfg.workers ? cfg.workers : (ncpus ? ncpus : 1);
	pool->flags = cfg.flags;
	pool->quantum_ns = cfg.quantum_ns ? cfg.quantum_ns :
			   KPF_POOL_DEFAULT_QUANTUM_NS;
	pool->idle_linger_ns = cfg.idle_linger_ns;
	pool->wd_period_ns = 20000000ull;
	if (pool->quantum_ns != KPF_FOREVER &&
	    pool->quantum_ns < UINT64_MAX / 20 &&
	    20 * pool->quantum_ns > pool->wd_period_ns)
		pool->wd_period_ns = 20 * pool->quantum_ns;
	pthread_mutex_init(&pool->wd_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	pool->workers = aligned_alloc(64, pool->nworkers *
				      sizeof(*pool->workers));
	if (!pool->workers) {
		ret = -ENOMEM;
		goto fail;
	}
	memset(pool->workers, 0, pool->nworkers * sizeof(*pool->workers));
	for (i = 0; i < pool->nworkers; i++) {
		struct kpf_pool_worker *w = &pool->workers[i];

		w->pool = pool;
		w->index = i;
		w->cpu = (cfg.flags & KPF_POOL_NO_PIN) || !ncpus ? -1 :
			 cpus[i % ncpus];
		ret = kpf_io_worker_init(w, cfg.ring_entries ?
					 cfg.ring_entries :
					 KPF_POOL_DEFAULT_RING);
		if (ret)
			goto fail;
		pthread_mutex_init(&w->lock, NULL);
		inited++;
	}
	for (i = 0; i < pool->nworkers; i++) {
		ret = -pthread_create(&pool->workers[i].thread, NULL,
				      kpf_worker_main, &pool->workers[i]);
		if (ret)
			goto fail;
		started++;
	}
	ret = -pthread_create(&pool->watchdog, NULL, kpf_watchdog_main, pool);
	if (ret)
		goto fail;
	pool->watchdog_started = 1;
	*poolp = pool;
	return 0;
fail:
	kpf_pool_teardown(pool, started, inited, 0);
	return ret;
}

/* kpf_pool_submit() proper; runs with preemption deferred in a task. */
static int kpf_pool_submit_locked(kpf_pool *pool, void *(*fn)(void *),
				  void *arg, kpf_future **future)
{
	struct kpf_pool_worker *w;
	struct kpf_pool_job *job;
	struct kpf_future *f = NULL;

	if (__atomic_load_n(&pool->shutdown, __ATOMIC_SEQ_CST))
		return -ESHUTDOWN;
	__atomic_add_fetch(&pool->outstanding, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&pool->shutdown, __ATOMIC_SEQ_CST)) {
		kpf_pool_outstanding_put(pool);
		return -ESHUTDOWN;
	}
	job = calloc(1, sizeof(*job));
	if (job && future) {
		f = kpf_future_new();
		if (!f) {
			free(job);
			job = NULL;
		}
	}
	if (!job) {
		kpf_pool_outstanding_put(pool);
		return -ENOMEM;
	}
	job->fn = fn;
	job->arg = arg;
	job->future = f;
	if (future)
		*future = f;
	w = kpf_pool_self && kpf_pool_self->pool == pool ? kpf_pool_self :
	    &pool->workers[__atomic_fetch_add(&pool->next_worker, 1,
					      __ATOMIC_RELAXED) %
			   pool->nworkers];
	/* new work of the task running here runs when that task stops */
	if (w == kpf_pool_self && kpf_pool_running &&
	    !(pool->flags & KPF_POOL_NO_LIFO))
		kpf_runq_push_lifo(w, job);
	else
		kpf_runq_push(w, job);
	return 0;
}

/**
 * kpf_pool_submit() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_pool_submit(kpf_pool *pool, void *(*fn)(void *),
				    void *arg, kpf_future **future)
{
	int in_task = kpf_in_task();
	int ret;

	if (!pool || !fn)
		return -EINVAL;
	if (in_task)
		kpf_defer_begin();
	/* destroy waits for callers to leave before it frees the workers */
	__atomic_add_fetch(&pool->callers, 1, __ATOMIC_SEQ_CST);
	if (kpf_pool_alive(pool))
		ret = kpf_pool_submit_locked(pool, fn, arg, future);
	else
		ret = -ESHUTDOWN;
	__atomic_sub_fetch(&pool->callers, 1, __ATOMIC_SEQ_CST);
	if (in_task)
		kpf_defer_end();
	return ret;
}

/**
 * kpf_pool_destroy() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_pool_destroy(kpf_pool *pool, int mode)
{
	if (!pool || (mode != KPF_POOL_DRAIN && mode != KPF_POOL_CANCEL))
		return -EINVAL;
	if (!kpf_pool_alive(pool))
		return -EINVAL;		/* already destroyed */
	if (kpf_pool_own_worker(pool))
		return -EDEADLK;
	if (__atomic_exchange_n(&pool->shutdown, 1, __ATOMIC_SEQ_CST))
		return -EINVAL;		/* another thread is destroying it */
	if (mode == KPF_POOL_CANCEL)
		__atomic_store_n(&pool->cancel, 1, __ATOMIC_SEQ_CST);
	kpf_pool_teardown(pool, pool->nworkers, pool->nworkers, 1);
	return 0;
}

/**
 * kpf_pool_stats() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_pool_stats(kpf_pool *pool, struct kpf_pool_stats *user)
{
	struct kpf_pool_stats s;
	unsigned int i;

	/* an older caller's structure ends after launch_retries */
	if (!pool || !user || user->size < offsetof(struct kpf_pool_stats,
						    idle_expiries) ||
	    !kpf_pool_alive(pool))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = user->size < sizeof(s) ? user->size : sizeof(s);
	for (i = 0; i < pool->nworkers; i++) {
		const struct kpf_pool_counters *c = &pool->workers[i].c;

#define KPF_SUM(f) (s.f += __atomic_load_n(&c->f, __ATOMIC_RELAXED))
		KPF_SUM(completed);
		KPF_SUM(cancelled);
		KPF_SUM(switches);
		KPF_SUM(switches_no_syscall);
		KPF_SUM(preemptions);
		KPF_SUM(steals);
		KPF_SUM(io_submitted);
		KPF_SUM(failed);
		KPF_SUM(launch_retries);
		KPF_SUM(idle_expiries);
#undef KPF_SUM
		s.watchdog_stalls += __atomic_load_n(&pool->workers[i].stalls,
						     __ATOMIC_RELAXED);
	}
	memcpy(user, &s, s.size);
	return 0;
}

/**
 * kpf_pool_worker() - see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_pool_worker(void)
{
	struct kpf_pool_worker *w;

	if (!kpf_pool_current_job())
		return -1;
	kpf_defer_begin();
	w = kpf_pool_self;
	kpf_defer_end();
	return w ? (int)w->index : -1;
}
