// SPDX-License-Identifier: GPL-2.0
/*
 * CLOCK_MONOTONIC for the benchmarks (glibc, through the vDSO).
 */
#include <time.h>

#include "bench.h"

/**
 * kb_now_ns() - CLOCK_MONOTONIC in nanoseconds
 *
 * Return: the time; the same clock the kernel's hrtimers and kpf use.
 */
uint64_t kb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/**
 * kb_clock_init() - prepare both clocks (the upcall one needs the vDSO)
 */
void kb_clock_init(void)
{
	kb_upcall_clock_init();
}

/**
 * kb_spin_until() - busy-wait (interruptible) until a CLOCK_MONOTONIC time
 * @t_ns: the time to wait for
 */
void kb_spin_until(uint64_t t_ns)
{
	while (kb_now_ns() < t_ns)
		__builtin_ia32_pause();
}
