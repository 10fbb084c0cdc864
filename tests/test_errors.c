// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Misuse gives a documented error or a clear abort, never undefined
 * behaviour: kpf_pause() outside a task, an unbalanced kpf_defer_end(),
 * cancelling a running task, resuming a running task, bad kpf_init()
 * configurations, and forcing the kmod backend without the module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kpf.h>
#include "ktest.h"
#include "child.h"

static void pause_outside(void)
{
	kpf_pause();
}

static void unbalanced_defer(void)
{
	kpf_defer_begin();
	kpf_defer_end();
	kpf_defer_end();
}

static kpf_task *self_handle;

static void cancel_self_task(void *arg)
{
	kpf_pause();
	kpf_cancel(self_handle);
}

static void cancel_running(void)
{
	kpf_launch(&self_handle, cancel_self_task, NULL, KPF_FOREVER);
	kpf_resume(self_handle, KPF_FOREVER);
}

static kpf_task *outer_handle;
static int resume_running_rc = 1;

static void resume_running_task(void *arg)
{
	kpf_pause();
	resume_running_rc = kpf_resume(outer_handle, KPF_FOREVER);
}

/* in a fresh process (exec), since this one has initialized already */
static void forced_kmod(void)
{
	setenv("KPF_BACKEND", "kmod", 1);
	execl("/proc/self/exe", "test_errors", "--forced-kmod", (char *)NULL);
	_exit(13);
}

static int forced_kmod_exec(void)
{
	int r = kpf_init(NULL);

	return r == -ENODEV ? 10 : r == 0 ? 11 : 12;
}

int main(int argc, char **argv)
{
	struct child_result res;
	struct kpf_config bad = { .size = sizeof(bad), .stack_size = 1024 };
	int r;

	if (argc > 1 && !strcmp(argv[1], "--forced-kmod"))
		return forced_kmod_exec();

	ktest_plan(9);
	child_run(pause_outside, &res);
	KTEST_EXPECT(child_aborted(&res) &&
		     strstr(res.err, "kpf_pause() called outside a preemptible function"),
		     "kpf_pause outside a task aborts with a message");
	child_run(unbalanced_defer, &res);
	KTEST_EXPECT(child_aborted(&res) &&
		     strstr(res.err, "kpf_defer_end() without a matching kpf_defer_begin()"),
		     "unbalanced kpf_defer_end aborts with a message");
	child_run(cancel_running, &res);
	KTEST_EXPECT(child_aborted(&res) && strstr(res.err, "the task is running"),
		     "cancelling a running task aborts with a message");

	/* in this process: the configuration is checked before first use */
	KTEST_EXPECT(kpf_init(&bad) == -EINVAL,
		     "kpf_init with a 1 KiB stack gives -EINVAL");
	bad.stack_size = 0;
	bad.signal = 1;
	KTEST_EXPECT(kpf_init(&bad) == -EINVAL,
		     "kpf_init with a non-real-time signal gives -EINVAL");
	KTEST_EXPECT(kpf_init(NULL) == 0 && kpf_init(NULL) == 0,
		     "kpf_init(NULL) succeeds and is idempotent (backend %s)",
		     kpf_backend());

	r = kpf_launch(&outer_handle, resume_running_task, NULL, KPF_FOREVER);
	if (r == KPF_PREEMPTED)
		r = kpf_resume(outer_handle, KPF_FOREVER);
	KTEST_EXPECT(r == KPF_DONE && resume_running_rc == -EBUSY,
		     "a task resuming itself gets -EBUSY (%d)", resume_running_rc);

	if (access("/dev/kpf", F_OK) == 0) {
		ktest_skip("KPF_BACKEND=kmod without the module gives -ENODEV",
			   "/dev/kpf exists here");
		ktest_skip("and explains why", "/dev/kpf exists here");
	} else {
		child_run(forced_kmod, &res);
		KTEST_EXPECT(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 10,
			     "KPF_BACKEND=kmod without the module gives -ENODEV (status 0x%x)",
			     res.status);
		KTEST_EXPECT(strstr(res.err, "KPF_BACKEND=kmod") &&
			     strstr(res.err, "kpf.ko"),
			     "and explains why: %s", strtok(res.err, "\n") ?: "");
	}
	return ktest_finish();
}
