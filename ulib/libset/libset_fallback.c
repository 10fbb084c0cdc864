// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Libset calls that run in the base namespace with preemption deferred:
 * a task's calls when no copy was free for it (the fallback table), and
 * every copy's calls into the base libc & co.
 *
 * Both use automatic deferral's mark (defer_auto.h): the stack pointer at
 * the entry of the outermost deferred call and the return address found
 * there. While the task's stack is below a live mark an expiry is retried
 * instead of preempting, so the base copy is never left half-way through
 * a call by a preempted task.
 */
#include "../internal.h"
#include "libset.h"
#include "libset_internal.h"
#ifdef KPF_THREAD_MARK
#include "defer_auto.h"
#endif

/*
 * Open a deferral mark at @rsp unless one is live (an outer deferred call
 * is running: this one is inside it).
 */
KPF_CRITICAL static void kpf_libset_defer_mark(struct kpf_thread *self,
					  uint64_t rsp)
{
#ifdef KPF_THREAD_MARK
	struct kpf_task *t = self->current;

	if (!t || kpf_defer_mark_inside(self, t, rsp))
		return;
	/* this function is KPF_CRITICAL: no expiry sees half a mark */
	self->defer_mark_ret = *(const uint64_t *)(uintptr_t)rsp;
	self->defer_mark = rsp;
#else
	/* TODO(section 1): the mark fields land with automatic deferral */
	(void)self;
	(void)rsp;
#endif
}

/**
 * kpf_libset_deferred_target() - a deferral stub that calls @fn
 * @fn: a function of a deferred library in the base namespace
 *
 * Return: what a copy's GOT slot should hold to call @fn.
 */
void *kpf_libset_deferred_target(void *fn)
{
	/* TODO(section 1): its per-target deferral stubs */
	return fn;
}

/**
 * kpf_libset_fallback_call() - a task on the fallback table calls function
 *	@id: run it in the base copy, deferred
 * @id: the function
 * @entry_rsp: the caller's stack pointer at the call ([rsp] = return)
 *
 * Called by kpf_libset_fallback_entry (and by the first call of a task
 * that found no copy).
 *
 * Return: the base function, where the call continues.
 */
KPF_CRITICAL void *kpf_libset_fallback_call(unsigned int id,
					    uint64_t entry_rsp)
{
	struct kpf_thread *self = kpf_thread_peek();

	if (self) {
		self->stats.libset_fallbacks++;
		kpf_libset_defer_mark(self, entry_rsp);
	}
	return kpf_libset_base_table[id];
}
