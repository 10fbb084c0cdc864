// SPDX-License-Identifier: GPL-2.0
/*
 * A blocking system call is never interrupted by an expiry: it completes
 * (full data, full duration, no EINTR) and the upcall arrives on its way
 * back to user mode, with the frame's rip right after the syscall
 * instruction and rax holding the call's result.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define FIRE_NS		(5 * NSEC_PER_MSEC)
#define BLOCK_NS	(40 * NSEC_PER_MSEC)

FIXTURE(blocking)
{
	struct kpf_test_ctx c;
};

FIXTURE_SETUP(blocking)
{
	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));
}

FIXTURE_TEARDOWN(blocking)
{
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
}

/*
 * The upcall that arrived after a blocking call returned @ret, started
 * at @t0 and had to last at least @min_ns.
 */
#define CHECK_DELIVERED_AFTER(a, ret, t0, min_ns) do {			\
	EXPECT_EQ(1, READ_ONCE((a)->delivered));			\
	EXPECT_EQ(1, kpf_test_upcall_count);				\
	EXPECT_EQ((uintptr_t)kpf_test_raw_syscall_ret,			\
		  kpf_test_last_frame.rip);				\
	EXPECT_EQ((uint64_t)(ret), kpf_test_last_frame.rax);		\
	/* Expired while blocked, delivered once the call was done. */	\
	EXPECT_GT((t0) + (min_ns), READ_ONCE((a)->irq_ns));		\
	EXPECT_LE((t0) + (min_ns), READ_ONCE((a)->deliver_ns));		\
	EXPECT_EQ(0, kpf_test_reg_mismatch);				\
} while (0)

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	while (nanosleep(&ts, &ts))
		;
}

struct late_writer {
	struct kpf_area *area;
	int fd;
	uint64_t written_at;
};

/* Writes only after the reader's timer expired (fires != 0). */
static void *late_writer(void *arg)
{
	struct late_writer *w = arg;
	uint64_t end = kpf_now_ns() + 5 * NSEC_PER_SEC;

	while (!READ_ONCE(w->area->fires) && kpf_now_ns() < end)
		sleep_ns(NSEC_PER_MSEC);
	sleep_ns(BLOCK_NS);
	w->written_at = kpf_now_ns();
	if (write(w->fd, "kpf-data", 8) != 8)
		w->written_at = 0;
	return NULL;
}

TEST_F(blocking, pipe_read)
{
	struct late_writer w = { .area = self->c.area };
	char buf[16] = { 0 };
	pthread_t t;
	long ret;
	int p[2];

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	w.fd = p[1];
	ASSERT_EQ(0, pthread_create(&t, NULL, late_writer, &w));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	ret = kpf_test_raw_syscall(SYS_read, p[0], (long)buf, sizeof(buf),
				   0, 0);
	pthread_join(t, NULL);
	EXPECT_EQ(8, ret);
	EXPECT_EQ(0, memcmp(buf, "kpf-data", 8));
	ASSERT_NE(0, w.written_at);
	EXPECT_GT(w.written_at, READ_ONCE(self->c.area->irq_ns));
	EXPECT_LT(w.written_at, READ_ONCE(self->c.area->deliver_ns));
	CHECK_DELIVERED_AFTER(self->c.area, ret, w.written_at - BLOCK_NS,
			      BLOCK_NS);
	close(p[0]);
	close(p[1]);
}

TEST_F(blocking, nanosleep)
{
	struct timespec ts = { 0, BLOCK_NS };
	uint64_t t0;
	long ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	t0 = kpf_now_ns();
	ret = kpf_test_raw_syscall(SYS_nanosleep, (long)&ts, (long)&ts, 0, 0,
				   0);
	EXPECT_EQ(0, ret);
	EXPECT_LE(t0 + BLOCK_NS, kpf_now_ns());
	CHECK_DELIVERED_AFTER(self->c.area, ret, t0, BLOCK_NS);
}

TEST_F(blocking, clock_nanosleep_abs)
{
	struct timespec ts;
	uint64_t t0, until;
	long ret;

	KPF_REQUIRE_DEVICE();
	t0 = kpf_now_ns();
	until = t0 + BLOCK_NS;
	ts.tv_sec = until / NSEC_PER_SEC;
	ts.tv_nsec = until % NSEC_PER_SEC;
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	ret = kpf_test_raw_syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC,
				   TIMER_ABSTIME, (long)&ts, 0, 0);
	EXPECT_EQ(0, ret);
	EXPECT_LE(until, kpf_now_ns());
	CHECK_DELIVERED_AFTER(self->c.area, ret, t0, BLOCK_NS);
}

TEST_F(blocking, epoll_wait)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ep, efd;
	uint64_t t0;
	long ret;

	KPF_REQUIRE_DEVICE();
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	t0 = kpf_now_ns();
	ret = kpf_test_raw_syscall(SYS_epoll_wait, ep, (long)&out, 1,
				   BLOCK_NS / NSEC_PER_MSEC, 0);
	EXPECT_EQ(0, ret);
	EXPECT_LE(t0 + BLOCK_NS, kpf_now_ns());
	CHECK_DELIVERED_AFTER(self->c.area, ret, t0, BLOCK_NS);
	close(efd);
	close(ep);
}

TEST_F(blocking, futex_wait_timeout)
{
	struct timespec ts = { 0, BLOCK_NS };
	uint32_t word = 0;
	uint64_t t0;
	long ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	t0 = kpf_now_ns();
	ret = kpf_test_raw_syscall(SYS_futex, (long)&word, FUTEX_WAIT_PRIVATE,
				   0, (long)&ts, 0);
	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_LE(t0 + BLOCK_NS, kpf_now_ns());
	CHECK_DELIVERED_AFTER(self->c.area, ret, t0, BLOCK_NS);
}

struct late_waker {
	struct kpf_area *area;
	uint32_t *word;
	uint64_t woken_at;
};

static void *late_waker(void *arg)
{
	struct late_waker *w = arg;
	uint64_t end = kpf_now_ns() + 5 * NSEC_PER_SEC;

	while (!READ_ONCE(w->area->fires) && kpf_now_ns() < end)
		sleep_ns(NSEC_PER_MSEC);
	sleep_ns(BLOCK_NS);
	w->woken_at = kpf_now_ns();
	__atomic_store_n(w->word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, w->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

TEST_F(blocking, futex_wait_woken)
{
	uint32_t word = 0;
	struct late_waker w = { .area = self->c.area, .word = &word };
	pthread_t t;
	long ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, pthread_create(&t, NULL, late_waker, &w));
	ASSERT_EQ(0, kpf_test_arm(&self->c, 0, FIRE_NS, 0));
	do {
		/* EAGAIN only if the waker was already done. */
		ret = kpf_test_raw_syscall(SYS_futex, (long)&word,
					   FUTEX_WAIT_PRIVATE, 0, 0, 0);
		ASSERT_NE(-EINTR, ret);
	} while (ret && !__atomic_load_n(&word, __ATOMIC_SEQ_CST));
	pthread_join(t, NULL);
	EXPECT_EQ(0, ret);
	EXPECT_LT(w.woken_at, READ_ONCE(self->c.area->deliver_ns));
	CHECK_DELIVERED_AFTER(self->c.area, ret, w.woken_at - BLOCK_NS,
			      BLOCK_NS);
}

TEST_HARNESS_MAIN
