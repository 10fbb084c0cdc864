/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Automatic deferral around deferred libraries (libc, ld.so, libstdc++,
 * libgcc_s, KPF_DEFER_LIBS): the per-task "deferral mark" and the hooks
 * task.c calls. See defer_auto.c.
 */
#ifndef KPF_LIBSET_DEFER_AUTO_H
#define KPF_LIBSET_DEFER_AUTO_H

#include "../internal.h"

KPF_HIDDEN int kpf_defer_auto_init(unsigned int config_flags);
KPF_HIDDEN void kpf_defer_stub_slow(void);
KPF_HIDDEN void kpf_defer_stub_preempt(void);
KPF_HIDDEN void *kpf_defer_stub(void *target);
KPF_HIDDEN int kpf_defer_in_text(uint64_t addr);
KPF_HIDDEN int kpf_defer_rip_in_library(uint64_t addr);
KPF_HIDDEN int kpf_defer_frames_in_library(uint64_t rsp, uint64_t mark);
KPF_HIDDEN int kpf_defer_call_site_deferred(uint64_t ret);
extern uintptr_t kpf_defer_stub_lo KPF_HIDDEN;
extern uintptr_t kpf_defer_stub_hi KPF_HIDDEN;

/**
 * kpf_defer_in_stub() - whether @rip is in a deferral stub
 * @rip: an interrupted instruction pointer
 *
 * A stub reads the thread pointer and writes the mark through it: like
 * kpf_critical_text, it must not be stopped (and moved to another thread)
 * in between.
 *
 * Return: 1 or 0.
 */
static inline int kpf_defer_in_stub(uint64_t rip)
{
	return rip >= kpf_defer_stub_lo &&
	       rip < __atomic_load_n(&kpf_defer_stub_hi, __ATOMIC_ACQUIRE);
}

/**
 * kpf_defer_mark_stack() - where the stubs may record a mark for the
 *	context that runs on @self now
 * @self: the thread
 * @t: the running task, or NULL for the thread's own code
 *
 * A stub entered on another stack - a signal handler on the alternate
 * stack, which libkpf itself installs per thread - is not the task's
 * outermost call: recording its mark would replace the task's live one
 * (the task would then be preempted inside malloc). The thread's own
 * code is never preempted and needs no mark: an empty range, as in a
 * new (zeroed) thread.
 */
static inline void kpf_defer_mark_stack(struct kpf_thread *self,
					const struct kpf_task *t)
{
	self->run_stack_lo = t ? t->stack_lo : 0;
	self->run_stack_hi = t ? t->stack_hi : 0;
}

/**
 * kpf_defer_mark_enter() - task.c: @t starts running on @self
 * @self: the thread
 * @t: the task
 *
 * The running context's mark lives in the thread, where the stubs find
 * it with one TLS load; the launcher's is kept in the task meanwhile.
 */
static inline void kpf_defer_mark_enter(struct kpf_thread *self,
					struct kpf_task *t)
{
	t->caller_mark = self->defer_mark;
	t->caller_mark_ret = self->defer_mark_ret;
	self->defer_mark = t->mark;
	self->defer_mark_ret = t->mark_ret;
	self->defer_want = 0;
	kpf_defer_mark_stack(self, t);
}

/**
 * kpf_defer_mark_leave() - task.c: @t leaves @self (any reason)
 * @self: the thread
 * @t: the task
 */
static inline void kpf_defer_mark_leave(struct kpf_thread *self,
					struct kpf_task *t)
{
	t->mark = self->defer_mark;
	t->mark_ret = self->defer_mark_ret;
	self->defer_mark = t->caller_mark;
	self->defer_mark_ret = t->caller_mark_ret;
	self->defer_want = 0;
	kpf_defer_mark_stack(self, t->parent);
}

/**
 * kpf_defer_mark_inside() - whether the interrupted task @t is running a
 *	call into a deferred library (or a callback of one)
 * @self: the thread, whose mark belongs to @t
 * @t: the running task
 * @rsp: the interrupted stack pointer, inside @t's stack
 * @rip: the interrupted instruction (0: libkpf's own code)
 *
 * The mark is the stack pointer at the entry of the outermost deferred
 * call, where its return address lies. The call is still active while
 * the stack is at or below the mark and the return address is still
 * there; once the stack has unwound above it (return, longjmp, a C++
 * exception) the mark is stale.
 *
 * Return: 1 if inside, else 0.
 */
static inline int kpf_defer_mark_inside(const struct kpf_thread *self,
					const struct kpf_task *t,
					uint64_t rsp, uint64_t rip)
{
	uint64_t mark = self->defer_mark;

	if (!mark || rsp > mark || mark + 8 > t->stack_hi)
		return 0;
	if (*(const uint64_t *)(uintptr_t)mark != self->defer_mark_ret)
		return 0;
	/*
	 * user code: a callback (maybe tail-called by the library), or
	 * after a tail call into the library (see defer_auto.c)
	 */
	return kpf_defer_in_text(rip) ||
	       kpf_defer_frames_in_library(rsp, mark) ||
	       kpf_defer_call_site_deferred(self->defer_mark_ret);
}

/**
 * kpf_defer_mark_here() - whether the running task @t, now in library code
 *	called by it, is below its live deferral mark
 * @self: the thread, whose mark belongs to @t
 * @t: the running task (self->current)
 *
 * For the places that stop @t voluntarily on an expired budget (the
 * cascade after a nested task returns, kpf_defer_end()): when @t called
 * into libkpf from a callback of a deferred library (a dl_iterate_phdr()
 * callback that launches a nested task), stopping it here would stop it
 * inside that library, e.g. holding the loader lock. The caller then
 * leaves the preemption to the next outermost stub (defer_want) or a
 * retry instead.
 *
 * Return: 1 if @t is inside a deferred library call, else 0.
 */
static inline int kpf_defer_mark_here(const struct kpf_thread *self,
				      const struct kpf_task *t)
{
	uint64_t rsp = (uint64_t)(uintptr_t)__builtin_frame_address(0);

	return rsp > t->stack_lo && rsp <= t->stack_hi &&
	       kpf_defer_mark_inside(self, t, rsp, 0);
}

#endif /* KPF_LIBSET_DEFER_AUTO_H */
