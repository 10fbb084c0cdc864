/* Code that does not use tasks: a SA_ONSTACK handler of the program (common
 * in libraries that may run on an alternate stack if the program set one;
 * without one the kernel runs it on the thread's normal stack) that needs
 * 96 KiB of stack. After the thread's first kpf use, libkpf has put a
 * 64 KiB alternate stack (4 KiB guard) on the thread: the same handler,
 * outside any task, now overflows it (plain SIGSEGV, or worse, a frame
 * that jumps the guard lands in whatever is mapped below).
 * argv[1] = "before": raise before kpf_init (works). */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
static volatile int sink;
static void h(int s)
{
	volatile char buf[96 * 1024];
	for (int i = sizeof(buf) - 1; i >= 0; i -= 512)	/* touch top-down, like a probe */
		buf[i] = 1;
	sink = buf[0];
}
static void noop(void *a) { }
int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("handler ran before kpf_init\n"); fflush(stdout);
	kpf_init(NULL);
	kpf_task *t;
	kpf_launch(&t, noop, NULL, 1000000000ull);
	printf("a task ran\n"); fflush(stdout);
	raise(SIGUSR1);	/* outside any task */
	printf("handler ran after kpf_init and a task\n");
	return 0;
}
