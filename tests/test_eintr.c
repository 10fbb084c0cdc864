// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * No EINTR outside tasks: once kpf_launch()/kpf_resume() has returned to
 * code that runs no task, no signal of libkpf may reach the thread, so the
 * launcher's own blocking calls (nanosleep, poll, sem_timedwait: none of
 * them restartable by SA_RESTART) run to their timeout. Before the fix the
 * signal backend left its timer queued and nanosleep(100 ms) failed with
 * EINTR after ~50 ms. Each case sleeps well past the budget it launched
 * with, so a timer left queued would certainly fire during the sleep.
 */
#include <errno.h>
#include <poll.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"
#include "run_to_done.h"

#define MS	1000000ull

static void quick_task(void *arg)
{
}

static void spin_task(void *arg)
{
	uint64_t end = now_ns() + *(uint64_t *)arg;

	while (now_ns() < end)
		;
}

static void nested_task(void *arg)
{
	if (run_to_done(quick_task, NULL, 10 * MS) != KPF_DONE)
		*(int *)arg = -1;
}

/* Sleep 100 ms in three non-restartable ways; 0 if none was cut short. */
static int sleep_three_ways(struct __test_metadata *_metadata)
{
	struct timespec ts = { .tv_nsec = 100 * MS };
	struct timespec abs;
	uint64_t t0;
	sem_t sem;
	int r;

	t0 = now_ns();
	r = nanosleep(&ts, NULL);
	EXPECT_EQ(0, r) TH_LOG("nanosleep: %s after %.1f ms", strerror(errno),
			       (now_ns() - t0) / 1e6);
	t0 = now_ns();
	r = poll(NULL, 0, 100);
	EXPECT_EQ(0, r) TH_LOG("poll: %s after %.1f ms", strerror(errno),
			       (now_ns() - t0) / 1e6);
	ASSERT_EQ(0, sem_init(&sem, 0, 0));
	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_nsec += 100 * MS;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	t0 = now_ns();
	r = sem_timedwait(&sem, &abs);
	EXPECT_EQ(ETIMEDOUT, r ? errno : 0)
		TH_LOG("sem_timedwait: %s after %.1f ms", strerror(errno),
		       (now_ns() - t0) / 1e6);
	sem_destroy(&sem);
	return _metadata->passed ? 0 : -1;
}

TEST(after_done)
{
	/* budgets that end during the sleeps below */
	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 30 * MS));
	sleep_three_ways(_metadata);
	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 50 * MS));
	sleep_three_ways(_metadata);
}

TEST(after_preempted_and_cancel)
{
	uint64_t spin = 2000 * MS;
	kpf_task *t;
	int r;

	r = kpf_launch(&t, spin_task, &spin, 1 * MS);
	ASSERT_EQ(KPF_PREEMPTED, r);
	sleep_three_ways(_metadata);
	/* resumed with a budget that ends during the sleeps */
	ASSERT_EQ(KPF_PREEMPTED, kpf_resume(t, 1 * MS));
	sleep_three_ways(_metadata);
	kpf_cancel(t);
}

TEST(after_nested)
{
	int bad = 0;

	ASSERT_EQ(KPF_DONE, run_to_done(nested_task, &bad, 40 * MS));
	ASSERT_EQ(0, bad);
	sleep_three_ways(_metadata);
}

TEST(after_pause_of_forever_task)
{
	kpf_task *t;
	uint64_t spin = 0;

	/* a KPF_FOREVER launch after one with a budget arms nothing */
	ASSERT_EQ(KPF_DONE, run_to_done(spin_task, &spin, 20 * MS));
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, quick_task, NULL, KPF_FOREVER));
	sleep_three_ways(_metadata);
	TH_LOG("backend %s", kpf_backend());
}

/*
 * The price: on the signal backend a budgeted launch + return now makes
 * two timer system calls (arm, disarm); kmod must stay free of them -
 * deadlines are stores into the area, the queued kernel timer moves
 * itself, so only about one ARM per expiry period is needed.
 */
TEST(arming_system_calls)
{
	struct kpf_stats s0 = { .size = sizeof(s0) };
	struct kpf_stats s1 = { .size = sizeof(s1) };
	const int n = 2000;
	uint64_t syscalls = 0, t0;
	int i, counted = 0, late = 0;
	double per;
	kpf_task *t;
	int r;

	ASSERT_EQ(KPF_DONE, run_to_done(quick_task, NULL, 1 * MS));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kpf_thread_stats(&s0));
		t0 = now_ns();
		r = kpf_launch(&t, quick_task, NULL, 1 * MS);
		ASSERT_EQ(0, kpf_thread_stats(&s1));
		/*
		 * Only launches that returned KPF_DONE count: one stopped
		 * before its first instruction (a loaded host, the debug
		 * kernel) armed once and disarmed nothing.
		 */
		if (r == KPF_DONE) {
			syscalls += s1.arm_syscalls - s0.arm_syscalls;
			counted++;
			/* descheduled past the budget: the timer may have fired */
			late += now_ns() - t0 >= 1 * MS;
			continue;
		}
		ASSERT_EQ(KPF_PREEMPTED, r);
		while (r == KPF_PREEMPTED)
			r = kpf_resume(t, 1 * MS);
		ASSERT_EQ(KPF_DONE, r);
	}
	ASSERT_LT(0, counted);
	per = (double)syscalls / counted;
	TH_LOG("%s: %.3f arming system calls per budgeted launch + return (%d of %d launches returned KPF_DONE, %d of those took the budget or longer)",
	       kpf_backend(), per, counted, n, late);
	if (!strcmp(kpf_backend(), "kmod")) {
		EXPECT_GT(0.1, per);
	} else {
		/*
		 * arm + disarm. A timer that fired before the return needs
		 * no disarm (seen on a loaded host: 3,999 of 4,000), which
		 * only a launch that took the whole budget can see; it may
		 * add re-arms instead.
		 */
		EXPECT_LE((uint64_t)2 * counted - late, syscalls);
		EXPECT_GT(2.5 * counted + 8 * late, (double)syscalls);
	}
}

TEST_HARNESS_MAIN
