// SPDX-License-Identifier: GPL-2.0
/*
 * A clock the upcall entry may read.
 *
 * The upcall runs with the interrupted code's FPU/SSE state still live in
 * the registers, so nothing it calls may touch them. This file is built
 * with -mgeneral-regs-only and calls the kernel's vDSO directly (kernel
 * code, built without FPU/SSE), found with the kernel's reference vDSO
 * parser (tools/testing/selftests/vDSO/parse_vdso.c, extracted from
 * linux-source at build time), instead of glibc's clock_gettime().
 * Without a vDSO it falls back to the system call.
 */
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "bench.h"
#include "parse_vdso.h"

typedef int (*kb_vdso_gettime_fn)(clockid_t clk, struct timespec *ts);

static kb_vdso_gettime_fn kb_vdso_gettime;

static int kb_raw_clock_gettime(clockid_t clk, struct timespec *ts)
{
	long ret;

	asm volatile ("syscall"
		      : "=a" (ret)
		      : "0" ((long)SYS_clock_gettime), "D" ((long)clk), "S" (ts)
		      : "rcx", "r11", "memory");
	return (int)ret;
}

/**
 * kb_upcall_clock_init() - find the vDSO's clock_gettime
 */
void kb_upcall_clock_init(void)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);

	if (!base)
		return;
	vdso_init_from_sysinfo_ehdr(base);
	kb_vdso_gettime = (kb_vdso_gettime_fn)
		vdso_sym("LINUX_2.6", "__vdso_clock_gettime");
}

/**
 * kb_upcall_now_ns() - CLOCK_MONOTONIC without touching FPU/SSE state
 *
 * Return: the time in nanoseconds.
 */
uint64_t kb_upcall_now_ns(void)
{
	struct timespec ts;

	if (kb_vdso_gettime)
		kb_vdso_gettime(CLOCK_MONOTONIC, &ts);
	else
		kb_raw_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
