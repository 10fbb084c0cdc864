// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Run queues: one locked FIFO per worker, and stealing.
 *
 * A mutex-protected singly linked list: a push or pop holds the lock for a
 * few instructions, and the owner and the thieves both take the oldest job
 * first, so a stolen job is the one that has waited longest. Measured
 * (Documentation/pool.md): the whole submit -> run -> complete path of an
 * empty task costs a few microseconds, of which the queue is a small part,
 * so a lock-free deque would not pay for its complexity here.
 *
 * Sleeping workers poll() their ring and their eventfd (io.c):
 * kpf_worker_wake() writes the eventfd. The
 * sleeping flag and the queue length form a Dekker pair (both sides store,
 * full fence, then load), so a wake-up is never lost.
 */
#include <unistd.h>

#include "pool_internal.h"

/**
 * kpf_worker_wake() - wake a worker that may be asleep in its ring
 * @w: the worker
 */
void kpf_worker_wake(struct kpf_pool_worker *w)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&w->sleeping, 0, __ATOMIC_SEQ_CST)) {
		/* EAGAIN only when the counter is full: it is awake then */
		if (write(w->efd, &one, sizeof(one)) < 0)
			return;
	}
}

/* Wake one sleeping worker other than @w, so it can steal. */
static void kpf_wake_thief(struct kpf_pool_worker *w)
{
	struct kpf_pool *pool = w->pool;
	unsigned int i;

	for (i = 1; i < pool->nworkers; i++) {
		struct kpf_pool_worker *o =
			&pool->workers[(w->index + i) % pool->nworkers];

		if (__atomic_load_n(&o->sleeping, __ATOMIC_RELAXED)) {
			kpf_worker_wake(o);
			return;
		}
	}
}

/**
 * kpf_runq_push() - append a job to a worker's run queue and wake someone
 * @w: the worker
 * @job: the job, not on any queue
 *
 * The owner is woken if it sleeps; otherwise, if it is not the caller, it
 * is busy, so one sleeping worker is woken to steal.
 */
void kpf_runq_push(struct kpf_pool_worker *w, struct kpf_pool_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	__atomic_store_n(&w->len, w->len + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sleeping, __ATOMIC_RELAXED))
		kpf_worker_wake(w);
	else if (w->pool->nworkers > 1 &&
		 (kpf_pool_self != w ||
		  __atomic_load_n(&w->len, __ATOMIC_RELAXED) > 1))
		kpf_wake_thief(w);
}

/* Take the oldest job of @w's queue, or NULL. */
static struct kpf_pool_job *kpf_runq_take(struct kpf_pool_worker *w)
{
	struct kpf_pool_job *job;

	if (!__atomic_load_n(&w->len, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&w->lock);
	job = w->head;
	if (job) {
		w->head = job->next;
		if (!w->head)
			w->tail = NULL;
		__atomic_store_n(&w->len, w->len - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&w->lock);
	return job;
}

/**
 * kpf_runq_pop() - the next job of the worker's own queue
 * @w: the calling worker
 *
 * Return: the job, or NULL if the queue is empty.
 */
struct kpf_pool_job *kpf_runq_pop(struct kpf_pool_worker *w)
{
	return kpf_runq_take(w);
}

/**
 * kpf_runq_steal() - take the oldest job of another worker
 * @w: the calling (idle) worker
 *
 * Return: the job, or NULL if every other queue is empty.
 */
struct kpf_pool_job *kpf_runq_steal(struct kpf_pool_worker *w)
{
	struct kpf_pool *pool = w->pool;
	struct kpf_pool_job *job;
	unsigned int i;

	for (i = 1; i < pool->nworkers; i++) {
		job = kpf_runq_take(&pool->workers[(w->index + i) %
						   pool->nworkers]);
		if (job) {
			w->c.steals++;
			return job;
		}
	}
	return NULL;
}

/**
 * kpf_runq_any() - whether any worker's queue holds a job
 * @pool: the pool
 *
 * Return: non-zero if a job is queued somewhere.
 */
int kpf_runq_any(struct kpf_pool *pool)
{
	unsigned int i;

	for (i = 0; i < pool->nworkers; i++)
		if (__atomic_load_n(&pool->workers[i].len, __ATOMIC_RELAXED))
			return 1;
	return 0;
}
