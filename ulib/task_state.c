// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-task thread state: what a task carries with it across switches.
 *
 * A thread runs its launcher and its tasks in turn, but errno, the
 * locale set with uselocale() and the signal mask belong to the thread.
 * Without care, a task preempted after changing them leaves its values
 * to the launcher (and the launcher's to the task when it resumes):
 *  - errno: saved and restored on every switch, so a task and its
 *    launcher each see their own (a TLS store, no system call);
 *  - locale: uselocale() on every switch where the task's and the
 *    launcher's differ (two TLS reads otherwise); a task whose locale is
 *    its launcher's runs with whatever its launcher has at each resume;
 *  - signal mask: a system call to change, so only for tasks that have
 *    a mask of their own. A task starts with, and until it changes its
 *    mask keeps running with, the mask its launcher has at each launch
 *    or resume: nothing to do. Its first change in a run is seen by
 *    libkpf's pthread_sigmask()/sigprocmask() (sigmask.c), which keeps
 *    the launcher's mask as it was then; when the task leaves (returns,
 *    pauses or is preempted) one system call puts the launcher's back
 *    and reads the task's, and resuming a task whose mask differs from
 *    its launcher's sets it with one system call that also reads the
 *    launcher's. So the launcher always gets back exactly the mask it
 *    had when it launched or resumed the task, whatever it changed in
 *    between, and no switch of a task that keeps its launcher's mask
 *    makes a system call. Nested tasks share their outermost task's mask.
 * The thread itself - TLS addresses, pthread_self() - cannot travel:
 * compilers keep &errno and pthread_self() in registers across calls, so
 * a task is pinned to its first thread unless launched with
 * KPF_LAUNCH_MIGRATE (task.c).
 */
#include <locale.h>
#include <string.h>

#include "internal.h"

/* The part of a sigset_t the kernel reads and writes. */
#define KPF_SIGSET_BYTES	(_NSIG / 8)

/**
 * kpf_task_state_init() - a new task starts with its launcher's state
 * @t: the task, not started yet
 * @caller_errno: the launcher's errno when it called kpf_launch()
 */
void kpf_task_state_init(struct kpf_task *t, int caller_errno)
{
	t->task_errno = caller_errno;
	t->locale = NULL;
	t->mask_own = 0;
	t->mask_live = 0;
}

/**
 * kpf_task_state_enter() - switch the thread's state to @t's
 * @self: the thread, busy set
 * @t: the task about to run (self->current already), @t->depth set
 * @caller_errno: the launcher's errno on entry to the library, before
 *	library calls (first use of a thread, mapping a stack) changed it
 */
void kpf_task_state_enter(struct kpf_thread *self, struct kpf_task *t,
			  int caller_errno)
{
	t->caller_errno = caller_errno;
	t->caller_locale = uselocale((locale_t)0);
	if (t->locale && t->locale != t->caller_locale)
		uselocale(t->locale);
	t->mask_live = 0;
	if (t->depth == 1 && t->mask_own &&
	    !kpf_sigmask_raw(SIG_SETMASK, &t->mask, &t->caller_mask))
		t->mask_live = 1;
	errno = t->task_errno;
}

/**
 * kpf_task_state_leave() - give the thread back to @t's launcher
 * @self: the thread, busy set, back on the launcher's stack
 * @t: the task that just left: returned, paused or preempted
 * @preempted: stopped by its budget (not by kpf_pause()); the state
 *	moves the same way whichever way the task left
 */
void kpf_task_state_leave(struct kpf_thread *self, struct kpf_task *t,
			  int preempted)
{
	locale_t cur;

	t->task_errno = errno;
	cur = uselocale((locale_t)0);
	if (cur != t->caller_locale) {
		t->locale = cur;
		uselocale(t->caller_locale);
	} else {
		/* its launcher's: it inherits the launcher's at each resume */
		t->locale = NULL;
	}
	if (t->depth == 1 && t->mask_live) {
		/* the task's mask out, its launcher's back: one system call */
		t->mask_live = 0;
		if (!kpf_sigmask_raw(SIG_SETMASK, &t->caller_mask, &t->mask))
			/* back to its launcher's mask: inherit it again */
			t->mask_own = !!memcmp(&t->mask, &t->caller_mask,
					       KPF_SIGSET_BYTES);
	}
	errno = t->caller_errno;
}

/**
 * kpf_task_state_signal() - a program's signal handler starts in a task
 * @self: the thread, in a task (not in library code)
 * @interrupted: the mask the signal interrupted (its ucontext's)
 *
 * The kernel runs the handler with its sa_mask and the signal blocked on
 * top of the task's mask, and sigreturn puts the task's back: libkpf
 * must not take the handler's mask for the launcher's (the first change
 * a handler made was recorded with the handler's mask as its launcher's,
 * and a task stopped inside a handler gave it to its launcher). A task
 * whose mask is not live has its launcher's, which @interrupted is
 * exactly: the mask goes live with it, no system call. Leaving then
 * costs one (the launcher's mask back, the task's read), as for a task
 * that changed its mask. Critical text, called from critical text: never
 * preempted halfway.
 */
KPF_CRITICAL void kpf_task_state_signal(struct kpf_thread *self,
					const sigset_t *interrupted)
{
	struct kpf_task *t = self->current;

	while (t->depth > 1)
		t = t->parent;
	if (t->mask_live)
		return;
	_Static_assert(KPF_SIGSET_BYTES == sizeof(t->caller_mask.__val[0]),
		       "one word of mask");
	t->caller_mask.__val[0] = interrupted->__val[0];
	/*
	 * ... except for libkpf's own signal: the signal may have interrupted
	 * libkpf's timer handler (not a trampoline's), which runs with that
	 * signal blocked, and the launcher then got it back blocked (its next
	 * launch failed with EBUSY: CI, stock guest, test_defer_edges
	 * signal_handler_inside_malloc_is_not_preempted). A launcher that
	 * really blocks it cannot launch at all (kpf_signal_check()).
	 */
	if (kpf_g.backend == KPF_BACKEND_SIGNAL)
		sigdelset(&t->caller_mask, kpf_g.signo);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->mask_live = 1;
}
