// SPDX-License-Identifier: GPL-2.0
/*
 * What the upcall does besides resuming: take the time, record the
 * kernel's timestamps for this delivery, count it.
 *
 * Runs on the upcall stack with the interrupted code's FPU/SSE state live:
 * built with -mgeneral-regs-only, calls nothing but kb_upcall_now_ns().
 */
#include "bench.h"

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
	kb_log.eintr_probe = 1;
	__atomic_store_n(&kb_log.count, n + 1, __ATOMIC_RELEASE);
}
