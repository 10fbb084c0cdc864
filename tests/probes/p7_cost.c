/* Cost of sigaction()/pthread_sigmask() outside tasks, with libkpf linked
 * (and initialized) vs plain glibc: build twice, see build.sh. */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#ifdef WITH_KPF
#include <kpf.h>
#endif
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(void)
{
	enum { N = 400000 };
	struct sigaction sa = { .sa_handler = SIG_IGN }, o;
	sigset_t s, old;
	double t0, a, b, c;
#ifdef WITH_KPF
	kpf_init(NULL);
#endif
	sigemptyset(&s); sigaddset(&s, SIGUSR1);
	for (int rep = 0; rep < 3; rep++) {
		t0 = now();
		for (int i = 0; i < N; i++) sigaction(SIGUSR2, &sa, &o);
		a = (now() - t0) / N; t0 = now();
		for (int i = 0; i < N; i++) pthread_sigmask(SIG_BLOCK, &s, &old);
		b = (now() - t0) / N; t0 = now();
		for (int i = 0; i < N; i++) sigprocmask(SIG_UNBLOCK, &s, &old);
		c = (now() - t0) / N;
		printf("%s sigaction %.0f ns  pthread_sigmask %.0f ns  sigprocmask %.0f ns\n",
#ifdef WITH_KPF
		       "libkpf",
#else
		       "glibc ",
#endif
		       a, b, c);
	}
	return 0;
}
