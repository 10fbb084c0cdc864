// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 5, blocking system calls under preemption: a thread loops on
 * nanosleep, epoll_wait and a pipe read while a periodic timer preempts
 * it; count the EINTR failures its code sees. Signals use SA_RESTART (the
 * best a signal-based runtime can do): nanosleep and epoll_wait still fail
 * with EINTR. kpf's upcalls never interrupt a system call: the upcall
 * arrives when it returns. Writes results.csv.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"

#define KB_BLK_QUANTUM_NS	(100 * NSEC_PER_USEC)
#define KB_BLK_SLEEP_NS		(200 * NSEC_PER_USEC)
#define KB_BLK_EPOLL_MS		1

enum { KB_BLK_NANOSLEEP, KB_BLK_EPOLL, KB_BLK_PIPE, KB_BLK_NR };
static const char *const kb_blk_name[KB_BLK_NR] = {
	"nanosleep", "epoll_wait", "pipe read"
};

/**
 * struct kb_blk_result - one backend's counts per system call
 * @calls:	calls made (each retried after EINTR until it completes)
 * @eintr:	EINTR failures seen
 * @events:	timer deliveries during the loop
 */
struct kb_blk_result {
	unsigned long calls[KB_BLK_NR];
	unsigned long eintr[KB_BLK_NR];
	uint64_t events[KB_BLK_NR];
};

struct kb_blk_writer {
	int fd;
	unsigned long n;
};

static void *kb_blk_writer_thread(void *arg)
{
	struct kb_blk_writer *w = arg;
	struct timespec ts = { 0, (long)KB_BLK_SLEEP_NS };
	unsigned long i;

	for (i = 0; i < w->n; i++) {
		nanosleep(&ts, NULL);
		if (write(w->fd, "x", 1) != 1)
			break;
	}
	return NULL;
}

static int kb_blk_loops(unsigned long n, struct kb_blk_result *res)
{
	struct kb_blk_writer w;
	struct epoll_event ev;
	struct timespec req, rem;
	pthread_t writer;
	unsigned long i;
	uint64_t before;
	int ep, fds[2];
	char c;

	before = kb_log_count();
	for (i = 0; i < n; i++) {
		req = (struct timespec){ 0, (long)KB_BLK_SLEEP_NS };
		res->calls[KB_BLK_NANOSLEEP]++;
		while (nanosleep(&req, &rem)) {
			if (errno != EINTR)
				return -errno;
			res->eintr[KB_BLK_NANOSLEEP]++;
			req = rem;
		}
	}
	res->events[KB_BLK_NANOSLEEP] = kb_log_count() - before;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	before = kb_log_count();
	for (i = 0; i < n; i++) {
		uint64_t end = kb_now_ns() + KB_BLK_EPOLL_MS * NSEC_PER_MSEC, now;
		int ms = KB_BLK_EPOLL_MS;

		res->calls[KB_BLK_EPOLL]++;
		/* after EINTR, wait for what is left, as careful code does */
		while (epoll_wait(ep, &ev, 1, ms) < 0) {
			if (errno != EINTR) {
				close(ep);
				return -errno;
			}
			res->eintr[KB_BLK_EPOLL]++;
			now = kb_now_ns();
			if (now >= end)
				break;
			ms = (int)((end - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
		}
	}
	res->events[KB_BLK_EPOLL] = kb_log_count() - before;
	close(ep);

	if (pipe(fds))
		return -errno;
	w.fd = fds[1];
	w.n = n;
	before = kb_log_count();
	if (pthread_create(&writer, NULL, kb_blk_writer_thread, &w)) {
		close(fds[0]);
		close(fds[1]);
		return -EAGAIN;
	}
	for (i = 0; i < n; i++) {
		res->calls[KB_BLK_PIPE]++;
		while (read(fds[0], &c, 1) != 1) {
			if (errno != EINTR)
				break;
			res->eintr[KB_BLK_PIPE]++;
		}
	}
	res->events[KB_BLK_PIPE] = kb_log_count() - before;
	pthread_join(writer, NULL);
	close(fds[0]);
	close(fds[1]);
	return 0;
}

static int kb_blk_run(bool kmod, unsigned long n, struct kb_blk_result *res)
{
	struct kb_timer t;
	int err;

	memset(res, 0, sizeof(*res));
	kb_log_reset();
	err = kb_timer_open(&t, kmod);
	if (err)
		return err;
	err = kb_timer_arm(&t, kb_now_ns() + KB_BLK_QUANTUM_NS, KB_BLK_QUANTUM_NS);
	if (!err)
		err = kb_blk_loops(n, res);
	kb_timer_close(&t);
	return err;
}

/**
 * kb_bench_blocking() - benchmark 5: EINTR seen by user code per backend
 *
 * Return: 0, 1 on failure, 2 if kmod let an EINTR through.
 */
int kb_bench_blocking(void)
{
	unsigned long n = kb_opt.quick ? 50 : 200;
	struct kb_blk_result res[KB_NR_BACKENDS];
	const char *const *name = kb_backend_name;
	unsigned int b, s;
	int err, rc = 0;

	for (b = 0; b < KB_NR_BACKENDS; b++) {
		if (!kb_backend_on(b))
			continue;
		kb_progress("blocking %s: %lu x nanosleep(200 us), epoll_wait(1 ms), pipe read; preempted every %llu us",
			    name[b], n, (unsigned long long)(KB_BLK_QUANTUM_NS / NSEC_PER_USEC));
		err = kb_blk_run(b == 0, n, &res[b]);
		if (err) {
			fprintf(stderr, "kpf-bench: blocking %s: %s\n", name[b],
				strerror(-err));
			return 1;
		}
	}

	kb_section("5. blocking system calls under preemption every %llu us: EINTR seen by user code",
		   (unsigned long long)(KB_BLK_QUANTUM_NS / NSEC_PER_USEC));
	printf("%-8s %-11s %8s %12s %18s\n", "backend", "syscall", "calls",
	       "EINTR", "timer deliveries");
	for (b = 0; b < KB_NR_BACKENDS; b++) {
		if (!kb_backend_on(b))
			continue;
		for (s = 0; s < KB_BLK_NR; s++) {
			printf("%-8s %-11s %8lu %7lu EINTR %11llu events\n", name[b],
			       kb_blk_name[s], res[b].calls[s], res[b].eintr[s],
			       (unsigned long long)res[b].events[s]);
			kb_result("blocking", name[b], kb_blk_name[s], "eintr",
				  res[b].eintr[s], "count");
			kb_result("blocking", name[b], kb_blk_name[s], "calls",
				  res[b].calls[s], "count");
			kb_result("blocking", name[b], kb_blk_name[s], "deliveries",
				  res[b].events[s], "count");
			if (b == 0 && res[b].eintr[s]) {
				fprintf(stderr, "kpf-bench: FAIL: kmod let %lu EINTR through %s\n",
					res[b].eintr[s], kb_blk_name[s]);
				rc = 2;
			}
		}
	}
	return rc;
}
