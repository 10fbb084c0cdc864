/* Review of sig9 (rev9): siglongjmp() out of a wrapped handler inside a
 * task (to a sigsetjmp(,1) in the task), 1000 times per task with
 * preemptions in between, and a task whose handler blocks SIGUSR2 then
 * longjmps; afterwards the launcher's mask must be what it was (SIGUSR1
 * and SIGUSR2 unblocked) and handlers keep running. Also fork(),
 * posix_spawn() and vfork()+exec children with wrapped handlers. */
#include <kpf.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static volatile long hits;
static __thread sigjmp_buf jb;
static void hj(int s) { sigset_t b; hits++; sigemptyset(&b); sigaddset(&b, SIGUSR2); pthread_sigmask(SIG_BLOCK, &b, NULL); siglongjmp(jb, 1); }
static void task(void *arg)
{
	for (volatile int i = 0; i < 1000; i++) {
		if (!sigsetjmp(jb, 1))
			raise(SIGUSR1);
		for (volatile int k = 0; k < 20000; k++)
			;
	}
}
static int blocked(int s) { sigset_t m; pthread_sigmask(SIG_BLOCK, NULL, &m); return sigismember(&m, s); }
int main(void)
{
	kpf_task *t;
	int r, st, bad = 0;
	pid_t pid;
	char *argv[] = { "sh", "-c", "grep -E 'SigCgt|SigIgn' /proc/self/status", NULL };
	signal(SIGUSR1, hj);
	for (int n = 0; n < 3; n++) {
		int pre = 0;
		r = kpf_launch(&t, task, NULL, 1000000);
		while (r == KPF_PREEMPTED) { pre++; r = kpf_resume(t, 1000000); }
		printf("task %d: r=%d preempted %d, hits %ld, launcher USR1 blocked %d USR2 blocked %d\n",
		       n, r, pre, hits, blocked(SIGUSR1), blocked(SIGUSR2));
		bad |= r != KPF_DONE || blocked(SIGUSR1) || blocked(SIGUSR2);
	}
	if ((pid = fork()) == 0) {
		_exit(blocked(SIGUSR1) ? 1 : 0);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, (void (*)(int))hj);
	printf("exec'd child (USR2 handled, USR1 ignored: SigCgt without 0x800, SigIgn with 0x200):\n");
	posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	waitpid(pid, &st, 0);
	if ((pid = vfork()) == 0) { execve("/bin/sh", argv, environ); _exit(127); }
	waitpid(pid, &st, 0);
	/* a vfork child (UB by POSIX, but old code does it) resetting signals
	 * before exec: natively the child's sighand is its own */
	{
		void (*h)(int) = (void (*)(int))hj, *got1, *got2;
		struct sigaction o;
		signal(SIGUSR2, h);
		signal(SIGRTMIN + 4, h);
		if ((pid = vfork()) == 0) {
			signal(SIGUSR2, SIG_IGN + 0 * 0);
			signal(SIGUSR2, (void (*)(int))task);
			signal(SIGRTMIN + 4, SIG_DFL);
			execve("/bin/true", argv, environ);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		sigaction(SIGUSR2, NULL, &o); got1 = o.sa_handler;
		sigaction(SIGRTMIN + 4, NULL, &o); got2 = o.sa_handler;
		printf("after a vfork child's signal(): parent's USR2 handler %s, RT+4 %s\n",
		       got1 == h ? "kept" : "CHANGED", got2 == h ? "kept" : "CHANGED");
	}
	printf("%s\n", bad ? "FAIL" : "ok");
	return bad;
}
