/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkpf_pool internals: the pool, its workers, jobs and futures.
 *
 * A job is one submitted function. It is in exactly one place at a time:
 * a worker's run queue, running on a worker, parked on a worker's io_uring
 * (its completion's user_data is the job), or finished and freed. Workers
 * only ever touch their own ring; a stolen job's next request goes to the
 * ring of the worker that runs it then.
 */
#ifndef KPF_POOL_INTERNAL_H
#define KPF_POOL_INTERNAL_H

#include <linux/time_types.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>

#include <kpf.h>
#include <kpf_pool.h>

#define KPF_POOL_EXPORT		__attribute__((visibility("default")))
#define KPF_POOL_HIDDEN		__attribute__((visibility("hidden")))

#define KPF_POOL_DEFAULT_QUANTUM_NS	1000000ull
#define KPF_POOL_DEFAULT_RING		256u
#define KPF_POOL_MAX_RING		32768u
/* consecutive runs from the LIFO slot before the oldest job gets one */
#define KPF_POOL_LIFO_MAX_STREAK	3u
/* idle lingering: 128 quanta by default, never more than 1024 */
#define KPF_POOL_LINGER_QUANTA		128u
#define KPF_POOL_MAX_LINGER_QUANTA	1024u

/* struct kpf_pool_job.io_op: the request a parked task waits for */
enum kpf_pool_io_op {
	KPF_POOL_IO_NONE,
	KPF_POOL_IO_READ,
	KPF_POOL_IO_WRITE,
	KPF_POOL_IO_RECV,
	KPF_POOL_IO_SEND,
	KPF_POOL_IO_ACCEPT,
	KPF_POOL_IO_CONNECT,
	KPF_POOL_IO_SLEEP,
};

/* struct kpf_future.state (the futex word) */
enum kpf_future_state {
	KPF_FUTURE_PENDING,
	KPF_FUTURE_PENDING_WAITED,	/* someone sleeps on the futex */
	KPF_FUTURE_DONE,
	KPF_FUTURE_CANCELLED,
	KPF_FUTURE_FAILED,		/* could not be started: -ENOMEM */
};

struct kpf_future {
	uint32_t state;
	uint32_t refs;			/* the job's and the user's */
	void *result;
};

struct kpf_pool_job {
	struct kpf_pool_job *next;	/* run queue link */
	void *(*fn)(void *);
	void *arg;
	void *result;
	kpf_task *task;			/* NULL until first run */
	struct kpf_future *future;
	/* the I/O request, filled in by the task before it pauses */
	uint32_t io_op;			/* enum kpf_pool_io_op */
	uint32_t io_inflight;		/* the op the ring is doing */
	int io_fd;
	int io_flags;
	socklen_t io_addrlen;
	void *io_buf;
	size_t io_len;
	void *io_addr;
	socklen_t *io_addrlenp;
	struct __kernel_timespec io_ts;
	int64_t io_res;			/* completion result, -errno */
};

/* per-worker counters: written by the worker, read with relaxed loads */
struct kpf_pool_counters {
	uint64_t completed;
	uint64_t cancelled;
	uint64_t switches;
	uint64_t switches_no_syscall;
	uint64_t preemptions;
	uint64_t steals;
	uint64_t io_submitted;
	uint64_t failed;
	uint64_t launch_retries;
	uint64_t idle_expiries;		/* kpf_stats.linger_expiries */
};

struct kpf_pool_worker {
	struct kpf_pool *pool;
	unsigned int index;
	int cpu;			/* pinned to it, -1 = not pinned */
	pthread_t thread;
	/* run queue: FIFO, a preempted job goes to the tail */
	pthread_mutex_t lock;
	struct kpf_pool_job *head;
	struct kpf_pool_job *tail;
	/* LIFO slot: the newest job submitted by a task running here */
	struct kpf_pool_job *lifo;
	uint32_t len;			/* queue + slot; atomic reads outside */
	uint32_t sleeping;		/* waiting in the ring: wake by eventfd */
	/* owned by the worker thread */
	uint32_t lifo_streak;		/* jobs in a row taken from the slot */
	struct io_uring ring;
	int efd;			/* wake-ups for new work */
	uint64_t efd_buf;
	int cancel_inflight;
	unsigned int parked;		/* jobs waiting for a completion */
	struct kpf_pool_job *running;	/* atomic: for the watchdog */
	uint64_t progress;		/* atomic: task runs finished */
	/* the watchdog's view */
	uint64_t seen_progress;
	int stalled;
	uint64_t stalls;		/* atomic */
	struct kpf_pool_counters c;
} __attribute__((aligned(64)));

#define KPF_POOL_MAGIC		0x6b70706cu	/* "kppl" */
#define KPF_POOL_DEAD_MAGIC	0x64656164u	/* "dead" */

struct kpf_pool {
	uint32_t magic;			/* KPF_POOL_MAGIC until destroyed */
	uint32_t callers;		/* submits in progress (destroy waits) */
	struct kpf_pool *next_dead;	/* tombstone list */
	unsigned int nworkers;
	unsigned int flags;
	uint64_t quantum_ns;
	uint64_t idle_linger_ns;	/* config; 0 = default */
	uint32_t shutdown;		/* no more submits */
	uint32_t stop;			/* workers exit once nothing is left */
	uint32_t cancel;		/* cancel instead of running */
	uint64_t outstanding;		/* submitted jobs not yet finished */
	uint32_t next_worker;		/* round robin for outside submits */
	pthread_t watchdog;
	int watchdog_started;
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_cond;
	uint64_t wd_period_ns;
	struct kpf_pool_worker *workers;
};

/* the worker the calling thread is (NULL elsewhere) and the job it runs */
extern __thread struct kpf_pool_worker *kpf_pool_self KPF_POOL_HIDDEN;
extern __thread struct kpf_pool_job *kpf_pool_running KPF_POOL_HIDDEN;

/* runq.c */
KPF_POOL_HIDDEN void kpf_runq_push(struct kpf_pool_worker *w,
				   struct kpf_pool_job *job);
KPF_POOL_HIDDEN void kpf_runq_push_lifo(struct kpf_pool_worker *w,
					struct kpf_pool_job *job);
KPF_POOL_HIDDEN struct kpf_pool_job *kpf_runq_pop(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN struct kpf_pool_job *kpf_runq_steal(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN int kpf_runq_any(struct kpf_pool *pool);
KPF_POOL_HIDDEN void kpf_worker_wake(struct kpf_pool_worker *w);

/* worker.c */
KPF_POOL_HIDDEN void *kpf_worker_main(void *arg);
KPF_POOL_HIDDEN void kpf_pool_job_finish(struct kpf_pool_worker *w,
					 struct kpf_pool_job *job,
					 uint32_t how);
KPF_POOL_HIDDEN void kpf_pool_outstanding_put(struct kpf_pool *pool);

/* io.c */
KPF_POOL_HIDDEN int kpf_io_worker_init(struct kpf_pool_worker *w,
				       unsigned int entries);
KPF_POOL_HIDDEN void kpf_io_worker_exit(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN void kpf_io_submit_job(struct kpf_pool_worker *w,
				       struct kpf_pool_job *job);
KPF_POOL_HIDDEN void kpf_io_reap(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN void kpf_io_wait(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN void kpf_io_cancel_parked(struct kpf_pool_worker *w);
KPF_POOL_HIDDEN struct kpf_pool_job *kpf_pool_current_job(void);

/* future.c */
KPF_POOL_HIDDEN struct kpf_future *kpf_future_new(void);
KPF_POOL_HIDDEN void kpf_future_complete(struct kpf_future *f, void *result,
					 uint32_t how);

/* watchdog.c */
KPF_POOL_HIDDEN void *kpf_watchdog_main(void *arg);

#endif /* KPF_POOL_INTERNAL_H */
