/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Run a function in a child process and capture how it ended and what it
 * wrote to stderr: for checking fatal error reports.
 */
#ifndef KPF_CHILD_H
#define KPF_CHILD_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct child_result {
	int status;		/* waitpid status */
	char err[1024];		/* stderr, NUL-terminated */
};

static inline void child_run(void (*fn)(void), struct child_result *res)
{
	int pipefd[2];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe(pipefd))
		abort();
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], STDERR_FILENO);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	close(pipefd[1]);
	/*
	 * Read to the end: closing the pipe after the first 1,023 bytes
	 * killed a child still writing with SIGPIPE (test_libset's
	 * reentering tasks print many messages before one aborts: status
	 * 0xd instead of SIGABRT).
	 */
	for (;;) {
		char rest[256];

		if (len < sizeof(res->err) - 1)
			n = read(pipefd[0], res->err + len,
				 sizeof(res->err) - 1 - len);
		else
			n = read(pipefd[0], rest, sizeof(rest));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(res->err) - 1)
			len += n;
	}
	close(pipefd[0]);
	waitpid(pid, &res->status, 0);
}

static inline int child_aborted(const struct child_result *res)
{
	return WIFSIGNALED(res->status) && WTERMSIG(res->status) == SIGABRT;
}

#endif /* KPF_CHILD_H */
