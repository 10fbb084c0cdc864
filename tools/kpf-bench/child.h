/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A measurement in a child process of its own: libkpf chooses its
 * backend, automatic deferral and libsets once per process. The child's
 * numbers come back through a pipe. Used by kpf-bench (libcost.c),
 * kpf-bench-libset and kpf-bench-defer.
 */
#ifndef KPF_BENCH_CHILD_H
#define KPF_BENCH_CHILD_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/**
 * kb_in_child() - run @fn(@arg, @out) in a child process, copy @out back
 * @fn: the measurement: fills @n doubles of @out, returns 0 or -errno
 * @arg: its argument
 * @out: receives the child's @n doubles
 * @n: how many (0: the child only prints)
 *
 * Return: 0, or -errno: -EIO when the child failed or sent less.
 */
static inline int kb_in_child(int (*fn)(const void *arg, double *out),
			      const void *arg, double *out, size_t n)
{
	ssize_t size = n * sizeof(double), got = 0, r;
	int fds[2], status, err;
	pid_t pid;

	if (pipe(fds))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (!pid) {
		close(fds[0]);
		memset(out, 0, size);
		err = fn(arg, out);
		if (!err && write(fds[1], out, size) != size)
			err = -EIO;
		fflush(NULL);
		_exit(err ? 1 : 0);
	}
	close(fds[1]);
	while (pid > 0 && got < size &&
	       (r = read(fds[0], (char *)out + got, size - got)) > 0)
		got += r;
	close(fds[0]);
	if (pid < 0)
		return -errno;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) || got != size)
		return -EIO;
	return 0;
}

#endif /* KPF_BENCH_CHILD_H */
