/* A task waits with sigtimedwait() on every real-time signal (the kernel
 * blocks the set for the wait; the task filter is not involved): it
 * receives libkpf's timer expiry as its own signal (si_code SI_TIMER,
 * si_value = libkpf's thread) and then runs on with no limit
 * (10 ms budget, spins 500 ms after the wait, returns KPF_DONE). */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int got, code;
static void fn(void *a)
{
	sigset_t rt;
	siginfo_t si;
	struct timespec ts = { 1, 0 };
	sigemptyset(&rt);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++) sigaddset(&rt, s);
	got = sigtimedwait(&rt, &si, &ts);
	code = si.si_code;
	double t0 = now();
	while (now() - t0 < 0.5) ;
}
int main(void)
{
	kpf_task *t;
	double t0 = now();
	int r = kpf_launch(&t, fn, NULL, 10000000ull);
	printf("task's sigtimedwait got signal %d si_code %d (SI_TIMER=%d); launch=%d after %.0f ms (budget 10 ms)\n",
	       got, code, SI_TIMER, r, (now() - t0) * 1e3);
	return r == KPF_DONE;
}
