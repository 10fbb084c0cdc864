/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The clock of the tests: CLOCK_MONOTONIC, the clock kpf budgets are
 * measured on (vDSO, no system call).
 */
#ifndef KPF_TESTS_CLOCK_H
#define KPF_TESTS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* KPF_TESTS_CLOCK_H */
