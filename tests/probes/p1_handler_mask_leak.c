/* A signal handler of the program, run inside a task, calls pthread_sigmask()
 * (glibc's own functions do: e.g. any handler that blocks something briefly).
 * libkpf records the handler's mask (which blocks SIGUSR1 itself) as the
 * launcher's, and puts it back on the launcher when the task returns:
 * SIGUSR1 stays blocked in the launcher forever. No preemption involved.
 * Build: cc -D_GNU_SOURCE -I../../include p1_handler_mask_leak.c -L../../build/ulib -Wl,-rpath,$PWD/../../build/ulib -lkpf -lpthread */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
static void h(int s)
{
	sigset_t x;
	sigemptyset(&x);
	sigaddset(&x, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &x, NULL);
	pthread_sigmask(SIG_UNBLOCK, &x, NULL);
}
static void fn(void *a) { raise(SIGUSR1); }
int main(void)
{
	kpf_task *t;
	sigset_t m;
	signal(SIGUSR1, h);
	int r = kpf_launch(&t, fn, NULL, 1000000000ull);
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	printf("launch=%d  launcher has SIGUSR1 blocked after the task: %d (expected 0)\n",
	       r, sigismember(&m, SIGUSR1));
	return sigismember(&m, SIGUSR1) ? 1 : 0;
}
