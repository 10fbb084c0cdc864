// SPDX-License-Identifier: GPL-2.0
/*
 * What the upcall does besides resuming: take the time, record the
 * kernel's timestamps for this delivery, count it.
 *
 * It runs on the upcall stack with the interrupted code's FPU/SSE state
 * still live in the registers, so nothing here may touch them: this file
 * is built with -mgeneral-regs-only, makes its system calls itself and
 * reads the clock through the kernel's vDSO (kernel code, built without
 * FPU/SSE), found with the kernel's reference parser
 * (tools/testing/selftests/vDSO/parse_vdso.c, extracted from linux-source
 * at build time), instead of glibc's clock_gettime(). Without a vDSO it
 * falls back to the system call.
 */
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "bench.h"
#include "parse_vdso.h"

typedef int (*kb_vdso_gettime_fn)(clockid_t clk, struct timespec *ts);

static kb_vdso_gettime_fn kb_vdso_gettime;

/* a system call without glibc (no FPU/SSE use) */
static long kb_upcall_syscall(long nr, long a, long b, long c)
{
	asm volatile ("syscall"
		      : "+a" (nr)
		      : "D" (a), "S" (b), "d" (c)
		      : "rcx", "r11", "memory");
	return nr;
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

/* CLOCK_MONOTONIC in ns without touching FPU/SSE state */
static uint64_t kb_upcall_now_ns(void)
{
	struct timespec ts;

	if (kb_vdso_gettime)
		kb_vdso_gettime(CLOCK_MONOTONIC, &ts);
	else
		kb_upcall_syscall(SYS_clock_gettime, CLOCK_MONOTONIC,
				  (long)&ts, 0);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/**
 * kb_upcall_hook() - record one kpf upcall in kb_log
 * @area: the delivering context's area
 *
 * Called by kb_upcall_entry before it resumes the interrupted code.
 */
void kb_upcall_hook(struct kpf_area *area)
{
	uint64_t t = kb_upcall_now_ns();
	uint64_t n = kb_log.count;

	if (n < kb_log.cap) {
		kb_log.handler_ns[n] = t;
		kb_log.expiry_ns[n] = READ_ONCE(area->expiry_ns);
		kb_log.irq_ns[n] = READ_ONCE(area->irq_ns);
		kb_log.deliver_ns[n] = READ_ONCE(area->deliver_ns);
	}
	__atomic_store_n(&kb_log.count, n + 1, __ATOMIC_RELEASE);
	if (kb_log.stop_ns && t > kb_log.stop_ns && kb_log.stop_fd >= 0) {
		kb_upcall_syscall(SYS_ioctl, kb_log.stop_fd, KPF_IOC_DISARM, 0);
		kb_log.stopped++;
	}
}
