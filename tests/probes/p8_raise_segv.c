/* libkpf's SIGSEGV reporter (fault.c), installed by kpf_init(), treats every
 * SIGSEGV as a fault that will repeat: with the default disposition before
 * it, it resets SIG_DFL and returns. A SIGSEGV that is not a fault
 * (raise(), kill -SEGV, pthread_kill; e.g. a program's "crash here on
 * purpose", or a supervisor killing it) is swallowed: the program goes on.
 * Without libkpf (or before kpf_init) the same raise() kills it. */
#include <kpf.h>
#include <signal.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	if (argc < 2) kpf_init(NULL);
	raise(SIGSEGV);
	printf("survived raise(SIGSEGV)%s\n", argc < 2 ? " with libkpf initialized" : "");
	return 1;
}
