// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libset copy of SQLite and errno (review of issue 7, finding 6).
 *
 * Another process holds an EXCLUSIVE lock on a database file; a task
 * reads it through its copy of SQLite and must get SQLITE_BUSY, like the
 * launcher does. SQLite calls fcntl, read, write... through its
 * aSyscall[] table (R_X86_64_64 relocations in data); when those entries
 * still pointed at the copy's own libc, fcntl failed with EAGAIN in the
 * copy's errno while SQLite read the program's: SQLITE_IOERR instead of
 * SQLITE_BUSY.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <kpf.h>

struct query {
	const char *path;
	int rc;
	int sys_errno;
};

static void run_query(struct query *q)
{
	sqlite3 *db;

	q->rc = sqlite3_open(q->path, &db);
	if (q->rc == SQLITE_OK) {
		/* not a stale EAGAIN from an earlier call: SQLite reads it */
		errno = 0;
		q->rc = sqlite3_exec(db, "SELECT * FROM c", NULL, NULL, NULL);
		q->sys_errno = sqlite3_system_errno(db);
	}
	sqlite3_close(db);
}

static void query_task(void *arg)
{
	run_query(arg);
}

TEST(copy_sees_lock_as_busy)
{
	char dir[] = "/tmp/kpf-libset-errno-XXXXXX", path[64];
	struct query launcher = { .rc = -1 }, task = { .rc = -1 };
	int to_child[2], from_child[2];
	struct kpf_stats s = { .size = sizeof(s) };
	sqlite3 *db;
	kpf_task *t;
	pid_t pid;
	char c;

	alarm(60);
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lock.db", dir);
	ASSERT_EQ(SQLITE_OK, sqlite3_open(path, &db));
	ASSERT_EQ(SQLITE_OK, sqlite3_exec(db,
		"CREATE TABLE c(v); INSERT INTO c VALUES(0)", NULL, NULL, NULL));
	sqlite3_close(db);
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(from_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* holds the lock until the parent closes its pipe */
		sqlite3_open(path, &db);
		if (sqlite3_exec(db, "BEGIN EXCLUSIVE; UPDATE c SET v = 1",
				 NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(from_child[1], "x", 1) != 1)
			_exit(1);
		close(to_child[1]);
		while (read(to_child[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(to_child[0]);
	close(from_child[1]);
	ASSERT_EQ(1, read(from_child[0], &c, 1));

	setenv("KPF_LIBSET_COPIES", "1", 1);
	ASSERT_EQ(0, kpf_libset_declare("libsqlite3.so.0"));
	ASSERT_EQ(0, kpf_init(NULL));
	launcher.path = path;
	run_query(&launcher);
	task.path = path;
	ASSERT_EQ(KPF_DONE, kpf_launch(&t, query_task, &task, KPF_FOREVER));
	kpf_thread_stats(&s);

	close(to_child[1]);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
	TH_LOG("launcher: rc %d system errno %d; task: rc %d system errno %d",
	       launcher.rc, launcher.sys_errno, task.rc, task.sys_errno);
	/* the task really ran in a copy */
	EXPECT_EQ(1ULL, (unsigned long long)s.libset_copies);
	EXPECT_EQ(SQLITE_BUSY, launcher.rc);
	EXPECT_EQ(SQLITE_BUSY, task.rc);
}

TEST_HARNESS_MAIN
