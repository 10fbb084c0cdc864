// SPDX-License-Identifier: GPL-2.0
/*
 * What the upcall does besides resuming: take the time, record the
 * kernel's timestamps for this delivery, count it.
 *
 * Runs on the upcall stack with the interrupted code's FPU/SSE state live:
 * built with -mgeneral-regs-only, calls nothing but kb_upcall_now_ns().
 */
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "bench.h"

/* ioctl(fd, KPF_IOC_DISARM, 0) without glibc (no FPU/SSE use) */
static void kb_upcall_disarm(int fd)
{
	long ret;

	asm volatile ("syscall"
		      : "=a" (ret)
		      : "0" ((long)SYS_ioctl), "D" ((long)fd),
			"S" ((long)KPF_IOC_DISARM), "d" (0L)
		      : "rcx", "r11", "memory");
	(void)ret;
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
		kb_upcall_disarm(kb_log.stop_fd);
		kb_log.stopped++;
	}
}
