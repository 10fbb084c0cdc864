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
 * between(barg). Returns the last kpf_launch/kpf_resume result (KPF_DONE
 * or -errno) and the number of resumes in *resumes.
 */
static inline int defer_test_drive(void (*fn)(void *), void *arg,
				   uint64_t budget_ns,
				   void (*between)(void *), void *barg,
				   unsigned long *resumes)
{
	kpf_task *t;
	int r = kpf_launch(&t, fn, arg, budget_ns);

	*resumes = 0;
	while (r == KPF_PREEMPTED) {
		if (between)
			between(barg);
		(*resumes)++;
		r = kpf_resume(t, budget_ns);
	}
	return r;
}

#endif /* KPF_DEFER_TEST_H */
