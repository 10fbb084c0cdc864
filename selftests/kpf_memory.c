// SPDX-License-Identifier: GPL-2.0
/*
 * The pinned area is accounted and restricted (issue 8, item 6):
 * - the page counts against RLIMIT_MEMLOCK (VmLck grows by a page; with a
 *   limit of 0 and no CAP_IPC_LOCK, REGISTER gives ENOMEM);
 * - only anonymous or shmem memory: a page-cache page of a regular file
 *   gives EINVAL, a memfd is fine;
 * - munmap of a registered area is harmless: the kernel keeps its pinned
 *   page until UNREGISTER, which then gives the charge back;
 * - the area's tail is reserved and must be zero;
 * - the charge asks for CAP_IPC_LOCK only over the limit, and without an
 *   audit record (a kprobe on security_capable() sees the checks).
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

/* VmLck of this process in kB, or -1. */
static long vm_locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

TEST(area_counts_as_locked_memory)
{
	struct kpf_test_ctx c;
	long before, during, after;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	before = vm_locked_kb();
	ASSERT_EQ(0, kpf_test_register(&c));
	during = vm_locked_kb();
	ASSERT_EQ(0, kpf_test_unregister(&c));
	after = vm_locked_kb();
	kpf_log("VmLck %ld kB, registered %ld kB, unregistered %ld kB\n",
		before, during, after);
	EXPECT_LE(0, before);
	EXPECT_EQ(before + 4, during);
	EXPECT_EQ(before, after);
	kpf_test_ctx_destroy(&c);
}

TEST(memlock_limit_refuses)
{
	int status;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct rlimit none = { 0, 0 };
		cap_value_t lock = CAP_IPC_LOCK;
		struct kpf_test_ctx c;
		cap_t caps = cap_get_proc();

		if (!caps || cap_set_flag(caps, CAP_EFFECTIVE, 1, &lock,
					  CAP_CLEAR) || cap_set_proc(caps))
			_exit(10);
		if (setrlimit(RLIMIT_MEMLOCK, &none) || kpf_test_ctx_init(&c))
			_exit(11);
		_exit(kpf_test_register(&c) == -ENOMEM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Put the area into @fd's first page, shared; returns the errno of REGISTER. */
static int register_in_file(struct kpf_test_ctx *c, int fd)
{
	struct kpf_area *file_area;
	int ret;

	if (ftruncate(fd, KPF_TEST_PAGE_SIZE))
		return -errno;
	file_area = mmap(NULL, KPF_TEST_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	if (file_area == MAP_FAILED)
		return -errno;
	munmap(c->area, KPF_TEST_PAGE_SIZE);
	c->area = file_area;
	memset(file_area, 0, sizeof(*file_area));
	file_area->size = sizeof(*file_area);
	ret = kpf_test_register(c);
	if (!ret)
		kpf_test_unregister(c);
	return ret;
}

TEST(shmem_area_accepted)
{
	struct kpf_test_ctx c;
	int fd;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	fd = memfd_create("kpf-area", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, register_in_file(&c, fd));
	close(fd);
	kpf_test_ctx_destroy(&c);
}

TEST(page_cache_area_refused)
{
	char dir[] = "/tmp/kpf-ramfs-XXXXXX", path[64];
	struct kpf_test_ctx c;
	int fd;

	KPF_REQUIRE_DEVICE();
	/* ramfs: a plain page cache that swap never backs. */
	ASSERT_NE(NULL, mkdtemp(dir));
	if (mount("kpf-ramfs", dir, "ramfs", 0, NULL)) {
		rmdir(dir);
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/area", dir);
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, register_in_file(&c, fd));
	close(fd);
	kpf_test_ctx_destroy(&c);
	umount(dir);
	rmdir(dir);
}

/* munmap while registered and armed: nothing breaks, UNREGISTER uncharges. */
TEST(munmap_registered_area)
{
	struct kpf_test_ctx c;
	long before;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	before = vm_locked_kb();
	ASSERT_EQ(0, kpf_test_register(&c));
	WRITE_ONCE(c.area->defer, 1);
	ASSERT_EQ(0, kpf_test_arm(&c, 0, 2 * NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, munmap(c.area, KPF_TEST_PAGE_SIZE));
	c.area = NULL;
	kpf_spin_ns(20 * NSEC_PER_MSEC);
	EXPECT_EQ(0, kpf_test_disarm(&c));
	EXPECT_EQ(0, kpf_test_unregister(&c));
	EXPECT_EQ(before, vm_locked_kb());
	kpf_test_ctx_destroy(&c);
}

TEST(area_reserved_tail_must_be_zero)
{
	struct kpf_test_ctx c;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	c.area->reserved2[4] = 1;
	EXPECT_EQ(-EINVAL, kpf_test_register(&c));
	c.area->reserved2[4] = 0;
	c.area->user_ssp = 0x1234;
	EXPECT_EQ(0, kpf_test_register(&c));
	EXPECT_EQ(0, READ_ONCE(c.area->user_ssp));
	kpf_test_ctx_destroy(&c);
}

#define TRACEFS		"/sys/kernel/tracing/"
#define CAP_IPC_LOCK_NR	14
/* include/linux/security.h: CAP_OPT_NOAUDIT */
#define CAP_OPT_NOAUDIT	2

/*
 * Count the CAP_IPC_LOCK checks of this process in the trace: @audited
 * those without CAP_OPT_NOAUDIT, @quiet those with it.
 */
static void count_cap_checks(int *audited, int *quiet)
{
	char line[512], pat[32];
	unsigned int opts;
	FILE *f = fopen(TRACEFS "trace", "r");

	*audited = *quiet = 0;
	if (!f)
		return;
	snprintf(pat, sizeof(pat), "-%d ", (int)getpid());
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " cap=14 opts=");

		if (!p || !strstr(line, pat) ||
		    sscanf(p, " cap=14 opts=%u", &opts) != 1)
			continue;
		if (opts & CAP_OPT_NOAUDIT)
			(*quiet)++;
		else
			(*audited)++;
	}
	fclose(f);
}

/*
 * REGISTER and UNREGISTER under the limit, then REGISTER over it (RLIMIT
 * 0: root passes by CAP_IPC_LOCK). Before, account_locked_vm() asked
 * capable(CAP_IPC_LOCK) every time, an audited check.
 */
TEST(memlock_check_is_not_audited)
{
	struct rlimit old, none = { 0, 0 };
	int audited, quiet, audited2, quiet2;
	struct kpf_test_ctx c;

	KPF_REQUIRE_DEVICE();
	if (access(TRACEFS "kprobe_events", W_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (access(TRACEFS "kprobe_events", W_OK))
		SKIP(return, "no kprobe_events in " TRACEFS);
	kpf_test_tracefs_write("events/kprobes/enable", "0", 0);
	kpf_test_tracefs_write("kprobe_events", "-:kpf_cap\n", 1);
	ASSERT_EQ(0, kpf_test_tracefs_write("kprobe_events",
		  "p:kpf_cap security_capable cap=%dx:s32 opts=%cx:u32\n", 1));
	ASSERT_EQ(0, kpf_test_tracefs_write("events/kprobes/kpf_cap/filter",
				   "cap == 14", 0));
	ASSERT_EQ(0, kpf_test_tracefs_write("trace", "", 0));
	ASSERT_EQ(0, kpf_test_tracefs_write("events/kprobes/kpf_cap/enable", "1", 0));

	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_unregister(&c));
	count_cap_checks(&audited, &quiet);

	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &old));
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &none));
	EXPECT_EQ(0, kpf_test_register(&c));
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &old));
	EXPECT_EQ(0, kpf_test_unregister(&c));
	count_cap_checks(&audited2, &quiet2);

	kpf_test_tracefs_write("events/kprobes/kpf_cap/enable", "0", 0);
	kpf_test_tracefs_write("kprobe_events", "-:kpf_cap\n", 1);
	kpf_log("CAP_IPC_LOCK checks under the limit: %d audited, %d noaudit; over it: %d audited, %d noaudit\n",
		audited, quiet, audited2 - audited, quiet2 - quiet);
	EXPECT_EQ(0, audited);
	EXPECT_EQ(0, quiet);
	EXPECT_EQ(0, audited2 - audited);
	EXPECT_EQ(1, quiet2 - quiet);
	kpf_test_ctx_destroy(&c);
}

TEST_HARNESS_MAIN
