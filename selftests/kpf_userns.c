// SPDX-License-Identifier: GPL-2.0
/*
 * max_contexts_per_user is counted like the kernel's ucounts (issue 8,
 * item 6): per uid in each user namespace, and for every uid of a
 * namespace also against the namespace's owner. Before, the count was per
 * global uid, so an unprivileged user with a subordinate uid range (what
 * newuidmap grants from /etc/subuid) got a fresh quota for each mapped
 * uid.
 *
 * The child drops to uid OWNER, creates a user namespace, and root (the
 * test) maps ns uid 0 to OWNER and ns uids 1..2 to a subordinate range,
 * as newuidmap would. The child then registers as ns uid 1 and ns uid 2.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define OWNER		1000
#define SUBUID		100001
#define MAX		2
#define TRIES		(MAX + 1)

/* What the child reports: registrations that worked per ns uid, errnos. */
struct report {
	int step;		/* where it failed, 0 if it did not */
	int err;
	int ok[3];		/* registrations accepted as ns uid 0, 1, 2 */
	int last_err[3];	/* errno of the first refused one */
	int ok_after_close;	/* as ns uid 2, after uid 1 closed its own */
};

static int count_registrations(struct kpf_test_ctx *c, int n, int *err)
{
	int i, ok = 0, ret;

	*err = 0;
	for (i = 0; i < n; i++) {
		ret = kpf_test_ctx_setup(&c[i]);
		if (ret) {
			if (!*err)
				*err = -ret;
			continue;
		}
		ok++;
	}
	return ok;
}

/* Register TRIES contexts as ns uid @u, keeping them. */
static int as_uid(uid_t u, struct kpf_test_ctx *c, struct report *r)
{
	int ok;

	if (setresuid(u, u, 0))
		return -errno;
	ok = count_registrations(c, TRIES, &r->last_err[u]);
	r->ok[u] = ok;
	if (setresuid(0, 0, 0))
		return -errno;
	return 0;
}

static void child(int to_parent, int from_parent)
{
	struct kpf_test_ctx c1[TRIES], c2[TRIES], c3[TRIES];
	struct report r = { 0 };
	char go;
	int i, err;

	if (setresuid(OWNER, OWNER, OWNER)) {
		r.step = 1;
		goto out;
	}
	if (unshare(CLONE_NEWUSER)) {
		r.step = 2;
		goto out;
	}
	/* Ask root to write uid_map, wait until it did. */
	if (write(to_parent, "m", 1) != 1 || read(from_parent, &go, 1) != 1 ||
	    go != 'g') {
		r.step = 3;
		goto out;
	}
	/* ns uid 0 is OWNER itself: the creator may take it. */
	if (setresuid(0, 0, 0)) {
		r.step = 4;
		goto out;
	}
	r.step = 5;
	if (as_uid(1, c1, &r) || as_uid(2, c2, &r))
		goto out;
	/* uid 1's contexts go: uid 2 may use the quota. */
	for (i = 0; i < TRIES; i++)
		kpf_test_ctx_destroy(&c1[i]);
	for (i = 0; i < TRIES; i++)
		kpf_test_ctx_destroy(&c2[i]);
	if (setresuid(2, 2, 0))
		goto out;
	r.ok_after_close = count_registrations(c3, TRIES, &err);
	r.step = 0;
out:
	r.err = errno;
	if (write(to_parent, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	_exit(0);
}

TEST(subordinate_uids_share_the_owner_quota)
{
	uint64_t old_max = kpf_param("max_contexts_per_user");
	int up[2], down[2], status;
	struct report r = { 0 };
	char path[64], map[64], m;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	/* The debug kernel (a tinyconfig) has no user namespaces. */
	if (access("/proc/self/ns/user", F_OK))
		SKIP(return, "no user namespaces in this kernel");
	ASSERT_NE(UINT64_MAX, old_max);
	/* Debian's switch for unprivileged user namespaces, if present. */
	kpf_test_write_file("/proc/sys/kernel/unprivileged_userns_clone", "1", 0);
	ASSERT_EQ(0, kpf_set_param("max_contexts_per_user", MAX));
	ASSERT_EQ(0, pipe2(up, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(down, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(up[0]);
		close(down[1]);
		child(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &m, 1) == 1 && m == 'm') {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
		snprintf(map, sizeof(map), "0 %d 1\n1 %d 2\n", OWNER, SUBUID);
		EXPECT_EQ(0, kpf_test_write_file(path, map, 0));
		EXPECT_EQ(1, write(down[1], "g", 1));
	}
	ASSERT_EQ(sizeof(r), read(up[0], &r, sizeof(r)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	kpf_set_param("max_contexts_per_user", old_max);
	kpf_log("limit %d: ns uid 1 (uid %d) registered %d (then errno %d), ns uid 2 (uid %d) %d (errno %d); after closing: %d\n",
		MAX, SUBUID, r.ok[1], r.last_err[1], SUBUID + 1, r.ok[2],
		r.last_err[2], r.ok_after_close);
	ASSERT_EQ(0, r.step) TH_LOG("child failed at step %d: %s", r.step,
				    strerror(r.err));
	EXPECT_EQ(MAX, r.ok[1]);
	EXPECT_EQ(EAGAIN, r.last_err[1]);
	/* The owner's quota is used up by ns uid 1. */
	EXPECT_EQ(0, r.ok[2]);
	EXPECT_EQ(EAGAIN, r.last_err[2]);
	EXPECT_EQ(MAX, r.ok_after_close);
	close(up[0]);
	close(down[1]);
}

/* A user of the initial namespace keeps its own quota. */
TEST(plain_user_quota)
{
	uint64_t old_max = kpf_param("max_contexts_per_user");
	struct kpf_test_ctx c[TRIES];
	int p[2], status, res[2] = { -1, -1 };
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_set_param("max_contexts_per_user", MAX));
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (!setresuid(OWNER + 1, OWNER + 1, OWNER + 1))
			res[0] = count_registrations(c, TRIES, &res[1]);
		if (write(p[1], res, sizeof(res)) != sizeof(res))
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	kpf_set_param("max_contexts_per_user", old_max);
	kpf_log("uid %d: %d registered, then errno %d\n", OWNER + 1, res[0],
		res[1]);
	EXPECT_EQ(MAX, res[0]);
	EXPECT_EQ(EAGAIN, res[1]);
	close(p[0]);
	close(p[1]);
}

TEST_HARNESS_MAIN
