/* While thread A runs a task, thread B resets libkpf's signal to SIG_DFL
 * (argv[1]=dfl) or SIG_IGN (argv[1]=ign), with sigaction() (which libkpf
 * sees) -- e.g. generic "reset all signals" code, or a save/restore of
 * dispositions in a library. Result: dfl -> the whole process dies
 * "Real-time signal N" at A's next expiry; ign -> A's task is never stopped
 * again (kpf_launch with a 200 ms budget runs until the 3 s alarm). */
#include <kpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static volatile int go;
static void spin(void *a) { while (!go) ; for (;;) ; }
static void *b(void *a)
{
	struct sigaction sa;
	usleep(50000);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = *(char *)a == 'd' ? SIG_DFL : SIG_IGN;
	sigaction(SIGRTMIN + 4, &sa, NULL);
	go = 1;
	return NULL;
}
static void on_alarm(int s) { static const char m[] = "task not stopped after 3 s (budget 200 ms)\n"; write(2, m, sizeof(m) - 1); _exit(2); }
int main(int argc, char **argv)
{
	kpf_task *t;
	pthread_t th;
	struct sigaction cur;
	kpf_init(NULL);
	sigaction(SIGRTMIN + 4, NULL, &cur);
	printf("libkpf signal is SIGRTMIN+4: %s\n", (cur.sa_flags & SA_SIGINFO) ? "yes" : "no");
	fflush(stdout);
	signal(SIGALRM, on_alarm);
	alarm(3);
	pthread_create(&th, NULL, b, argc > 1 ? argv[1] : "dfl");
	int r = kpf_launch(&t, spin, NULL, 200000000ull);
	printf("launch returned %d\n", r);
	return 0;
}
