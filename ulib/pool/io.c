// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * I/O of pool tasks through one io_uring per worker.
 *
 * A task never touches the ring: it writes its request into its job and
 * calls kpf_pause(). The worker that sees the task stop with a request
 * pending prepares the SQE on its own ring (so no ring is ever shared
 * between threads, and a task that was preempted and stolen in between
 * does not matter), and pushes the job back onto its run queue when the
 * completion arrives. If the quantum runs out between the request being
 * written and kpf_pause(), the worker submits it anyway; the task's own
 * kpf_pause() then merely yields once, and the result is already there.
 *
 * Outside a pool task (or in a task nested inside one, whose kpf_pause()
 * would return to its own launcher) the calls are the plain system calls.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n)	((void)(p), (void)(n))
#endif

#include "pool_internal.h"

/* user_data of the worker's own requests (jobs are heap pointers) */
#define KPF_IO_TAG_CANCEL	2ull

/**
 * kpf_io_worker_init() - create the worker's ring and wake-up eventfd
 * @w: the worker
 * @entries: submission queue entries
 *
 * Return: 0 or -errno.
 */
int kpf_io_worker_init(struct kpf_pool_worker *w, unsigned int entries)
{
	struct io_uring_params p;
	int ret;

	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -errno;
	memset(&p, 0, sizeof(p));
	/* room for many parked tasks; the kernel queues overflow anyway */
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = entries * 8;
	ret = io_uring_queue_init_params(entries, &w->ring, &p);
	if (ret < 0) {
		close(w->efd);
		return ret;
	}
	return 0;
}

/**
 * kpf_io_worker_exit() - close the ring and the eventfd
 * @w: the worker; no job of it may be parked any more
 */
void kpf_io_worker_exit(struct kpf_pool_worker *w)
{
	io_uring_queue_exit(&w->ring);
	close(w->efd);
}

/* An SQE of @w's ring, submitting what is queued if it is full. */
static struct io_uring_sqe *kpf_io_sqe(struct kpf_pool_worker *w)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&w->ring)))
		io_uring_submit(&w->ring);
	return sqe;
}

/**
 * kpf_io_submit_job() - queue the request of a job whose task paused
 * @w: the calling worker
 * @job: the job; job->io_op says what to do
 *
 * The SQE goes to the kernel at the next kpf_io_reap() or kpf_io_wait(),
 * before the worker runs another task.
 */
void kpf_io_submit_job(struct kpf_pool_worker *w, struct kpf_pool_job *job)
{
	struct io_uring_sqe *sqe = kpf_io_sqe(w);

	switch (job->io_op) {
	case KPF_POOL_IO_READ:
		io_uring_prep_read(sqe, job->io_fd, job->io_buf, job->io_len,
				   (uint64_t)-1);
		break;
	case KPF_POOL_IO_WRITE:
		io_uring_prep_write(sqe, job->io_fd, job->io_buf, job->io_len,
				    (uint64_t)-1);
		break;
	case KPF_POOL_IO_RECV:
		io_uring_prep_recv(sqe, job->io_fd, job->io_buf, job->io_len,
				   job->io_flags);
		break;
	case KPF_POOL_IO_SEND:
		io_uring_prep_send(sqe, job->io_fd, job->io_buf, job->io_len,
				   job->io_flags);
		break;
	case KPF_POOL_IO_ACCEPT:
		io_uring_prep_accept(sqe, job->io_fd, job->io_addr,
				     job->io_addrlenp, job->io_flags);
		break;
	case KPF_POOL_IO_CONNECT:
		io_uring_prep_connect(sqe, job->io_fd, job->io_addr,
				      job->io_addrlen);
		break;
	case KPF_POOL_IO_SLEEP:
		io_uring_prep_timeout(sqe, &job->io_ts, 0, 0);
		break;
	}
	io_uring_sqe_set_data(sqe, job);
	job->io_inflight = job->io_op;
	job->io_op = KPF_POOL_IO_NONE;
	w->parked++;
	w->c.io_submitted++;
}

/**
 * kpf_io_reap() - submit queued SQEs and requeue the jobs that completed
 * @w: the calling worker
 */
void kpf_io_reap(struct kpf_pool_worker *w)
{
	struct io_uring_cqe *cqe;
	struct kpf_pool_job *job;
	unsigned int head, n = 0;

	if (io_uring_sq_ready(&w->ring))
		io_uring_submit(&w->ring);
	/* peek enters the kernel only to flush an overflowed CQ */
	if (io_uring_peek_cqe(&w->ring, &cqe))
		return;
	io_uring_for_each_cqe(&w->ring, head, cqe) {
		n++;
		switch (cqe->user_data) {
		case KPF_IO_TAG_CANCEL:
			w->cancel_inflight = 0;
			break;
		default:
			job = io_uring_cqe_get_data(cqe);
			/* ETIME is how a timeout completes: the sleep is done */
			job->io_res = cqe->res == -ETIME ? 0 : cqe->res;
			/* the kernel wrote it: tell valgrind (no-op otherwise) */
			if (cqe->res > 0 &&
			    (job->io_inflight == KPF_POOL_IO_READ ||
			     job->io_inflight == KPF_POOL_IO_RECV))
				VALGRIND_MAKE_MEM_DEFINED(job->io_buf, cqe->res);
			if (cqe->res >= 0 &&
			    job->io_inflight == KPF_POOL_IO_ACCEPT &&
			    job->io_addrlenp) {
				VALGRIND_MAKE_MEM_DEFINED(job->io_addrlenp,
							  sizeof(socklen_t));
				VALGRIND_MAKE_MEM_DEFINED(job->io_addr,
							  *job->io_addrlenp);
			}
			w->parked--;
			kpf_runq_push(w, job);
		}
	}
	io_uring_cq_advance(&w->ring, n);
}

/**
 * kpf_io_wait() - sleep until a completion or a wake-up arrives
 * @w: the calling worker, with w->sleeping set
 *
 * poll() on the ring and the eventfd rather than io_uring_enter() with
 * GETEVENTS: tools such as valgrind know that poll() blocks (valgrind 3.19
 * holds its thread lock across io_uring_enter() and deadlocks the pool).
 */
void kpf_io_wait(struct kpf_pool_worker *w)
{
	struct pollfd pfd[2] = {
		{ .fd = w->ring.ring_fd, .events = POLLIN },
		{ .fd = w->efd, .events = POLLIN },
	};

	if (io_uring_sq_ready(&w->ring))
		io_uring_submit(&w->ring);
	if (io_uring_cq_ready(&w->ring))
		return;
	/* EINTR (a signal) only ends the wait early */
	if (poll(pfd, 2, -1) > 0 && (pfd[1].revents & POLLIN))
		if (read(w->efd, &w->efd_buf, sizeof(w->efd_buf)) < 0)
			return;
}

/**
 * kpf_io_cancel_parked() - ask the kernel to cancel the worker's requests
 * @w: the calling worker, in a pool being destroyed with KPF_POOL_CANCEL
 *
 * The parked jobs come back with -ECANCELED and are then cancelled like
 * preempted ones. One cancel request is outstanding at a time.
 */
void kpf_io_cancel_parked(struct kpf_pool_worker *w)
{
	struct io_uring_sqe *sqe;

	if (w->cancel_inflight)
		return;
	sqe = kpf_io_sqe(w);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, KPF_IO_TAG_CANCEL);
	w->cancel_inflight = 1;
	io_uring_submit(&w->ring);
}

/**
 * kpf_pool_current_job() - the pool job the caller runs as, if any
 *
 * Return: the job, or NULL outside a pool task or in a nested task.
 */
struct kpf_pool_job *kpf_pool_current_job(void)
{
	struct kpf_pool_job *job;

	if (kpf_in_task() != 1)
		return NULL;
	/* no preemption, so no migration, between TLS address and load */
	kpf_defer_begin();
	job = kpf_pool_running;
	kpf_defer_end();
	return job;
}

/* Park the calling task until the worker has done job's request. */
static int64_t kpf_io_park(struct kpf_pool_job *job, uint32_t op)
{
	__atomic_store_n(&job->io_op, op, __ATOMIC_RELEASE);
	kpf_pause();
	return job->io_res;
}

static inline ssize_t kpf_io_ret(ssize_t ret)
{
	return ret < 0 ? -errno : ret;
}

/**
 * kpf_read() - read(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT ssize_t kpf_read(int fd, void *buf, size_t len)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(read(fd, buf, len));
	job->io_fd = fd;
	job->io_buf = buf;
	job->io_len = len;
	return kpf_io_park(job, KPF_POOL_IO_READ);
}

/**
 * kpf_write() - write(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT ssize_t kpf_write(int fd, const void *buf, size_t len)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(write(fd, buf, len));
	job->io_fd = fd;
	job->io_buf = (void *)buf;
	job->io_len = len;
	return kpf_io_park(job, KPF_POOL_IO_WRITE);
}

/**
 * kpf_recv() - recv(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT ssize_t kpf_recv(int fd, void *buf, size_t len, int flags)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(recv(fd, buf, len, flags));
	job->io_fd = fd;
	job->io_buf = buf;
	job->io_len = len;
	job->io_flags = flags;
	return kpf_io_park(job, KPF_POOL_IO_RECV);
}

/**
 * kpf_send() - send(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT ssize_t kpf_send(int fd, const void *buf, size_t len,
				 int flags)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(send(fd, buf, len, flags));
	job->io_fd = fd;
	job->io_buf = (void *)buf;
	job->io_len = len;
	job->io_flags = flags;
	return kpf_io_park(job, KPF_POOL_IO_SEND);
}

/**
 * kpf_accept() - accept4(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_accept(int fd, struct sockaddr *addr,
			       socklen_t *addrlen, int flags)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(accept4(fd, addr, addrlen, flags));
	job->io_fd = fd;
	job->io_addr = addr;
	job->io_addrlenp = addrlen;
	job->io_flags = flags;
	return kpf_io_park(job, KPF_POOL_IO_ACCEPT);
}

/**
 * kpf_connect() - connect(2) that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_connect(int fd, const struct sockaddr *addr,
				socklen_t addrlen)
{
	struct kpf_pool_job *job = kpf_pool_current_job();

	if (!job)
		return kpf_io_ret(connect(fd, addr, addrlen));
	job->io_fd = fd;
	job->io_addr = (void *)addr;
	job->io_addrlen = addrlen;
	return kpf_io_park(job, KPF_POOL_IO_CONNECT);
}

/**
 * kpf_sleep() - sleep that parks a pool task; see <kpf_pool.h>
 */
KPF_POOL_EXPORT int kpf_sleep(uint64_t ns)
{
	struct kpf_pool_job *job = kpf_pool_current_job();
	struct timespec ts = {
		.tv_sec = ns / 1000000000ull,
		.tv_nsec = ns % 1000000000ull,
	};

	if (!job) {
		while (nanosleep(&ts, &ts))
			if (errno != EINTR)
				return -errno;
		return 0;
	}
	job->io_ts.tv_sec = ts.tv_sec;
	job->io_ts.tv_nsec = ts.tv_nsec;
	return kpf_io_park(job, KPF_POOL_IO_SLEEP);
}
