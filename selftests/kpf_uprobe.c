// SPDX-License-Identifier: GPL-2.0
/*
 * Uprobes (issue 8, item 5): while a uprobe executes its probed
 * instruction out of line, the next user instruction must be that copy,
 * with the trap flag set. kpf defers a delivery that falls into that
 * window (current->utask->active_uprobe, TF in the frame). With a uprobe
 * on a function called in a loop and a fast periodic timer, every result
 * stays right, every hit is counted, the upcalls go on, no trap flag
 * leaks into a frame, and no stray SIGTRAP kills the thread.
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define TRACEFS		"/sys/kernel/tracing/"
#define PERIOD_NS	(20 * NSEC_PER_USEC)

/* kpf_uprobe_target.S */
uint64_t kpf_test_uprobe_target(uint64_t x);

/* File offset of @addr in the executable, from /proc/self/maps. */
static long file_offset(const void *addr, char *path, size_t len)
{
	unsigned long start, end, off, a = (unsigned long)addr;
	char line[512], file[256];
	long ret = -1;
	FILE *f;

	if (readlink("/proc/self/exe", path, len - 1) <= 0)
		return -1;
	path[len - 1] = '\0';
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		file[0] = '\0';
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &start, &end,
			   &off, file) < 3)
			continue;
		if (a >= start && a < end && !strcmp(file, path)) {
			ret = a - start + off;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Hits of our probe in uprobe_profile, or -1. */
static long probe_hits(void)
{
	char line[512];
	long hits = -1, h;
	FILE *f = fopen(TRACEFS "uprobe_profile", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "kpf_target") &&
		    sscanf(strrchr(line, ' '), "%ld", &h) == 1)
			hits = h;
	fclose(f);
	return hits;
}

struct result {
	uint64_t calls, wrong, delivered, rflags_tf;
	int ret;
};

/* The loop, in a child: a stray SIGTRAP kills only it. */
static void child(int out, uint64_t calls)
{
	struct result r = { 0 };
	struct kpf_test_ctx c;
	uint64_t i;

	r.ret = kpf_test_ctx_setup(&c);
	if (!r.ret)
		r.ret = kpf_test_arm(&c, KPF_ARM_PERIODIC, 0, PERIOD_NS);
	if (!r.ret) {
		for (i = 0; i < calls; i++) {
			if (kpf_test_uprobe_target(i) != 3 * i + 1)
				r.wrong++;
			if (kpf_test_last_frame.rflags & X86_EFLAGS_TF)
				r.rflags_tf++;
		}
		r.calls = calls;
		r.delivered = READ_ONCE(c.area->delivered);
		kpf_test_disarm(&c);
		if (kpf_test_reg_mismatch)
			r.ret = -EPROTO;
	}
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	_exit(0);
}


TEST(uprobe_xol_with_periodic_upcalls)
{
	const char *kernel = getenv("KPF_KERNEL");
	uint64_t calls = kernel && !strcmp(kernel, "debug") ? 2000 : 20000;
	char path[256], probe[400];
	struct result r = { 0 };
	long off, hits0, hits;
	int p[2], status;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	if (access(TRACEFS "uprobe_events", W_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (access(TRACEFS "uprobe_events", W_OK))
		SKIP(return, "no uprobe_events in " TRACEFS);
	off = file_offset((void *)kpf_test_uprobe_target, path, sizeof(path));
	ASSERT_LE(0, off);
	kpf_test_tracefs_write("events/kpf_uprobe/kpf_target/enable", "0", 0);
	kpf_test_tracefs_write("uprobe_events", "-:kpf_uprobe/kpf_target\n", 1);
	snprintf(probe, sizeof(probe), "p:kpf_uprobe/kpf_target %s:%#lx\n",
		 path, off);
	ASSERT_EQ(0, kpf_test_tracefs_write("uprobe_events", probe, 1));
	ASSERT_EQ(0, kpf_test_tracefs_write("events/kpf_uprobe/kpf_target/enable",
				   "1", 0));
	hits0 = probe_hits();

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		child(p[1], calls);
	}
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	hits = probe_hits();
	kpf_test_tracefs_write("events/kpf_uprobe/kpf_target/enable", "0", 0);
	kpf_test_tracefs_write("uprobe_events", "-:kpf_uprobe/kpf_target\n", 1);
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("child killed by signal %d",
					      WTERMSIG(status));
	ASSERT_EQ(sizeof(r), read(p[0], &r, sizeof(r)));
	kpf_log("%llu calls: %llu wrong, %ld probe hits, %llu upcalls, %llu frames with TF\n",
		(unsigned long long)r.calls, (unsigned long long)r.wrong,
		hits - hits0, (unsigned long long)r.delivered,
		(unsigned long long)r.rflags_tf);
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(calls, r.calls);
	EXPECT_EQ(0, r.wrong);
	EXPECT_LE((long)calls, hits - hits0);
	EXPECT_LT(0, r.delivered);
	EXPECT_EQ(0, r.rflags_tf);
	close(p[0]);
}

TEST_HARNESS_MAIN
