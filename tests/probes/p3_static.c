/* Static link: does libkpf.a's sigaction/pthread_sigmask/sigprocmask link
 * against libc.a (duplicate symbols?) and which one runs?  A task blocks
 * every signal with sigprocmask() and spins: it must still be preempted. */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static void fn(void *a)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (;;) ;
}
static void on_alarm(int s) { _exit(2); }
int main(void)
{
	kpf_task *t;
	signal(SIGALRM, on_alarm);
	alarm(3);
	int r = kpf_launch(&t, fn, NULL, 10000000ull);
	printf("static: launch=%d (1 = preempted)\n", r);
	struct sigaction sa = { .sa_handler = SIG_IGN };
	/* libkpf's sigaction must be the one linked: the next launch must see it */
	sigaction(SIGRTMIN + 4, &sa, NULL);
	r = kpf_launch(&t, fn, NULL, 10000000ull);
	printf("static: launch after SIG_IGN via sigaction=%d (-16 = EBUSY expected)\n", r);
	return 0;
}
