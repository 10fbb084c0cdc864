// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pthread_sigmask() and sigprocmask(), seen by libkpf.
 *
 * A task's signal mask follows the task and its launcher's stays the
 * launcher's (task_state.c). Reading the mask at every launch to know the
 * launcher's would cost a system call per launch, which the kmod backend
 * otherwise does without; instead libkpf defines both functions itself
 * (the program, and libraries bound to libc's GLIBC_2.32 or GLIBC_2.2.5
 * pthread_sigmask and GLIBC_2.2.5 sigprocmask, find these first:
 * libkpf.map) and so
 * learns when a task changes its mask:
 *  - outside tasks, or a call that only reads the mask: the system call,
 *    nothing else;
 *  - in a task, the first change since it was launched or resumed: the
 *    mask the system call returns as the old one is exactly its
 *    launcher's (the task had not changed it yet), kept in the outermost
 *    task (nested tasks share their outermost task's mask), which now
 *    has a mask of its own in the thread ("live") for task_state.c to
 *    save when the task leaves and to put back when it is resumed.
 * The bookkeeping runs with preemption deferred, so a task is never
 * stopped between changing its mask and recording it.
 *
 * Not seen (Documentation/libkpf.md): mask changes inside libc (a
 * siglongjmp() restoring a mask saved by sigsetjmp(), setcontext(),
 * pthread_create() and posix_spawn() while they run), raw
 * rt_sigprocmask system calls, and programs that dlopen() libkpf. A
 * program's signal handler running in a task makes the mask live first
 * (sigaction.c, kpf_task_state_signal()), so its changes are not first
 * changes and the launcher's mask is the one the signal interrupted.
 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/*
 * glibc's own signals (SIGCANCEL 32, SIGSETXID 33) must stay unblocked,
 * as glibc's pthread_sigmask() keeps them: bits 31 and 32 of the set.
 */
#define KPF_GLIBC_INTERNAL_SIGNALS	(3ul << 31)

/**
 * kpf_sigmask_raw() - rt_sigprocmask without libkpf's bookkeeping
 * @how: SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK
 * @set: the change, or NULL to only read
 * @old: where the mask before goes (the kernel writes _NSIG bits), or NULL
 *
 * Like glibc's pthread_sigmask(): its internal signals are never blocked
 * and errno is left alone.
 *
 * Return: 0 or a positive errno value.
 */
int kpf_sigmask_raw(int how, const sigset_t *set, sigset_t *old)
{
	int saved_errno = errno, err = 0;
	sigset_t clean;

	if (set && (set->__val[0] & KPF_GLIBC_INTERNAL_SIGNALS)) {
		clean = *set;
		clean.__val[0] &= ~KPF_GLIBC_INTERNAL_SIGNALS;
		set = &clean;
	}
	if (syscall(SYS_rt_sigprocmask, how, set, old, _NSIG / 8))
		err = errno;
	errno = saved_errno;
	return err;
}

/* The task whose mask the thread has: the outermost one running. */
static struct kpf_task *kpf_sigmask_owner(struct kpf_thread *self)
{
	struct kpf_task *t = self->current;

	while (t->depth > 1)
		t = t->parent;
	return t;
}

static int kpf_sigmask_change(int how, const sigset_t *set, sigset_t *old)
{
	struct kpf_thread *self = kpf_thread_peek();
	struct kpf_task *t;
	sigset_t before, ours;
	int err;

	/*
	 * A thread outside tasks that blocks the signal backend's signal:
	 * its next launch checks at once rather than within 10 ms.
	 */
	if (set && self && !self->current && how != SIG_UNBLOCK &&
	    kpf_g.backend == KPF_BACKEND_SIGNAL &&
	    sigismember(set, kpf_g.signo) == 1)
		self->signal_check_ns = 0;
	/* library code (busy) manages the mask itself */
	if (!set || !self || !self->current || self->busy)
		return kpf_sigmask_raw(how, set, old);
	/*
	 * The signal backend's signal cannot be blocked in a task, as glibc
	 * keeps its own signals: a task that blocked every signal ran 2 s
	 * with a 1 ms budget and returned KPF_DONE (nothing could stop it,
	 * and no check at launch sees a task's mask).
	 */
	if (kpf_g.backend == KPF_BACKEND_SIGNAL && how != SIG_UNBLOCK &&
	    sigismember(set, kpf_g.signo) == 1) {
		ours = *set;
		sigdelset(&ours, kpf_g.signo);
		set = &ours;
	}
	kpf_defer_begin();
	t = kpf_sigmask_owner(self);
	if (t->mask_live) {
		err = kpf_sigmask_raw(how, set, old);
	} else {
		err = kpf_sigmask_raw(how, set, &before);
		if (!err) {
			t->caller_mask = before;
			t->mask_live = 1;
			if (old)
				memcpy(old, &before, _NSIG / 8);
		}
	}
	kpf_defer_end();
	return err;
}

/**
 * pthread_sigmask() - glibc's, plus a task's first change noted
 * @how: SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK
 * @set: the change, or NULL
 * @old: the mask before, or NULL
 *
 * Return: 0 or a positive errno value, as pthread_sigmask(3).
 */
KPF_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return kpf_sigmask_change(how, set, old);
}

/*
 * The same under the version libraries linked against glibc < 2.32 bind
 * (pthread_sigmask moved from libpthread to libc there): without it, a
 * task in such a library could block libkpf's signal (tests/probes/p4).
 * (A static link has no versions: there it is one more local name.)
 */
KPF_EXPORT int kpf_pthread_sigmask_2_2_5(int how, const sigset_t *set,
					 sigset_t *old)
{
	return kpf_sigmask_change(how, set, old);
}
__asm__(".symver kpf_pthread_sigmask_2_2_5, pthread_sigmask@GLIBC_2.2.5");

/**
 * sigprocmask() - the same, with sigprocmask(2)'s return convention
 * @how: SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK
 * @set: the change, or NULL
 * @old: the mask before, or NULL
 *
 * Return: 0, or -1 with errno set.
 */
KPF_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int err = kpf_sigmask_change(how, set, old);

	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
