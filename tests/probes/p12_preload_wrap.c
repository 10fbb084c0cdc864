/* LD_PRELOAD'd sigaction wrapper (libjsig/libsigchain style, calls the next
 * sigaction via dlsym(RTLD_NEXT)): libkpf must still see a takeover.
 * Build: cc -shared -fPIC -o p12_preload_wrap.so p12_preload_wrap.c -ldl
 * Run:   LD_PRELOAD=./p12_preload_wrap.so ./p9_query_sees_kpf  (expect -16 then 0) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
int sigaction(int s, const struct sigaction *a, struct sigaction *o)
{
	static int (*next)(int, const struct sigaction *, struct sigaction *);
	if (!next)
		next = dlsym(RTLD_NEXT, "sigaction");
	return next(s, a, o);
}
