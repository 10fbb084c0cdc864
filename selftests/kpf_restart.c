// SPDX-License-Identifier: GPL-2.0
/*
 * restart_syscall. A nanosleep stopped by SIGSTOP returns
 * -ERESTART_RESTARTBLOCK; after SIGCONT the signal code rewinds rip to the
 * syscall instruction with rax = __NR_restart_syscall, and the rest of the
 * sleep lives in current->restart_block. An upcall delivered at that point
 * runs user code first; if that code handles a signal, its sigreturn sets
 * restart_block to "return -EINTR", and the resumed nanosleep fails early.
 * With a delivery queued during the sleep, the upcall must come only once
 * the sleep returned 0, with rax 0, after the full time.
 *
 * Each round stops and continues the sleep several times. An upcall that
 * came before the sleep began (a loaded host delayed the system call by
 * the 20 ms of the timer) leaves nothing queued: that round proves
 * nothing, and at least half the rounds must prove something.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define SLEEP_NS	(400 * NSEC_PER_MSEC)
#define ROUNDS		8
#define STOPS		6

void kpf_restart_entry(void);
void kpf_restart_upcall(struct kpf_area *area);

static volatile uint64_t upcalls, upcall_rax, upcall_rip;
static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

/* Called by kpf_restart_entry on the upcall stack. */
void kpf_restart_upcall(struct kpf_area *area)
{
	upcall_rax = area->frame.rax;
	upcall_rip = area->frame.rip;
	upcalls++;
	/* A signal handled inside the upcall: its sigreturn resets restart_block. */
	kpf_test_raw_syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1, 0, 0);
}

/* Stop and continue @pid STOPS times while it sleeps. */
static pid_t stopper(pid_t pid)
{
	pid_t child = fork();
	int i;

	if (child)
		return child;
	usleep(50 * 1000);
	for (i = 0; i < STOPS; i++) {
		kill(pid, SIGSTOP);
		usleep(10 * 1000);
		kill(pid, SIGCONT);
		usleep(30 * 1000);
	}
	_exit(0);
}

TEST(nanosleep_stop_cont_with_delivery_queued)
{
	struct timespec ts = { 0, SLEEP_NS };
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct kpf_test_ctx c;
	struct kpf_register reg;
	unsigned int round, bad = 0, early = 0;
	uint64_t end, ret_ip = (uintptr_t)kpf_test_raw_syscall_ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	kpf_test_reg_fill(&c, &reg);
	reg.entry = (uintptr_t)kpf_restart_entry;
	ASSERT_EQ(0, kpf_ioctl(c.fd, KPF_IOC_REGISTER, (uintptr_t)&reg));

	for (round = 0; round < ROUNDS; round++) {
		uint64_t before = upcalls, t0, t1;
		pid_t child;
		long ret;

		child = stopper(getpid());
		ASSERT_LT(0, child);
		/* Fires during the sleep: the delivery is queued. */
		ASSERT_EQ(0, kpf_test_arm(&c, 0, 20 * NSEC_PER_MSEC, 0));
		t0 = kpf_now_ns();
		ret = kpf_test_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0,
					   0);
		t1 = kpf_now_ns();
		ASSERT_EQ(child, waitpid(child, NULL, 0));
		end = kpf_now_ns() + 5 * NSEC_PER_SEC;
		while (upcalls == before && kpf_now_ns() < end)
			;
		kpf_log("round %u: nanosleep %ld after %llu ms; upcall rax %lld at %s\n",
			round, ret, (unsigned long long)((t1 - t0) / NSEC_PER_MSEC),
			(long long)upcall_rax,
			upcall_rip == ret_ip ? "the return" :
			upcall_rip == ret_ip - 2 ? "the syscall instruction" :
			"another rip (before the sleep)");
		if (ret != 0 || t1 - t0 < SLEEP_NS || upcalls != before + 1)
			bad++;
		else if (upcall_rip == ret_ip && upcall_rax != 0)
			bad++;
		else if (upcall_rip == ret_ip - 2)
			bad++;
		else if (upcall_rip != ret_ip)
			early++;
	}
	EXPECT_EQ(0, bad);
	EXPECT_LE(early, ROUNDS / 2);
	EXPECT_EQ(ROUNDS, upcalls);
	EXPECT_EQ(ROUNDS, usr1_seen);
	kpf_test_ctx_destroy(&c);
}

TEST_HARNESS_MAIN
