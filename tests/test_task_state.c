// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-thread state and tasks (the contract in Documentation/libkpf.md,
 * "Per-thread state"): a task is pinned to the thread that launched it
 * unless launched with KPF_LAUNCH_MIGRATE (-EXDEV elsewhere); errno, the
 * uselocale() locale and the signal mask a task sets stay with the task
 * and do not leak into its launcher after a preemption, and the task
 * finds its own again when resumed. Before, a task's errno, SIGUSR2 block
 * and uselocale("C") stayed in effect in the launcher.
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"
#include "spin.h"

#define MS	1000000ull

/* Long enough for several 1 ms budgets; an opaque call for the compiler */
static void __attribute__((noinline)) spin(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/* cancelled once preempted: spins until then (or SPIN_GIVE_UP_NS) */
static void spin_task(void *arg)
{
	spin(SPIN_GIVE_UP_NS);
}

struct resumer {
	kpf_task *t;
	int r;
};

static void *resume_elsewhere(void *arg)
{
	struct resumer *rs = arg;

	rs->r = kpf_resume(rs->t, 1 * MS);
	return NULL;
}

TEST(pinned_unless_migrate)
{
	struct resumer rs;
	pthread_t th;

	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&rs.t, spin_task, NULL, 1 * MS));
	ASSERT_EQ(0, pthread_create(&th, NULL, resume_elsewhere, &rs));
	pthread_join(th, NULL);
	EXPECT_EQ(-EXDEV, rs.r);
	/* still fine at home */
	EXPECT_EQ(KPF_PREEMPTED, kpf_resume(rs.t, 1 * MS));
	kpf_cancel(rs.t);

	ASSERT_EQ(KPF_PREEMPTED, kpf_launch_flags(&rs.t, spin_task, NULL,
						  1 * MS, KPF_LAUNCH_MIGRATE));
	ASSERT_EQ(0, pthread_create(&th, NULL, resume_elsewhere, &rs));
	pthread_join(th, NULL);
	EXPECT_EQ(KPF_PREEMPTED, rs.r);
	kpf_cancel(rs.t);
	EXPECT_EQ(-EINVAL, kpf_launch_flags(&rs.t, spin_task, NULL, 1 * MS,
					    1U << 31));
}

struct seen {
	int errno_after;	/* the task's errno after its preemptions */
	int blocked_after;	/* SIGUSR2 still blocked in the task */
	int locale_after;	/* its locale still in effect */
	locale_t loc;
};

static void errno_task(void *arg)
{
	struct seen *s = arg;

	errno = EDOM;
	spin_until_preempted(10 * MS);
	s->errno_after = errno;
}

/* Run @fn with 1 ms budgets; check the launcher after each preemption. */
static int run_checking(struct __test_metadata *_metadata,
			void (*fn)(void *), struct seen *s)
{
	sigset_t mask;
	kpf_task *t;
	int r, n = 0;

	errno = ENOENT;
	r = kpf_launch(&t, fn, s, 1 * MS);
	for (;;) {
		EXPECT_EQ(ENOENT, errno) TH_LOG("launcher's errno, switch %d", n);
		EXPECT_EQ(LC_GLOBAL_LOCALE, uselocale((locale_t)0))
			TH_LOG("launcher's locale, switch %d", n);
		pthread_sigmask(SIG_SETMASK, NULL, &mask);
		EXPECT_FALSE(sigismember(&mask, SIGUSR2))
			TH_LOG("SIGUSR2 blocked in the launcher, switch %d", n);
		if (r != KPF_PREEMPTED)
			break;
		n++;
		errno = ENOENT;
		r = kpf_resume(t, 1 * MS);
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, n);
	return n;
}

TEST(errno_stays_with_the_task)
{
	struct seen s = { 0 };

	run_checking(_metadata, errno_task, &s);
	EXPECT_EQ(EDOM, s.errno_after);
}

static void locale_task(void *arg)
{
	struct seen *s = arg;

	uselocale(s->loc);
	spin_until_preempted(10 * MS);
	s->locale_after = uselocale((locale_t)0) == s->loc;
}

TEST(locale_stays_with_the_task)
{
	struct seen s = { 0 };

	s.loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	ASSERT_NE((locale_t)0, s.loc);
	run_checking(_metadata, locale_task, &s);
	EXPECT_TRUE(s.locale_after);
	freelocale(s.loc);
}

static void mask_task(void *arg)
{
	struct seen *s = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	spin_until_preempted(10 * MS);
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	s->blocked_after = sigismember(&set, SIGUSR2);
}

TEST(signal_mask_stays_with_the_task)
{
	struct seen s = { 0 };

	run_checking(_metadata, mask_task, &s);
	EXPECT_TRUE(s.blocked_after);
}

TEST_HARNESS_MAIN
