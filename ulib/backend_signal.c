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
 */
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

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

static void kpf_signal_handler(int sig, siginfo_t *si, void *ucv)
{
	struct kpf_thread *self = kpf_tls_self;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct kpf_area *area;
	struct kpf_frame *f;
	int saved_errno = errno;
	uint64_t deadline, now;

	(void)sig;
	if (!self || si->si_code != SI_TIMER || !self->backend_ready)
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
 * Called by kpf_arm() only when no expiry is queued or the queued one is
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
 * kpf_signal_process_init() - install the timer signal handler
 *
 * Return: 0 or -errno.
 */
int kpf_signal_process_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kpf_signal_handler;
	/* SA_RESTART: interrupted read() & co. restart rather than fail */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(kpf_g.signo, &sa, NULL))
		return -errno;
	return 0;
}
