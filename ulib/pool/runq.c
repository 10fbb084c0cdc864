// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Run queues: one locked FIFO per worker with a LIFO slot, and stealing.
 *
 * A mutex-protected singly linked list: a push or pop holds the lock for a
 * few instructions, and apart from the slot below the owner and the
 * thieves both take the oldest job first, so a stolen job is the one that
 * has waited longest.
 *
 * The LIFO slot (tokio's, which libturquoise inherited) holds the newest
 * job that a task running on this worker submitted; the owner runs it
 * next, before the queue. A request handed from a connection task to a
 * task of its own then runs when the connection task stops, instead of
 * behind every long task queued meanwhile (issue 10: the short request
 * waited a round of the long tasks twice, once as a completion and once
 * as a new job). A newer submit pushes the slot's job to the tail. The
 * owner takes at most KPF_POOL_LIFO_MAX_STREAK jobs in a row from the
 * slot before it takes the oldest one, so a chain of tasks that each
 * submit the next cannot starve the queue; finding its queue empty ends
 * the row. Thieves take the slot only when the queue is empty.
 * Completions and preempted tasks never go to the slot: they are not new
 * work of the running task. Measured
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

/*
 * Whether the caller will get back to @w's loop soon: it is @w's thread,
 * between tasks or in the pool task of a preemptive pool (which stops
 * within a quantum). A cooperative pool's task may run for as long as it
 * likes, and a task nested in the pool task may block the thread:
 * kpf_future_wait() cannot yield to the worker from there, so it sleeps
 * until another worker has run what the nested task submitted.
 */
static int kpf_runq_caller_returns(struct kpf_pool_worker *w)
{
	int depth;

	if (kpf_pool_self != w)
		return 0;
	depth = kpf_in_task();
	return !depth ||
	       (depth == 1 && w->pool->quantum_ns != KPF_FOREVER);
}

/*
 * Wake whoever should run what was just queued on @w: the owner if it
 * sleeps; otherwise, if it is not the caller (or will not be back soon)
 * or has more than this job, it is busy, so one sleeping worker is woken
 * to steal.
 */
static void kpf_runq_wake(struct kpf_pool_worker *w)
{
	/* Dekker with kpf_worker_main(): len stored, fence, then sleeping */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sleeping, __ATOMIC_RELAXED))
		kpf_worker_wake(w);
	else if (w->pool->nworkers > 1 &&
		 (!kpf_runq_caller_returns(w) ||
		  __atomic_load_n(&w->len, __ATOMIC_RELAXED) > 1))
		kpf_wake_thief(w);
}

/* Append @job to @w's queue; the caller holds w->lock. */
static void kpf_runq_append(struct kpf_pool_worker *w,
			    struct kpf_pool_job *job)
{
	job->next = NULL;
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
}

/**
 * kpf_runq_push() - append a job to a worker's run queue and wake someone
 * @w: the worker
 * @job: the job, not on any queue
 */
void kpf_runq_push(struct kpf_pool_worker *w, struct kpf_pool_job *job)
{
	pthread_mutex_lock(&w->lock);
	kpf_runq_append(w, job);
	__atomic_store_n(&w->len, w->len + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->lock);
	kpf_runq_wake(w);
}

/**
 * kpf_runq_push_lifo() - put a job in a worker's LIFO slot
 * @w: the worker the calling task runs on
 * @job: the job, not on any queue; submitted by that task
 *
 * The job the slot held before goes to the tail of the queue.
 */
void kpf_runq_push_lifo(struct kpf_pool_worker *w, struct kpf_pool_job *job)
{
	pthread_mutex_lock(&w->lock);
	if (w->lifo)
		kpf_runq_append(w, w->lifo);
	w->lifo = job;
	__atomic_store_n(&w->len, w->len + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->lock);
	kpf_runq_wake(w);
}

/* Take the oldest queued job of @w (the slot last), or NULL. */
static struct kpf_pool_job *kpf_runq_take_oldest(struct kpf_pool_worker *w)
{
	struct kpf_pool_job *job = w->head;

	if (job) {
		w->head = job->next;
		if (!w->head)
			w->tail = NULL;
	} else {
		job = w->lifo;
		w->lifo = NULL;
	}
	return job;
}

/* Take a job of @w's: the slot first if @owner, else the oldest. */
static struct kpf_pool_job *kpf_runq_take(struct kpf_pool_worker *w,
					  int owner)
{
	struct kpf_pool_job *job;

	if (!__atomic_load_n(&w->len, __ATOMIC_RELAXED))
		return NULL;
	pthread_mutex_lock(&w->lock);
	if (owner && w->lifo &&
	    (w->lifo_streak < KPF_POOL_LIFO_MAX_STREAK || !w->head)) {
		job = w->lifo;
		w->lifo = NULL;
		w->lifo_streak++;
	} else {
		job = kpf_runq_take_oldest(w);
		if (owner)
			w->lifo_streak = 0;
	}
	if (job)
		__atomic_store_n(&w->len, w->len - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->lock);
	return job;
}

/**
 * kpf_runq_pop() - the next job of the worker's own queue
 * @w: the calling worker
 *
 * Return: the job of the LIFO slot (unless it had its streak), else the
 * oldest job, or NULL if the queue is empty.
 */
struct kpf_pool_job *kpf_runq_pop(struct kpf_pool_worker *w)
{
	struct kpf_pool_job *job = kpf_runq_take(w, 1);

	/*
	 * With nothing here the worker steals or sleeps next: the row of
	 * slot jobs has ended. A stale streak made the first job a stolen
	 * task submitted wait behind the queue.
	 */
	if (!job)
		w->lifo_streak = 0;
	return job;
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
						   pool->nworkers], 0);
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
