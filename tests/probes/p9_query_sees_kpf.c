/* What a program sees when it queries libkpf's signal and SIGSEGV, and a
 * save/modify/restore of the signal's disposition from a library. */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
static void fn(void *a) { }
static void mine(int s) { }
int main(void)
{
	struct sigaction old, sa, segv;
	kpf_task *t;
	kpf_init(NULL);
	sigaction(SIGRTMIN + 4, NULL, &old);
	sigaction(SIGSEGV, NULL, &segv);
	printf("SIGRTMIN+4 handler visible to program: %p flags %#x; SIGSEGV: %p\n",
	       (void *)old.sa_sigaction, old.sa_flags, (void *)segv.sa_sigaction);
	memset(&sa, 0, sizeof(sa)); sa.sa_handler = mine;
	sigaction(SIGRTMIN + 4, &sa, NULL);
	printf("launch with program's handler: %d\n", kpf_launch(&t, fn, NULL, 1000000));
	sigaction(SIGRTMIN + 4, &old, NULL);
	printf("launch after restoring: %d\n", kpf_launch(&t, fn, NULL, 1000000));
	return 0;
}
