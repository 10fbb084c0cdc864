// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Cancel: kpf_cancel() runs the task's kpf_on_cancel() handlers most
 * recent first (also beyond the inline slots, which makes the library
 * allocate), returns the stack and frees everything: 100,000
 * launch/preempt/cancel cycles leave the RSS flat. Run it under valgrind
 * (make check-valgrind) for the leak check; CANCEL_CYCLES sets the count.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include <kpf.h>
#include "kselftest_harness.h"

#define NHANDLERS	10

static int order[64], norder;

static void record(void *arg)
{
	order[norder++] = (int)(long)arg;
}

static void free_it(void *arg)
{
	free(arg);
}

static volatile int stop;

static void with_handlers(void *arg)
{
	long i;

	for (i = 0; i < NHANDLERS; i++)
		kpf_on_cancel(record, (void *)i);
	kpf_pause();
	record((void *)-1L);	/* never reached: cancelled while paused */
}

/* Allocates, registers the matching free, then spins or pauses. */
static void cycle_task(void *arg)
{
	long timer = (long)arg;
	void *p;

	/* never stopped holding the allocator's lock */
	kpf_defer_begin();
	p = malloc(256);
	memset(p, 1, 256);
	kpf_on_cancel(free_it, p);
	kpf_on_cancel(free_it, malloc(64));
	kpf_defer_end();
	if (timer)
		while (!stop)
			;
	else
		kpf_pause();
}

static long maps_count(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atol(line + 6);
	fclose(f);
	return kib;
}

TEST(handlers_most_recent_first)
{
	kpf_task *t = NULL;
	int i;

	TH_LOG("backend %s", kpf_backend());
	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, with_handlers, NULL,
					    KPF_FOREVER));
	kpf_cancel(t);
	ASSERT_EQ(NHANDLERS, norder);
	for (i = 0; i < NHANDLERS; i++)
		EXPECT_EQ(NHANDLERS - 1 - i, order[i]);
	EXPECT_EQ(-EPERM, kpf_on_cancel(record, NULL));
}

TEST(no_handlers_on_return)
{
	kpf_task *t = NULL;
	int r;

	norder = 0;
	r = kpf_launch(&t, with_handlers, NULL, KPF_FOREVER);
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, KPF_FOREVER);
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_EQ(1, norder);
	EXPECT_EQ(-1, order[0]);
}

FIXTURE(cycles) {
};

FIXTURE_SETUP(cycles)
{
}

FIXTURE_TEARDOWN(cycles)
{
}

/*
 * Every 10th cycle is stopped by the timer (full context), the rest by
 * kpf_pause(); both must come back to the same footprint.
 */
TEST_F_TIMEOUT(cycles, launch_preempt_cancel, 600)
{
	long cycles = 100000, i, rss1 = 0, rss2, timer_cycles = 0;
	long maps1 = 0, maps2;
	const char *env = getenv("CANCEL_CYCLES");
	kpf_task *t = NULL;
	int r, bad = 0;

	if (env && *env)
		cycles = atol(env);
	for (i = 0; i < cycles; i++) {
		long timer = i % 10 == 0;

		stop = 0;
		r = kpf_launch(&t, cycle_task, (void *)timer,
			       timer ? 20000 : KPF_FOREVER);
		if (r != KPF_PREEMPTED) {
			bad++;
			stop = 1;
			while (r == KPF_PREEMPTED)
				r = kpf_resume(t, KPF_FOREVER);
			continue;
		}
		timer_cycles += timer;
		kpf_cancel(t);
		if (i == cycles / 10) {
			rss1 = rss_kib();
			maps1 = maps_count();
		}
	}
	rss2 = rss_kib();
	maps2 = maps_count();
	TH_LOG("%ld cycles (%ld by the timer); mappings %ld after 10%%, %ld at the end; RSS %ld KiB, %ld KiB",
	       cycles, timer_cycles, maps1, maps2, rss1, rss2);
	EXPECT_EQ(0, bad);
	/* a leaked stack or thread mapping shows up here on any kernel */
	EXPECT_LT(0, maps1);
	EXPECT_GE(maps1 + 2, maps2);
	/*
	 * Under valgrind the RSS is valgrind's (its leak check is the test);
	 * some kernels do not keep VmRSS precise (split per-thread counters):
	 * the mapping count above is the check there.
	 */
	if (!RUNNING_ON_VALGRIND && rss1 >= 256)
		EXPECT_GT(1024, rss2 - rss1);
}

TEST_HARNESS_MAIN
