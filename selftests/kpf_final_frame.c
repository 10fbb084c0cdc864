// SPDX-License-Identifier: GPL-2.0
/*
 * An upcall is delivered only with a final user frame (issue 8, item 1).
 *
 * task_work also runs from get_signal() before the system call restart
 * fixup and from ptrace_notify() at syscall stops. A delivery that ran
 * there saved a frame user space never sees: a restart code (-512) leaked
 * out of read(), a tracer's change of the return value at the
 * syscall-exit stop was lost, and at a stop on the way into a system call
 * the call was skipped. All must now behave as without kpf.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define FIRE_NS		(5 * NSEC_PER_MSEC)
#define ATTEMPTS	5
#define INJECTED	12345L

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	while (nanosleep(&ts, &ts))
		;
}

struct signaller {
	struct kpf_area *area;
	uint64_t fires0;
	pthread_t reader;
	int fd;
	int ok;
};

/*
 * Once the reader's timer expired (its delivery is queued while it
 * sleeps in read()), interrupt the read with a SA_RESTART signal, and
 * only later give it its data.
 */
static void *signaller(void *arg)
{
	struct signaller *s = arg;
	uint64_t end = kpf_now_ns() + 5 * NSEC_PER_SEC;

	while (READ_ONCE(s->area->fires) == s->fires0 && kpf_now_ns() < end)
		sleep_ns(NSEC_PER_MSEC);
	sleep_ns(20 * NSEC_PER_MSEC);
	pthread_kill(s->reader, SIGUSR1);
	sleep_ns(50 * NSEC_PER_MSEC);
	s->ok = write(s->fd, "kpf-data", 8) == 8;
	return NULL;
}

TEST(pipe_read_sa_restart_with_queued_delivery)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct signaller s = { 0 };
	struct kpf_test_ctx c;
	char buf[16] = { 0 };
	uint64_t t0 = 0;
	long ret = 0;
	pthread_t t;
	int p[2], i;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	s.area = c.area;
	s.reader = pthread_self();
	s.fd = p[1];
	for (i = 0; i < ATTEMPTS; i++) {
		uint64_t n = READ_ONCE(c.area->delivered);

		usr1_seen = 0;
		s.fires0 = READ_ONCE(c.area->fires);
		ASSERT_EQ(0, pthread_create(&t, NULL, signaller, &s));
		ASSERT_EQ(0, kpf_test_arm(&c, 0, FIRE_NS, 0));
		t0 = kpf_now_ns();
		ret = kpf_test_raw_syscall(SYS_read, p[0], (long)buf,
					   sizeof(buf), 0, 0);
		pthread_join(t, NULL);
		ASSERT_EQ(0, kpf_test_wait_delivered(&c, n + 1,
						     5 * NSEC_PER_SEC));
		/* The timer must have expired while read() slept. */
		if (READ_ONCE(c.area->irq_ns) > t0 &&
		    READ_ONCE(c.area->deliver_ns) > t0)
			break;
		kpf_log("vCPU stalled before read: attempt %d\n", i + 2);
	}
	kpf_log("read() returned %ld, handler ran %d time(s), frame rax %lld\n",
		ret, (int)usr1_seen, (long long)kpf_test_last_frame.rax);
	EXPECT_EQ(8, ret);
	EXPECT_EQ(0, memcmp(buf, "kpf-data", 8));
	EXPECT_EQ(1, usr1_seen);
	EXPECT_TRUE(s.ok);
	EXPECT_NE(-512LL, (long long)kpf_test_last_frame.rax);
	EXPECT_EQ(kpf_test_upcall_count, READ_ONCE(c.area->delivered));
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	signal(SIGUSR1, SIG_DFL);
	close(p[0]);
	close(p[1]);
	kpf_test_ctx_destroy(&c);
}

/*
 * Child: arm a one-shot, make one getppid() the tracer holds at its
 * entry stop until the timer expired, and report what it returned and
 * how many upcalls arrived.
 */
static void traced_child(int out)
{
	struct kpf_test_ctx c;
	long res[2] = { -1, -1 };

	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		_exit(2);
	raise(SIGSTOP);
	if (!kpf_test_ctx_setup(&c) && !kpf_test_arm(&c, 0, FIRE_NS, 0)) {
		res[0] = kpf_test_raw_syscall(SYS_getppid, 0, 0, 0, 0, 0);
		kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC);
		res[1] = READ_ONCE(c.area->delivered);
	}
	if (write(out, res, sizeof(res)) != sizeof(res))
		_exit(3);
	_exit(0);
}

/*
 * A tracer changes a system call's return value at its exit stop (as
 * strace's fault injection does). The delivery queued meanwhile must not
 * save the frame before the tracer had its say.
 */
TEST(ptrace_exit_stop_sees_tracer_result)
{
	struct user_regs_struct regs;
	long res[2] = { 0, 0 };
	int p[2], status, in_getppid = 0, injected = 0;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		traced_child(p[1]);
	}
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
	for (;;) {
		ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
		if (regs.orig_rax != SYS_getppid || injected)
			continue;
		if (!in_getppid) {
			/* Entry stop: let the timer expire meanwhile. */
			in_getppid = 1;
			sleep_ns(4 * FIRE_NS);
			continue;
		}
		/* Exit stop: inject a result. */
		regs.rax = INJECTED;
		ASSERT_EQ(0, ptrace(PTRACE_SETREGS, pid, 0, &regs));
		injected = 1;
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	kpf_log("getppid() returned %ld (tracer injected %ld), %ld upcall(s)\n",
		res[0], INJECTED, res[1]);
	EXPECT_TRUE(injected);
	EXPECT_EQ(INJECTED, res[0]);
	EXPECT_EQ(1, res[1]);
	close(p[0]);
}

/*
 * Child for the entry-stop test: a seccomp filter that makes getppid()
 * stop for the tracer (SECCOMP_RET_TRACE) on the way in, after the
 * syscall-entry stop; then the same one-shot and getppid() as above.
 */
static void seccomp_traced_child(int out, struct kpf_area *shared,
				 uint64_t fire_ns)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { ARRAY_SIZE(insns), insns };
	struct kpf_test_ctx c;
	long res[2] = { -1, -1 };

	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		_exit(2);
	raise(SIGSTOP);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		_exit(4);
	if (kpf_test_ctx_init(&c))
		_exit(5);
	/* The tracer watches the area's counters: shmem, shared with it. */
	munmap(c.area, KPF_TEST_PAGE_SIZE);
	c.area = shared;
	c.area->size = sizeof(*c.area);
	if (!kpf_test_register(&c) && !kpf_test_arm(&c, 0, fire_ns, 0)) {
		res[0] = kpf_test_raw_syscall(SYS_getppid, 0, 0, 0, 0, 0);
		kpf_test_wait_delivered(&c, 1, 20 * NSEC_PER_SEC);
		res[1] = READ_ONCE(c.area->delivered);
	}
	if (write(out, res, sizeof(res)) != sizeof(res))
		_exit(3);
	_exit(0);
}

/*
 * A syscall-entry stop with a delivery queued (issue 8, item 1). The
 * tracer holds getppid() at its syscall-entry stop until the child's
 * timer expired (it watches the area, which the two share; the expiry is
 * far enough for the tracer's round trips at the stops before), so the
 * delivery is queued when the child goes on to its
 * seccomp stop, whose ptrace_notify() runs task_work before the call has
 * run: a frame saved there had rax = -ENOSYS and, with orig_ax = -1, the
 * call was skipped. The tracer looks at the registers at that stop, and
 * the child reports what getppid() returned.
 */
TEST(ptrace_entry_stop_runs_the_call)
{
	struct user_regs_struct regs;
	long res[2] = { 0, 0 };
	long seccomp_orig_rax = 0, entry_rip = 0, seccomp_rip = 0;
	int p[2], status, entry_stops = 0, seccomp_stops = 0;
	const char *kernel = getenv("KPF_KERNEL");
	uint64_t fire_ns = kernel && !strcmp(kernel, "debug") ?
			   2 * NSEC_PER_SEC : 300 * NSEC_PER_MSEC;
	uint64_t fires_at_stop = ~0ULL, end;
	struct kpf_area *shared;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	/* The debug kernel (a tinyconfig) has no seccomp filters. */
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0,
		    &(__u32){ SECCOMP_RET_TRACE }))
		SKIP(return, "no SECCOMP_RET_TRACE in this kernel: %s",
		     strerror(errno));
	shared = mmap(NULL, KPF_TEST_PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, shared);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		seccomp_traced_child(p[1], shared, fire_ns);
	}
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL |
			    PTRACE_O_TRACESECCOMP));
	for (;;) {
		ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
			seccomp_stops++;
			seccomp_orig_rax = regs.orig_rax;
			seccomp_rip = regs.rip;
			continue;
		}
		if (WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &regs));
		/* The first entry stop of getppid: its rax is -ENOSYS. */
		if (regs.orig_rax != SYS_getppid || entry_stops ||
		    (long)regs.rax != -ENOSYS)
			continue;
		entry_stops++;
		entry_rip = regs.rip;
		/* Let the timer expire while the child is stopped here. */
		fires_at_stop = READ_ONCE(shared->fires);
		end = kpf_now_ns() + 20 * NSEC_PER_SEC;
		while (!READ_ONCE(shared->fires) && kpf_now_ns() < end)
			sleep_ns(NSEC_PER_MSEC);
		sleep_ns(FIRE_NS);
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	kpf_log("expiries before the entry stop %llu; getppid() returned %ld (tracer %d), %ld upcall(s); seccomp stop: orig_rax %ld, rip %s\n",
		(unsigned long long)fires_at_stop, res[0], (int)getpid(),
		res[1], seccomp_orig_rax,
		seccomp_rip == entry_rip ? "unchanged" : "redirected");
	EXPECT_EQ(1, entry_stops);
	/* Otherwise the delivery was not queued at the stop: no test. */
	EXPECT_EQ(0, fires_at_stop);
	EXPECT_EQ(1, seccomp_stops);
	EXPECT_EQ(SYS_getppid, seccomp_orig_rax);
	EXPECT_EQ(entry_rip, seccomp_rip);
	EXPECT_EQ(getpid(), res[0]);
	EXPECT_EQ(1, res[1]);
	close(p[0]);
	munmap(shared, KPF_TEST_PAGE_SIZE);
}

#define STEPS		1000

/*
 * Child: periodic upcalls, then a stop; the tracer single-steps it through
 * a counting loop, then lets it run. Reports upcalls and the flags of the
 * last frame.
 */
static void stepped_child(int out)
{
	struct kpf_test_ctx c;
	volatile uint64_t spins = 0;
	uint64_t res[3] = { ~0ULL, ~0ULL, ~0ULL };

	if (ptrace(PTRACE_TRACEME, 0, 0, 0))
		_exit(2);
	if (!kpf_test_ctx_setup(&c) &&
	    !kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, 100 * NSEC_PER_USEC) &&
	    !kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC)) {
		raise(SIGSTOP);
		while (spins < 1000000)
			spins++;
		res[0] = READ_ONCE(c.area->delivered);
		kpf_test_wait_delivered(&c, res[0] + 3, 5 * NSEC_PER_SEC);
		res[1] = READ_ONCE(c.area->delivered);
		res[2] = kpf_test_last_frame.rflags;
		kpf_test_disarm(&c);
	}
	if (write(out, res, sizeof(res)) != sizeof(res))
		_exit(3);
	_exit(0);
}

/*
 * Single-stepping (issue 8, item 5): an upcall must not take the step
 * away from the debugger, nor leak the trap flag into its frame (which
 * gives stray SIGTRAPs once the debugger lets go).
 */
/* Stepping is slow under TCG with KASAN: more than the default 30 s. */
FIXTURE(step) {};
FIXTURE_SETUP(step) {}
FIXTURE_TEARDOWN(step) {}

TEST_F_TIMEOUT(step, single_step_with_periodic_upcalls, 300)
{
	uint64_t t0 = kpf_now_ns();
	int p[2], status, i, traps = 0, stray = 0;
	uint64_t res[3] = { 0, 0, 0 };
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		stepped_child(p[1]);
	}
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(SIGSTOP, WSTOPSIG(status));
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL));
	for (i = 0; i < STEPS; i++) {
		ASSERT_EQ(0, ptrace(PTRACE_SINGLESTEP, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSTOPPED(status));
		if (WSTOPSIG(status) == SIGTRAP)
			traps++;
	}
	for (;;) {
		ASSERT_EQ(0, ptrace(PTRACE_CONT, pid, 0, 0));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (!WIFSTOPPED(status))
			break;
		if (WSTOPSIG(status) == SIGTRAP)
			stray++;
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	kpf_log("%d steps: %d traps, %d stray SIGTRAP after, %llu upcalls then %llu, last rflags %#llx, %llu ms\n",
		STEPS, traps, stray, (unsigned long long)res[0],
		(unsigned long long)res[1], (unsigned long long)res[2],
		(unsigned long long)((kpf_now_ns() - t0) / NSEC_PER_MSEC));
	EXPECT_EQ(STEPS, traps);
	EXPECT_EQ(0, stray);
	EXPECT_LT(res[0], res[1]);
	EXPECT_EQ(0, res[2] & X86_EFLAGS_TF);
	close(p[0]);
}

/* A minimal io_uring: one IORING_OP_TIMEOUT, submitted and waited for. */
struct ring {
	int fd;
	void *sq, *cq;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	struct io_uring_params p;
};

static int ring_setup(struct ring *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = syscall(__NR_io_uring_setup, 4, &r->p);
	if (r->fd < 0)
		return -errno;
	r->sq_len = r->p.sq_off.array + r->p.sq_entries * sizeof(__u32);
	r->cq_len = r->p.cq_off.cqes +
		    r->p.cq_entries * sizeof(struct io_uring_cqe);
	r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     r->fd, IORING_OFF_SQ_RING);
	r->cq = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		       IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED ||
	    r->sqes == MAP_FAILED)
		return -ENOMEM;
	return 0;
}

#define RING_U32(base, off)	((volatile __u32 *)((char *)(base) + (off)))

/* Queue a timeout of @ns and enter, waiting for its completion. */
static long ring_timeout_and_wait(struct ring *r, struct __kernel_timespec *ts,
				  struct io_uring_cqe *cqe)
{
	volatile __u32 *tail = RING_U32(r->sq, r->p.sq_off.tail);
	__u32 mask = *RING_U32(r->sq, r->p.sq_off.ring_mask);
	__u32 idx = *tail & mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	volatile __u32 *head;
	long ret;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_TIMEOUT;
	sqe->addr = (uintptr_t)ts;
	sqe->len = 1;
	sqe->user_data = 0x6b7066;
	RING_U32(r->sq, r->p.sq_off.array)[idx] = idx;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	ret = kpf_test_raw_syscall(__NR_io_uring_enter, r->fd, 1, 1,
				   IORING_ENTER_GETEVENTS, 0);
	head = RING_U32(r->cq, r->p.cq_off.head);
	if (*head != *RING_U32(r->cq, r->p.cq_off.tail)) {
		__u32 cmask = *RING_U32(r->cq, r->p.cq_off.ring_mask);

		*cqe = ((struct io_uring_cqe *)((char *)r->cq +
			r->p.cq_off.cqes))[*head & cmask];
		__atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
	}
	return ret;
}

/*
 * io_uring_enter waiting for a completion runs task_work from inside the
 * system call (io_cqring_wait()): a delivery there returned -ENOSYS from
 * io_uring_enter to the resumed code. Now the call returns its real
 * result and the completion is there.
 */
TEST(io_uring_wait_with_queued_delivery)
{
	struct __kernel_timespec ts = { 0, 50 * NSEC_PER_MSEC };
	struct io_uring_cqe cqe = { 0 };
	struct kpf_test_ctx c;
	struct ring r;
	uint64_t t0;
	long ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, ring_setup(&r));
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_arm(&c, 0, FIRE_NS, 0));
	t0 = kpf_now_ns();
	ret = ring_timeout_and_wait(&r, &ts, &cqe);
	ASSERT_EQ(0, kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC));
	kpf_log("io_uring_enter returned %ld, cqe res %d data %#llx; frame rax %lld; expiry %s the call\n",
		ret, cqe.res, (unsigned long long)cqe.user_data,
		(long long)kpf_test_last_frame.rax,
		READ_ONCE(c.area->irq_ns) > t0 ? "during" : "before");
	EXPECT_EQ(1, ret);
	EXPECT_EQ(0x6b7066, cqe.user_data);
	EXPECT_EQ(-ETIME, cqe.res);
	EXPECT_EQ(1, READ_ONCE(c.area->delivered));
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	kpf_test_ctx_destroy(&c);
	close(r.fd);
}

TEST_HARNESS_MAIN
