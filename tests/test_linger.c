// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kpf_thread_linger() and the pool's idle lingering (issue 10: "with the
 * kmod backend the pool's quantum needs no system call per switch" was
 * 53-71%). On kmod, a launch after an idle gap longer than the previous
 * budget, and a resume after a preemption, found the module's timer
 * stopped and made a KPF_IOC_ARM each. With lingering both are a store:
 * kpf_stats.arm_syscalls does not move. The controls (no lingering)
 * assert the system calls, so the tests can fail.
 *
 * Bad input is checked on both backends; the rest needs kmod (skipped on
 * the signal backend, where lingering is -EOPNOTSUPP).
 */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <kpf.h>
#include <kpf_pool.h>
#include "kselftest_harness.h"
#include "clock.h"

#define MS		1000000ull
#define BUDGET		(20 * MS)
/* a little below the budget: the library's clock may trail the kernel's */
#define LINGER		(19 * MS)
#define GAPS		5

static void quick_task(void *arg)
{
}

static void *quick_job(void *arg)
{
	return arg;
}

static void spin_task(void *arg)
{
	uint64_t end = now_ns() + *(uint64_t *)arg;

	while (now_ns() < end)
		;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / 1000000000ull, ns % 1000000000ull };

	while (nanosleep(&ts, &ts))
		;
}

static int is_kmod(void)
{
	return !strcmp(kpf_backend(), "kmod");
}

static struct kpf_stats stats(void)
{
	struct kpf_stats s = { .size = sizeof(s) };

	kpf_thread_stats(&s);
	return s;
}

TEST(bad_input)
{
	int ok = is_kmod() ? 0 : -EOPNOTSUPP;

	ASSERT_EQ(0, kpf_init(NULL));
	EXPECT_EQ(-EINVAL, kpf_thread_linger(0, 1));
	EXPECT_EQ(-EINVAL, kpf_thread_linger(MS, 0));
	EXPECT_EQ(-EINVAL, kpf_thread_linger(MS, 1025));
	EXPECT_EQ(-EINVAL, kpf_thread_linger(3601ull * 1000 * MS, 1));
	if (is_kmod())
		EXPECT_EQ(-EINVAL, kpf_thread_linger(1, 1));
	EXPECT_EQ(ok, kpf_thread_linger(MS, 1024));
	EXPECT_EQ(ok, kpf_thread_linger(0, 0));
}

struct gap_run {
	int linger;
	uint64_t gap_ns;
	uint64_t syscalls;	/* arming system calls of the launches after gaps */
	uint64_t idle_expiries;
	int err;
};

/* A thread of its own: the setting lives in the thread's timer. */
static void *gap_thread(void *arg)
{
	struct gap_run *r = arg;
	struct kpf_stats s0, s1;
	kpf_task *t;
	int i;

	if (r->linger)
		r->err = kpf_thread_linger(LINGER, 64);
	if (!r->err && kpf_launch(&t, quick_task, NULL, BUDGET) != KPF_DONE)
		r->err = -1;
	for (i = 0; i < GAPS && !r->err; i++) {
		/* idle well past the previous budget's expiry */
		sleep_ns(r->gap_ns);
		s0 = stats();
		if (kpf_launch(&t, quick_task, NULL, BUDGET) != KPF_DONE)
			r->err = -1;
		s1 = stats();
		r->syscalls += s1.arm_syscalls - s0.arm_syscalls;
	}
	r->idle_expiries = stats().linger_expiries;
	return NULL;
}

static struct gap_run run_gaps(int linger, uint64_t gap_ns)
{
	struct gap_run r = { .linger = linger, .gap_ns = gap_ns };
	pthread_t th;

	if (pthread_create(&th, NULL, gap_thread, &r) ||
	    pthread_join(th, NULL))
		r.err = -2;
	return r;
}

TEST(launch_after_idle_gap)
{
	struct gap_run with, without;

	ASSERT_EQ(0, kpf_init(NULL));
	if (!is_kmod())
		SKIP(return, "lingering is a kmod feature");
	/* the reproducer: each launch after a gap arms by ioctl */
	without = run_gaps(0, 5 * BUDGET);
	ASSERT_EQ(0, without.err);
	EXPECT_LE((uint64_t)(GAPS - 1), without.syscalls);
	EXPECT_EQ(0ULL, without.idle_expiries);
	/* 64 x 19 ms of lingering covers gaps of 2 x 20 ms */
	with = run_gaps(1, 2 * BUDGET);
	ASSERT_EQ(0, with.err);
	EXPECT_EQ(0ULL, with.syscalls);
	/* the idle price: at least one expiry per gap, at most 64 */
	EXPECT_LE((uint64_t)(GAPS), with.idle_expiries);
	EXPECT_GE((uint64_t)(GAPS * 64), with.idle_expiries);
	TH_LOG("after %d gaps: %llu arming syscalls without lingering, %llu with (%llu idle expiries)",
	       GAPS, (unsigned long long)without.syscalls,
	       (unsigned long long)with.syscalls,
	       (unsigned long long)with.idle_expiries);
}

struct preempt_run {
	int linger;
	uint64_t resumes;
	uint64_t syscalls;	/* of the resumes */
	int err;
};

static void *preempt_thread(void *arg)
{
	struct preempt_run *r = arg;
	uint64_t spin = 8 * BUDGET;
	struct kpf_stats s0, s1;
	kpf_task *t;
	int ret;

	if (r->linger)
		r->err = kpf_thread_linger(LINGER, 64);
	if (r->err)
		return NULL;
	ret = kpf_launch(&t, spin_task, &spin, BUDGET);
	while (ret == KPF_PREEMPTED) {
		s0 = stats();
		ret = kpf_resume(t, BUDGET);
		s1 = stats();
		r->resumes++;
		r->syscalls += s1.arm_syscalls - s0.arm_syscalls;
	}
	if (ret != KPF_DONE)
		r->err = ret;
	return NULL;
}

static struct preempt_run run_preempt(int linger)
{
	struct preempt_run r = { .linger = linger };
	pthread_t th;

	if (pthread_create(&th, NULL, preempt_thread, &r) ||
	    pthread_join(th, NULL))
		r.err = -2;
	return r;
}

TEST(resume_after_preemption)
{
	struct preempt_run with, without;

	ASSERT_EQ(0, kpf_init(NULL));
	if (!is_kmod())
		SKIP(return, "lingering is a kmod feature");
	without = run_preempt(0);
	ASSERT_EQ(0, without.err);
	ASSERT_LE(2ULL, without.resumes);
	/* the last resume may finish before its timer fired: no ARM then */
	EXPECT_LE(without.resumes - 1, without.syscalls);
	with = run_preempt(1);
	ASSERT_EQ(0, with.err);
	ASSERT_LE(2ULL, with.resumes);
	/*
	 * An expiry that lands in library code is retried a few µs later,
	 * which needs an ARM; that is rare, not one per resume.
	 */
	EXPECT_GE(with.resumes / 2, with.syscalls);
	TH_LOG("arming syscalls per resume after a preemption: %llu/%llu without lingering, %llu/%llu with",
	       (unsigned long long)without.syscalls,
	       (unsigned long long)without.resumes,
	       (unsigned long long)with.syscalls,
	       (unsigned long long)with.resumes);
}

static struct kpf_pool_stats pool_gaps(unsigned int flags)
{
	struct kpf_pool_config cfg = {
		.size = sizeof(cfg),
		.workers = 1,
		.quantum_ns = BUDGET,
		.flags = flags,
	};
	struct kpf_pool_stats s = { .size = sizeof(s) };
	kpf_future *f;
	kpf_pool *pool;
	int i;

	memset(&s, 0, sizeof(s));
	if (kpf_pool_create(&pool, &cfg))
		return s;
	s.size = sizeof(s);
	for (i = 0; i <= GAPS; i++) {
		if (i)
			sleep_ns(2 * BUDGET);
		if (kpf_pool_submit(pool, quick_job, NULL, &f))
			break;
		kpf_future_wait(f);
		kpf_future_free(f);
	}
	kpf_pool_stats(pool, &s);
	kpf_pool_destroy(pool, KPF_POOL_DRAIN);
	return s;
}

/* The pool lingers by default: tasks after idle gaps arm by a store. */
TEST(pool_idle_gaps)
{
	struct kpf_pool_stats with, without;

	ASSERT_EQ(0, kpf_init(NULL));
	if (!is_kmod())
		SKIP(return, "lingering is a kmod feature");
	without = pool_gaps(KPF_POOL_NO_LINGER);
	ASSERT_EQ((uint64_t)(GAPS + 1), without.completed);
	with = pool_gaps(0);
	ASSERT_EQ((uint64_t)(GAPS + 1), with.completed);
	/* 2 quanta gaps: each task after one needs ARM without lingering */
	EXPECT_GE(1ULL, without.switches_no_syscall);
	EXPECT_EQ(0ULL, without.idle_expiries);
	/* only the very first launch of the worker makes the system call */
	EXPECT_EQ(with.switches - 1, with.switches_no_syscall);
	EXPECT_LE((uint64_t)(GAPS), with.idle_expiries);
	TH_LOG("pool, %d idle gaps: %llu/%llu switches without a syscall without lingering, %llu/%llu with (%llu idle expiries)",
	       GAPS, (unsigned long long)without.switches_no_syscall,
	       (unsigned long long)without.switches,
	       (unsigned long long)with.switches_no_syscall,
	       (unsigned long long)with.switches,
	       (unsigned long long)with.idle_expiries);
}

/* An older caller's stats structure still works. */
TEST(pool_stats_old_size)
{
	struct kpf_pool_config cfg = { .size = sizeof(cfg), .workers = 1 };
	struct kpf_pool_stats s;
	kpf_pool *pool, *other = NULL;

	ASSERT_EQ(0, kpf_pool_create(&pool, &cfg));
	memset(&s, 0xa5, sizeof(s));
	s.size = offsetof(struct kpf_pool_stats, idle_expiries);
	EXPECT_EQ(0, kpf_pool_stats(pool, &s));
	EXPECT_EQ(offsetof(struct kpf_pool_stats, idle_expiries), s.size);
	EXPECT_EQ(0xa5a5a5a5a5a5a5a5ull, s.idle_expiries);
	s.size = offsetof(struct kpf_pool_stats, idle_expiries) - 1;
	EXPECT_EQ(-EINVAL, kpf_pool_stats(pool, &s));
	/* a config with an unknown flag: the bit after the last one */
	cfg.flags = KPF_POOL_NO_LIFO << 1;
	EXPECT_EQ(-EINVAL, kpf_pool_create(&other, &cfg));
	EXPECT_EQ(0, kpf_pool_destroy(pool, KPF_POOL_DRAIN));
}

TEST_HARNESS_MAIN
