/* A library built against glibc < 2.32 binds pthread_sigmask@GLIBC_2.2.5
 * (libkpf.map exports only @GLIBC_2.32): a task that blocks every signal
 * through it is never preempted (budget 10 ms, still running at 3 s). */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int old_pthread_sigmask(int, const sigset_t *, sigset_t *);
__asm__(".symver old_pthread_sigmask, pthread_sigmask@GLIBC_2.2.5");
static void fn(void *a)
{
	sigset_t all;
	sigfillset(&all);
	old_pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (;;) ;
}
#include <pthread.h>
static void *watchdog(void *a) { sleep(3); static const char m[] = "task blocking via pthread_sigmask@GLIBC_2.2.5 not stopped after 3 s (budget 10 ms)\n"; write(2, m, sizeof(m) - 1); _exit(2); }
int main(void)
{
	kpf_task *t;
	pthread_t w;
	pthread_create(&w, NULL, watchdog, NULL);
	printf("launch=%d\n", kpf_launch(&t, fn, NULL, 10000000ull));
	return 0;
}
