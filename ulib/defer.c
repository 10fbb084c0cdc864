// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Deferred preemption: sections of a task that must not be stopped
 * half-way (a lock held, an allocator call, stdio).
 *
 * The count lives in the thread's kpf_area, where the kernel (kmod) and
 * our signal handler (signal) read it: while it is non-zero an expiry only
 * sets area->pending. Each task has its own count; task.c swaps it on
 * every switch. The preemption happens at the outermost kpf_defer_end():
 * we look at the clock rather than trusting the flag alone, so a stale
 * flag never stops a task early.
 */
#include <string.h>

#include "internal.h"
#include "libset/defer_auto.h"

/**
 * kpf_defer_begin() - enter a section without preemption; see <kpf.h>
 */
KPF_CRITICAL KPF_EXPORT void kpf_defer_begin(void)
{
	struct kpf_thread *self = kpf_thread_self();

	if (!self)
		kpf_die("kpf_defer_begin(): cannot set up this thread: %s",
			strerror(errno));
	/* one instruction: an expiry sees the count before or after */
	__asm__ __volatile__("incl %0" : "+m"(self->area.defer));
}

/**
 * kpf_defer_end() - leave it; a deferred preemption happens here
 */
KPF_CRITICAL KPF_EXPORT void kpf_defer_end(void)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t;

	if (!self || !self->area.defer)
		kpf_die("kpf_defer_end() without a matching kpf_defer_begin()");
	if (self->area.defer > 1) {
		__asm__ __volatile__("decl %0" : "+m"(self->area.defer));
		return;
	}
	/* the rest calls out of this section: keep the thread pointer valid */
	self->busy = 1;
	kpf_barrier();
	/*
	 * Full barrier between dropping the count and reading pending: the
	 * timer interrupt may run on another CPU (Dekker with the kernel).
	 */
	__atomic_store_n(&self->area.defer, 0, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&self->area.pending, __ATOMIC_RELAXED) &&
	    !self->defer_expired)
		goto out;
	self->area.pending = 0;
	self->defer_expired = 0;
	t = self->current;
	if (!t)
		goto out;
	if (kpf_now_ns() >= t->deadline_ns) {
		if (!kpf_defer_mark_here(self, t)) {
			kpf_yield_preempted(self);
			return;
		}
		/* a section inside a deferred library's callback */
		self->stats.deferred_in_library++;
		self->defer_want = 1;
		kpf_arm_deadline(self, kpf_now_ns() + kpf_g.retry_ns);
		goto out;
	}
	kpf_arm_deadline(self, t->deadline_ns);
out:
	kpf_barrier();
	self->busy = 0;
}
