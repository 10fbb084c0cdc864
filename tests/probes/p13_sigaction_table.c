/* Review of sig9 (rev9): what a program sees from sigaction() after
 * installing X, with and without libkpf. Build twice (build.sh):
 * p13_sigaction_table (libkpf, kpf_init: libkpf holds SIGRTMIN+4) and
 * p13_sigaction_table_glibc; `diff` their outputs: every line should match. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef WITH_KPF
#include <kpf.h>
#endif
static volatile int hits, blocked_in, code_in, pid_ok;
static sigjmp_buf jb;
static void h(int s) { sigset_t m; hits++; pthread_sigmask(SIG_BLOCK, NULL, &m); blocked_in = sigismember(&m, s); }
static void hi(int s, siginfo_t *si, void *uc) { h(s); code_in = si->si_code; pid_ok = si->si_pid == getpid(); }
static void hj(int s) { hits++; siglongjmp(jb, 1); }
static void segv(int s, siginfo_t *si, void *ucv) { ucontext_t *uc = ucv; hits++; uc->uc_mcontext.gregs[REG_RIP] += 2; }
#define FL (SA_SIGINFO | SA_RESETHAND | SA_NODEFER | SA_ONSTACK | SA_RESTART)
static void show(const char *what, int sig)
{
	struct sigaction o;
	sigaction(sig, NULL, &o);
	printf("  %-22s handler=%s flags=%#x mask_has_sig=%d\n", what,
	       o.sa_handler == SIG_DFL ? "DFL" : o.sa_handler == SIG_IGN ? "IGN" :
	       o.sa_sigaction == hi ? "hi" : o.sa_handler == h ? "h" : "??",
	       o.sa_flags & FL, sigismember(&o.sa_mask, sig));
}
static void one(int sig, int flags)
{
	struct sigaction a;
	stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16 };
	sigaltstack(&ss, NULL);
	memset(&a, 0, sizeof(a));
	if (flags & SA_SIGINFO) a.sa_sigaction = hi; else a.sa_handler = h;
	a.sa_flags = flags;
	hits = blocked_in = code_in = pid_ok = 0;
	sigaction(sig, &a, NULL);
	printf(" sig=%s flags=%#x\n", sig == SIGUSR1 ? "USR1" : "RT+4", flags);
	show("installed", sig);
	sigqueue(getpid(), sig, (union sigval){ 0 });
	printf("  ran=%d blocked_in_handler=%d si_code=%d si_pid_ok=%d\n", hits, blocked_in, code_in, pid_ok);
	show("after one signal", sig);
	signal(sig, SIG_DFL);
}
static void err(const char *what, int r)
{
	printf(" %-28s r=%d errno=%s\n", what, r, r ? strerror(errno) : "-");
	errno = 0;
}
int main(void)
{
	struct sigaction a;
	int sigs[] = { SIGUSR1, SIGRTMIN + 4 }, fl[] = { 0, SA_SIGINFO, SA_RESETHAND,
		SA_RESETHAND | SA_SIGINFO, SA_NODEFER, SA_ONSTACK, SA_RESTART };
	setvbuf(stdout, NULL, _IONBF, 0);
#ifdef WITH_KPF
	kpf_init(NULL);
#endif
	for (int i = 0; i < 2; i++)
		for (unsigned j = 0; j < sizeof(fl) / sizeof(fl[0]); j++)
			one(sigs[i], fl[j]);
	for (int i = 0; i < 2; i++) {
		printf(" sig=%d via signal()/sysv_signal()/sigset()\n", i);
		signal(sigs[i], h); show("signal", sigs[i]);
		sysv_signal(sigs[i], h); show("sysv_signal", sigs[i]);
		sigset(sigs[i], h); show("sigset", sigs[i]);
		siginterrupt(sigs[i], 1); show("siginterrupt 1", sigs[i]);
		signal(sigs[i], SIG_DFL);
	}
	memset(&a, 0, sizeof(a));
	a.sa_handler = h;
	err("sigaction(0, h)", sigaction(0, &a, NULL));
	err("sigaction(SIGKILL, h)", sigaction(SIGKILL, &a, NULL));
	err("sigaction(SIGSTOP, h)", sigaction(SIGSTOP, &a, NULL));
	err("sigaction(32, h)", sigaction(32, &a, NULL));
	err("sigaction(33, h)", sigaction(33, &a, NULL));
	err("sigaction(65, h)", sigaction(65, &a, NULL));
	err("sigaction(SIGKILL, NULL,&o)", sigaction(SIGKILL, NULL, &a));
	a.sa_handler = SIG_IGN;
	err("sigaction(SIGKILL, IGN)", sigaction(SIGKILL, &a, NULL));
	err("signal(SIGKILL, h)==SIG_ERR", signal(SIGKILL, h) == SIG_ERR ? -1 : 0);
	err("signal(32, h)==SIG_ERR", signal(32, h) == SIG_ERR ? -1 : 0);
	/* SIGSEGV handler skipping the faulting 2-byte "mov (%rax),%eax" */
	memset(&a, 0, sizeof(a));
	a.sa_sigaction = segv; a.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &a, NULL);
	hits = 0;
	{ long z = 0; __asm__ volatile("movl (%0), %%eax" : : "r"(z) : "eax", "memory"); }
	printf(" SIGSEGV skip via uc rip: survived, handler ran %d\n", hits);
	/* siglongjmp out of a handler, outside any task */
	signal(SIGUSR1, hj); hits = 0;
	for (int k = 0; k < 3; k++)
		if (!sigsetjmp(jb, 1)) raise(SIGUSR1);
	{ sigset_t m; pthread_sigmask(SIG_BLOCK, NULL, &m);
	  printf(" siglongjmp x3: ran %d, USR1 blocked after=%d\n", hits, sigismember(&m, SIGUSR1)); }
	/* SIG_IGN inherited across exec (nohup-style) */
	signal(SIGUSR2, SIG_IGN);
	signal(SIGRTMIN + 4, SIG_IGN);
	if (fork() == 0) {
		execl("/bin/sh", "sh", "-c", "grep SigIgn /proc/self/status", (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	printf(" (expected SigIgn bits: USR2=0x800, RT+4 (sig 38)=0x2000000000)\n");
	return 0;
}
