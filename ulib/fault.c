// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fatal errors: misuse of the API, and a task overflowing its stack.
 *
 * A stack overflow runs into the PROT_NONE guard below the task's stack.
 * The SIGSEGV handler runs on the thread's alternate signal stack (the
 * task stack is exhausted), recognises the guard of the running task and
 * aborts with a message instead of letting the program die mysteriously.
 * Faults that are not ours go to the handler that was there before.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

static struct sigaction kpf_old_segv;

/**
 * kpf_die() - print "kpf: <message>" to stderr and abort
 * @fmt: printf format
 */
void kpf_die(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "kpf: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		_exit(127);
	abort();
}

/* Async-signal-safe decimal formatting for the overflow report. */
static char *kpf_utoa(char *end, unsigned long v)
{
	*--end = '\0';
	do {
		*--end = '0' + v % 10;
		v /= 10;
	} while (v);
	return end;
}

/*
 * A frame bigger than the guard (a big array, alloca(), code built
 * without -fstack-clash-protection) moves rsp past the guard without
 * touching it. When the memory it lands in is not mapped, the fault is
 * neither in the guard nor the task's stack, but rsp is just below the
 * task's stack (not on the alternate or upcall stack) and the faulting
 * address near it: the same overflow (a 136 KiB frame on a 64 KiB stack
 * died of a plain SIGSEGV). Written into mapped memory instead, it is
 * the canaries' business (stack_pool.c).
 */
#define KPF_JUMP_MAX	(16ul << 20)	/* rsp this far below the stack */
#define KPF_JUMP_NEAR	(64ul << 10)	/* fault this far below rsp */

static int kpf_fault_jumped_guard(struct kpf_thread *self,
				  const struct kpf_task *t, uintptr_t addr,
				  const void *ucv)
{
	const ucontext_t *uc = ucv;
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];

	if (sp >= t->stack_lo || sp + KPF_JUMP_MAX < t->stack_lo)
		return 0;
	if (sp >= self->altstack_lo && sp < self->altstack_hi)
		return 0;
	if (sp >= (uintptr_t)self->upcall_map && sp <= self->upcall_top)
		return 0;
	return addr + KPF_JUMP_NEAR >= sp && addr < t->stack_lo;
}

static void kpf_fault_handler(int sig, siginfo_t *si, void *uc)
{
	struct kpf_thread *self = kpf_tls_self;
	struct kpf_task *t = self ? self->current : NULL;
	uintptr_t addr = (uintptr_t)si->si_addr;
	char num[32], msg[224];
	int jumped = 0;
	size_t len;

	if (t && ((addr >= (uintptr_t)t->map && addr < t->stack_lo) ||
		  (jumped = kpf_fault_jumped_guard(self, t, addr, uc)))) {
		len = 0;
		msg[0] = '\0';
		strcat(msg, "kpf: stack overflow in preemptible function (stack ");
		strcat(msg, kpf_utoa(num + sizeof(num),
				     kpf_g.stack_size / 1024));
		strcat(msg, jumped ? " KiB): a frame jumped the guard; build task code with -fstack-clash-protection\n" :
				     " KiB)\n");
		len = strlen(msg);
		if (write(STDERR_FILENO, msg, len) < 0)
			_exit(127);
		abort();
	}
	if (self && addr >= (uintptr_t)self->upcall_map &&
	    addr < (uintptr_t)self->upcall_map + self->upcall_guard) {
		static const char m[] = "kpf: upcall stack overflow\n";

		if (write(STDERR_FILENO, m, sizeof(m) - 1) < 0)
			_exit(127);
		abort();
	}
	/* not ours: the previous disposition decides */
	if (kpf_old_segv.sa_flags & SA_SIGINFO) {
		kpf_old_segv.sa_sigaction(sig, si, uc);
	} else if (kpf_old_segv.sa_handler == SIG_IGN && si->si_code <= 0) {
		/* sent (kill, raise, sigqueue), and the program ignores it */
	} else if (kpf_old_segv.sa_handler == SIG_DFL ||
		   kpf_old_segv.sa_handler == SIG_IGN) {
		/*
		 * A fault: return, fault again, get the default action (core
		 * dump). A sent SIGSEGV (si_code <= 0) does not come again:
		 * send it once more (SA_NODEFER: it is not blocked here).
		 */
		signal(sig, SIG_DFL);
		if (si->si_code <= 0)
			raise(sig);
	} else {
		kpf_old_segv.sa_handler(sig);
	}
}

/**
 * kpf_fault_init() - install the stack overflow reporter
 *
 * Return: 0 or -errno.
 */
int kpf_fault_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = kpf_fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &kpf_old_segv))
		return -errno;
	return 0;
}
