/* Another process (or this one) queues libkpf's signal with si_code
 * SI_TIMER (rt_sigqueueinfo allows any negative si_code towards other
 * processes): libkpf ignores it as "a stale timer of ours" instead of the
 * default action the docs promise for signals not from the thread's timer.
 * Same for a POSIX timer of the program's own on that signal. */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
	siginfo_t si;
	kpf_init(NULL);
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN + 4;
	si.si_code = SI_TIMER;
	syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN + 4, &si);
	usleep(100000);
	printf("still alive after a foreign SI_TIMER-coded RT signal (default action: terminate)\n");
	return 1;
}
