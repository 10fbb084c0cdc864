// SPDX-License-Identifier: GPL-2.0
/*
 * rseq: an upcall that preempts an rseq critical section must resume at
 * the section's abort handler (the abort is applied to the saved frame),
 * never inside the section.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/rseq.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

long kpf_rseq_spin(struct rseq *rs, uint64_t iters);
extern const char kpf_rseq_start[], kpf_rseq_post_commit[], kpf_rseq_abort[];
long kpf_rseq_read(struct rseq *rs, int fd, void *buf);

#define ATTEMPTS	100
#define WANT_HITS	5
/* Long enough to outlast a 1 ms timer, short enough not to hang. */
#define SPIN_ITERS	(1ULL << 26)

TEST(upcall_applies_rseq_abort)
{
	unsigned int i, hits = 0, inside = 0, aborts = 0, completed = 0;
	struct kpf_test_ctx c;
	struct kpf_info info;
	struct rseq *rs;
	uint64_t n;

	KPF_REQUIRE_DEVICE();
	if (!__rseq_size)
		SKIP(return, "glibc did not register rseq");
	rs = (struct rseq *)((char *)__builtin_thread_pointer() +
			     __rseq_offset);
	if ((int32_t)READ_ONCE(rs->cpu_id) < 0)
		SKIP(return, "rseq not registered for this thread");
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_info(c.fd, &info));
	if (!(info.features & KPF_FEAT_RSEQ_ABORT))
		SKIP(goto out, "module lacks KPF_FEAT_RSEQ_ABORT");

	for (i = 0; i < ATTEMPTS && hits < WANT_HITS; i++) {
		uintptr_t rip;

		n = READ_ONCE(c.area->delivered);
		ASSERT_EQ(0, kpf_test_arm(&c, 0, NSEC_PER_MSEC, 0));
		if (kpf_rseq_spin(rs, SPIN_ITERS))
			aborts++;
		else
			completed++;
		ASSERT_EQ(0, kpf_test_wait_delivered(&c, n + 1,
						     5 * NSEC_PER_SEC));
		rip = kpf_test_last_frame.rip;
		if (rip == (uintptr_t)kpf_rseq_abort)
			hits++;
		if (rip >= (uintptr_t)kpf_rseq_start &&
		    rip < (uintptr_t)kpf_rseq_post_commit)
			inside++;
	}
	kpf_log("%u attempts: %u upcalls resumed at abort, %u inside the section, %u aborted, %u completed\n",
		i, hits, inside, aborts, completed);
	EXPECT_EQ(0, inside);
	EXPECT_LE(1, hits);
out:
	kpf_test_ctx_destroy(&c);
}

struct defer_writer {
	struct kpf_area *area;
	uint64_t fires0;
	int fd;
};

/* After the reader's timer expired: set its defer count, then wake it. */
static void *defer_writer(void *arg)
{
	struct defer_writer *w = arg;
	uint64_t end = kpf_now_ns() + 5 * NSEC_PER_SEC;
	struct timespec ms = { 0, NSEC_PER_MSEC };

	while (READ_ONCE(w->area->fires) == w->fires0 && kpf_now_ns() < end)
		nanosleep(&ms, NULL);
	WRITE_ONCE(w->area->defer, 1);
	nanosleep(&ms, NULL);
	if (write(w->fd, "k", 1) != 1)
		return (void *)1;
	return NULL;
}

/*
 * A delivery that ends up deferred must leave rseq alone (issue 8, item
 * 2): the thread slept inside its critical section, so the kernel's own
 * rseq handling aborts it - unless kpf already cleared rseq_cs, and the
 * section then commits after sleeping.
 */
TEST(deferred_delivery_keeps_rseq_abort)
{
	struct defer_writer w;
	struct kpf_test_ctx c;
	struct rseq *rs;
	pthread_t t;
	char buf[4];
	long aborted;
	int p[2];

	KPF_REQUIRE_DEVICE();
	if (!__rseq_size)
		SKIP(return, "glibc did not register rseq");
	rs = (struct rseq *)((char *)__builtin_thread_pointer() +
			     __rseq_offset);
	if ((int32_t)READ_ONCE(rs->cpu_id) < 0)
		SKIP(return, "rseq not registered for this thread");
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	w.area = c.area;
	w.fires0 = READ_ONCE(c.area->fires);
	w.fd = p[1];
	ASSERT_EQ(0, pthread_create(&t, NULL, defer_writer, &w));
	ASSERT_EQ(0, kpf_test_arm(&c, 0, 20 * NSEC_PER_MSEC, 0));
	aborted = kpf_rseq_read(rs, p[0], buf);
	pthread_join(t, NULL);
	kpf_log("critical section %s; fires %llu deferred %llu delivered %llu rseq_cs %llu\n",
		aborted ? "aborted" : "ran to its commit",
		READ_ONCE(c.area->fires), READ_ONCE(c.area->deferred),
		READ_ONCE(c.area->delivered),
		(unsigned long long)READ_ONCE(rs->rseq_cs));
	EXPECT_EQ(1, aborted);
	EXPECT_EQ(1, READ_ONCE(c.area->fires));
	EXPECT_EQ(1, READ_ONCE(c.area->deferred));
	EXPECT_EQ(1, READ_ONCE(c.area->pending));
	EXPECT_EQ(0, READ_ONCE(c.area->delivered));
	close(p[0]);
	close(p[1]);
	kpf_test_ctx_destroy(&c);
}

TEST_HARNESS_MAIN
