/* Review of sig9 (rev9): 1M self-sent SIGUSR1 with a handler, and 1M
 * sigaction() installs; ns per signal / per call. Link with and without
 * libkpf, and against libkpf before sig9 (6e97ce0^1). */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#ifdef WITH_KPF
#include <kpf.h>
#endif
static volatile long n;
static void h(int s) { n++; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(void)
{
	struct sigaction a = { .sa_handler = h };
	double t0, t1, t2;
	int i, N = 1000000;
#ifdef WITH_KPF
	kpf_init(NULL);
#endif
	sigaction(SIGUSR1, &a, NULL);
	t0 = now();
	for (i = 0; i < N; i++)
		raise(SIGUSR1);
	t1 = now();
	for (i = 0; i < N; i++)
		sigaction(SIGUSR1, &a, NULL);
	t2 = now();
	printf("raise+handler %.0f ns  sigaction %.0f ns  (n=%ld)\n", (t1 - t0) / N, (t2 - t1) / N, n);
	return n != N;
}
