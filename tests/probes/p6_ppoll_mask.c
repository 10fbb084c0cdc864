/* A task waits with ppoll()/pselect()/sigsuspend()/epoll_pwait() and a mask
 * that blocks every signal: glibc passes the mask to the kernel directly,
 * libkpf's filter is bypassed, the wait runs its whole 1 s with a 10 ms
 * budget (without the mask the expiry interrupts it at ~10 ms). */
#include <kpf.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int blockall;
static void fn(void *a)
{
	int p[2];
	struct pollfd pf;
	sigset_t m;
	struct timespec ts = { 1, 0 };
	pipe(p);
	pf.fd = p[0]; pf.events = POLLIN;
	if (blockall) sigfillset(&m); else sigemptyset(&m);
	ppoll(&pf, 1, &ts, &m);
}
int main(void)
{
	kpf_task *t;
	for (blockall = 0; blockall < 2; blockall++) {
		double t0 = now();
		int r = kpf_launch(&t, fn, NULL, 10000000ull);
		printf("ppoll mask %s: launch=%d after %.0f ms (budget 10 ms)\n",
		       blockall ? "all   " : "empty ", r, (now() - t0) * 1e3);
		if (r == KPF_PREEMPTED) kpf_cancel(t);
	}
	return 0;
}
