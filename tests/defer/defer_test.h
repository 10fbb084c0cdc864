/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared pieces of the automatic-deferral tests: a compute loop that
 * never calls a library, and a driver that resumes a task with a small
 * budget until it finishes, running the launcher's own work in between.
 */
#ifndef KPF_DEFER_TEST_H
#define KPF_DEFER_TEST_H

#include <stdint.h>
#include <stdlib.h>
#include <kpf.h>
#include "../clock.h"

/*
 * Loop counts: the QEMU guest (KPF_GUEST set by its /init) emulates the
 * CPU, so it runs a fifth of the work to stay well inside the harness's
 * 30 s per test.
 */
static inline unsigned int defer_test_n(unsigned int n)
{
	return getenv("KPF_GUEST") ? n / 5 : n;
}

static volatile uint64_t defer_test_sink;

/*
 * How long defer_test_drive() lets a task run before it asks it to stop:
 * a task loop checks defer_test_more(), so a slow guest (the debug kernel
 * under TCG, a loaded host) runs fewer iterations instead of hitting the
 * harness's 30 s timeout. The tests assert on what was done, not on n.
 */
#ifndef DEFER_TEST_WALL_NS
#define DEFER_TEST_WALL_NS	8000000000ull
#endif

static volatile int defer_test_stop;

/*
 * How many preemptions a test needs to have seen (defer_test_want()) and
 * how many the driver has counted so far. How much of a loop fits in one
 * budget depends on the host: under TCG a delivery takes hundreds of
 * microseconds, and a loaded host delays the emulated timer interrupt by
 * milliseconds (a CI run saw 3 resumes over a whole rand() loop that
 * usually takes 60-130). A task loop runs on past n until the driver has
 * counted the resumes the test asserts on, so the assertion tests the
 * library, not the host; only DEFER_TEST_WALL_NS without them fails it.
 */
static unsigned long defer_test_wanted;
static volatile unsigned long defer_test_resumed;

/* Make the next defer_test_drive() run its task until @resumes resumes. */
static inline void defer_test_want(unsigned long resumes)
{
	defer_test_wanted = resumes;
}

/*
 * Another iteration of a task loop: i < n (or fewer resumes than wanted so
 * far) and the driver's clock allows.
 */
static inline int defer_test_more(unsigned long i, unsigned long n)
{
	return (i < n || defer_test_resumed < defer_test_wanted) &&
	       !defer_test_stop;
}

/* Pure computation, no calls: about 1 ns an iteration. */
static inline void defer_test_compute(unsigned long n)
{
	uint64_t x = defer_test_sink;

	while (n--) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ __volatile__("" : "+r"(x));
	}
	defer_test_sink = x;
}

/*
 * Run fn(arg) with @budget_ns per slice; between slices call
 * between(barg). After DEFER_TEST_WALL_NS it sets defer_test_stop, which
 * the task's defer_test_more() loop sees at its next iteration. Returns
 * the last kpf_launch/kpf_resume result (KPF_DONE or -errno) and the
 * number of resumes in *resumes.
 */
static inline int defer_test_drive(void (*fn)(void *), void *arg,
				   uint64_t budget_ns,
				   void (*between)(void *), void *barg,
				   unsigned long *resumes)
{
	uint64_t stop_at = now_ns() + DEFER_TEST_WALL_NS;
	kpf_task *t;
	int r;

	defer_test_stop = 0;
	defer_test_resumed = 0;
	r = kpf_launch(&t, fn, arg, budget_ns);
	*resumes = 0;
	while (r == KPF_PREEMPTED) {
		if (between)
			between(barg);
		defer_test_resumed = ++(*resumes);
		if (now_ns() > stop_at)
			defer_test_stop = 1;
		r = kpf_resume(t, budget_ns);
	}
	defer_test_wanted = 0;
	return r;
}

#endif /* KPF_DEFER_TEST_H */
