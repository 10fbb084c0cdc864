// SPDX-License-Identifier: GPL-2.0
/*
 * No timer outlives its owner, and close() means stop (issue 8, items 3
 * and 4).
 *
 * - A periodic timer whose owner exited while defer or in_upcall was set
 *   stops: its fires counter does not grow (it kept re-arming in hardirq
 *   forever, 173,346 expiries in 3 s).
 * - A periodic expiry deferred by the defer count stops the timer until
 *   the owner ARMs again.
 * - When the owner closes its last descriptor, no upcall arrives after
 *   close() returns, although a fork child or an SCM_RIGHTS message in
 *   flight still holds the file.
 * - The usual close (no other reference to the file) decides without
 *   scanning the owner's fd table: with a table of a million slots it
 *   costs a fraction of a close that must scan (SCM_RIGHTS in flight).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define PERIOD_NS	(100 * NSEC_PER_USEC)
#define QUIET_NS	NSEC_PER_SEC

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	while (nanosleep(&ts, &ts))
		;
}

struct owner {
	struct kpf_test_ctx c;
	int use_defer;
	int ret;
};

/* Registers, blocks its own upcalls, arms a periodic timer and exits. */
static void *owner_thread(void *arg)
{
	struct owner *o = arg;

	o->ret = kpf_test_ctx_setup(&o->c);
	if (o->ret)
		return NULL;
	if (o->use_defer)
		WRITE_ONCE(o->c.area->defer, 1);
	else
		WRITE_ONCE(o->c.area->in_upcall, KPF_UPCALL_ACTIVE);
	o->ret = kpf_test_arm(&o->c, KPF_ARM_PERIODIC, 0, PERIOD_NS);
	kpf_spin_ns(20 * NSEC_PER_MSEC);
	return NULL;
}

static void owner_exits_armed(struct __test_metadata *_metadata,
			      int use_defer)
{
	struct owner o = { .use_defer = use_defer };
	uint64_t f1, f2, waited;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, owner_thread, &o));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, o.ret);
	/*
	 * The file and the area outlive the thread: they are the process's.
	 * The timer learns that its owner is gone at its next expiry, which
	 * counts as fired and stops it for good (armed_ns 0). With in_upcall
	 * set that expiry can be up to KPF_BUSY_MAX_NS (1 s) away: the
	 * period backs off while the frame stays busy. Sampling 50 ms after
	 * the join counted it in the quiet second on the debug kernel.
	 */
	for (waited = 0; READ_ONCE(o.c.area->armed_ns) &&
	     waited < 5 * NSEC_PER_SEC; waited += 10 * NSEC_PER_MSEC)
		sleep_ns(10 * NSEC_PER_MSEC);
	ASSERT_EQ(0, READ_ONCE(o.c.area->armed_ns));
	f1 = READ_ONCE(o.c.area->fires);
	sleep_ns(QUIET_NS);
	f2 = READ_ONCE(o.c.area->fires);
	kpf_log("%s set, owner gone: %llu expiries before, %llu in the next second\n",
		use_defer ? "defer" : "in_upcall", (unsigned long long)f1,
		(unsigned long long)(f2 - f1));
	EXPECT_LE(1, f1);
	EXPECT_EQ(f1, f2);
	EXPECT_EQ(0, READ_ONCE(o.c.area->armed_ns));
	kpf_test_ctx_destroy(&o.c);
}

TEST(owner_exit_stops_deferred_periodic)
{
	KPF_REQUIRE_DEVICE();
	owner_exits_armed(_metadata, 1);
}

TEST(owner_exit_stops_periodic_in_upcall)
{
	KPF_REQUIRE_DEVICE();
	owner_exits_armed(_metadata, 0);
}

/* A deferred periodic expiry stops the timer until the owner ARMs. */
TEST(deferred_periodic_waits_for_arm)
{
	struct kpf_test_ctx c;
	struct kpf_area *a;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	a = c.area;
	WRITE_ONCE(a->defer, 1);
	ASSERT_EQ(0, kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS));
	kpf_spin_ns(50 * NSEC_PER_MSEC);
	kpf_log("defer set for 50 ms at a %lu us period: %llu expiries, %llu deferred\n",
		PERIOD_NS / NSEC_PER_USEC, READ_ONCE(a->fires),
		READ_ONCE(a->deferred));
	EXPECT_EQ(1, READ_ONCE(a->fires));
	EXPECT_EQ(1, READ_ONCE(a->deferred));
	EXPECT_EQ(1, READ_ONCE(a->pending));
	EXPECT_EQ(0, READ_ONCE(a->armed_ns));
	/* The owner acts on pending and re-arms: upcalls flow again. */
	WRITE_ONCE(a->defer, 0);
	WRITE_ONCE(a->pending, 0);
	ASSERT_EQ(0, kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS));
	ASSERT_EQ(0, kpf_test_wait_delivered(&c, 3, 5 * NSEC_PER_SEC));
	ASSERT_EQ(0, kpf_test_disarm(&c));
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	kpf_test_ctx_destroy(&c);
}

/*
 * Periodic upcalls flow; something else takes a reference to the file
 * (@hold); the owner closes its only descriptor; from then on nothing.
 */
static void close_stops(struct __test_metadata *_metadata,
			int (*hold)(int fd, int *token))
{
	struct kpf_test_ctx c;
	uint64_t n, late;
	int token = -1;

	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS));
	ASSERT_EQ(0, kpf_test_wait_delivered(&c, 3, 5 * NSEC_PER_SEC));
	ASSERT_EQ(0, hold(c.fd, &token));
	ASSERT_EQ(0, close(c.fd));
	c.fd = -1;
	n = kpf_test_upcall_count;
	kpf_spin_ns(100 * NSEC_PER_MSEC);
	late = kpf_test_upcall_count - n;
	kpf_log("%llu upcall(s) after close()\n", (unsigned long long)late);
	EXPECT_EQ(0, late);
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	if (token > 0) {
		kill(token, SIGKILL);
		waitpid(token, NULL, 0);
	}
	kpf_test_ctx_destroy(&c);
}

/* A fork child that has not exec'd holds the file. */
static int hold_fork(int fd, int *token)
{
	pid_t pid = fork();

	(void)fd;
	if (pid < 0)
		return -errno;
	if (!pid) {
		pause();
		_exit(0);
	}
	*token = pid;
	return 0;
}

static int held_sock = -1;

/* An SCM_RIGHTS message that nobody received yet holds the file. */
static int hold_scm_rights(int fd, int *token)
{
	int sock = kpf_test_send_unreceived(fd);

	if (sock < 0)
		return sock;
	/* Keep the message in flight until the test ends. */
	held_sock = sock;
	*token = 0;
	return 0;
}

TEST(close_stops_with_fork_child_holding_fd)
{
	KPF_REQUIRE_DEVICE();
	close_stops(_metadata, hold_fork);
}

TEST(close_stops_with_scm_rights_in_flight)
{
	KPF_REQUIRE_DEVICE();
	close_stops(_metadata, hold_scm_rights);
	if (held_sock >= 0)
		close(held_sock);
}

#define BIG_FD		((1 << 20) - 1)
#define ROUNDS		5

/* ns spent in close() of an armed context's only descriptor. */
static int64_t timed_close(int (*hold)(int fd, int *token))
{
	struct kpf_test_ctx c;
	uint64_t t0, t, n;
	int token = -1;

	if (kpf_test_ctx_setup(&c) ||
	    kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS) ||
	    kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC) ||
	    (hold && hold(c.fd, &token)))
		return -1;
	t0 = kpf_now_ns();
	close(c.fd);
	t = kpf_now_ns() - t0;
	c.fd = -1;
	n = kpf_test_upcall_count;
	kpf_spin_ns(10 * NSEC_PER_MSEC);
	if (hold && held_sock >= 0) {
		close(held_sock);
		held_sock = -1;
	}
	kpf_test_ctx_destroy(&c);
	return kpf_test_upcall_count == n ? (int64_t)t : -2;
}

TEST(close_without_other_references_does_not_scan)
{
	uint64_t plain[ROUNDS], scan[ROUNDS], p50, s50;
	struct rlimit big = { BIG_FD + 1, BIG_FD + 1 };
	int64_t t;
	int i;

	KPF_REQUIRE_DEVICE();
	if (setrlimit(RLIMIT_NOFILE, &big))
		SKIP(return, "cannot raise RLIMIT_NOFILE to %d", BIG_FD + 1);
	/* A descriptor this high makes the table a million slots long. */
	ASSERT_EQ(BIG_FD, dup2(0, BIG_FD));
	for (i = 0; i < ROUNDS; i++) {
		t = timed_close(NULL);
		ASSERT_LE(0, t) TH_LOG("round %d: %s", i,
				       t == -2 ? "upcall after close" : "setup");
		plain[i] = t;
		t = timed_close(hold_scm_rights);
		ASSERT_LE(0, t) TH_LOG("round %d: %s", i,
				       t == -2 ? "upcall after close" : "setup");
		scan[i] = t;
	}
	close(BIG_FD);
	p50 = kpf_percentile(plain, ROUNDS, 50);
	s50 = kpf_percentile(scan, ROUNDS, 50);
	kpf_log("close() with %d fd slots, median of %d: %llu us alone, %llu us with SCM_RIGHTS in flight (scans)\n",
		BIG_FD + 1, ROUNDS, (unsigned long long)(p50 / 1000),
		(unsigned long long)(s50 / 1000));
	/* Measured 20-100x apart; before, both scanned the table. */
	EXPECT_LT(p50 * 4, s50);
}

TEST_HARNESS_MAIN
