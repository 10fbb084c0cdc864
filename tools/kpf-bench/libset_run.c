// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 6, libsets: runs kpf-bench-libset, the dynamic program next to
 * this binary (libsets need dlmopen and a GOT, which this static binary
 * has not), with --ops and --where. Where it was not
 * built or carried (a guest without dynamic programs) it says so.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/**
 * kb_bench_libset() - benchmark 6: what libsets cost
 *
 * Return: 0 (also when the helper is missing: a notice), or 1 on failure.
 */
int kb_bench_libset(void)
{
	char self[PATH_MAX], helper[PATH_MAX + 32], ops[32];
	const char *argv[] = { helper, "--ops", ops, "--where", kb_opt.where,
			       NULL };
	ssize_t n;
	int status;
	char *slash;
	pid_t pid;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(helper, sizeof(helper), "%s/kpf-bench-libset", self);
	if (access(helper, X_OK)) {
		kb_progress("notice: libset: %s missing (no dynamic programs here): skipped",
			    helper);
		return 0;
	}
	snprintf(ops, sizeof(ops), "%lu", kb_opt.ops * 100);
	kb_progress("libset: %s --ops %s", helper, ops);
	fflush(NULL);
	if (posix_spawn(&pid, helper, NULL, NULL, (char *const *)argv, environ) ||
	    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "kpf-bench: libset: %s failed\n", helper);
		return 1;
	}
	return 0;
}
