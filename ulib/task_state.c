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
 *    launcher's differ (two TLS reads otherwise);
 *  - signal mask: a system call, so only on the slow paths: when a
 *    preemption stops an outermost task, its mask is read and, if it is
 *    not the launcher's, saved with the task and the launcher's put back;
 *    resuming such a task puts its mask back (and reads the launcher's
 *    exactly). The launcher's mask is otherwise the one libkpf last saw
 *    on the thread (its first use, or the last such switch). Nested
 *    tasks share their outermost task's mask.
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
	t->mask_saved = 0;
	t->mask_applied = 0;
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
	t->mask_applied = 0;
	if (t->depth == 1 && t->mask_saved &&
	    !sigemptyset(&self->launcher_mask) &&
	    !pthread_sigmask(SIG_SETMASK, &t->mask, &self->launcher_mask))
		t->mask_applied = 1;
	errno = t->task_errno;
}

/**
 * kpf_task_state_leave() - give the thread back to @t's launcher
 * @self: the thread, busy set, back on the launcher's stack
 * @t: the task that just left: returned, paused or preempted
 * @preempted: stopped by its budget (not by kpf_pause())
 */
void kpf_task_state_leave(struct kpf_thread *self, struct kpf_task *t,
			  int preempted)
{
	locale_t cur;
	sigset_t mask;

	t->task_errno = errno;
	cur = uselocale((locale_t)0);
	t->locale = cur;
	if (cur != t->caller_locale)
		uselocale(t->caller_locale);
	if (t->depth == 1 && (t->mask_applied || preempted)) {
		/* the launcher's mask is exact after a resume that set it */
		sigemptyset(&mask);	/* the kernel fills only _NSIG bits */
		if (!pthread_sigmask(SIG_SETMASK, NULL, &mask) &&
		    memcmp(&mask, &self->launcher_mask, KPF_SIGSET_BYTES)) {
			t->mask = mask;
			t->mask_saved = 1;
			pthread_sigmask(SIG_SETMASK, &self->launcher_mask, NULL);
		} else {
			t->mask_saved = 0;
		}
	}
	errno = t->caller_errno;
}
