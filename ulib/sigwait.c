// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sigtimedwait(), sigwaitinfo() and sigwait(), seen by libkpf.
 *
 * A task that waits for signals on a set containing the signal backend's
 * signal would take the timer's expiry itself: the kernel hands a waited
 * signal to the waiter, not to its handler, so libkpf never learns of the
 * expiry, arms nothing more, and the task runs without a limit (a review
 * probe got "signal 38, SI_TIMER" and ran 510 ms on a 10 ms budget).
 * Inside a task, libkpf's signal is therefore left out of the set, as
 * pthread_sigmask() leaves it out of a task's mask (sigmask.c); it then
 * reaches libkpf's handler, which interrupts the wait like any other
 * handled signal (EINTR: the signal backend's documented price in tasks).
 * Outside tasks no expiry of libkpf's is queued (the timer is disarmed
 * when the outermost task leaves), and the set is used as given.
 *
 * glibc's own functions cannot be called from here (only its
 * GLIBC_PRIVATE __sigtimedwait is not interposed), so these do what
 * glibc 2.36's do: the system call as a cancellation point, SI_TKILL
 * reported as SI_USER, sigwait() retrying on EINTR.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/*
 * @set, or a copy of it without libkpf's signal when a task waits. The
 * copy is read with process_vm_readv(), which fails instead of faulting:
 * a bad pointer goes to the kernel as it came and gets EFAULT, as with
 * glibc (a plain read crashed the task). A kernel without it
 * (CONFIG_CROSS_MEMORY_ATTACH=n: ENOSYS, as the debug guest's) or a
 * sandbox that refuses it gets a plain read: keeping the timer's signal
 * out of the wait matters more than EFAULT for a bad pointer.
 */
static const sigset_t *kpf_sigwait_set(const sigset_t *set, sigset_t *copy)
{
	struct kpf_thread *self = kpf_thread_peek();
	int saved_errno = errno;
	struct iovec to = { copy, _NSIG / 8 };
	struct iovec from = { (void *)set, _NSIG / 8 };

	if (!set || !self || !self->current ||
	    kpf_g.backend != KPF_BACKEND_SIGNAL)
		return set;
	sigemptyset(copy);
	if (process_vm_readv(getpid(), &to, 1, &from, 1, 0) != _NSIG / 8) {
		if (errno == EFAULT)
			return set;
		errno = saved_errno;
		memcpy(copy, set, _NSIG / 8);
	}
	if (sigismember(copy, kpf_g.signo) != 1)
		return set;
	sigdelset(copy, kpf_g.signo);
	return copy;
}

/*
 * In a task the wait runs deferred: a preemption between switching the
 * cancellation type and restoring it would hand the launcher an
 * asynchronous cancellation type. An expiry during the wait interrupts
 * it (signal backend) and preempts at the end of the section.
 */
static int kpf_sigtimedwait(const sigset_t *set, siginfo_t *info,
			    const struct timespec *timeout)
{
	struct kpf_thread *self = kpf_thread_peek();
	int in_task = self && self->current;
	int type, r, err;
	sigset_t copy;

	if (in_task)
		kpf_defer_begin();
	set = kpf_sigwait_set(set, &copy);
	/* a cancellation point, as glibc's */
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type);
	r = syscall(SYS_rt_sigtimedwait, set, info, timeout, _NSIG / 8);
	err = errno;
	pthread_setcanceltype(type, NULL);
	if (r > 0 && info && info->si_code == SI_TKILL)
		info->si_code = SI_USER;
	if (in_task)
		kpf_defer_end();
	errno = err;
	return r;
}

/**
 * sigtimedwait() - glibc's, without libkpf's signal in a task's set
 * @set: the signals to wait for
 * @info: where the signal's information goes, or NULL
 * @timeout: how long at most, or NULL
 *
 * Return: as sigtimedwait(2).
 */
KPF_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info,
			    const struct timespec *timeout)
{
	return kpf_sigtimedwait(set, info, timeout);
}

/**
 * sigwaitinfo() - the same without a timeout
 * @set: the signals to wait for
 * @info: where the signal's information goes, or NULL
 *
 * Return: as sigwaitinfo(2).
 */
KPF_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return kpf_sigtimedwait(set, info, NULL);
}

/**
 * sigwait() - the same, with sigwait(3)'s conventions
 * @set: the signals to wait for
 * @sig: where the signal number goes
 *
 * Return: 0 or a positive errno value.
 */
KPF_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	siginfo_t si;
	int saved_errno = errno, r, err = 0;

	do
		r = kpf_sigtimedwait(set, &si, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		err = errno;
	else
		*sig = si.si_signo;
	errno = saved_errno;
	return err;
}
