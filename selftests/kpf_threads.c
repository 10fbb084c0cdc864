// SPDX-License-Identifier: GPL-2.0
/*
 * 64 threads, each with its own context and a 1 ms periodic upcall, for
 * 2 seconds; half of them spin, half sleep in short nanosleeps. Every
 * thread must see its own upcalls only, lose none (every fire delivered,
 * deferred, or an overrun of a delivery still queued while the thread
 * waited for a CPU), and the per-thread sums must match the global counter.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define NR_THREADS	64
#define PERIOD_NS	NSEC_PER_MSEC
#define RUN_NS		(2 * NSEC_PER_SEC)

struct worker {
	pthread_barrier_t *start;
	uint64_t end;
	int sleeper;
	int ret;
	uint64_t fires, delivered, deferred, overruns, dropped;
	uint64_t upcalls, mismatch;
	uint64_t stray;		/* upcalls whose rdi was not our area */
};

static void *worker(void *arg)
{
	struct timespec ts = { 0, 200 * NSEC_PER_USEC };
	struct worker *w = arg;
	struct kpf_test_ctx c;
	struct kpf_area *a;

	w->ret = kpf_test_ctx_setup(&c);
	pthread_barrier_wait(w->start);
	if (w->ret)
		return NULL;
	/* From here: creating 64 threads can take seconds on a debug kernel. */
	w->end = kpf_now_ns() + RUN_NS;
	a = c.area;
	w->ret = kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS);
	while (!w->ret && kpf_now_ns() < w->end) {
		if (w->sleeper)
			nanosleep(&ts, NULL);
		else
			kpf_spin_ns(200 * NSEC_PER_USEC);
	}
	/* Quiesce: expiries become deferred, nothing stays queued. */
	WRITE_ONCE(a->defer, 1);
	kpf_spin_ns(5 * NSEC_PER_MSEC);
	if (!w->ret)
		w->ret = kpf_test_disarm(&c);
	w->fires = READ_ONCE(a->fires);
	w->delivered = READ_ONCE(a->delivered);
	w->deferred = READ_ONCE(a->deferred);
	w->overruns = READ_ONCE(a->overruns);
	w->dropped = READ_ONCE(a->dropped);
	w->upcalls = kpf_test_upcall_count;
	w->mismatch = kpf_test_reg_mismatch;
	w->stray = kpf_test_upcall_count &&
		   kpf_test_entry_rdi != (uintptr_t)a;
	if (!w->ret)
		w->ret = kpf_test_unregister(&c);
	kpf_test_ctx_destroy(&c);
	return NULL;
}

FIXTURE(threads)
{
	uint64_t old_limit;
};

FIXTURE_SETUP(threads)
{
	KPF_REQUIRE_DEVICE();
	self->old_limit = kpf_param("max_contexts_per_user");
	ASSERT_NE(UINT64_MAX, self->old_limit);
	if (self->old_limit < NR_THREADS + 1)
		ASSERT_EQ(0, kpf_set_param("max_contexts_per_user",
					   NR_THREADS + 1));
}

FIXTURE_TEARDOWN(threads)
{
	if (self->old_limit != UINT64_MAX &&
	    self->old_limit < NR_THREADS + 1)
		kpf_set_param("max_contexts_per_user", self->old_limit);
}

TEST_F_TIMEOUT(threads, sixty_four_periodic, 120)
{
	static struct worker w[NR_THREADS];
	pthread_barrier_t start;
	pthread_t t[NR_THREADS];
	uint64_t g0, g1, sum = 0, min = UINT64_MAX, max = 0, over = 0;
	int i;

	KPF_REQUIRE_DEVICE();
	g0 = kpf_counter("delivered");
	ASSERT_NE(UINT64_MAX, g0);
	pthread_barrier_init(&start, NULL, NR_THREADS);
	for (i = 0; i < NR_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].start = &start;
		w[i].sleeper = i & 1;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker, &w[i]));
	}
	for (i = 0; i < NR_THREADS; i++)
		ASSERT_EQ(0, pthread_join(t[i], NULL));
	g1 = kpf_counter("delivered");

	for (i = 0; i < NR_THREADS; i++) {
		EXPECT_EQ(0, w[i].ret) TH_LOG("thread %d", i);
		EXPECT_LT(0, w[i].delivered) TH_LOG("thread %d", i);
		/* Each expiry delivered, deferred, dropped or an overrun. */
		EXPECT_LE(w[i].delivered + w[i].deferred + w[i].dropped,
			  w[i].fires) TH_LOG("thread %d", i);
		EXPECT_GE(w[i].delivered + w[i].deferred + w[i].dropped +
			  w[i].overruns, w[i].fires) TH_LOG("thread %d", i);
		EXPECT_EQ(0, w[i].dropped) TH_LOG("thread %d", i);
		EXPECT_EQ(w[i].delivered, w[i].upcalls) TH_LOG("thread %d", i);
		EXPECT_EQ(0, w[i].mismatch) TH_LOG("thread %d", i);
		EXPECT_EQ(0, w[i].stray) TH_LOG("thread %d", i);
		sum += w[i].delivered;
		over += w[i].overruns;
		if (w[i].delivered < min)
			min = w[i].delivered;
		if (w[i].delivered > max)
			max = w[i].delivered;
	}
	kpf_log("%d threads x %lu ms: delivered sum %lu min %lu max %lu overruns %lu, global delta %lu\n",
		NR_THREADS, RUN_NS / NSEC_PER_MSEC, sum, min, max, over,
		g1 - g0);
	EXPECT_EQ(sum, g1 - g0);
}

TEST_HARNESS_MAIN
