// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Misuse gives a documented error or a clear abort, never undefined
 * behaviour: kpf_pause() outside a task, an unbalanced kpf_defer_end(),
 * cancelling a running task, resuming a running task, bad kpf_init()
 * configurations, and forcing the kmod backend without the module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
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

static void forced_kmod(void)
{
	setenv("KPF_BACKEND", "kmod", 1);
	_exit(kpf_init(NULL) == -ENODEV ? 10 : 11);
}

static void expect_abort(struct __test_metadata *_metadata, void (*fn)(void),
			 const char *msg)
{
	struct child_result res;

	child_run(fn, &res);
	EXPECT_TRUE(child_aborted(&res)) TH_LOG("status %#x", res.status);
	EXPECT_NE(NULL, strstr(res.err, msg)) TH_LOG("stderr: '%s'", res.err);
}

TEST(pause_outside_a_task)
{
	expect_abort(_metadata, pause_outside,
		     "kpf_pause() called outside a preemptible function");
}

TEST(unbalanced_defer_end)
{
	expect_abort(_metadata, unbalanced_defer,
		     "kpf_defer_end() without a matching kpf_defer_begin()");
}

TEST(cancel_a_running_task)
{
	expect_abort(_metadata, cancel_running, "the task is running");
}

/* the configuration is checked before first use */
TEST(bad_config)
{
	struct kpf_config bad = { .size = sizeof(bad), .stack_size = 1024 };

	EXPECT_EQ(-EINVAL, kpf_init(&bad));
	bad.stack_size = 0;
	bad.signal = 1;
	EXPECT_EQ(-EINVAL, kpf_init(&bad));
	bad.signal = 0;
	bad.flags = 1u << 31;	/* not a KPF_CONFIG_* flag */
	EXPECT_EQ(-EINVAL, kpf_init(&bad));
	EXPECT_EQ(0, kpf_init(NULL));
	EXPECT_EQ(0, kpf_init(NULL));
	TH_LOG("backend %s", kpf_backend());
}

TEST(resume_a_running_task)
{
	int r = kpf_launch(&outer_handle, resume_running_task, NULL,
			   KPF_FOREVER);

	ASSERT_EQ(KPF_PREEMPTED, r);
	EXPECT_EQ(KPF_DONE, kpf_resume(outer_handle, KPF_FOREVER));
	EXPECT_EQ(-EBUSY, resume_running_rc);
}

TEST(bad_arguments)
{
	kpf_task *t;

	EXPECT_EQ(-EINVAL, kpf_launch(NULL, (void (*)(void *))abort, NULL, 1));
	EXPECT_EQ(-EINVAL, kpf_launch(&t, NULL, NULL, 1));
	EXPECT_EQ(-EINVAL, kpf_launch(&t, (void (*)(void *))abort, NULL, 0));
	EXPECT_EQ(-EINVAL, kpf_resume(NULL, 1));
	EXPECT_EQ(-EPERM, kpf_on_cancel((void (*)(void *))abort, NULL));
}

TEST(forced_kmod_without_module)
{
	struct child_result res;
	int fd = open("/dev/kpf", O_RDWR);

	if (fd >= 0) {
		/* the module is there: forcing it works */
		close(fd);
		child_run(forced_kmod, &res);
		EXPECT_TRUE(WIFEXITED(res.status));
		EXPECT_EQ(11, WEXITSTATUS(res.status));
		return;
	}
	child_run(forced_kmod, &res);
	EXPECT_TRUE(WIFEXITED(res.status)) TH_LOG("status %#x", res.status);
	EXPECT_EQ(10, WEXITSTATUS(res.status));
	EXPECT_NE(NULL, strstr(res.err, "KPF_BACKEND=kmod"))
		TH_LOG("stderr: '%s'", res.err);
	EXPECT_NE(NULL, strstr(res.err, "kpf.ko"));
}

TEST_HARNESS_MAIN
