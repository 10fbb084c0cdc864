// SPDX-License-Identifier: GPL-2.0
/*
 * 6. pool: tail latency of short requests next to long ones, on kpf_pool.
 *
 * Server: "kpf-bench pool-server", a separate process (exec'd, so it picks
 * its own libkpf backend) running a kpf_pool that serves requests over
 * loopback TCP; each request is a CPU burn of a given number of
 * iterations, calibrated once per run. Client: this process, open loop:
 * Poisson arrivals from a precomputed schedule, bimodal service times
 * (short:long = 1:1000), its own io_uring, latency measured from the
 * scheduled send time (no coordinated omission).
 *
 * Configurations, same run: the preemptive pool on kmod and on signal, the
 * same pool cooperative (quantum KPF_FOREVER), and a baseline that sends
 * the same schedule without its long requests.
 */
#define _GNU_SOURCE	/* CPU affinity */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifdef KB_HAVE_POOL
#include <liburing.h>
#include <kpf.h>
#include <kpf_pool.h>

/* the wire format, both directions */
struct kb_req {
	uint32_t id;
	uint32_t iters;
};

#define KB_CONNS	8
#define KB_RECV_BUF	4096

/* The work of a request: an LCG the compiler cannot fold. */
static uint32_t kb_burn(uint32_t iters)
{
	volatile uint32_t x = 1;
	uint32_t i;

	for (i = 0; i < iters; i++)
		x = x * 1664525u + 1013904223u;
	return x;
}

/* --- the server (its own process) ---------------------------------------- */

struct kb_srv_req {
	int fd;
	struct kb_req r;
};

static kpf_pool *kb_srv_pool;
static int kb_srv_closed;
static sem_t kb_srv_done;

static void *kb_srv_serve(void *arg)
{
	struct kb_srv_req *q = arg;

	kb_burn(q->r.iters);
	kpf_send(q->fd, &q->r, sizeof(q->r), MSG_NOSIGNAL);
	kpf_defer_begin();	/* libc inside a task */
	free(q);
	kpf_defer_end();
	return NULL;
}

/* a connection is over (or never was, fd < 0): the last one ends it all */
static void kb_srv_conn_done(int fd)
{
	if (fd >= 0)
		close(fd);
	kpf_defer_begin();
	if (__atomic_add_fetch(&kb_srv_closed, 1, __ATOMIC_RELEASE) == KB_CONNS)
		sem_post(&kb_srv_done);
	kpf_defer_end();
}

/* one task per connection: read requests, one pool task for each */
static void *kb_srv_conn(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	char buf[KB_RECV_BUF];
	struct kb_srv_req *q;
	size_t have = 0, off;
	ssize_t n;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while ((n = kpf_recv(fd, buf + have, sizeof(buf) - have, 0)) > 0) {
		have += n;
		for (off = 0; off + sizeof(struct kb_req) <= have;
		     off += sizeof(struct kb_req)) {
			kpf_defer_begin();
			q = malloc(sizeof(*q));
			kpf_defer_end();
			if (!q)
				break;
			q->fd = fd;
			memcpy(&q->r, buf + off, sizeof(q->r));
			kpf_pool_submit(kb_srv_pool, kb_srv_serve, q, NULL);
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	/* the client closes when it has everything: nothing is in flight */
	kb_srv_conn_done(fd);
	return NULL;
}

static void *kb_srv_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg, i, fd;

	for (i = 0; i < KB_CONNS; i++) {
		fd = kpf_accept(lfd, NULL, NULL, 0);
		if (fd < 0 || kpf_pool_submit(kb_srv_pool, kb_srv_conn,
					      (void *)(intptr_t)fd, NULL))
			kb_srv_conn_done(fd);
	}
	return NULL;
}

/**
 * kb_pool_server() - "kpf-bench pool-server LISTEN_FD WORKERS QUANTUM_NS FLAGS"
 * @argc: argument count
 * @argv: arguments
 *
 * Serves KB_CONNS connections until they close; then prints the pool's
 * counters as one line "switches no_syscall preemptions stalls
 * idle_expiries".
 *
 * Return: the exit status.
 */
int kb_pool_server(int argc, char **argv)
{
	struct kpf_pool_config cfg = { .size = sizeof(cfg) };
	struct kpf_pool_stats st = { .size = sizeof(st) };
	cpu_set_t set;
	int lfd, ret, c;

	if (argc != 6)
		return 2;
	lfd = atoi(argv[2]);
	cfg.workers = atoi(argv[3]);
	cfg.quantum_ns = strtoull(argv[4], NULL, 0);
	cfg.flags = strtoul(argv[5], NULL, 0);
	ret = kpf_pool_create(&kb_srv_pool, &cfg);
	if (ret) {
		fprintf(stderr, "pool-server: kpf_pool_create: %s\n",
			strerror(-ret));
		return 1;
	}
	/*
	 * The worker is pinned to the first CPU this process may use: keep
	 * this thread off it (and waiting, not polling), so that the worker
	 * has its CPU to itself.
	 */
	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 1) {
		for (c = 0; !CPU_ISSET(c, &set); c++)
			;
		CPU_CLR(c, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	sem_init(&kb_srv_done, 0, 0);
	kpf_pool_submit(kb_srv_pool, kb_srv_accept, (void *)(intptr_t)lfd,
			NULL);
	while (sem_wait(&kb_srv_done))
		;
	kpf_pool_stats(kb_srv_pool, &st);
	kpf_pool_destroy(kb_srv_pool, KPF_POOL_DRAIN);
	printf("%llu %llu %llu %llu %llu\n", (unsigned long long)st.switches,
	       (unsigned long long)st.switches_no_syscall,
	       (unsigned long long)st.preemptions,
	       (unsigned long long)st.watchdog_stalls,
	       (unsigned long long)st.idle_expiries);
	return 0;
}

/* --- the client ---------------------------------------------------------- */

struct kb_point {
	double load;
	double offered_rps, achieved_rps;
	struct kb_dist d;	/* short requests */
	unsigned long lost;
	unsigned long long switches, no_syscall, preemptions, stalls, idle;
};

struct kb_pool_cfg {
	const char *name;
	const char *backend;	/* KPF_BACKEND of the server */
	unsigned int need;	/* KB_BACKEND_* it needs, 0: any */
	uint64_t quantum_ns;
	bool no_long;		/* the baseline */
	unsigned int flags;	/* KPF_POOL_* of the server's pool */
};

#define KB_QUANTUM_NS	(200 * NSEC_PER_USEC)

static const struct kb_pool_cfg kb_pool_cfgs[] = {
	{ "preemptive-kmod", "kmod", KB_BACKEND_KMOD, KB_QUANTUM_NS, false, 0 },
	/* the same without idle lingering: switches that need an ARM */
	{ "kmod-no-linger", "kmod", KB_BACKEND_KMOD, KB_QUANTUM_NS, false,
	  KPF_POOL_NO_LINGER },
	{ "preemptive-signal", "signal", KB_BACKEND_SIGNAL, KB_QUANTUM_NS,
	  false, 0 },
	/* without the LIFO slot: a request's task queues behind long ones */
	{ "kmod-no-lifo", "kmod", KB_BACKEND_KMOD, KB_QUANTUM_NS, false,
	  KPF_POOL_NO_LIFO },
	{ "signal-no-lifo", "signal", KB_BACKEND_SIGNAL, KB_QUANTUM_NS, false,
	  KPF_POOL_NO_LIFO },
	/* these two run on the first one's backend (NULL) */
	{ "cooperative", NULL, 0, KPF_FOREVER, false, 0 },
	/* on the schedule without long requests */
	{ "no-long-baseline", NULL, 0, KB_QUANTUM_NS, true, 0 },
};

static uint64_t kb_short_iters;
/* the CPUs kpf-bench may use: the server gets them all back */
static cpu_set_t kb_pool_cpus;

/*
 * Set the nice value of our autogroup to @nice, the old one in @old. With
 * sched_autogroup_enabled a session's processes share one scheduling
 * entity: a process's niceness only counts inside its session, and a
 * compiler in another session took the worker's CPU for up to 9 ms at a
 * time however nice -15 we were. Return: 0, or -1 if not permitted.
 */
static int kb_pool_autogroup(int nice, int *old)
{
	FILE *f = fopen("/proc/self/autogroup", "r");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%*s nice %d", old) == 1;
	fclose(f);
	f = ok ? fopen("/proc/self/autogroup", "w") : NULL;
	if (!f)
		return -1;
	fprintf(f, "%d", nice);
	return fclose(f) ? -1 : 0;
}

/* what kb_pool_raise() changed, for kb_pool_restore() */
static struct {
	int prio, niced, agnice, agset, fifo;
} kb_pool_old;

/*
 * On a shared host other processes would take the server's CPU and
 * measure the host, not the pool: raise client and server to nice -15
 * where permitted, and their autogroup. The client (the load generator)
 * also becomes SCHED_FIFO where permitted, so that it sends on schedule
 * and reads replies at once even where it shares a CPU with the worker
 * (the 1-vCPU icount guest: there a 10 ms long request held up the
 * client's sends, which the baseline never had). It sleeps between
 * events; the server goes back to SCHED_OTHER after fork().
 */
static void kb_pool_raise(void)
{
	struct sched_param sp = { .sched_priority = 1 };

	kb_pool_old.prio = getpriority(PRIO_PROCESS, 0);
	kb_pool_old.niced = !setpriority(PRIO_PROCESS, 0, -15);
	kb_pool_old.agset = !kb_pool_autogroup(-15, &kb_pool_old.agnice);
	kb_pool_old.fifo = !sched_setscheduler(0, SCHED_FIFO, &sp);
	/*
	 * No transparent huge pages for client and server (inherited
	 * across fork and exec), as latency-sensitive servers are set up:
	 * with them the icount guest had stalls of 3.5-9 ms in about one
	 * point in four, the no-long baseline included; without them none
	 * in 100 (benchmarks.md).
	 */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

/* the client's scheduling back to what it was; the server's in a child */
static void kb_pool_restore(int child)
{
	struct sched_param sp = { .sched_priority = 0 };

	if (kb_pool_old.fifo)
		sched_setscheduler(0, SCHED_OTHER, &sp);	/* keeps nice */
	if (child)
		return;
	prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
	if (kb_pool_old.niced)
		setpriority(PRIO_PROCESS, 0, kb_pool_old.prio);
	if (kb_pool_old.agset)
		kb_pool_autogroup(kb_pool_old.agnice, &kb_pool_old.agnice);
	if (CPU_COUNT(&kb_pool_cpus))
		sched_setaffinity(0, sizeof(kb_pool_cpus), &kb_pool_cpus);
}

static double kb_uniform(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return ((*s >> 11) + 0.5) / 9007199254740992.0;
}

/* receive on connection @k (its index is the completion's data) */
static void kb_pool_recv(struct io_uring *ring, int fd, char *buf,
			 size_t len, uint64_t k)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_recv(sqe, fd, buf, len, 0);
	io_uring_sqe_set_data64(sqe, k);
}

/*
 * One open-loop run at @rps for @run_ns: returns the short requests'
 * latency distribution in @p.
 */
static int kb_pool_point(const struct kb_pool_cfg *c, double long_frac,
			 double rps, uint64_t run_ns, struct kb_point *p)
{
	unsigned long n = (unsigned long)(rps * run_ns / 1e9) + 1, i, next = 0;
	unsigned long sent = 0, got = 0, nshort = 0;
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t *sched, *lat, seed = 42, t0, now, t_end;
	char bufs[KB_CONNS][KB_RECV_BUF];
	size_t have[KB_CONNS] = { 0 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	socklen_t alen = sizeof(a);
	struct kb_req *reqs;
	int lfd, fds[KB_CONNS], k, one = 1, status, pfd[2], ret = 1;
	char line[128], fdbuf[16], qbuf[32], fbuf[16];
	ssize_t len;
	pid_t pid;

	for (k = 0; k < KB_CONNS; k++)
		fds[k] = -1;
	sched = calloc(n, sizeof(*sched));
	lat = calloc(n, sizeof(*lat));
	reqs = calloc(n, sizeof(*reqs));
	if (!sched || !lat || !reqs)
		goto out_free;
	/* the schedule: exponential gaps, 1 in 1/long_frac long */
	now = 0;
	for (i = 0; i < n; i++) {
		now += (uint64_t)(-log(kb_uniform(&seed)) * 1e9 / rps);
		sched[i] = now;
		reqs[i].id = i;
		reqs[i].iters = kb_short_iters *
				(kb_uniform(&seed) < long_frac ? 1000 : 1);
	}

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) ||
	    listen(lfd, KB_CONNS))
		goto out_free;
	if (pipe(pfd))
		goto out_free;
	snprintf(fdbuf, sizeof(fdbuf), "%d", lfd);
	snprintf(qbuf, sizeof(qbuf), "%llu", (unsigned long long)c->quantum_ns);
	snprintf(fbuf, sizeof(fbuf), "%u", c->flags);
	/* the server: exec'd, so that it picks its own libkpf backend */
	pid = fork();
	if (!pid) {
		setenv("KPF_BACKEND", c->backend, 1);
		kb_pool_restore(1);
		sched_setaffinity(0, sizeof(kb_pool_cpus), &kb_pool_cpus);
		dup2(pfd[1], 1);
		execl("/proc/self/exe", "kpf-bench", "pool-server", fdbuf, "1",
		      qbuf, fbuf, (char *)NULL);
		_exit(127);
	}
	close(lfd);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		goto out_free;
	}
	for (k = 0; k < KB_CONNS; k++) {
		fds[k] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fds[k], (struct sockaddr *)&a, sizeof(a)))
			goto out_kill;
		setsockopt(fds[k], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (io_uring_queue_init(1024, &ring, 0))
		goto out_kill;
	for (k = 0; k < KB_CONNS; k++)
		kb_pool_recv(&ring, fds[k], bufs[k], KB_RECV_BUF, k);
	io_uring_submit(&ring);

	t0 = kb_now_ns() + 10 * NSEC_PER_MSEC;
	/* grace for the tail; what is still missing then counts as lost */
	t_end = t0 + run_ns + 2 * NSEC_PER_SEC;
	while (got < sent || next < n) {
		struct __kernel_timespec ts = { .tv_nsec = 1000000 };
		unsigned int head, seen = 0;

		now = kb_now_ns();
		if (now > t_end)
			break;
		for (; next < n && t0 + sched[next] <= now; next++) {
			struct io_uring_sqe *sqe;

			if (c->no_long && reqs[next].iters > kb_short_iters)
				continue;
			sqe = io_uring_get_sqe(&ring);
			if (!sqe) {
				io_uring_submit(&ring);
				sqe = io_uring_get_sqe(&ring);
			}
			io_uring_prep_send(sqe, fds[next % KB_CONNS],
					   &reqs[next], sizeof(reqs[next]), 0);
			io_uring_sqe_set_data64(sqe, UINT64_MAX);
			sent++;
		}
		if (next < n && t0 + sched[next] - now < 1000000)
			ts.tv_nsec = t0 + sched[next] - now;
		io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		now = kb_now_ns();
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t d = cqe->user_data;
			size_t off;

			seen++;
			if (d == UINT64_MAX || cqe->res <= 0)
				continue;	/* a send, or a closed socket */
			have[d] += cqe->res;
			for (off = 0; off + sizeof(struct kb_req) <= have[d];
			     off += sizeof(struct kb_req)) {
				struct kb_req r;

				memcpy(&r, bufs[d] + off, sizeof(r));
				if (r.id < n && !lat[r.id]) {
					lat[r.id] = now - (t0 + sched[r.id]);
					got++;
				}
			}
			memmove(bufs[d], bufs[d] + off, have[d] - off);
			have[d] -= off;
			kb_pool_recv(&ring, fds[d], bufs[d] + have[d],
				     KB_RECV_BUF - have[d], d);
		}
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);

	/*
	 * The short requests' latencies, compacted. One still unanswered
	 * counts as answered now (a lower bound): left out, a configuration
	 * that fell behind would lose its slowest requests from its tail.
	 */
	now = kb_now_ns();
	for (i = 0; i < next; i++)
		if (reqs[i].iters == kb_short_iters)
			lat[nshort++] = lat[i] ? lat[i] : now - (t0 + sched[i]);
	kb_dist_compute(lat, nshort, &p->d);
	p->offered_rps = rps * sent / n;	/* the baseline's: shorts only */
	p->achieved_rps = got * 1e9 / (double)(now - t0);
	p->lost = sent - got;
	ret = 0;
out_kill:
	for (k = 0; k < KB_CONNS; k++)
		close(fds[k]);
	/* it answers once its connections close: a stuck server is killed */
	if (!ret && poll(&(struct pollfd){ pfd[0], POLLIN, 0 }, 1, 30000) < 1) {
		fprintf(stderr, "kpf-bench: pool: %s: the server did not finish\n",
			c->name);
		ret = 1;
	}
	if (ret)
		kill(pid, SIGKILL);
	len = read(pfd[0], line, sizeof(line) - 1);
	line[len > 0 ? len : 0] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (!ret && sscanf(line, "%llu %llu %llu %llu %llu", &p->switches,
			   &p->no_syscall, &p->preemptions, &p->stalls,
			   &p->idle) != 5)
		ret = 1;
out_free:
	free(sched);
	free(lat);
	free(reqs);
	return ret;
}

/* iterations of kb_burn() per microsecond, the median of 5 */
static uint64_t kb_calibrate(void)
{
	double v[5];
	uint64_t t;
	int i;

	for (i = 0; i < 5; i++) {
		t = kb_now_ns();
		kb_burn(1000000);
		v[i] = 1e6 * 1000.0 / (double)(kb_now_ns() - t);
	}
	return (uint64_t)kb_median(v, 5);
}

/**
 * kb_bench_pool() - the tail-latency experiment; see the file comment
 *
 * Return: 0 or an exit status.
 */
int kb_bench_pool(void)
{
	static const double loads[] = { 0.1, 0.3, 0.5, 0.7, 0.9 };
	static const double long_fracs[] = { 0.005, 0.02 };
	const uint64_t short_us = 10;
	struct kb_pool_cfg cfgs[ARRAY_SIZE(kb_pool_cfgs)];
	unsigned int ncfg = 0, w, l, ci, k;
	uint64_t run_ns = kb_opt.quick ? 300 * NSEC_PER_MSEC :
			  2 * NSEC_PER_SEC;
	struct kb_point p;
	double over_us;
	FILE *csv;
	char var[64];

	kb_pool_raise();
	/*
	 * The server's worker is pinned to the first CPU; the client (and
	 * the server's other threads) go to the last one. Left to the
	 * scheduler, the client was woken on the worker's CPU (the loopback
	 * softirq that wakes it runs there) and shared it: 7,575 of its
	 * 7,596 runs at one point, adding milliseconds to the tail.
	 */
	CPU_ZERO(&kb_pool_cpus);
	if (!sched_getaffinity(0, sizeof(kb_pool_cpus), &kb_pool_cpus) &&
	    CPU_COUNT(&kb_pool_cpus) > 1) {
		cpu_set_t one;
		int c;

		for (c = CPU_SETSIZE - 1; !CPU_ISSET(c, &kb_pool_cpus); c--)
			;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		sched_setaffinity(0, sizeof(one), &one);
	}
	kb_short_iters = kb_calibrate() * short_us;
	for (ci = 0; ci < ARRAY_SIZE(kb_pool_cfgs); ci++)
		if (!(kb_pool_cfgs[ci].need & ~kb_opt.backends))
			cfgs[ncfg++] = kb_pool_cfgs[ci];
	for (ci = 0; ci < ncfg; ci++)
		if (!cfgs[ci].backend)
			cfgs[ci].backend = cfgs[0].backend;
	kb_section("6. pool: short-request latency with 1:1000 long requests (1 worker, %llu us short, quantum %llu us, open-loop Poisson over loopback TCP)",
		   (unsigned long long)short_us,
		   (unsigned long long)(KB_QUANTUM_NS / NSEC_PER_USEC));
	/*
	 * The server's own cost per request (I/O, a task launch, TCP) is not
	 * small next to a 10 us request: measure the capacity for shorts
	 * with a burst far above it, and count that cost into the service
	 * time, so that "load" is the real utilisation of the worker.
	 */
	/* a bounded burst: every queued request may park a task (a stack) */
	if (kb_pool_point(&cfgs[ncfg - 1], 0, 50000, run_ns / 10, &p) ||
	    p.achieved_rps <= 0) {
		kb_progress("pool: cannot measure the server's capacity");
		kb_pool_restore(0);
		return 1;
	}
	over_us = 1e6 / p.achieved_rps - short_us;
	if (over_us < 0)
		over_us = 0;
	kb_progress("pool: capacity %.0f short requests/s: %.1f us of server overhead per request",
		    p.achieved_rps, over_us);
	kb_result("pool", cfgs[ncfg - 1].name, "shorts-only", "capacity",
		  p.achieved_rps, "1/s");
	/*
	 * Let the kernel finish what the burst left before measuring: in
	 * the icount guest the burst's server (thousands of tasks, a stack
	 * each) left 50-125 ms of RCU callbacks, run by ksoftirqd in 3 ms
	 * softirqs that nothing preempts (the SCHED_FIFO client waited up to
	 * 3.4 ms to run), and while ksoftirqd is runnable the loopback's
	 * NET_RX waits for it too: the first point after the burst had a
	 * short p99 of 2-10 ms where the same point later had 0.4 ms
	 * (benchmarks.md, session 8). The client sleeps; the icount guest
	 * skips that idle time.
	 */
	sleep(1);
	kb_progress("pool: %llu burn iterations = %llu us; client and server at %s%s%s",
		    (unsigned long long)kb_short_iters,
		    (unsigned long long)short_us,
		    kb_pool_old.niced ? "nice -15" : "the default priority",
		    kb_pool_old.agset ? ", autogroup nice -15" : "",
		    kb_pool_old.fifo ? ", client SCHED_FIFO" : "");
	csv = kb_csv_open("pool.csv",
			  "long_frac,config,load,offered_rps,achieved_rps,short_p50_us,short_p99_us,short_p999_us,shorts,lost,switches,switches_no_syscall,preemptions,watchdog_stalls,idle_expiries");
	for (w = 0; w < ARRAY_SIZE(long_fracs); w++) {
		double mean_us = short_us * (1 - long_fracs[w]) +
				 1000.0 * short_us * long_fracs[w] + over_us;

		printf("\n  long fraction %.1f%% (mean service %.0f us with the overhead)\n"
		       "  %-18s %5s %9s %9s %9s %9s %9s %8s %8s\n",
		       100 * long_fracs[w], mean_us, "config", "load",
		       "offered/s", "done/s", "p50 us", "p99 us", "p99.9 us",
		       "no-sysc%", "idle-irq");
		/*
		 * Load by load, each configuration in turn, first one moving
		 * along: run config by config, a slow minute of a shared host
		 * fell on one configuration's points only (and the baseline
		 * always ran last, after the cooperative pool).
		 */
		for (l = 0; l < ARRAY_SIZE(loads); l++) {
			for (k = 0; k < ncfg; k++) {
				ci = (k + l) % ncfg;
				if (kb_pool_point(&cfgs[ci], long_fracs[w],
						  loads[l] * 1e6 / mean_us,
						  run_ns, &p)) {
					kb_progress("pool: %s at load %.1f failed",
						    cfgs[ci].name, loads[l]);
					continue;
				}
				if (p.lost)
					kb_progress("pool: %s at load %.1f: %lu requests unanswered, counted as answered at the end",
						    cfgs[ci].name, loads[l], p.lost);
				printf("  %-18s %5.1f %9.0f %9.0f %9.1f %9.1f %9.1f %8.1f %8llu\n",
				       cfgs[ci].name, loads[l], p.offered_rps,
				       p.achieved_rps, p.d.p50 / 1e3,
				       p.d.p99 / 1e3, p.d.p999 / 1e3,
				       p.switches ? 100.0 * p.no_syscall /
				       p.switches : 0, p.idle);
				if (csv)
					fprintf(csv, "%.3f,%s,%.2f,%.0f,%.0f,%.2f,%.2f,%.2f,%lu,%lu,%llu,%llu,%llu,%llu,%llu\n",
						long_fracs[w], cfgs[ci].name,
						loads[l], p.offered_rps,
						p.achieved_rps, p.d.p50 / 1e3,
						p.d.p99 / 1e3, p.d.p999 / 1e3,
						p.d.n, p.lost, p.switches,
						p.no_syscall, p.preemptions,
						p.stalls, p.idle);
				snprintf(var, sizeof(var), "long%.1f%%-load%.1f",
					 100 * long_fracs[w], loads[l]);
				kb_result("pool", cfgs[ci].name, var,
					  "short_p999", p.d.p999 / 1e3, "us");
			}
		}
	}
	if (csv)
		fclose(csv);
	kb_pool_restore(0);
	return 0;
}

#else /* !KB_HAVE_POOL */

int kb_bench_pool(void)
{
	kb_progress("pool: libkpf_pool not built (make ulib): skipped");
	return 0;
}

int kb_pool_server(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 2;
}

#endif
