// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The worker loop: reap completions, take a job (own queue, else steal),
 * run it for one quantum, and put it where it belongs afterwards - the tail
 * of the run queue (preempted or yielded), the ring (it asked for I/O), or
 * nowhere (it returned or was cancelled). With nothing to do the worker
 * sleeps in its ring until a completion or a wake-up arrives.
 */
#include <sched.h>
#include <stdlib.h>

#include "pool_internal.h"

__thread struct kpf_pool_worker *kpf_pool_self;
__thread struct kpf_pool_job *kpf_pool_running;

/**
 * kpf_pool_outstanding_put() - one submitted job less
 * @pool: the pool
 *
 * The last job of a stopping pool wakes every worker so they can exit.
 */
void kpf_pool_outstanding_put(struct kpf_pool *pool)
{
	unsigned int i;

	if (__atomic_sub_fetch(&pool->outstanding, 1, __ATOMIC_SEQ_CST))
		return;
	if (!__atomic_load_n(&pool->stop, __ATOMIC_SEQ_CST))
		return;
	for (i = 0; i < pool->nworkers; i++)
		kpf_worker_wake(&pool->workers[i]);
}

/**
 * kpf_pool_job_finish() - complete a job's future and free the job
 * @w: the worker (for its counters)
 * @job: the job; its task is finished or cancelled
 * @how: KPF_FUTURE_DONE, KPF_FUTURE_CANCELLED or KPF_FUTURE_FAILED
 */
void kpf_pool_job_finish(struct kpf_pool_worker *w, struct kpf_pool_job *job,
			 uint32_t how)
{
	struct kpf_pool *pool = w->pool;

	if (how == KPF_FUTURE_DONE)
		__atomic_store_n(&w->c.completed, w->c.completed + 1,
				 __ATOMIC_RELAXED);
	else if (how == KPF_FUTURE_FAILED)
		__atomic_store_n(&w->c.failed, w->c.failed + 1,
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&w->c.cancelled, w->c.cancelled + 1,
				 __ATOMIC_RELAXED);
	if (job->future)
		kpf_future_complete(job->future, job->result, how);
	free(job);
	kpf_pool_outstanding_put(pool);
}

/* Body of every pool task. */
static void kpf_pool_task_main(void *arg)
{
	struct kpf_pool_job *job = arg;

	job->result = job->fn(job->arg);
}

static inline void kpf_count(uint64_t *c, uint64_t add)
{
	__atomic_store_n(c, *c + add, __ATOMIC_RELAXED);
}

/* Run @job for one quantum and put it where it belongs. */
static void kpf_worker_run(struct kpf_pool_worker *w, struct kpf_pool_job *job)
{
	struct kpf_pool *pool = w->pool;
	struct kpf_stats before = { .size = sizeof(before) };
	struct kpf_stats after = { .size = sizeof(after) };
	int ret;

	if (__atomic_load_n(&pool->cancel, __ATOMIC_RELAXED)) {
		/* handlers run here, on the worker, outside any task */
		if (job->task)
			kpf_cancel(job->task);
		kpf_pool_job_finish(w, job, KPF_FUTURE_CANCELLED);
		return;
	}
	kpf_thread_stats(&before);
	/* progress moves at both ends of a run: the watchdog sees each run */
	__atomic_store_n(&w->progress, w->progress + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&w->running, job, __ATOMIC_RELAXED);
	kpf_pool_running = job;
	if (!job->task)
		/* idle workers steal stopped tasks: they must migrate */
		ret = kpf_launch_flags(&job->task, kpf_pool_task_main, job,
				       pool->quantum_ns, KPF_LAUNCH_MIGRATE);
	else
		ret = kpf_resume(job->task, pool->quantum_ns);
	kpf_pool_running = NULL;
	__atomic_store_n(&w->running, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&w->progress, w->progress + 1, __ATOMIC_RELAXED);
	kpf_thread_stats(&after);
	__atomic_store_n(&w->c.idle_expiries, after.linger_expiries,
			 __ATOMIC_RELAXED);
	kpf_count(&w->c.switches, 1);
	if (after.arm_syscalls == before.arm_syscalls &&
	    after.stack_syscalls == before.stack_syscalls)
		kpf_count(&w->c.switches_no_syscall, 1);
	kpf_count(&w->c.preemptions, after.preemptions - before.preemptions);

	if (ret == KPF_DONE) {
		kpf_pool_job_finish(w, job, KPF_FUTURE_DONE);
	} else if (ret == KPF_PREEMPTED) {
		if (job->io_op != KPF_POOL_IO_NONE) {
			kpf_io_submit_job(w, job);
		} else {
			/*
			 * Tasks whose I/O completed during the quantum were
			 * ready before this one was preempted: queue them
			 * first. Reaped after it instead, each waited one more
			 * quantum (issue 10: a short request that arrived
			 * during a long one's quantum lost one at every step).
			 */
			kpf_io_reap(w);
			kpf_runq_push(w, job);
		}
	} else if (w->parked || __atomic_load_n(&w->len, __ATOMIC_RELAXED)) {
		/*
		 * Only a first launch fails (-ENOMEM: no stack; with thousands
		 * of tasks parked, mmap runs into vm.max_map_count). Parked and
		 * queued tasks free stacks as they end: try again later.
		 */
		kpf_count(&w->c.launch_retries, 1);
		kpf_runq_push(w, job);
	} else {
		/* nothing here will free a stack: fail the task */
		job->result = NULL;
		kpf_pool_job_finish(w, job, KPF_FUTURE_FAILED);
	}
}

/* Pin the calling worker to its CPU; failure only costs locality. */
static void kpf_worker_pin(struct kpf_pool_worker *w)
{
	cpu_set_t set;

	if (w->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		w->cpu = -1;
}

/*
 * kmod: a worker that goes idle (or has just had a task preempted) keeps
 * its quantum timer queued for a while, so that the next task's quantum
 * is a plain store into the area, not a KPF_IOC_ARM (issue 10: without
 * it 29-47% of the switches made that system call, one after each idle
 * gap and each preemption). The distance is a sixteenth short of the
 * quantum, so a deadline stored a quantum ahead is never earlier than
 * the queued expiry even with the TSC clock a little behind the kernel's.
 * Errors only cost the system calls: the signal backend has no such
 * thing (-EOPNOTSUPP), and a quantum below the module's minimum distance
 * is moved out by the module anyway.
 */
static void kpf_worker_linger(struct kpf_pool_worker *w)
{
	struct kpf_pool *pool = w->pool;
	uint64_t q = pool->quantum_ns, step, count;

	if (q == KPF_FOREVER || (pool->flags & KPF_POOL_NO_LINGER))
		return;
	step = q - q / 16;
	if (pool->idle_linger_ns)
		count = (pool->idle_linger_ns + step - 1) / step;
	else
		count = KPF_POOL_LINGER_QUANTA;
	if (count > KPF_POOL_MAX_LINGER_QUANTA)
		count = KPF_POOL_MAX_LINGER_QUANTA;
	kpf_thread_linger(step, (unsigned int)count);
}

/* Refresh the idle expiry count after a wait (no task switch shows it). */
static void kpf_worker_idle_stats(struct kpf_pool_worker *w)
{
	struct kpf_stats st = { .size = sizeof(st) };

	kpf_thread_stats(&st);
	__atomic_store_n(&w->c.idle_expiries, st.linger_expiries,
			 __ATOMIC_RELAXED);
}

/* Whether parked requests must be cancelled now (KPF_POOL_CANCEL). */
static int kpf_worker_must_cancel(struct kpf_pool_worker *w)
{
	return w->parked && !w->cancel_inflight &&
	       __atomic_load_n(&w->pool->cancel, __ATOMIC_SEQ_CST);
}

/* Whether the worker may exit: the pool stops and nothing is left. */
static int kpf_worker_done(struct kpf_pool *pool)
{
	return __atomic_load_n(&pool->stop, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&pool->outstanding, __ATOMIC_SEQ_CST);
}

/**
 * kpf_worker_main() - a worker thread
 * @arg: its struct kpf_pool_worker
 *
 * Return: NULL, when the pool stops and no job is left anywhere.
 */
void *kpf_worker_main(void *arg)
{
	struct kpf_pool_worker *w = arg;
	struct kpf_pool *pool = w->pool;
	struct kpf_pool_job *job;

	kpf_pool_self = w;
	kpf_worker_pin(w);
	kpf_worker_linger(w);
	for (;;) {
		kpf_io_reap(w);
		if (kpf_worker_must_cancel(w))
			kpf_io_cancel_parked(w);
		job = kpf_runq_pop(w);
		if (!job)
			job = kpf_runq_steal(w);
		if (job) {
			kpf_worker_run(w, job);
			continue;
		}
		if (kpf_worker_done(pool))
			break;
		/*
		 * Announce the sleep, then look once more (Dekker with
		 * kpf_worker_wake(), which clears sleeping after the destroy
		 * set cancel and stop): a cancel that came after the check
		 * at the top must be seen here, or the worker sleeps until
		 * its parked requests complete on their own (a 30 s
		 * kpf_sleep() held up a destroy with KPF_POOL_CANCEL).
		 */
		__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
		if (kpf_runq_any(pool) || kpf_worker_done(pool) ||
		    kpf_worker_must_cancel(w)) {
			__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
			continue;
		}
		kpf_io_wait(w);
		__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
		kpf_worker_idle_stats(w);
	}
	kpf_pool_self = NULL;
	return NULL;
}
