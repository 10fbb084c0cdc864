// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A cheaper CLOCK_MONOTONIC for computing deadlines.
 *
 * clock_gettime() through the vDSO costs 20-25 ns on a VM, a third of a
 * launch. When the kernel itself keeps time with the TSC (clocksource
 * "tsc": invariant and synchronized across CPUs), each thread extrapolates
 * CLOCK_MONOTONIC from rdtsc with a rate it measures itself, and goes back
 * to clock_gettime() every 10 ms to re-anchor and refresh the rate, so the
 * error stays far below a microsecond. Only deadlines are computed this
 * way; every "is it due" decision reads the real clock.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>

#include "internal.h"

#define KPF_CLOCK_FIRST_NS	1000000ull	/* first rate measurement */
#define KPF_CLOCK_WINDOW_NS	10000000ull	/* re-anchor period */
#define KPF_CLOCKSOURCE \
	"/sys/devices/system/clocksource/clocksource0/current_clocksource"

/**
 * kpf_clock_init() - decide whether the TSC extrapolation may be used
 *
 * Off when the kernel's clocksource is not the TSC, or KPF_CLOCK=vdso.
 */
void kpf_clock_init(void)
{
	const char *env = getenv("KPF_CLOCK");
	char buf[16] = "";
	int fd;

	kpf_g.tsc_clock = 0;
	if (env && !strcmp(env, "vdso"))
		return;
	fd = open(KPF_CLOCKSOURCE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (read(fd, buf, sizeof(buf) - 1) > 0 && !strncmp(buf, "tsc\n", 4))
		kpf_g.tsc_clock = 1;
	close(fd);
}

/**
 * kpf_clock_slow() - read the real clock and update the extrapolation
 * @self: calling thread
 *
 * Return: CLOCK_MONOTONIC in ns.
 */
uint64_t kpf_clock_slow(struct kpf_thread *self)
{
	uint64_t ns = kpf_now_ns();
	uint64_t tsc = __rdtsc();
	uint64_t dns = ns - self->clk_ns;
	uint64_t dtsc = tsc - self->clk_tsc;

	if (!self->clk_tsc || ns < self->clk_ns || tsc <= self->clk_tsc) {
		self->clk_tsc = tsc;
		self->clk_ns = ns;
		return ns;
	}
	if (dns < KPF_CLOCK_FIRST_NS)
		return ns;	/* interval too short: keep the anchor */
	/* ns per tick in 32.32 fixed point */
	self->clk_mult = (uint64_t)(((unsigned __int128)dns << 32) / dtsc);
	if (self->clk_mult)
		self->clk_window = (uint64_t)(((unsigned __int128)
			KPF_CLOCK_WINDOW_NS << 32) / self->clk_mult);
	self->clk_tsc = tsc;
	self->clk_ns = ns;
	return ns;
}
