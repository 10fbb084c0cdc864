// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The signal backend: what /dev/kpf does, done with a POSIX timer.
 *
 * Each thread has a timer_create(CLOCK_MONOTONIC, SIGEV_THREAD_ID) timer
 * sending one real-time signal (no pool of signals: any number of
 * threads). The handler plays the kernel's part of the kpf ABI on the
 * thread's own struct kpf_area, so everything after it is shared with the
 * kmod backend:
 *  - deadline_ns 0: nothing; in the future: re-arm there (the cheap
 *    "move later" that spares launch a system call); due: clear it;
 *  - defer count or an upcall in progress: set pending and return;
 *  - otherwise copy the interrupted GPRs into area->frame and return into
 *    kpf_upcall_entry on the upcall stack with rdi = area. sigreturn
 *    restores the signal mask and the full extended state first, so the
 *    entry sees exactly the registers the task had.
 * armed_ns mirrors the kernel's: the expiry queued, 0 when none.
 *
 * The signal belongs to the program too. libkpf takes a real-time signal
 * that has no handler (KPF_SIGNAL / kpf_config.signal name one, which is
 * refused if it has a handler already), passes on signals that did not
 * come from a thread's own timer to the program's disposition (which the
 * program's sigaction() and signal() set without displacing libkpf's
 * handler: sigaction.c), and checks at launch (at most every
 * KPF_SIGNAL_CHECK_NS per thread, and after a task overran its deadline
 * without any expiry) that the handler is still ours (a raw rt_sigaction
 * system call can replace it) and the signal is not blocked:
 * kpf_launch() then fails with -EBUSY and a message rather than running
 * tasks without a time limit.
 */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* How often a launch re-checks that the signal still reaches us. */
#define KPF_SIGNAL_CHECK_NS	10000000ull

/* glibc's sigaction(): libkpf's own (sigaction.c) records, for our signal */
extern int __sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old);

static void kpf_signal_handler(int sig, siginfo_t *si, void *ucv);

static void kpf_signal_settime(struct kpf_thread *self, uint64_t when)
{
	struct itimerspec its = {
		.it_value = {
			.tv_sec = when / 1000000000ull,
			.tv_nsec = when % 1000000000ull,
		},
	};

	self->stats.arm_syscalls++;
	__atomic_store_n(&self->area.armed_ns, when, __ATOMIC_SEQ_CST);
	/* only a broken timer id or time fails: the budget could not hold */
	if (timer_settime(self->timer, TIMER_ABSTIME, &its, NULL))
		kpf_die("timer_settime() failed: %s: cannot enforce the budget",
			strerror(errno));
}

/*
 * Whether the interrupted code ran on the alternate stack. uc_stack holds
 * the thread's sigaltstack settings (its flags are not SS_ONSTACK on
 * current kernels, so compare the stack pointer).
 */
static int kpf_signal_on_altstack(const ucontext_t *uc)
{
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	uintptr_t lo = (uintptr_t)uc->uc_stack.ss_sp;

	return !(uc->uc_stack.ss_flags & SS_DISABLE) && sp > lo &&
	       sp <= lo + uc->uc_stack.ss_size;
}

/*
 * A real-time signal's default action is to end the process, and the
 * signal libkpf takes had that action: a kill() or sigqueue() of it from
 * the program or another process must still end it (it was swallowed).
 * The signal is blocked while this handler runs: sent again with the
 * default action in place, it is delivered as the handler returns. A
 * stale SI_TIMER signal (of a deleted timer of ours, still queued at
 * thread exit) is ignored instead.
 */
static void kpf_signal_default(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	__sigaction(sig, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static void kpf_signal_handler(int sig, siginfo_t *si, void *ucv)
{
	struct kpf_thread *self = kpf_tls_self;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct kpf_area *area;
	struct kpf_frame *f;
	int saved_errno = errno;
	uint64_t deadline, now;

	if (!self || si->si_code != SI_TIMER ||
	    si->si_value.sival_ptr != self) {
		/*
		 * Sent by somebody else: not ours to swallow. The program's
		 * disposition (sigaction.c; it may change on another thread
		 * right now: a consistent copy), with its sa_mask (sigreturn
		 * puts the mask back).
		 */
		struct sigaction prev;

		kpf_signal_prev_take(&prev);
		if (prev.sa_handler == SIG_DFL) {
			if (si->si_code != SI_TIMER)
				kpf_signal_default(sig);
			return;
		}
		if (prev.sa_handler == SIG_IGN)
			return;
		if (self && self->current && !self->busy)
			/* in a task: its mask before this handler's */
			kpf_task_state_signal(self, &uc->uc_sigmask);
		if (!sigisemptyset(&prev.sa_mask))
			kpf_sigmask_raw(SIG_BLOCK, &prev.sa_mask, NULL);
		if (prev.sa_flags & SA_SIGINFO)
			prev.sa_sigaction(sig, si, ucv);
		else
			prev.sa_handler(sig);
		return;
	}
	if (!self->backend_ready)
		return;
	area = &self->area;
	__atomic_store_n(&area->armed_ns, 0, __ATOMIC_SEQ_CST);
	deadline = __atomic_load_n(&area->deadline_ns, __ATOMIC_SEQ_CST);
	if (!deadline)
		goto out;
	now = kpf_now_ns();
	if (now < deadline) {
		area->rearms++;
		kpf_signal_settime(self, deadline);
		goto out;
	}
	/*
	 * A signal handler on the alternate stack was interrupted (a user's
	 * SA_ONSTACK handler: libkpf installs the alternate stack): never
	 * preemptible, and leaving it for the upcall stack would let the next
	 * SA_ONSTACK signal start at the top of the alternate stack, over
	 * that handler's live frame (measured: SIGSEGV/SIGTRAP in 9 of 10
	 * runs). Try again later, deadline kept.
	 */
	if (kpf_signal_on_altstack(uc)) {
		area->rearms++;
		kpf_signal_settime(self, now + kpf_g.retry_ns);
		goto out;
	}
	area->fires++;
	area->deadline_ns = 0;
	if (area->defer || area->in_upcall != KPF_UPCALL_IDLE) {
		area->pending = 1;
		area->deferred++;
		goto out;
	}
	area->expiry_ns = deadline;
	area->deliver_ns = now;
	f = &area->frame;
	f->r15 = g[REG_R15];
	f->r14 = g[REG_R14];
	f->r13 = g[REG_R13];
	f->r12 = g[REG_R12];
	f->rbp = g[REG_RBP];
	f->rbx = g[REG_RBX];
	f->r11 = g[REG_R11];
	f->r10 = g[REG_R10];
	f->r9 = g[REG_R9];
	f->r8 = g[REG_R8];
	f->rax = g[REG_RAX];
	f->rcx = g[REG_RCX];
	f->rdx = g[REG_RDX];
	f->rsi = g[REG_RSI];
	f->rdi = g[REG_RDI];
	f->rip = g[REG_RIP];
	f->rsp = g[REG_RSP];
	f->rflags = g[REG_EFL];
	area->in_upcall = KPF_UPCALL_ACTIVE;
	area->delivered++;
	g[REG_RIP] = (greg_t)(uintptr_t)kpf_upcall_entry;
	g[REG_RSP] = (greg_t)self->upcall_top;
	g[REG_RDI] = (greg_t)(uintptr_t)area;
out:
	errno = saved_errno;
}

/**
 * kpf_signal_arm() - queue the timer for @deadline
 * @self: calling thread
 * @deadline: absolute CLOCK_MONOTONIC ns, non-zero
 *
 * Called by kpf_arm_deadline() only when no expiry is queued or the queued one is
 * later than @deadline.
 */
void kpf_signal_arm(struct kpf_thread *self, uint64_t deadline)
{
	kpf_signal_settime(self, deadline);
}

/**
 * kpf_signal_disarm() - stop the queued timer; see kpf_disarm()
 * @self: calling thread
 */
void kpf_signal_disarm(struct kpf_thread *self)
{
	static const struct itimerspec zero;

	self->stats.arm_syscalls++;
	if (timer_settime(self->timer, 0, &zero, NULL))
		kpf_die("timer_settime() failed to disarm: %s",
			strerror(errno));
	__atomic_store_n(&self->area.armed_ns, 0, __ATOMIC_SEQ_CST);
}

/**
 * kpf_signal_thread_init() - create the calling thread's timer
 * @self: calling thread
 *
 * Return: 0 or -errno.
 */
int kpf_signal_thread_init(struct kpf_thread *self)
{
	struct sigevent sev;
	sigset_t set;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = kpf_g.signo;
	sev.sigev_value.sival_ptr = self;
	sev.sigev_notify_thread_id = self->tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &self->timer))
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, kpf_g.signo);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

/**
 * kpf_signal_thread_exit() - delete the exiting thread's timer
 * @self: the exiting thread
 */
void kpf_signal_thread_exit(struct kpf_thread *self)
{
	self->backend_ready = 0;
	timer_delete(self->timer);
}

/**
 * kpf_signal_check() - is the timer signal still ours and deliverable?
 * @self: calling thread, outside any task
 *
 * Called by kpf_launch()/kpf_resume() at depth 0: every time while a
 * problem stands, else at most every KPF_SIGNAL_CHECK_NS (two system
 * calls) or right after a task overran its deadline without an expiry.
 * A blocked signal may have an expiry queued: it is dropped, so that
 * unblocking later cannot interrupt anything.
 *
 * Return: 0, or -EBUSY (reported on stderr once per thread and cause)
 * if another handler took the signal or the thread blocks it.
 */
int kpf_signal_check(struct kpf_thread *self)
{
	static const struct timespec zero;
	uint64_t now = kpf_clock_ns(self);	/* TSC: no vDSO call per launch */
	struct sigaction cur;
	sigset_t mask, one;
	int why = 0;

	if (!self->signal_bad && now < self->signal_check_ns)
		return 0;
	self->signal_check_ns = now + KPF_SIGNAL_CHECK_NS;
	/* the kernel's disposition: libkpf's sigaction() reports the program's */
	if (__sigaction(kpf_g.signo, NULL, &cur) == 0 &&
	    (!(cur.sa_flags & SA_SIGINFO) ||
	     cur.sa_sigaction != kpf_signal_handler))
		why = 1;
	else if (pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
		 sigismember(&mask, kpf_g.signo))
		why = 2;
	if (why == 2) {
		/*
		 * Stop the timer first: an expiry drained below without our
		 * handler would leave armed_ns set, and a later launch would
		 * trust an expiry that no longer comes.
		 */
		if (__atomic_load_n(&self->area.armed_ns, __ATOMIC_RELAXED))
			kpf_signal_disarm(self);
		sigemptyset(&one);
		sigaddset(&one, kpf_g.signo);
		while (sigtimedwait(&one, NULL, &zero) > 0)
			;
	}
	if (why && why != self->signal_bad)
		fprintf(stderr,
			"kpf: signal %d of the signal backend %s: tasks cannot be preempted, kpf_launch() fails with EBUSY (%s)\n",
			kpf_g.signo,
			why == 1 ? "got another handler" :
				   "is blocked in this thread",
			why == 1 ? "leave it to libkpf or choose another with KPF_SIGNAL" :
				   "unblock it in threads that run tasks");
	self->signal_bad = why;
	return why ? -EBUSY : 0;
}

/* A handler-less real-time signal: not used by the program (yet). */
static int kpf_signal_free(int sig)
{
	struct sigaction cur;

	if (__sigaction(sig, NULL, &cur))
		return 0;
	return !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
}

/*
 * ... and not blocked in the initializing thread: a program that blocks a
 * signal to take it with sigwaitinfo() (in every thread, before creating
 * them) has no handler for it either, and libkpf, which unblocks its
 * signal in each thread that uses it, would catch the program's.
 */
static int kpf_signal_unused(int sig, const sigset_t *blocked)
{
	return sigismember(blocked, sig) != 1 && kpf_signal_free(sig);
}

/**
 * kpf_signal_process_init() - choose the timer signal, install its handler
 *
 * kpf_g.signo 0: the first real-time signal from SIGRTMIN + 4 up (then
 * SIGRTMIN..SIGRTMIN + 3) that has no handler and is not blocked in the
 * calling thread. A signal the program named
 * is refused if it has a handler (or is ignored).
 *
 * Return: 0, or -EBUSY (with a message) if no signal is free or the named
 * one is in use, or another -errno.
 */
int kpf_signal_process_init(void)
{
	int n = SIGRTMAX - SIGRTMIN + 1, i, sig = kpf_g.signo;
	struct sigaction sa, prev;
	sigset_t blocked;

	if (sig && !kpf_signal_free(sig)) {
		fprintf(stderr,
			"kpf: signal %d (KPF_SIGNAL or kpf_config.signal) already has a handler: refusing to take it over; choose another or leave it unset\n",
			sig);
		return -EBUSY;
	}
	if (kpf_sigmask_raw(SIG_BLOCK, NULL, &blocked))
		sigemptyset(&blocked);
	for (i = 0; !sig && i < n; i++)
		if (kpf_signal_unused(SIGRTMIN + (4 + i) % n, &blocked))
			sig = SIGRTMIN + (4 + i) % n;
	if (!sig) {
		fprintf(stderr,
			"kpf: every real-time signal has a handler or is blocked: the signal backend has none to use\n");
		return -EBUSY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kpf_signal_handler;
	/* SA_RESTART: interrupted read() & co. restart rather than fail */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (__sigaction(sig, &sa, &prev))
		return -errno;
	kpf_g.signo = sig;
	/* from now on the program's sigaction() for it sets prev */
	kpf_signal_own(sig, &prev);
	return 0;
}
