// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkpf_pool: fairness under preemption, exact I/O through the workers'
 * io_urings under preemption, stealing, destroy with tasks in flight,
 * many queued and many parked tasks, the watchdog, and every bad input.
 *
 * KPF_POOL_TEST_SCALE=N divides the big counts (1,000 connections,
 * 100,000 queued, 10,000 parked) by N, for runs under valgrind; in the
 * guest on the debug kernel (KPF_KERNEL=debug) N defaults to 10.
 * KPF_POOL_TEST_VALGRIND=1 (make check-native's valgrind run) makes every
 * pool cooperative and skips the tests that are about preemption: valgrind
 * cannot follow a signal handler that switches stacks (it reports the
 * resume frame written below the task's stack pointer), but it can check
 * that the pool, its I/O and destroy leak nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>
#include <kpf_pool.h>
#include "kselftest_harness.h"
#include "clock.h"

static unsigned int scaled(unsigned int n)
{
	const char *s = getenv("KPF_POOL_TEST_SCALE");
	const char *k = getenv("KPF_KERNEL");
	unsigned int d = s ? (unsigned int)atoi(s) : 1;

	/* the debug kernel (KASAN, lockdep) in TCG: the full counts alone
	 * took longer than the guest's per-program limit */
	if (!s && k && !strcmp(k, "debug"))
		d = 10;

	return d > 1 ? (n / d ? n / d : 1) : n;
}

/* spin for @ns of wall time, preemptible */
static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/* spin, preemptible, until *@flag is set by another task (10 s at most) */
static void spin_until_set(const int *flag)
{
	uint64_t limit = now_ns() + 10000000000ull;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE) && now_ns() < limit)
		;
}

static int under_valgrind(void)
{
	const char *s = getenv("KPF_POOL_TEST_VALGRIND");

	return s && *s == '1';
}

static kpf_pool *make_pool_flags(unsigned int workers, uint64_t quantum,
				 unsigned int flags)
{
	struct kpf_pool_config cfg = {
		.size = sizeof(cfg),
		.workers = workers,
		.quantum_ns = quantum,
		.flags = flags,
	};
	kpf_pool *pool = NULL;
	int ret;

	if (under_valgrind())
		cfg.quantum_ns = KPF_FOREVER;
	ret = kpf_pool_create(&pool, &cfg);
	if (ret) {
		fprintf(stderr, "kpf_pool_create: %s\n", strerror(-ret));
		exit(1);
	}
	return pool;
}

static kpf_pool *make_pool(unsigned int workers, uint64_t quantum)
{
	return make_pool_flags(workers, quantum, 0);
}

FIXTURE(pool) {
	int unused;
};

FIXTURE_SETUP(pool)
{
	struct kpf_config cfg = { .size = sizeof(cfg), .stack_size = 65536 };
	struct rlimit rl;

	ASSERT_EQ(0, kpf_init(&cfg));
	/* 1,000 connections are 2,000 sockets */
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

FIXTURE_TEARDOWN(pool)
{
}

/* ---- bad input ---------------------------------------------------------- */

static void *return_arg(void *arg)
{
	return arg;
}

static int flag_go;

static void *wait_flag(void *arg)
{
	while (!__atomic_load_n(&flag_go, __ATOMIC_ACQUIRE))
		kpf_pause();
	return arg;
}

static void *destroy_inside(void *arg)
{
	return (void *)(intptr_t)kpf_pool_destroy(arg, KPF_POOL_DRAIN);
}

static void *read_bad_fd(void *arg)
{
	char c;

	return (void *)(intptr_t)kpf_read(-1, &c, 1);
}

TEST_F(pool, bad_input)
{
	struct kpf_pool_config cfg = { .size = sizeof(cfg) };
	unsigned char big[sizeof(cfg) + 8];
	struct kpf_pool_stats st = { .size = 0 };
	kpf_pool *pool = NULL;
	kpf_future *f = NULL;
	void *res = NULL;
	char c;

	ASSERT_EQ(-EINVAL, kpf_pool_create(NULL, NULL));
	cfg.flags = 0x80;
	ASSERT_EQ(-EINVAL, kpf_pool_create(&pool, &cfg));
	cfg.flags = 0;
	cfg.workers = KPF_POOL_MAX_WORKERS + 1;
	ASSERT_EQ(-EINVAL, kpf_pool_create(&pool, &cfg));
	cfg.workers = 1;
	cfg.size = 4;
	ASSERT_EQ(-EINVAL, kpf_pool_create(&pool, &cfg));
	/* a newer caller's unknown, non-zero fields */
	memset(big, 0, sizeof(big));
	cfg.size = sizeof(big);
	memcpy(big, &cfg, sizeof(cfg));
	big[sizeof(cfg) + 3] = 1;
	ASSERT_EQ(-E2BIG, kpf_pool_create(&pool, (void *)big));
	big[sizeof(cfg) + 3] = 0;
	ASSERT_EQ(0, kpf_pool_create(&pool, (void *)big));
	ASSERT_NE(NULL, pool);

	ASSERT_EQ(-EINVAL, kpf_pool_submit(NULL, return_arg, NULL, NULL));
	ASSERT_EQ(-EINVAL, kpf_pool_submit(pool, NULL, NULL, NULL));
	ASSERT_EQ(-EINVAL, kpf_pool_stats(NULL, &st));
	ASSERT_EQ(-EINVAL, kpf_pool_stats(pool, NULL));
	ASSERT_EQ(-EINVAL, kpf_pool_stats(pool, &st));	/* size 0 */
	ASSERT_EQ(-EINVAL, kpf_pool_destroy(NULL, KPF_POOL_DRAIN));
	ASSERT_EQ(-EINVAL, kpf_pool_destroy(pool, 7));
	ASSERT_EQ(-EINVAL, kpf_future_wait(NULL));
	ASSERT_EQ(-EINVAL, kpf_future_try(NULL));
	ASSERT_EQ(-EINVAL, kpf_future_result(NULL, &res));
	kpf_future_free(NULL);
	ASSERT_EQ(-1, kpf_pool_worker());

	/* a result that is not there yet */
	ASSERT_EQ(0, kpf_pool_submit(pool, wait_flag, (void *)7, &f));
	ASSERT_EQ(-EAGAIN, kpf_future_try(f));
	ASSERT_EQ(-EAGAIN, kpf_future_result(f, &res));
	ASSERT_EQ(-EINVAL, kpf_future_result(f, NULL));
	__atomic_store_n(&flag_go, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	ASSERT_EQ((void *)7, res);
	kpf_future_free(f);

	/* destroy from inside one of the pool's tasks */
	ASSERT_EQ(0, kpf_pool_submit(pool, destroy_inside, pool, &f));
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	ASSERT_EQ(-EDEADLK, (int)(intptr_t)res);
	kpf_future_free(f);

	/* I/O errors come back as -errno, inside and outside a task */
	ASSERT_EQ(-EBADF, kpf_read(-1, &c, 1));
	ASSERT_EQ(0, kpf_pool_submit(pool, read_bad_fd, NULL, &f));
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	ASSERT_EQ(-EBADF, (int)(intptr_t)res);
	kpf_future_free(f);

	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));

	/* the handle of a destroyed pool: an error, not a use-after-free */
	ASSERT_EQ(-ESHUTDOWN, kpf_pool_submit(pool, return_arg, NULL, &f));
	ASSERT_EQ(-EINVAL, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
	st.size = sizeof(st);
	ASSERT_EQ(-EINVAL, kpf_pool_stats(pool, &st));
}

/* a task that submits while the pool drains gets -ESHUTDOWN */
static kpf_pool *drain_pool;
static int drain_submit_ret = 1;

static void *submit_late(void *arg)
{
	while (!__atomic_load_n(&flag_go, __ATOMIC_ACQUIRE))
		kpf_sleep(1000000);
	drain_submit_ret = kpf_pool_submit(drain_pool, return_arg, NULL,
					   NULL);
	return NULL;
}

static void *set_flag_later(void *arg)
{
	kpf_sleep(50000000);
	__atomic_store_n(&flag_go, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F(pool, submit_during_destroy)
{
	drain_pool = make_pool(2, 0);
	ASSERT_EQ(0, kpf_pool_submit(drain_pool, submit_late, NULL, NULL));
	ASSERT_EQ(0, kpf_pool_submit(drain_pool, set_flag_later, NULL, NULL));
	ASSERT_EQ(0, kpf_pool_destroy(drain_pool, KPF_POOL_DRAIN));
	ASSERT_EQ(-ESHUTDOWN, drain_submit_ret);
}

/* ---- fairness ------------------------------------------------------------ */

#define NR_SHORT 100

static int shorts_done;
static int spinner_started;
static int spinner_finished;
static int spinner_finished_when_done;	/* seen by the 100th short */
static uint64_t preempted_when_done;	/* pool preemptions at the 100th */
static kpf_pool *fair_pool;

static void *spinner(void *arg)
{
	uint64_t limit = now_ns() + (uint64_t)(uintptr_t)arg;

	__atomic_store_n(&spinner_started, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&shorts_done, __ATOMIC_ACQUIRE) < NR_SHORT &&
	       now_ns() < limit)
		;
	__atomic_store_n(&spinner_finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *short_task(void *arg)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };
	volatile unsigned int x = 0;
	unsigned int i;

	for (i = 0; i < 1000; i++)
		x += i;
	/*
	 * Not stopped between the count and the look: preempted there, the
	 * 100th short let the spinner see 100 and finish first (once on the
	 * debug kernel), and then saw it finished.
	 */
	kpf_defer_begin();
	if (__atomic_add_fetch(&shorts_done, 1, __ATOMIC_ACQ_REL) ==
	    NR_SHORT) {
		kpf_pool_stats(fair_pool, &st);
		preempted_when_done = st.preemptions;
		spinner_finished_when_done =
			__atomic_load_n(&spinner_finished, __ATOMIC_ACQUIRE);
	}
	kpf_defer_end();
	return NULL;
}

static void run_fairness(struct __test_metadata *_metadata, uint64_t quantum,
			 uint64_t spin_limit_ns)
{
	kpf_future *spin_f;
	int i;

	shorts_done = 0;
	spinner_started = 0;
	spinner_finished = 0;
	spinner_finished_when_done = -1;
	preempted_when_done = UINT64_MAX;
	fair_pool = make_pool(1, quantum);
	ASSERT_EQ(0, kpf_pool_submit(fair_pool, spinner,
				     (void *)(uintptr_t)spin_limit_ns,
				     &spin_f));
	while (!__atomic_load_n(&spinner_started, __ATOMIC_ACQUIRE))
		usleep(100);
	for (i = 0; i < NR_SHORT; i++)
		ASSERT_EQ(0, kpf_pool_submit(fair_pool, short_task, NULL,
					     NULL));
	ASSERT_EQ(0, kpf_future_wait(spin_f));
	kpf_future_free(spin_f);
	ASSERT_EQ(0, kpf_pool_destroy(fair_pool, KPF_POOL_DRAIN));
	ASSERT_EQ(NR_SHORT, shorts_done);
}

/*
 * One worker, a task that spins until all 100 short tasks are done (at most
 * 20 s): a preempted spinner goes to the back of the queue, so the shorts
 * run after its first quantum, while it still spins. Counted in quanta,
 * not in time: when the last short finishes, the pool has preempted only
 * a few times (the spinner once; a short only if the host took its CPU for
 * a whole quantum - generous bound, the host is shared).
 */
TEST_F_TIMEOUT(pool, fairness_preemptive, 120)
{
	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	run_fairness(_metadata, 1000000, 20000000000ull);
	TH_LOG("pool preemptions when the 100th short task finished: %llu",
	       (unsigned long long)preempted_when_done);
	ASSERT_EQ(0, spinner_finished_when_done);
	ASSERT_LE(1ull, preempted_when_done);
	ASSERT_GE(30ull, preempted_when_done);
}

/*
 * The control: a cooperative pool runs the spinner to its end (200 ms
 * here) before any short task, so none of them finished earlier.
 */
TEST_F_TIMEOUT(pool, fairness_cooperative_starves, 120)
{
	run_fairness(_metadata, KPF_FOREVER, 200000000ull);
	/* the 100th finished only after the spinner gave up */
	ASSERT_EQ(1, spinner_finished_when_done);
	ASSERT_EQ(0ull, preempted_when_done);
}

/*
 * Run-queue order: a task whose I/O completed while another task ran its
 * quantum goes before that task's next quantum. A parked reader's pipe
 * becomes readable in the middle of a spinner's quantum (the spinner
 * writes it); when the reader runs, the pool must have preempted the
 * spinner once since the write, not twice. Counted in preemptions, not
 * time. (Before the fix the worker queued the preempted spinner first and
 * reaped the completion behind it: a short request that arrived during a
 * long one's quantum waited a whole extra quantum at each step, issue 10.)
 */
static kpf_pool *order_pool;
static int order_pipe[2];
static int order_reader_ran;
static uint64_t order_p0, order_p1;
static ssize_t order_read_ret;

static uint64_t order_preemptions(void)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };

	kpf_pool_stats(order_pool, &st);
	return st.preemptions;
}

static void *order_reader(void *arg)
{
	char c;

	(void)arg;
	order_read_ret = kpf_read(order_pipe[0], &c, 1);
	kpf_defer_begin();
	order_p1 = order_preemptions();
	kpf_defer_end();
	__atomic_store_n(&order_reader_ran, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *order_spinner(void *arg)
{
	(void)arg;
	/* the first preemption after the write is the one at defer_end */
	kpf_defer_begin();
	order_p0 = order_preemptions();
	if (write(order_pipe[1], "x", 1) != 1)
		order_p0 = UINT64_MAX;
	kpf_defer_end();
	spin_until_set(&order_reader_ran);
	return NULL;
}

/* One round of the scenario above: preemptions between write and reader. */
static uint64_t run_order(struct __test_metadata *_metadata,
			  unsigned int flags)
{
	kpf_future *rf, *sf;

	(void)flags;

	order_reader_ran = 0;
	order_read_ret = 0;
	EXPECT_EQ(0, pipe(order_pipe));
	/* a long quantum: a host hiccup must not preempt the reader too */
	order_pool = make_pool(1, 20000000ull);
	EXPECT_EQ(0, kpf_pool_submit(order_pool, order_reader, NULL, &rf));
	EXPECT_EQ(0, kpf_pool_submit(order_pool, order_spinner, NULL, &sf));
	EXPECT_EQ(0, kpf_future_wait(sf));
	EXPECT_EQ(0, kpf_future_wait(rf));
	kpf_future_free(rf);
	kpf_future_free(sf);
	EXPECT_EQ(0, kpf_pool_destroy(order_pool, KPF_POOL_DRAIN));
	close(order_pipe[0]);
	close(order_pipe[1]);
	EXPECT_EQ(1, order_read_ret);
	EXPECT_EQ(1, order_reader_ran);
	EXPECT_NE(UINT64_MAX, order_p0);
	TH_LOG("spinner preempted %llu times between the write and the reader",
	       (unsigned long long)(order_p1 - order_p0));
	return order_p1 - order_p0;
}

/*
 * The fewest preemptions that @run (a pool with @flags) counted in up to 3
 * rounds, stopping at the first round that counted at most 1: a host
 * hiccup adds preemptions to one round, a wrong order to every round.
 */
static uint64_t best_of_3(struct __test_metadata *_metadata,
			  uint64_t (*run)(struct __test_metadata *,
					  unsigned int),
			  unsigned int flags)
{
	uint64_t best = UINT64_MAX, got;
	int round;

	for (round = 0; round < 3 && best > 1; round++) {
		got = run(_metadata, flags);
		if (got < best)
			best = got;
	}
	return best;
}

/*
 * Before the fix every round gave 2. On the debug kernel one round in a
 * few gave 2 after it (a completion not yet posted when the 20 ms quantum
 * ended): up to 3 rounds, one of them must give 1.
 */
TEST_F_TIMEOUT(pool, completion_runs_before_preempted_task, 120)
{
	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	ASSERT_EQ(1ull, best_of_3(_metadata, run_order, 0));
}

/*
 * The LIFO slot: a job submitted by a running task runs when that task
 * stops, not behind the tasks queued meanwhile. One worker, a long
 * quantum, two spinners queued ahead of a parent task; the parent submits
 * a child and returns. Through the queue the child would wait for both
 * spinners' quanta (2 preemptions); from the slot it runs next (0, or 1 if
 * a host hiccup preempted the parent itself right after the submit).
 */
static kpf_pool *lifo_pool;
static int lifo_child_ran;
static uint64_t lifo_p0, lifo_p1;

static uint64_t lifo_preemptions(void)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };

	kpf_pool_stats(lifo_pool, &st);
	return st.preemptions;
}

static void *lifo_spinner(void *arg)
{
	(void)arg;
	spin_until_set(&lifo_child_ran);
	return NULL;
}

static void *lifo_child(void *arg)
{
	(void)arg;
	kpf_defer_begin();
	lifo_p1 = lifo_preemptions();
	kpf_defer_end();
	__atomic_store_n(&lifo_child_ran, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *lifo_parent(void *arg)
{
	void *ret = NULL;

	(void)arg;
	kpf_defer_begin();
	lifo_p0 = lifo_preemptions();
	if (kpf_pool_submit(lifo_pool, lifo_child, NULL, NULL))
		ret = (void *)1;
	kpf_defer_end();
	return ret;
}

static uint64_t run_lifo(struct __test_metadata *_metadata,
			 unsigned int flags)
{
	kpf_future *f[3];
	void *res;
	int i;

	lifo_child_ran = 0;
	lifo_pool = make_pool_flags(1, 20000000ull, flags);
	EXPECT_EQ(0, kpf_pool_submit(lifo_pool, lifo_spinner, NULL, &f[0]));
	EXPECT_EQ(0, kpf_pool_submit(lifo_pool, lifo_spinner, NULL, &f[1]));
	EXPECT_EQ(0, kpf_pool_submit(lifo_pool, lifo_parent, NULL, &f[2]));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, kpf_future_wait(f[i]));
		EXPECT_EQ(0, kpf_future_result(f[i], &res));
		EXPECT_EQ(NULL, res);
		kpf_future_free(f[i]);
	}
	EXPECT_EQ(0, kpf_pool_destroy(lifo_pool, KPF_POOL_DRAIN));
	EXPECT_EQ(1, lifo_child_ran);
	TH_LOG("%s: the spinners were preempted %llu times between the submit and the child's start",
	       flags & KPF_POOL_NO_LIFO ? "KPF_POOL_NO_LIFO" : "LIFO slot",
	       (unsigned long long)(lifo_p1 - lifo_p0));
	return lifo_p1 - lifo_p0;
}

TEST_F_TIMEOUT(pool, submitted_job_runs_when_submitter_stops, 120)
{
	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	/* a host hiccup may preempt the parent too */
	ASSERT_GE(1ull, best_of_3(_metadata, run_lifo, 0));
	/* the control: through the queue, behind both spinners */
	ASSERT_LE(2ull, run_lifo(_metadata, KPF_POOL_NO_LIFO));
}

/*
 * The slot's streak limit: a chain of tasks that each submit the next
 * would otherwise run ahead of the queue for ever. With a spinner queued,
 * it gets a quantum at least every KPF_POOL_LIFO_MAX_STREAK (3) links.
 */
#define CHAIN_LINKS	16
#define LIFO_STREAK	3	/* KPF_POOL_LIFO_MAX_STREAK */

static int chain_done;
static uint64_t chain_first, chain_last;

static void *chain_link(void *arg)
{
	uintptr_t left = (uintptr_t)arg;
	uint64_t p;

	kpf_defer_begin();
	p = lifo_preemptions();
	if (left == CHAIN_LINKS)
		chain_first = p;
	if (left == 1)
		chain_last = p;
	else if (kpf_pool_submit(lifo_pool, chain_link, (void *)(left - 1),
				 NULL))
		chain_last = UINT64_MAX;
	kpf_defer_end();
	if (left == 1)
		__atomic_store_n(&chain_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *chain_spinner(void *arg)
{
	(void)arg;
	spin_until_set(&chain_done);
	return NULL;
}

TEST_F_TIMEOUT(pool, lifo_chain_cannot_starve_queue, 60)
{
	kpf_future *sf, *cf;

	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	chain_done = 0;
	lifo_pool = make_pool(1, 5000000ull);
	ASSERT_EQ(0, kpf_pool_submit(lifo_pool, chain_spinner, NULL, &sf));
	ASSERT_EQ(0, kpf_pool_submit(lifo_pool, chain_link,
				     (void *)(uintptr_t)CHAIN_LINKS, &cf));
	ASSERT_EQ(0, kpf_future_wait(cf));
	ASSERT_EQ(0, kpf_future_wait(sf));
	kpf_future_free(sf);
	kpf_future_free(cf);
	ASSERT_EQ(0, kpf_pool_destroy(lifo_pool, KPF_POOL_DRAIN));
	ASSERT_EQ(1, chain_done);
	ASSERT_NE(UINT64_MAX, chain_last);
	TH_LOG("the spinner was preempted %llu times during a chain of %d links",
	       (unsigned long long)(chain_last - chain_first), CHAIN_LINKS);
	/*
	 * Links 15..1 come from the slot, 3 in a row, then the spinner has
	 * a quantum: 4 times before link 1 starts (0 without the limit).
	 */
	ASSERT_LE((uint64_t)(CHAIN_LINKS - 1) / LIFO_STREAK - 1,
		  chain_last - chain_first);
}

/*
 * The streak counts jobs taken from the slot in a row: a worker that went
 * idle and then stole a task has broken the row, so the first job that
 * task submits runs next. Two cooperative workers: one (ws) spins in a
 * task until released, so the other (wc) runs everything else and takes
 * every job submitted to ws by stealing it. On wc a chain takes 4 jobs
 * from the slot in a row; then wc goes idle and steals a task from ws,
 * which submits X and then C (X moves to wc's queue, C is in the slot).
 * C must run before X. (Before the fix the streak of the old chain was
 * still counted, so X ran first: a request handed to a task of its own
 * waited behind the queue, as without the slot, whenever the connection
 * task had been stolen.)
 */
#define ROW_LINKS	(LIFO_STREAK + 2)

static int row_release, row_spinner_worker = -1, row_chain_left;
static int row_worker[ROW_LINKS + 4];	/* links, stolen task, X, C */
static int row_order[2], row_ran;

static void *row_spinner(void *arg)
{
	/* released by the test; the limit only ends a failed run */
	uint64_t limit = now_ns() + 60000000000ull;

	(void)arg;
	__atomic_store_n(&row_spinner_worker, kpf_pool_worker(),
			 __ATOMIC_RELEASE);
	while (!__atomic_load_n(&row_release, __ATOMIC_ACQUIRE) &&
	       now_ns() < limit)
		;
	return NULL;
}

static void *row_link(void *arg)
{
	uintptr_t left = (uintptr_t)arg;

	row_worker[ROW_LINKS - left] = kpf_pool_worker();
	if (left > 1 && kpf_pool_submit(lifo_pool, row_link,
					(void *)(left - 1), NULL))
		return (void *)1;
	__atomic_store_n(&row_chain_left, left - 1, __ATOMIC_RELEASE);
	return NULL;
}

/* arg: 0 for X, 1 for C */
static void *row_job(void *arg)
{
	int i = (int)(uintptr_t)arg;

	row_worker[ROW_LINKS + 1 + i] = kpf_pool_worker();
	row_order[__atomic_fetch_add(&row_ran, 1, __ATOMIC_RELAXED)] = i;
	return NULL;
}

static void *row_stolen(void *arg)
{
	(void)arg;
	row_worker[ROW_LINKS] = kpf_pool_worker();
	if (kpf_pool_submit(lifo_pool, row_job, (void *)0, NULL) ||
	    kpf_pool_submit(lifo_pool, row_job, (void *)1, NULL))
		return (void *)1;
	return NULL;
}

TEST_F_TIMEOUT(pool, lifo_streak_ends_with_the_row, 120)
{
	kpf_future *sf, *cf, *tf;
	unsigned int submits = 1;
	int ws, wc, i;
	void *res;

	row_release = 0;
	row_spinner_worker = -1;
	row_chain_left = ROW_LINKS;
	row_ran = 0;
	memset(row_worker, 0xff, sizeof(row_worker));
	lifo_pool = make_pool_flags(2, KPF_FOREVER, KPF_POOL_NO_PIN);
	/* outside submits go round robin, the first to worker 0 */
	ASSERT_EQ(0, kpf_pool_submit(lifo_pool, row_spinner, NULL, &sf));
	while ((ws = __atomic_load_n(&row_spinner_worker,
				     __ATOMIC_ACQUIRE)) < 0)
		usleep(100);
	ASSERT_TRUE(ws == 0 || ws == 1);
	wc = 1 - ws;
	/* the chain's first link to wc's queue: wc pops it itself */
	if (submits % 2 != (unsigned int)wc) {
		ASSERT_EQ(0, kpf_pool_submit(lifo_pool, row_job, (void *)2,
					     NULL));
		submits++;
		while (__atomic_load_n(&row_ran, __ATOMIC_ACQUIRE) < 1)
			usleep(100);
		row_ran = 0;
	}
	ASSERT_EQ(0, kpf_pool_submit(lifo_pool, row_link,
				     (void *)(uintptr_t)ROW_LINKS, &cf));
	ASSERT_EQ(0, kpf_future_wait(cf));
	while (__atomic_load_n(&row_chain_left, __ATOMIC_ACQUIRE))
		usleep(100);
	/* to the spinning worker's queue: wc steals it */
	ASSERT_EQ(0, kpf_pool_submit(lifo_pool, row_stolen, NULL, &tf));
	ASSERT_EQ(0, kpf_future_wait(tf));
	ASSERT_EQ(0, kpf_future_result(tf, &res));
	ASSERT_EQ(NULL, res);
	while (__atomic_load_n(&row_ran, __ATOMIC_ACQUIRE) < 2)
		usleep(100);
	__atomic_store_n(&row_release, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, kpf_future_wait(sf));
	kpf_future_free(sf);
	kpf_future_free(cf);
	kpf_future_free(tf);
	ASSERT_EQ(0, kpf_pool_destroy(lifo_pool, KPF_POOL_DRAIN));
	for (i = 0; i < ROW_LINKS + 3; i++)
		ASSERT_EQ(wc, row_worker[i]);
	TH_LOG("after a stolen task: %s ran first",
	       row_order[0] ? "the slot's job" : "the queue's job");
	ASSERT_EQ(1, row_order[0]);
	ASSERT_EQ(0, row_order[1]);
}

/*
 * A task nested in a pool task submits a job and waits for it: the wait
 * cannot yield to the worker (kpf_pause() returns to the nested launcher),
 * so it blocks the worker thread in the futex, and only another worker
 * can run the job. Two workers, the other one idle: it must be woken to
 * steal the job. (Before the fix a submitter on its own worker woke no
 * thief for a single job - right for the pool task itself, which stops
 * within a quantum, but the nested waiter then slept for ever; the test
 * unsticks it with a submit from outside after 30 s.)
 */
static kpf_pool *nest_pool;
static int nest_wait_ret = 1;

static void *nest_child(void *arg)
{
	return arg;
}

static void nest_inner(void *arg)
{
	kpf_future *f;
	void *res = NULL;

	(void)arg;
	if (kpf_pool_submit(nest_pool, nest_child, (void *)7, &f))
		return;
	nest_wait_ret = kpf_future_wait(f);
	if (!nest_wait_ret && (kpf_future_result(f, &res) || res != (void *)7))
		nest_wait_ret = 2;
	kpf_future_free(f);
}

static void *nest_outer(void *arg)
{
	kpf_task *t;
	int ret;

	(void)arg;
	/*
	 * The pool task's quantum also stops the nested task (slow guests),
	 * and the pool task may be resumed on the other worker.
	 */
	ret = kpf_launch_flags(&t, nest_inner, NULL, KPF_FOREVER,
			       KPF_LAUNCH_MIGRATE);
	while (ret == KPF_PREEMPTED)
		ret = kpf_resume(t, KPF_FOREVER);
	return (void *)(intptr_t)ret;
}

TEST_F_TIMEOUT(pool, nested_waiter_wakes_a_thief, 120)
{
	/* microseconds of work: 30 s is stuck even on the debug kernel */
	uint64_t limit = now_ns() + 30000000000ull;
	kpf_future *f;
	void *res;
	int stuck;

	nest_wait_ret = 1;
	nest_pool = make_pool_flags(2, 0, KPF_POOL_NO_PIN);
	ASSERT_EQ(0, kpf_pool_submit(nest_pool, nest_outer, NULL, &f));
	while (kpf_future_try(f) == -EAGAIN && now_ns() < limit)
		usleep(1000);
	stuck = kpf_future_try(f) == -EAGAIN;
	if (stuck)	/* an outside submit wakes the idle worker */
		ASSERT_EQ(0, kpf_pool_submit(nest_pool, return_arg, NULL,
					     NULL));
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	kpf_future_free(f);
	ASSERT_EQ(0, kpf_pool_destroy(nest_pool, KPF_POOL_DRAIN));
	ASSERT_EQ(0, stuck);
	ASSERT_EQ((void *)(intptr_t)KPF_DONE, res);
	ASSERT_EQ(0, nest_wait_ret);
}

/*
 * In a cooperative pool a task runs until it returns, so what it submits
 * to its own worker must be stolen by an idle one: two workers, a task
 * submits a job and then computes until that job has run (at most 30 s).
 * (Before the fix the submit woke no one for a single job, as for a
 * preemptive pool's task, which stops within a quantum: the idle worker
 * slept and the job waited for the 30 s.)
 */
static int coop_child_ran;

static void *coop_child(void *arg)
{
	__atomic_store_n(&coop_child_ran, 1, __ATOMIC_RELEASE);
	return arg;
}

static void *coop_parent(void *arg)
{
	uint64_t limit = now_ns() + 30000000000ull;
	kpf_pool *pool = arg;

	if (kpf_pool_submit(pool, coop_child, NULL, NULL))
		return (void *)2;
	while (!__atomic_load_n(&coop_child_ran, __ATOMIC_ACQUIRE) &&
	       now_ns() < limit)
		;
	return (void *)(uintptr_t)!coop_child_ran;
}

TEST_F_TIMEOUT(pool, cooperative_submit_wakes_a_thief, 120)
{
	kpf_pool *pool;
	kpf_future *f;
	void *res;
	int i;

	for (i = 0; i < 2; i++) {
		unsigned int flags = KPF_POOL_NO_PIN | (i ? KPF_POOL_NO_LIFO : 0);

		coop_child_ran = 0;
		pool = make_pool_flags(2, KPF_FOREVER, flags);
		/* let both workers go to sleep (the bug needs a sleeper) */
		usleep(100000);
		ASSERT_EQ(0, kpf_pool_submit(pool, coop_parent, pool, &f));
		ASSERT_EQ(0, kpf_future_wait(f));
		ASSERT_EQ(0, kpf_future_result(f, &res));
		kpf_future_free(f);
		ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
		TH_LOG("%s: the job ran %s its submitter returned",
		       i ? "KPF_POOL_NO_LIFO" : "LIFO slot",
		       res ? "after" : "before");
		ASSERT_EQ(NULL, res);
	}
}

/* ---- exact I/O under preemption: an echo server ------------------------- */

#define ECHO_BYTES	16384
#define ECHO_CHUNK	1024
#define ECHO_QUANTUM	200000ull

static kpf_pool *echo_pool;
static int echo_listen_fd;
static struct sockaddr_in echo_addr;
static int echo_ok, echo_bad, echo_errors;

static uint32_t fnv1a(uint32_t h, const unsigned char *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void *echo_handler(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[ECHO_CHUNK];
	int first = 1;
	ssize_t n, off, m;

	for (;;) {
		n = kpf_recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		/* more than a quantum of work: preempted with data in hand */
		if (first && !under_valgrind())
			spin_ns(2 * ECHO_QUANTUM);
		first = 0;
		for (off = 0; off < n; off += m) {
			m = kpf_send(fd, buf + off, n - off, MSG_NOSIGNAL);
			if (m <= 0)
				goto out;
		}
	}
out:
	if (n < 0)
		__atomic_add_fetch(&echo_errors, 1, __ATOMIC_RELAXED);
	close(fd);
	return NULL;
}

static void *echo_acceptor(void *arg)
{
	unsigned int i, n = (unsigned int)(uintptr_t)arg;
	int fd;

	for (i = 0; i < n; i++) {
		fd = kpf_accept(echo_listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			__atomic_add_fetch(&echo_errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (kpf_pool_submit(echo_pool, echo_handler,
				    (void *)(intptr_t)fd, NULL))
			close(fd);
	}
	return NULL;
}

static void *echo_client(void *arg)
{
	unsigned int id = (unsigned int)(uintptr_t)arg;
	unsigned char out[ECHO_CHUNK], in[ECHO_CHUNK];
	uint32_t sent_h = 2166136261u, got_h = 2166136261u;
	size_t sent = 0, got = 0;
	unsigned int seed = id * 2654435761u + 1;
	ssize_t n;
	size_t i;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || kpf_connect(fd, (struct sockaddr *)&echo_addr,
				  sizeof(echo_addr)))
		goto fail;
	while (sent < ECHO_BYTES) {
		for (i = 0; i < sizeof(out); i++) {
			seed = seed * 1103515245u + 12345u;
			out[i] = seed >> 16;
		}
		sent_h = fnv1a(sent_h, out, sizeof(out));
		for (i = 0; i < sizeof(out); i += n) {
			n = kpf_send(fd, out + i, sizeof(out) - i,
				     MSG_NOSIGNAL);
			if (n <= 0)
				goto fail;
		}
		sent += sizeof(out);
		/* read back what is there, so neither side's buffer fills */
		while (got + 2 * ECHO_CHUNK < sent) {
			n = kpf_recv(fd, in, sizeof(in), 0);
			if (n <= 0)
				goto fail;
			got_h = fnv1a(got_h, in, n);
			got += n;
		}
	}
	shutdown(fd, SHUT_WR);
	while ((n = kpf_recv(fd, in, sizeof(in), 0)) > 0) {
		got_h = fnv1a(got_h, in, n);
		got += n;
	}
	if (n < 0)
		goto fail;
	close(fd);
	if (got == sent && got_h == sent_h)
		__atomic_add_fetch(&echo_ok, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&echo_bad, 1, __ATOMIC_RELAXED);
	return NULL;
fail:
	if (fd >= 0)
		close(fd);
	__atomic_add_fetch(&echo_errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * 1,000 clients and their 1,000 handlers are all tasks of one 2-worker
 * pool with a 200 us quantum; each handler computes for two quanta on its
 * first chunk, so it is preempted with I/O state in hand. Every byte must
 * come back in order (FNV-1a over each direction).
 */
TEST_F_TIMEOUT(pool, echo_1000_connections, 300)
{
	unsigned int i, n = scaled(1000);
	struct kpf_pool_stats st = { .size = sizeof(st) };
	socklen_t len = sizeof(echo_addr);
	kpf_future **f = calloc(n + 1, sizeof(*f));

	echo_ok = 0;
	echo_bad = 0;
	echo_errors = 0;
	echo_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, echo_listen_fd);
	memset(&echo_addr, 0, sizeof(echo_addr));
	echo_addr.sin_family = AF_INET;
	echo_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(echo_listen_fd, (struct sockaddr *)&echo_addr,
			  sizeof(echo_addr)));
	ASSERT_EQ(0, getsockname(echo_listen_fd,
				 (struct sockaddr *)&echo_addr, &len));
	ASSERT_EQ(0, listen(echo_listen_fd, 4096));

	echo_pool = make_pool(2, ECHO_QUANTUM);
	ASSERT_NE(NULL, f);
	ASSERT_EQ(0, kpf_pool_submit(echo_pool, echo_acceptor,
				     (void *)(uintptr_t)n, &f[n]));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, kpf_pool_submit(echo_pool, echo_client,
					     (void *)(uintptr_t)i, &f[i]));
	for (i = 0; i <= n; i++) {
		ASSERT_EQ(0, kpf_future_wait(f[i]));
		kpf_future_free(f[i]);
	}
	free(f);
	ASSERT_EQ(0, kpf_pool_stats(echo_pool, &st));
	ASSERT_EQ(0, kpf_pool_destroy(echo_pool, KPF_POOL_DRAIN));
	close(echo_listen_fd);
	TH_LOG("%u connections: %d exact, %d corrupted, %d errors; %llu preemptions, %llu requests, %llu steals",
	       n, echo_ok, echo_bad, echo_errors,
	       (unsigned long long)st.preemptions,
	       (unsigned long long)st.io_submitted,
	       (unsigned long long)st.steals);
	ASSERT_EQ(0, echo_errors);
	ASSERT_EQ(0, echo_bad);
	ASSERT_EQ((int)n, echo_ok);
	/* the handlers' two-quantum burst was preempted, so it was tested */
	if (!under_valgrind())
		ASSERT_LE(1ull, st.preemptions);
}

/* ---- stealing --------------------------------------------------------- */

#define NR_SKEWED 200

static kpf_pool *steal_pool;
static int ran_on[2];

static int spawner_worker;

/*
 * 1 ms of work in a 5 ms quantum, and then - on the overloaded worker -
 * more until the other worker has run a tenth of them (10 s at most):
 * how soon a shared host gives the idle worker a CPU is not the pool's to
 * decide, so the test waits for it instead of assuming it.
 *
 * A thief that comes late (the debug guest on a loaded host: after the
 * overloaded worker had started all of them) steals a task already
 * waiting here; moved to the thief, it counts as run there and stops
 * waiting. Otherwise the thief would run that one task for the whole
 * 10 s - its own queue never empty, it never steals again - and the test
 * saw "1 steal" where the pool had balanced all it could.
 */
static void *skewed_task(void *arg)
{
	int w = kpf_pool_worker(), now;
	uint64_t give_up = now_ns() + 10000000000ull;

	if (w >= 0 && w < 2)
		__atomic_add_fetch(&ran_on[w], 1, __ATOMIC_RELAXED);
	spin_ns(1000000);
	while (w == spawner_worker && now_ns() < give_up &&
	       __atomic_load_n(&ran_on[1 - w], __ATOMIC_RELAXED) <
	       NR_SKEWED / 10) {
		spin_ns(100000);
		now = kpf_pool_worker();
		if (now == 1 - w) {
			__atomic_add_fetch(&ran_on[now], 1, __ATOMIC_RELAXED);
			break;
		}
	}
	return NULL;
}

/* submits every task from inside, so they all land on one worker */
static void *spawner(void *arg)
{
	int i;

	spawner_worker = kpf_pool_worker();
	for (i = 0; i < NR_SKEWED; i++)
		if (kpf_pool_submit(steal_pool, skewed_task, NULL, NULL))
			return (void *)1;
	return NULL;
}

TEST_F_TIMEOUT(pool, stealing_balances_skewed_load, 120)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };
	kpf_future *f;
	void *res;

	/* a cooperative pool (valgrind runs) cannot rotate the waiting tasks */
	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	ran_on[0] = 0;
	ran_on[1] = 0;
	spawner_worker = -1;
	/*
	 * Not pinned: on a shared host a pinned worker can lose its CPU to
	 * other processes for the whole run, and no pool can balance that.
	 */
	steal_pool = make_pool_flags(2, 5000000, KPF_POOL_NO_PIN);
	ASSERT_EQ(0, kpf_pool_submit(steal_pool, spawner, NULL, &f));
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	ASSERT_EQ(NULL, res);
	kpf_future_free(f);
	while (__atomic_load_n(&ran_on[0], __ATOMIC_RELAXED) +
	       __atomic_load_n(&ran_on[1], __ATOMIC_RELAXED) < NR_SKEWED)
		usleep(1000);
	ASSERT_EQ(0, kpf_pool_stats(steal_pool, &st));
	ASSERT_EQ(0, kpf_pool_destroy(steal_pool, KPF_POOL_DRAIN));
	TH_LOG("worker 0 ran %d, worker 1 ran %d (started there, or moved there waiting), %llu steals; all were submitted to worker %d",
	       ran_on[0], ran_on[1], (unsigned long long)st.steals,
	       spawner_worker);
	/*
	 * Without stealing the other worker would start none of them. With
	 * it, it starts a real share (generous: 10%; how much depends on how
	 * much CPU the host gives each thread, so no more is asserted).
	 */
	ASSERT_TRUE(spawner_worker == 0 || spawner_worker == 1);
	ASSERT_LE((uint64_t)NR_SKEWED / 10, st.steals);
	ASSERT_LE(NR_SKEWED / 10, ran_on[1 - spawner_worker]);
}

/* ---- destroy with tasks in flight --------------------------------------- */

static int cleanups_run, spinners_started, sleepers_started;

/* arg: the task's own flag, set once by its handler */
static void count_cleanup(void *arg)
{
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&cleanups_run, 1, __ATOMIC_RELAXED);
}

/*
 * Register the handler and count the start with no preemption between
 * them: a task stopped in between and then cancelled ran its handler
 * without being counted (seen once on the debug kernel: 12 started, 13
 * handlers).
 */
static int kpf_start_counted(void *arg, int *started)
{
	int ok;

	kpf_defer_begin();
	ok = !kpf_on_cancel(count_cleanup, arg);
	if (ok)
		__atomic_add_fetch(started, 1, __ATOMIC_RELAXED);
	kpf_defer_end();
	return ok;
}

static void *cancel_spinner(void *arg)
{
	uint64_t end;

	if (!kpf_start_counted(arg, &spinners_started))
		return arg;
	end = now_ns() + 30000000000ull;
	while (now_ns() < end)
		if (under_valgrind())
			kpf_pause();	/* cooperative: stop by yielding */
	return arg;	/* not reached before the cancel */
}

static void *cancel_sleeper(void *arg)
{
	if (!kpf_start_counted(arg, &sleepers_started))
		return arg;
	kpf_sleep(30000000000ull);
	return arg;
}

/*
 * Spinners (preempted), sleepers (parked on the ring) and tasks never
 * started, then KPF_POOL_CANCEL: every future resolves, the handlers of
 * every started task run, nothing leaks (valgrind in make check-native),
 * and the 30 s sleeps do not hold up the destroy.
 */
TEST_F_TIMEOUT(pool, destroy_cancels_in_flight, 120)
{
	enum { N = 20, Q = 200 };
	kpf_future *f[2 * N + Q];
	int cleaned[2 * N] = { 0 };
	kpf_pool *pool = make_pool(2, 0);
	unsigned int i, done = 0, cancelled = 0;
	struct kpf_pool_stats st = { .size = sizeof(st) };
	uint64_t t0;

	cleanups_run = 0;
	spinners_started = 0;
	sleepers_started = 0;
	for (i = 0; i < N; i++) {
		ASSERT_EQ(0, kpf_pool_submit(pool, cancel_sleeper,
					     &cleaned[i], &f[i]));
		ASSERT_EQ(0, kpf_pool_submit(pool, cancel_spinner,
					     &cleaned[N + i], &f[N + i]));
	}
	for (i = 0; i < Q; i++)
		ASSERT_EQ(0, kpf_pool_submit(pool, return_arg, NULL,
					     &f[2 * N + i]));
	while (__atomic_load_n(&spinners_started, __ATOMIC_RELAXED) < 2 ||
	       __atomic_load_n(&sleepers_started, __ATOMIC_RELAXED) < 2)
		usleep(1000);
	ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	t0 = now_ns();
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_CANCEL));
	TH_LOG("destroy took %llu us; %d spinners and %d sleepers started",
	       (unsigned long long)(now_ns() - t0) / 1000, spinners_started,
	       sleepers_started);
	ASSERT_GT(30000000000ull, now_ns() - t0);
	for (i = 0; i < 2 * N + Q; i++) {
		int r = kpf_future_wait(f[i]);

		if (r == 0)
			done++;
		else if (r == -ECANCELED)
			cancelled++;
		kpf_future_free(f[i]);
	}
	ASSERT_EQ(2u * N + Q, done + cancelled);
	/* spinners and sleepers never return: all of them were cancelled */
	ASSERT_LE(2u * N, cancelled);
	ASSERT_EQ(spinners_started + sleepers_started, cleanups_run);
	/* each handler ran once at most */
	for (i = 0; i < 2 * N; i++)
		ASSERT_GE(1, cleaned[i]);
}

/* ---- many queued, many parked -------------------------------------------- */

static int counter;

static void *count_task(void *arg)
{
	__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	return NULL;
}

TEST_F_TIMEOUT(pool, queued_100000, 300)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };
	unsigned int i, n = scaled(100000);
	uint64_t t0, t1;
	kpf_pool *pool;

	/* drained: every one runs */
	counter = 0;
	pool = make_pool(1, 0);
	t0 = now_ns();
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, kpf_pool_submit(pool, count_task, NULL, NULL));
	t1 = now_ns();
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
	/* information for Documentation/pool.md, not asserted */
	TH_LOG("%u empty tasks: submit %llu ns each, submit to done %llu ns each",
	       n, (unsigned long long)(t1 - t0) / n,
	       (unsigned long long)(now_ns() - t0) / n);
	ASSERT_EQ((int)n, counter);

	/* cancelled: each one either ran or was dropped, none twice */
	counter = 0;
	pool = make_pool(2, 0);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, kpf_pool_submit(pool, count_task, NULL, NULL));
	ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_CANCEL));
	TH_LOG("%u queued, %d ran before the cancel", n, counter);
	ASSERT_GE((int)n, counter);
}

static void *park_task(void *arg)
{
	if (kpf_sleep(50000000) == 0)
		__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	return NULL;
}

TEST_F_TIMEOUT(pool, parked_10000, 300)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };
	unsigned int i, n = scaled(10000);
	kpf_future *last;
	kpf_pool *pool;

	counter = 0;
	pool = make_pool(2, 0);
	for (i = 0; i + 1 < n; i++)
		ASSERT_EQ(0, kpf_pool_submit(pool, park_task, NULL, NULL));
	ASSERT_EQ(0, kpf_pool_submit(pool, park_task, NULL, &last));
	ASSERT_EQ(0, kpf_future_wait(last));
	kpf_future_free(last);
	/* a task counts before it returns: wait for the pool's count */
	do {
		usleep(1000);
		ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	} while (st.completed < n);
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
	TH_LOG("%u parked: %llu requests, %llu completed", n,
	       (unsigned long long)st.io_submitted,
	       (unsigned long long)st.completed);
	ASSERT_EQ((int)n, counter);
	ASSERT_LE(n, st.io_submitted);
	ASSERT_EQ(n, st.completed);
}

/* ---- the watchdog ------------------------------------------------------- */

#define STUCK_WAIT_NS	30000000000ull	/* give up on the watchdog */
#define WD_PERIOD_NS	20000000ull	/* max(20 quanta, 20 ms), 1 ms quanta */

struct stuck {
	kpf_pool *pool;
	uint64_t at_start;	/* stalls when the deferred section began:
				 * 0, or 1 if the host already held this
				 * run up before it got there */
	uint64_t first;		/* once the watchdog saw this run stuck */
	uint64_t at_end;	/* 15 watchdog periods later, still inside */
	uint64_t waited_ns;	/* until the first count */
};

static uint64_t pool_stalls(kpf_pool *pool)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };

	return kpf_pool_stats(pool, &st) ? ~0ull : st.watchdog_stalls;
}

/*
 * What a raw blocking call looks like to the pool: no preemption. The
 * task watches the counter from inside its deferred section: it waits
 * until the watchdog counted this run (however slow the host), then stays
 * stuck 15 more watchdog periods, in which the count must not move: one
 * run, one stall. (It used to assert one stall in all after the task:
 * the debug kernel once kept the worker off the CPU for a whole watchdog
 * period in the task's short second run after kpf_defer_end(), which is
 * a second stall by the counter's definition.)
 */
static void *stuck_task(void *arg)
{
	struct stuck *s = arg;
	uint64_t t0, end;

	kpf_defer_begin();
	s->at_start = pool_stalls(s->pool);
	t0 = now_ns();
	end = t0 + STUCK_WAIT_NS;
	/* nothing ran on this fresh pool before: only this run counts */
	while ((s->first = pool_stalls(s->pool)) == 0 && now_ns() < end)
		;
	s->waited_ns = now_ns() - t0;
	spin_ns(15 * WD_PERIOD_NS);
	s->at_end = pool_stalls(s->pool);
	kpf_defer_end();
	return NULL;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Spins until it has had 300 ms of CPU (wall time would not do: a loaded
 * host gave the worker so little of 300 ms wall that it was preempted 5
 * times at a 1 ms quantum), for at most 20 s; returns how often it was
 * off the CPU for over 10 ms.
 */
static void *busy_task(void *arg)
{
	uint64_t t, prev = now_ns(), end = prev + 20000000000ull;
	uint64_t cpu_end = thread_cpu_ns() + 300000000;
	uintptr_t gaps = 0;

	while ((t = now_ns()) < end && thread_cpu_ns() < cpu_end) {
		if (t - prev > 10000000)
			gaps++;
		prev = t;
	}
	return (void *)gaps;
}

TEST_F_TIMEOUT(pool, watchdog_counts_stuck_worker, 60)
{
	struct kpf_pool_stats st = { .size = sizeof(st) };
	struct stuck stuck = { 0 };
	uint64_t before;
	kpf_pool *pool;
	kpf_future *f;
	void *res;

	if (under_valgrind())
		SKIP(return, "preemption: not under valgrind");
	pool = make_pool(1, 1000000);
	stuck.pool = pool;

	ASSERT_EQ(0, kpf_pool_submit(pool, stuck_task, &stuck, &f));
	ASSERT_EQ(0, kpf_future_wait(f));
	kpf_future_free(f);
	ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	TH_LOG("stuck: %llu stalls at the start, %llu after %llu ms, %llu 300 ms later; %llu after the task",
	       (unsigned long long)stuck.at_start,
	       (unsigned long long)stuck.first,
	       (unsigned long long)stuck.waited_ns / 1000000,
	       (unsigned long long)stuck.at_end,
	       (unsigned long long)st.watchdog_stalls);
	ASSERT_GE(1ull, stuck.at_start);
	ASSERT_EQ(1ull, stuck.first);
	ASSERT_EQ(1ull, stuck.at_end);
	/* more only if the host kept the worker away in a later run */
	ASSERT_LE(1ull, st.watchdog_stalls);
	before = st.watchdog_stalls;

	/*
	 * The same time spent preemptible: the worker keeps switching, so
	 * only the host taking the whole thread away for a watchdog period
	 * can count; the task counts how often that came close (> 10 ms).
	 */
	ASSERT_EQ(0, kpf_pool_submit(pool, busy_task, NULL, &f));
	ASSERT_EQ(0, kpf_future_wait(f));
	ASSERT_EQ(0, kpf_future_result(f, &res));
	kpf_future_free(f);
	ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	TH_LOG("preemptible: %llu stalls in all, %llu preemptions, off the CPU > 10 ms %lu times",
	       (unsigned long long)st.watchdog_stalls,
	       (unsigned long long)st.preemptions, (unsigned long)res);
	ASSERT_GE(1ull + (uintptr_t)res, st.watchdog_stalls - before);
	ASSERT_LT(10ull, st.preemptions);
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
}

/* ---- no memory for a task's stack ---------------------------------------- */

static unsigned long vm_size_bytes(void)
{
	unsigned long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/*
 * 4 GiB task stacks under an address-space limit 64 MiB above what the
 * process uses: the first launch cannot get a stack, nothing parked or
 * queued would free one, so the future reports -ENOMEM (the worker used
 * to abort the process here).
 */
TEST(launch_without_memory_fails_the_future)
{
	struct kpf_config kc = { .size = sizeof(kc), .stack_size = 1ull << 32 };
	struct kpf_pool_stats st = { .size = sizeof(st) };
	struct rlimit rl;
	kpf_pool *pool;
	kpf_future *f;

	if (under_valgrind())
		SKIP(return, "address-space limits: not under valgrind");
	ASSERT_EQ(0, kpf_init(&kc));
	pool = make_pool(1, 0);
	ASSERT_EQ(0, getrlimit(RLIMIT_AS, &rl));
	rl.rlim_cur = vm_size_bytes() + (64ul << 20);
	ASSERT_EQ(0, setrlimit(RLIMIT_AS, &rl));
	ASSERT_EQ(0, kpf_pool_submit(pool, return_arg, NULL, &f));
	ASSERT_EQ(-ENOMEM, kpf_future_wait(f));
	kpf_future_free(f);
	ASSERT_EQ(0, kpf_pool_stats(pool, &st));
	ASSERT_EQ(1ull, st.failed);
	ASSERT_EQ(0ull, st.completed);
	ASSERT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
}

TEST_HARNESS_MAIN
