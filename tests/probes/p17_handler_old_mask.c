/* Review of sig9 (rev9): a signal delivered while sigaction() installs a
 * new handler runs the NEW handler with the OLD disposition's sa_mask
 * and flags (the trampoline reads the handler from libkpf's table, which
 * is written before the kernel's disposition). Natively a handler always
 * runs with its own sa_mask. hB is installed with SIGUSR2 in its sa_mask,
 * hA with none; a sender thread spams SIGUSR1 at the main thread, which
 * flips hA/hB. Prints how often hB ran without SIGUSR2 blocked (glibc: 0). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static volatile long na, nb, wrong, stop;
static pid_t main_tid;
static void hA(int s) { na++; }
static void hB(int s) { sigset_t m; nb++; pthread_sigmask(SIG_BLOCK, NULL, &m); if (!sigismember(&m, SIGUSR2)) wrong++; }
static void *sender(void *a) { while (!stop) syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1); return NULL; }
int main(void)
{
	struct sigaction a, b;
	pthread_t t;
	memset(&a, 0, sizeof(a)); memset(&b, 0, sizeof(b));
	a.sa_handler = hA; b.sa_handler = hB; sigaddset(&b.sa_mask, SIGUSR2);
	main_tid = syscall(SYS_gettid);
	sigaction(SIGUSR1, &a, NULL);
	pthread_create(&t, NULL, sender, NULL);
	for (int i = 0; i < 200000; i++) {
		sigaction(SIGUSR1, &a, NULL);
		sigaction(SIGUSR1, &b, NULL);
	}
	stop = 1;
	pthread_join(t, NULL);
	printf("hA %ld hB %ld, hB without its sa_mask: %ld\n", na, nb, wrong);
	return wrong != 0;
}
