/* Review of sig9 (rev9): threads racing sigaction() with signals arriving.
 * argv[1] = "usr1" (a wrapped handler) or "kpf" (libkpf's own signal,
 * recorded disposition, seqcount read in the handler, SA_RESETHAND path
 * taking the writer lock from the handler). Two setter threads flip the
 * disposition between h1 (SA_RESETHAND), h2 and a handler that itself
 * calls sigaction(); a sender thread queues signals to them; the main
 * thread checks the result for 2 s (a glibc-only build passes). A deadlock trips the 10 s alarm. */
#include <kpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static int sig;
static volatile int stop;
static volatile long n1, n2, n3, bad;
static pid_t tids[2];
static void h1(int s)
{
	/* one-shot, re-armed as SysV code does: signals go to setter 0 only,
	 * which has the signal blocked until this returns */
	struct sigaction a;
	memset(&a, 0, sizeof(a));
	a.sa_handler = h1; a.sa_flags = SA_RESETHAND;
	sigaction(s, &a, NULL);
	n1++;
}
static void h2(int s, siginfo_t *si, void *uc) { n2++; if (s != sig) bad++; }
static void h3(int s)
{
	struct sigaction a, o;
	memset(&a, 0, sizeof(a));
	a.sa_handler = h1;
	sigaction(s, &a, &o);	/* a writer inside the handler */
	sigaction(s, &o, NULL);
	n3++;
}
static void *setter(void *arg)
{
	struct sigaction a[3], o;
	long i = (long)arg;
	tids[i] = syscall(SYS_gettid);
	memset(a, 0, sizeof(a));
	a[0].sa_handler = h1; a[0].sa_flags = SA_RESETHAND;
	a[1].sa_sigaction = h2; a[1].sa_flags = SA_SIGINFO; sigfillset(&a[1].sa_mask);
	a[2].sa_handler = h3;
	for (unsigned k = 0; !stop; k++) {
		sigaction(sig, &a[(k + i) % 3], &o);
		if (o.sa_handler != SIG_DFL && o.sa_handler != h1 &&
		    o.sa_sigaction != h2 && o.sa_handler != h3)
			bad++;
	}
	return NULL;
}
static void *sender(void *arg)
{
	while (!stop)
		if (tids[0])
				syscall(SYS_rt_tgsigqueueinfo, getpid(), tids[0], sig,
					&(siginfo_t){ .si_code = SI_QUEUE, .si_signo = sig });
	return NULL;
}
static void on_alarm(int s) { write(2, "DEADLOCK (10 s)\n", 16); _exit(2); }
int main(int argc, char **argv)
{
	pthread_t t[3];
	struct sigaction ign = { .sa_handler = SIG_IGN };
	kpf_init(NULL);
	sig = argc > 1 && !strcmp(argv[1], "kpf") ? SIGRTMIN + 4 : SIGUSR1;
	{ struct sigaction a = { .sa_sigaction = h2, .sa_flags = SA_SIGINFO };
	  sigaction(sig, &a, NULL); }	/* never SIG_DFL while signals come */
	signal(SIGALRM, on_alarm);
	alarm(10);
	pthread_create(&t[0], NULL, setter, (void *)0);
	pthread_create(&t[1], NULL, setter, (void *)1);
	pthread_create(&t[2], NULL, sender, NULL);
	sleep(2);
	/* SIG_DFL would kill us if a signal is still queued: ignore at the end */
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	sigaction(sig, &ign, NULL);
	printf("%s: h1 %ld h2 %ld h3 %ld bad %ld\n", argc > 1 ? argv[1] : "usr1", n1, n2, n3, bad);
	return bad != 0;
}
