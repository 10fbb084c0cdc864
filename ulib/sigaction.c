// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sigaction() and the signal() family, seen by libkpf.
 *
 * Once the signal backend has installed its handler for its signal
 * (kpf_signal_own()), the kernel's disposition of that signal stays
 * libkpf's whatever the program sets: a program's sigaction() for it
 * records the program's disposition instead - the one libkpf's handler
 * passes signals that are not a timer expiry to (kpf_signal_prev_take())
 * - and reports it back as the old one, so the program sees what it set.
 * Replacing the handler in the kernel made the next expiry kill the
 * process (SIG_DFL) or let the running task run on forever (SIG_IGN), and
 * a program handler was only noticed at the next launch (tests/probes/p2).
 *
 * signal(), bsd_signal(), ssignal(), sysv_signal(), sigset(), sigignore()
 * and siginterrupt() call glibc's internal __sigaction(), and sighold()
 * and sigrelse() its internal __sigprocmask(), past libkpf's functions:
 * libkpf defines them too, with glibc's semantics, on top of its own
 * sigaction() and sigprocmask() (exported under GLIBC_2.2.5, libkpf.map).
 *
 * Every other handler the program installs runs through a trampoline
 * that first tells task_state.c the mask the signal interrupted (see
 * kpf_sa_trampoline()); sigaction() reports the program's own handler.
 *
 * The handler reads the recorded disposition on any thread while another
 * may set it: a sequence count. Writers take a spin lock and block every
 * signal while they hold it, so that no reader (libkpf's handler) and no
 * other writer (a program handler calling sigaction()) can run on the
 * writer's own thread in between and wait for it forever.
 */
#include <pthread.h>
#include <string.h>
#include <ucontext.h>

#include "internal.h"

/* glibc's sigaction(), exported under this name as well */
extern int __sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old);

/* The signal libkpf's handler holds, 0 before kpf_signal_own(). */
static int kpf_signal_owned;

/* The program's disposition of it; odd kpf_signal_seq while written. */
static struct sigaction kpf_signal_prev;
static unsigned int kpf_signal_seq;
static int kpf_signal_lock;

/* siginterrupt(): signals signal() installs without SA_RESTART */
static sigset_t kpf_sigintr;

#define KPF_SA_WORDS	(sizeof(struct sigaction) / sizeof(unsigned long))
_Static_assert(sizeof(struct sigaction) % sizeof(unsigned long) == 0,
	       "struct sigaction is copied in words");

/* Word by word: a reader may race with the writer and retries. */
static void kpf_sa_load(struct sigaction *to)
{
	unsigned long *d = (unsigned long *)to;
	unsigned long *s = (unsigned long *)&kpf_signal_prev;
	size_t i;

	for (i = 0; i < KPF_SA_WORDS; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

static void kpf_sa_store(const struct sigaction *from)
{
	const unsigned long *s = (const unsigned long *)from;
	unsigned long *d = (unsigned long *)&kpf_signal_prev;
	size_t i;

	for (i = 0; i < KPF_SA_WORDS; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

/* Writers of dispositions: every signal blocked, so none waits on its own thread. */
static void kpf_sa_lock(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	kpf_sigmask_raw(SIG_BLOCK, &all, saved);
	while (__atomic_exchange_n(&kpf_signal_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
}

static void kpf_sa_unlock(const sigset_t *saved)
{
	__atomic_store_n(&kpf_signal_lock, 0, __ATOMIC_RELEASE);
	kpf_sigmask_raw(SIG_SETMASK, saved, NULL);
}

/*
 * fork() in one thread while another holds the lock would leave the
 * child's lock held by nobody (its next signal() deadlocked, e.g. a
 * child resetting its signals before exec): fork with the lock held,
 * as glibc does with its own locks. One forking thread holds it at a
 * time, so one saved mask is enough.
 */
static sigset_t kpf_sa_fork_saved;

static void kpf_sa_prepare(void)
{
	kpf_sa_lock(&kpf_sa_fork_saved);
}

static void kpf_sa_after_fork(void)
{
	sigset_t saved = kpf_sa_fork_saved;

	kpf_sa_unlock(&saved);
}

__attribute__((constructor)) static void kpf_sa_init(void)
{
	/* fails only with ENOMEM, at load: then the race above remains */
	pthread_atfork(kpf_sa_prepare, kpf_sa_after_fork, kpf_sa_after_fork);
}

static void kpf_signal_prev_lock(sigset_t *saved)
{
	kpf_sa_lock(saved);
	__atomic_store_n(&kpf_signal_seq, kpf_signal_seq + 1,
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void kpf_signal_prev_unlock(const sigset_t *saved)
{
	__atomic_store_n(&kpf_signal_seq, kpf_signal_seq + 1,
			 __ATOMIC_RELEASE);
	kpf_sa_unlock(saved);
}

static void kpf_signal_prev_get(struct sigaction *out)
{
	unsigned int seq;

	for (;;) {
		seq = __atomic_load_n(&kpf_signal_seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			__builtin_ia32_pause();
			continue;
		}
		kpf_sa_load(out);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&kpf_signal_seq, __ATOMIC_RELAXED) == seq)
			return;
	}
}

/**
 * kpf_signal_own() - libkpf's handler now holds @sig
 * @sig: the signal backend's signal
 * @prev: the disposition it replaced: the program's from now on
 *
 * Called once by kpf_signal_process_init(), after installing the handler
 * with __sigaction().
 */
void kpf_signal_own(int sig, const struct sigaction *prev)
{
	sigset_t saved;

	kpf_signal_prev_lock(&saved);
	kpf_sa_store(prev);
	kpf_signal_prev_unlock(&saved);
	__atomic_store_n(&kpf_signal_owned, sig, __ATOMIC_RELEASE);
}

/**
 * kpf_signal_prev_take() - the program's disposition, for a signal to pass on
 * @out: where it goes; a consistent copy even while another thread sets it
 *
 * Async-signal-safe. A handler set with SA_RESETHAND is reset to SIG_DFL
 * as the kernel would (for this signal, libkpf's handler is what the
 * kernel runs). The handler value decides, not SA_SIGINFO: SIG_DFL and
 * SIG_IGN may come with SA_SIGINFO set.
 */
void kpf_signal_prev_take(struct sigaction *out)
{
	struct sigaction cur;
	sigset_t saved;

	kpf_signal_prev_get(out);
	if (!(out->sa_flags & SA_RESETHAND) || out->sa_handler == SIG_DFL ||
	    out->sa_handler == SIG_IGN)
		return;
	kpf_signal_prev_lock(&saved);
	kpf_sa_load(&cur);
	/* unless another signal or thread reset or replaced it meanwhile */
	if (cur.sa_handler == out->sa_handler &&
	    (cur.sa_flags & SA_RESETHAND)) {
		/* the kernel resets the handler only: flags read back as set */
		cur.sa_handler = SIG_DFL;
		kpf_sa_store(&cur);
	} else {
		*out = cur;
	}
	kpf_signal_prev_unlock(&saved);
}

/*
 * Every other handler the program installs runs through a trampoline,
 * for its mask: a handler that runs inside a task starts with the task's
 * mask plus its sa_mask and signal, and sigreturn puts the task's back.
 * Seen from libkpf, a handler calling pthread_sigmask() made the handler's
 * mask the one its launcher got back (SIGUSR1 stayed blocked in the
 * launcher: tests/probes/p1), and so did a task stopped inside a handler.
 * The trampoline tells task_state.c the mask the signal interrupted first.
 * The program's handlers, and whether they take siginfo (for the old
 * disposition sigaction() reports), by signal:
 */
typedef void (*kpf_sa_fn)(int sig, siginfo_t *si, void *uc);
static kpf_sa_fn kpf_sa_handler[_NSIG];
static unsigned char kpf_sa_info[_NSIG];
/* and 1 once the kernel holds a disposition the program set unwrapped */

/*
 * Critical text: an expiry that arrives before the mask is noted is
 * retried (task.c), so a task is never stopped with a handler's mask
 * unnoted. The program's handler is called with siginfo either way (a
 * handler without SA_SIGINFO ignores the extra arguments).
 */
KPF_CRITICAL static void kpf_sa_trampoline(int sig, siginfo_t *si, void *ucv)
{
	struct kpf_thread *self = kpf_tls_self;
	ucontext_t *uc = ucv;
	kpf_sa_fn fn;

	if (self && self->current && !self->busy)
		kpf_task_state_signal(self, &uc->uc_sigmask);
	fn = __atomic_load_n(&kpf_sa_handler[sig], __ATOMIC_ACQUIRE);
	if (fn)
		fn(sig, si, ucv);
}

static int kpf_sa_wraps(int sig, const struct sigaction *act)
{
	return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN &&
	       sig != SIGKILL && sig != SIGSTOP;
}

/* What the program set, where the kernel has the trampoline. */
static void kpf_sa_unwrap(struct sigaction *sa, kpf_sa_fn fn, int info)
{
	/*
	 * A wrapped SA_RESETHAND handler that ran: the kernel reset it to
	 * SIG_DFL keeping the trampoline's flags, SA_SIGINFO included,
	 * which a program without it must not see (chaining code calls
	 * sa_sigaction when SA_SIGINFO is set: a call to address 0).
	 */
	if (sa->sa_handler == SIG_DFL && (sa->sa_flags & SA_RESETHAND) &&
	    fn && !info)
		sa->sa_flags &= ~SA_SIGINFO;
	if (sa->sa_sigaction != kpf_sa_trampoline)
		return;
	sa->sa_sigaction = fn;
	if (!info)
		sa->sa_flags &= ~SA_SIGINFO;
}

/* sigaction() for a signal libkpf does not hold: a handler is wrapped */
static int kpf_sa_other(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct sigaction now;
	kpf_sa_fn was_fn;
	int was_info, wraps, r;

	if (!act) {
		r = __sigaction(sig, NULL, old);
		if (!r && old)
			kpf_sa_unwrap(old,
				      __atomic_load_n(&kpf_sa_handler[sig],
						      __ATOMIC_ACQUIRE),
				      kpf_sa_info[sig]);
		return r;
	}
	/*
	 * No lock (it cost two more system calls per call, 0.8 -> 2.3 us):
	 * only concurrent calls for the same signal, racy in the program
	 * already, can see each other's handler as the old one. The
	 * handler goes into the table before the trampoline into the kernel.
	 */
	now = *act;		/* @act and @old may be the same */
	was_fn = __atomic_load_n(&kpf_sa_handler[sig], __ATOMIC_ACQUIRE);
	was_info = kpf_sa_info[sig];
	wraps = kpf_sa_wraps(sig, &now);
	if (wraps) {
		__atomic_store_n(&kpf_sa_handler[sig], now.sa_sigaction,
				 __ATOMIC_RELEASE);
		kpf_sa_info[sig] = !!(now.sa_flags & SA_SIGINFO);
		now.sa_sigaction = kpf_sa_trampoline;
		now.sa_flags |= SA_SIGINFO;
	}
	r = __sigaction(sig, &now, old);
	if (!r && !wraps)
		kpf_sa_info[sig] = 1;	/* the kernel's flags are the program's */
	if (r) {
		__atomic_store_n(&kpf_sa_handler[sig], was_fn,
				 __ATOMIC_RELEASE);
		kpf_sa_info[sig] = was_info;
	}
	if (!r && old)
		kpf_sa_unwrap(old, was_fn, was_info);
	return r;
}

/**
 * sigaction() - glibc's, except for the signal libkpf's handler holds
 * @sig: signal number
 * @act: the new disposition, or NULL
 * @old: the old one, or NULL
 *
 * For libkpf's signal the disposition is recorded for the signals that
 * are not a timer expiry, the kernel's stays libkpf's handler. Exported
 * under glibc's version (libkpf.map), like pthread_sigmask().
 *
 * Return: as sigaction(2).
 */
KPF_EXPORT int sigaction(int sig, const struct sigaction *act,
			 struct sigaction *old)
{
	struct sigaction now, was;
	sigset_t saved;

	if (sig < 1 || sig >= _NSIG)
		return __sigaction(sig, act, old);
	if (sig != __atomic_load_n(&kpf_signal_owned, __ATOMIC_ACQUIRE))
		return kpf_sa_other(sig, act, old);
	if (!act) {
		if (old)
			kpf_signal_prev_get(old);
		return 0;
	}
	now = *act;		/* @act and @old may be the same */
	kpf_signal_prev_lock(&saved);
	kpf_sa_load(&was);
	kpf_sa_store(&now);
	kpf_signal_prev_unlock(&saved);
	if (old)
		*old = was;
	return 0;
}

static __sighandler_t kpf_signal_set(int sig, __sighandler_t handler,
				     int flags, int mask_sig)
{
	struct sigaction act, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (mask_sig)
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

/**
 * signal() - glibc's BSD semantics, through libkpf's sigaction()
 * @sig: signal number
 * @handler: the new handler, SIG_DFL or SIG_IGN
 *
 * Also bsd_signal() and ssignal(), which glibc aliases to it.
 *
 * Return: the old handler, or SIG_ERR with errno set.
 */
KPF_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	int restart = sig < 1 || sig >= NSIG ||
		      sigismember(&kpf_sigintr, sig) != 1;

	return kpf_signal_set(sig, handler, restart ? SA_RESTART : 0, 1);
}

KPF_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
	return signal(sig, handler);
}

KPF_EXPORT __sighandler_t ssignal(int sig, __sighandler_t handler)
{
	return signal(sig, handler);
}

/**
 * sysv_signal() - System V semantics: a one-shot handler, not masked
 * @sig: signal number
 * @handler: the new handler, SIG_DFL or SIG_IGN
 *
 * Also __sysv_signal(), which <signal.h> names signal() in strict ISO C.
 *
 * Return: the old handler, or SIG_ERR with errno set.
 */
KPF_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
	return kpf_signal_set(sig, handler, SA_RESETHAND | SA_NODEFER, 0);
}

KPF_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
	return sysv_signal(sig, handler);
}

/**
 * sigset() - System V: set a disposition and unblock, or block (SIG_HOLD)
 * @sig: signal number
 * @disp: the new disposition, or SIG_HOLD
 *
 * Return: the old disposition, SIG_HOLD if @sig was blocked, or SIG_ERR.
 */
KPF_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp)
{
	struct sigaction act, old;
	sigset_t set, was;

	if (disp == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &set, &was) < 0)
			return SIG_ERR;
		if (sigismember(&was, sig))
			return SIG_HOLD;
		if (sigaction(sig, NULL, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = disp;
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0 ||
	    sigprocmask(SIG_UNBLOCK, &set, &was) < 0)
		return SIG_ERR;
	return sigismember(&was, sig) ? SIG_HOLD : old.sa_handler;
}

/**
 * sigignore() - System V: set @sig to SIG_IGN
 * @sig: signal number
 *
 * Return: 0, or -1 with errno set.
 */
KPF_EXPORT int sigignore(int sig)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = SIG_IGN;
	sigemptyset(&act.sa_mask);
	return sigaction(sig, &act, NULL);
}

static int kpf_sig_one(int how, int sig)
{
	sigset_t set;

	sigemptyset(&set);
	if (sigaddset(&set, sig) < 0)
		return -1;
	return sigprocmask(how, &set, NULL);
}

/**
 * sighold() - System V: block @sig, through libkpf's sigprocmask()
 * @sig: signal number
 *
 * Return: 0, or -1 with errno set.
 */
KPF_EXPORT int sighold(int sig)
{
	return kpf_sig_one(SIG_BLOCK, sig);
}

/**
 * sigrelse() - System V: unblock @sig
 * @sig: signal number
 *
 * Return: 0, or -1 with errno set.
 */
KPF_EXPORT int sigrelse(int sig)
{
	return kpf_sig_one(SIG_UNBLOCK, sig);
}

/**
 * siginterrupt() - whether @sig interrupts system calls (no SA_RESTART)
 * @sig: signal number
 * @interrupt: non-zero: interrupt; also for later signal() calls
 *
 * Return: 0, or -1 with errno set.
 */
KPF_EXPORT int siginterrupt(int sig, int interrupt)
{
	struct sigaction act;

	if (sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return -1;
	}
	if (sigaction(sig, NULL, &act) < 0)
		return -1;
	if (interrupt) {
		sigaddset(&kpf_sigintr, sig);
		act.sa_flags &= ~SA_RESTART;
	} else {
		sigdelset(&kpf_sigintr, sig);
		act.sa_flags |= SA_RESTART;
	}
	return sigaction(sig, &act, NULL);
}
