// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Blocking system calls inside a task: read() on a pipe gets its data on
 * both backends (SA_RESTART restarts it on the signal backend); on kmod
 * nanosleep() is never interrupted, while on the signal backend a timer
 * signal during it gives EINTR (a documented limit of that backend: the
 * test asserts what each backend promises).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "clock.h"

struct blocker {
	int fd;
	int sleep_rc, sleep_errno;
	ssize_t read_rc;
	char buf[8];
	uint64_t slept_ns;
};

static void blocking_task(void *arg)
{
	struct blocker *b = arg;
	struct timespec ts = { 0, 30000000 };
	uint64_t t0 = now_ns();

	b->sleep_rc = nanosleep(&ts, NULL);
	b->sleep_errno = errno;
	b->slept_ns = now_ns() - t0;
	b->read_rc = read(b->fd, b->buf, sizeof(b->buf));
}

static void *late_writer(void *arg)
{
	struct timespec ts = { 0, 60000000 };

	nanosleep(&ts, NULL);
	if (write(*(int *)arg, "kpf-ok!", 8) != 8)
		abort();
	return NULL;
}

TEST(read_and_nanosleep_in_a_task)
{
	struct blocker b = { 0 };
	int fds[2], r, n = 0;
	pthread_t th;
	kpf_task *t;

	ASSERT_EQ(0, pipe(fds));
	b.fd = fds[0];
	ASSERT_EQ(0, pthread_create(&th, NULL, late_writer, &fds[1]));
	/* 1 ms budgets while the task sleeps 30 ms and waits ~30 ms more */
	r = kpf_launch(&t, blocking_task, &b, 1000000);
	while (r == KPF_PREEMPTED) {
		n++;
		r = kpf_resume(t, 1000000);
	}
	pthread_join(th, NULL);
	close(fds[0]);
	close(fds[1]);
	TH_LOG("%s: nanosleep %d (%s) after %.1f ms, %d preemptions",
	       kpf_backend(), b.sleep_rc, b.sleep_rc ? strerror(b.sleep_errno) : "ok",
	       b.slept_ns / 1e6, n);
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_EQ(8, b.read_rc);
	EXPECT_EQ(0, memcmp(b.buf, "kpf-ok!", 8));
	if (!strcmp(kpf_backend(), "kmod")) {
		EXPECT_EQ(0, b.sleep_rc);
		EXPECT_LE(30000000ull, b.slept_ns);
	} else {
		/* the signal backend's limit: interrupted, or slept it all */
		EXPECT_TRUE((b.sleep_rc == -1 && b.sleep_errno == EINTR) ||
			    (b.sleep_rc == 0 && b.slept_ns >= 30000000));
	}
}

TEST_HARNESS_MAIN
