/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkpf_pool: a preemptive work-stealing thread pool on libkpf, with one
 * io_uring per worker.
 *
 * Each worker is a pinned thread that runs submitted functions as
 * preemptible functions (kpf_launch) with the pool's quantum as budget. A
 * task that uses up its quantum goes to the back of its worker's run queue,
 * so short tasks are never stuck behind long ones; idle workers steal
 * runnable tasks from the others. Inside a task, kpf_read() and friends
 * submit to the worker's io_uring and park the task until the completion
 * arrives; the worker runs other tasks meanwhile. Outside a pool task they
 * are the plain system calls. Documentation/pool.md is the full reference.
 *
 * Link with -lkpf_pool -lkpf (and -luring for a static link).
 */
#ifndef KPF_POOL_H
#define KPF_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <kpf.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kpf_pool kpf_pool;
typedef struct kpf_future kpf_future;

/* struct kpf_pool_config flags */
#define KPF_POOL_NO_PIN		0x1u	/* do not pin workers to CPUs */
#define KPF_POOL_NO_LINGER	0x2u	/* idle workers let their timer stop */
#define KPF_POOL_NO_LIFO	0x4u	/* a task's submits go to the tail too */

/* kpf_pool_destroy() modes */
#define KPF_POOL_DRAIN		0	/* run every submitted task to the end */
#define KPF_POOL_CANCEL		1	/* cancel what has not finished */

/* Largest number of workers a pool may have. */
#define KPF_POOL_MAX_WORKERS	256

/**
 * struct kpf_pool_config - configuration of kpf_pool_create()
 * @size:	sizeof(struct kpf_pool_config), so the structure can grow; 0
 *		is taken as the size this header declares.
 * @workers:	worker threads; 0 = one per CPU the process may run on.
 * @flags:	KPF_POOL_* flags.
 * @quantum_ns:	how long (CLOCK_MONOTONIC time, not CPU time) a task runs
 *		before it goes to the back of the run queue; 0 = 1 ms; KPF_FOREVER = cooperative (tasks run until
 *		they return, park on I/O or wait on a future).
 * @ring_entries: submission queue entries of each worker's io_uring;
 *		0 = 256 (more requests than that may be in flight).
 * @idle_linger_ns: kmod backend, preemptive pools: how long a worker that
 *		went idle (or preempted a task) keeps its quantum timer
 *		queued, so that the next task it starts within that time
 *		arms its quantum without a system call; costs an idle
 *		worker one timer interrupt per quantum of it
 *		(kpf_thread_linger()). 0 = 128 quanta, at most 1024 quanta
 *		are used. KPF_POOL_NO_LINGER turns it off.
 */
struct kpf_pool_config {
	size_t size;
	unsigned int workers;
	unsigned int flags;
	uint64_t quantum_ns;
	unsigned int ring_entries;
	uint64_t idle_linger_ns;
};

/**
 * struct kpf_pool_stats - counters summed over a pool's workers
 * @size:	set by the caller to sizeof(struct kpf_pool_stats).
 * @completed:	tasks that returned.
 * @cancelled:	tasks cancelled by kpf_pool_destroy(KPF_POOL_CANCEL).
 * @switches:	kpf_launch() and kpf_resume() calls made by the workers.
 * @switches_no_syscall: of those, the ones during which libkpf made no
 *		system call: none to arm the quantum timer and none to map or
 *		unmap a task stack (kpf_stats.arm_syscalls, .stack_syscalls).
 * @preemptions: tasks stopped because their quantum ran out.
 * @steals:	tasks an idle worker took from another worker's queue.
 * @io_submitted: requests submitted to the workers' io_urings.
 * @failed:	tasks that could not be started (no memory for a stack,
 *		nothing left that would free one); their futures report
 *		-ENOMEM.
 * @launch_retries: first launches that found no stack and were put back
 *		to wait for running or parked tasks to end (thousands of
 *		parked tasks run into vm.max_map_count).
 * @watchdog_stalls: times the watchdog found a worker stuck in one task
 *		for more than max(20 quanta, 20 ms) - a task blocked in a raw
 *		system call or deferring preemption for that long (in
 *		cooperative mode: any long task).
 * @idle_expiries: timer interrupts the workers took while they had no
 *		task to preempt (the price of @idle_linger_ns), as of each
 *		worker's latest task switch or wake-up.
 *
 * Fields are only ever appended; @size says how many were filled in.
 */
struct kpf_pool_stats {
	size_t size;
	uint64_t completed;
	uint64_t cancelled;
	uint64_t switches;
	uint64_t switches_no_syscall;
	uint64_t preemptions;
	uint64_t steals;
	uint64_t io_submitted;
	uint64_t watchdog_stalls;
	uint64_t failed;
	uint64_t launch_retries;
	uint64_t idle_expiries;
};

/**
 * kpf_pool_create() - start a pool of worker threads
 * @pool: receives the pool
 * @cfg: configuration, or NULL for the defaults
 *
 * Initializes libkpf with its defaults if the program has not called
 * kpf_init().
 *
 * Return: 0, -EINVAL (NULL @pool, bad size, unknown flags, more than
 * KPF_POOL_MAX_WORKERS workers), -ENOMEM, or the -errno of io_uring or
 * thread creation; on error nothing is left allocated.
 */
int kpf_pool_create(kpf_pool **pool, const struct kpf_pool_config *cfg);

/**
 * kpf_pool_submit() - queue @fn(@arg) to run on the pool
 * @pool: the pool
 * @fn: the task; its return value is the future's result
 * @arg: its argument
 * @future: receives a future to wait on and free with kpf_future_free(),
 *	or NULL if the caller does not need one
 *
 * From inside a pool task the new task goes to the caller's worker (idle
 * workers steal it), from elsewhere to the workers in turn. Unless the
 * pool has KPF_POOL_NO_LIFO, a pool task's newest submit runs on its
 * worker as soon as the task stops, before older queued tasks (at most 3
 * such in a row); its earlier submits go to the back of the queue.
 *
 * Return: 0, -EINVAL (NULL @pool or @fn), -ESHUTDOWN (kpf_pool_destroy()
 * has begun or is done: a destroyed pool's handle stays recognisable),
 * -ENOMEM.
 */
int kpf_pool_submit(kpf_pool *pool, void *(*fn)(void *), void *arg,
		    kpf_future **future);

/**
 * kpf_pool_destroy() - stop the pool and free it
 * @pool: the pool
 * @mode: KPF_POOL_DRAIN (wait for every task to return) or
 *	KPF_POOL_CANCEL (tasks not yet started are dropped, preempted and
 *	parked ones are cancelled with kpf_cancel(), which runs their
 *	kpf_on_cancel() handlers on a worker; their futures report
 *	-ECANCELED). Tasks running right now are waited for in both modes.
 *
 * A task blocked forever in a raw system call blocks this call forever.
 * Futures stay valid after the pool is gone.
 *
 * A destroyed pool leaves a small tombstone (the handle, ~200 bytes) so
 * that later calls on it fail cleanly.
 *
 * Return: 0, -EINVAL (NULL @pool, unknown @mode, a pool already destroyed
 * or being destroyed by another thread), -EDEADLK (called from one of the
 * pool's own tasks; nothing is changed).
 */
int kpf_pool_destroy(kpf_pool *pool, int mode);

/**
 * kpf_pool_stats() - read a pool's counters
 * @pool: the pool
 * @stats: filled in; @stats->size must be set
 *
 * Return: 0, -EINVAL (NULL argument, @stats->size too small, a destroyed
 * pool). Not to be called while another thread destroys the pool.
 */
int kpf_pool_stats(kpf_pool *pool, struct kpf_pool_stats *stats);

/**
 * kpf_pool_worker() - index of the pool worker running the caller
 *
 * Return: 0..workers-1 inside a pool task, -1 elsewhere.
 */
int kpf_pool_worker(void);

/**
 * kpf_future_wait() - wait until a task has finished
 * @future: its future
 *
 * Inside a pool task the task yields to its worker while it waits.
 *
 * Return: 0 (it returned), -ECANCELED (cancelled by kpf_pool_destroy()),
 * -ENOMEM (it could never be started), -EINVAL (NULL).
 */
int kpf_future_wait(kpf_future *future);

/**
 * kpf_future_try() - whether a task has finished, without waiting
 * @future: its future
 *
 * Return: 0, -ECANCELED, -ENOMEM, -EAGAIN (still queued or running),
 * -EINVAL.
 */
int kpf_future_try(kpf_future *future);

/**
 * kpf_future_result() - the value the task returned
 * @future: its future
 * @result: receives the value
 *
 * Return: 0, -EAGAIN (not finished), -ECANCELED, -EINVAL.
 */
int kpf_future_result(kpf_future *future, void **result);

/**
 * kpf_future_free() - release a future
 * @future: the future, or NULL
 *
 * May be called before the task finishes: the task then releases it.
 */
void kpf_future_free(kpf_future *future);

/*
 * I/O that parks a pool task instead of blocking its worker. Inside a pool
 * task (not in a task nested in it) each call is one io_uring request on
 * the worker's ring; elsewhere the plain system call. Return: what the
 * system call returns, but -errno instead of -1/errno.
 */
ssize_t kpf_read(int fd, void *buf, size_t len);
ssize_t kpf_write(int fd, const void *buf, size_t len);
ssize_t kpf_recv(int fd, void *buf, size_t len, int flags);
ssize_t kpf_send(int fd, const void *buf, size_t len, int flags);
int kpf_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int kpf_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
/* kpf_sleep() - sleep @ns nanoseconds; 0 or -errno */
int kpf_sleep(uint64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* KPF_POOL_H */
