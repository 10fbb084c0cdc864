// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SQLite (Debian's libsqlite3.so.0) from 16 preempted tasks on one thread,
 * each with its own in-memory database, 20 us budgets, the launcher
 * running a small query on a database of its own between resumes.
 *
 * Without help this deadlocks: a task preempted inside SQLite holds
 * SQLite's static mutex (sqlite3Malloc -> pthread_mutex_lock) and the
 * launcher's next query waits for it forever. Two ways out, both must
 * give exact results with no deadlock:
 *  - libsets: every task runs in a copy of SQLite of its own, and is
 *    preempted inside it (counted);
 *  - KPF_DEFER_LIBS=libsqlite3.so.0: calls into SQLite are deferred, so
 *    no task is ever stopped inside it.
 * A watchdog (alarm) turns a deadlock into a failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "../child.h"

#define NTASKS		16
#define ROWS		300
#define QUERIES		6
#define BUDGET_NS	20000
#define WATCHDOG_S	120

struct sq_task {
	int idx;
	int done;		/* queries checked */
	int wrong;		/* wrong results or SQLite errors */
	int err_line;
};

static long long want_sum(int idx, int r)
{
	long long s = 0;
	int i;

	for (i = 0; i < ROWS; i++)
		if (i % 3 == r)
			s += (long long)i * (i * idx + 1);
	return s;
}

/* a failed step: count it, remember where, give up on this task */
#define SQ_CHECK(w, cond)					\
	do {							\
		if (!(cond)) {					\
			(w)->wrong++;				\
			(w)->err_line = __LINE__;		\
			goto out;				\
		}						\
	} while (0)

static void sq_task(void *arg)
{
	struct sq_task *w = arg;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int i, q, r = w->idx % 3;

	SQ_CHECK(w, sqlite3_open(":memory:", &db) == SQLITE_OK);
	SQ_CHECK(w, sqlite3_exec(db, "CREATE TABLE t(a INTEGER, b INTEGER);"
				 "BEGIN;", NULL, NULL, NULL) == SQLITE_OK);
	SQ_CHECK(w, sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?1, ?2)", -1,
				       &st, NULL) == SQLITE_OK);
	for (i = 0; i < ROWS; i++) {
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_int(st, 2, i * w->idx + 1);
		SQ_CHECK(w, sqlite3_step(st) == SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	SQ_CHECK(w, sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) == SQLITE_OK);
	for (q = 0; q < QUERIES; q++) {
		SQ_CHECK(w, sqlite3_prepare_v2(db,
			"SELECT sum(a * b), count(*) FROM t WHERE a % 3 = ?1",
			-1, &st, NULL) == SQLITE_OK);
		sqlite3_bind_int(st, 1, r);
		SQ_CHECK(w, sqlite3_step(st) == SQLITE_ROW);
		SQ_CHECK(w, sqlite3_column_int64(st, 0) == want_sum(w->idx, r));
		SQ_CHECK(w, sqlite3_column_int(st, 1) == (ROWS - r + 2) / 3);
		sqlite3_finalize(st);
		st = NULL;
		w->done++;
	}
out:
	if (st)
		sqlite3_finalize(st);
	if (db)
		sqlite3_close(db);
}

struct sq_run {
	int wrong;
	int unfinished;
	int launcher_queries;
	int launcher_wrong;
	int first_bad_line;
};

/* The launcher's query between resumes: sum of 1..10 */
static int launcher_query(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok;

	if (sqlite3_prepare_v2(db, "SELECT sum(x) FROM l", -1, &st, NULL))
		return 0;
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 55;
	sqlite3_finalize(st);
	return ok;
}

static void sq_run(struct sq_run *r)
{
	static struct sq_task w[NTASKS];
	kpf_task *t[NTASKS];
	sqlite3 *db;
	int i, live = 0, ret, rounds = 0;
	static const char *const setup =
		"CREATE TABLE l(x);"
		"INSERT INTO l VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10);";

	memset(r, 0, sizeof(*r));
	if (sqlite3_open(":memory:", &db) ||
	    sqlite3_exec(db, setup, NULL, NULL, NULL)) {
		r->launcher_wrong++;
		return;
	}
	for (i = 0; i < NTASKS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i + 1;
		ret = kpf_launch(&t[i], sq_task, &w[i], BUDGET_NS);
		if (ret == KPF_PREEMPTED)
			live++;
		else
			t[i] = NULL;
	}
	while (live && rounds++ < 10000000) {
		for (i = 0; i < NTASKS; i++) {
			if (!t[i])
				continue;
			r->launcher_queries++;
			if (!launcher_query(db))
				r->launcher_wrong++;
			if (kpf_resume(t[i], BUDGET_NS) == KPF_DONE) {
				t[i] = NULL;
				live--;
			}
		}
	}
	for (i = 0; i < NTASKS; i++) {
		r->wrong += w[i].wrong;
		if (w[i].wrong && !r->first_bad_line)
			r->first_bad_line = w[i].err_line;
		if (w[i].done != QUERIES)
			r->unfinished++;
	}
	sqlite3_close(db);
}

/* generous: TCG guests on a loaded host are 10-50 times slower */
FIXTURE(sq) {
	int unused;
};

FIXTURE_SETUP(sq)
{
}

FIXTURE_TEARDOWN(sq)
{
}

/*
 * The watchdog is SIGALRM's default action: the process dies with it. (A
 * handler calling write() or _exit() would go through automatic
 * deferral's stubs, which may preempt the task the signal interrupted,
 * handler and all, and hand the thread to a deadlocked launcher.)
 */
static void watchdog_arm(unsigned int seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm(seconds);
}

TEST_F_TIMEOUT(sq, sqlite_libsets, WATCHDOG_S + 30)
{
	struct kpf_stats s = { .size = sizeof(s) };
	struct sq_run r;

	watchdog_arm(WATCHDOG_S);
	ASSERT_EQ(0, kpf_libset_declare("libsqlite3.so.0"));
	sq_run(&r);
	alarm(0);
	kpf_thread_stats(&s);
	TH_LOG("%d copies; %llu preemptions, %llu inside a copy",
	       kpf_libset_copies(), (unsigned long long)s.preemptions,
	       (unsigned long long)s.libset_preemptions);
	TH_LOG("%llu copies handed out, %llu tasks fell back; %d launcher queries",
	       (unsigned long long)s.libset_copies,
	       (unsigned long long)s.libset_fallbacks, r.launcher_queries);
	EXPECT_EQ(0, r.wrong);
	EXPECT_EQ(0, r.first_bad_line);
	EXPECT_EQ(0, r.unfinished);
	EXPECT_EQ(0, r.launcher_wrong);
	EXPECT_GT(r.launcher_queries, NTASKS);
	EXPECT_GT(s.libset_preemptions, 0U);
}

TEST_F_TIMEOUT(sq, sqlite_deferred, WATCHDOG_S + 30)
{
	struct kpf_stats s = { .size = sizeof(s) };
	struct sq_run r;

	watchdog_arm(WATCHDOG_S);
	ASSERT_EQ(0, setenv("KPF_DEFER_LIBS", "libsqlite3.so.0", 1));
	ASSERT_EQ(0, kpf_init(NULL));
	sq_run(&r);
	alarm(0);
	kpf_thread_stats(&s);
	TH_LOG("%llu preemptions, %llu expiries deferred inside a library call, %d launcher queries",
	       (unsigned long long)s.preemptions,
	       (unsigned long long)s.deferred_in_library, r.launcher_queries);
	EXPECT_EQ(0, r.wrong);
	EXPECT_EQ(0, r.unfinished);
	EXPECT_EQ(0, r.launcher_wrong);
	EXPECT_GT(r.launcher_queries, NTASKS);
	/*
	 * Expiries did land inside SQLite calls (the tasks spend nearly all
	 * their time there) and were deferred: the tasks were preempted
	 * between SQLite calls, never inside one.
	 */
	EXPECT_GT(s.deferred_in_library, 0U);
	EXPECT_GT(s.preemptions, 0U);
}

/* inserts until cancelled, one statement per row: always inside SQLite */
static void sq_endless(void *arg)
{
	sqlite3 *db;
	char sql[96];
	int i = 0;

	if (sqlite3_open(":memory:", &db) ||
	    sqlite3_exec(db, "CREATE TABLE t(a, b)", NULL, NULL, NULL))
		return;
	for (;;) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%d, %d)", i, i);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
		i++;
	}
}

/*
 * A task cancelled while stopped inside its SQLite copy (maybe holding
 * SQLite's mutexes, half-way through its allocator) leaves the copy to
 * the next task reset: with one copy, the next task runs the full
 * workload in it.
 */
TEST_F_TIMEOUT(sq, sqlite_cancelled_copy_is_reset, WATCHDOG_S + 30)
{
	struct sq_task w = { .idx = 7 };
	struct kpf_stats s = { .size = sizeof(s) };
	int round, tries;
	kpf_task *t;

	watchdog_arm(WATCHDOG_S);
	ASSERT_EQ(0, setenv("KPF_LIBSET_COPIES", "1", 1));
	ASSERT_EQ(0, kpf_libset_declare("libsqlite3.so.0"));
	for (round = 0; round < 10; round++) {
		ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, sq_endless, NULL,
						    BUDGET_NS));
		kpf_thread_stats(&s);
		tries = 0;
		while (s.libset_preemptions <= (uint64_t)round) {
			ASSERT_LT(++tries, 100000);
			ASSERT_EQ(KPF_PREEMPTED, kpf_resume(t, BUDGET_NS));
			kpf_thread_stats(&s);
		}
		kpf_cancel(t);
		memset(&w, 0, sizeof(w));
		w.idx = round + 1;
		ASSERT_EQ(KPF_DONE, kpf_launch(&t, sq_task, &w, KPF_FOREVER));
		ASSERT_EQ(0, w.wrong) TH_LOG("round %d: line %d", round,
					     w.err_line);
		ASSERT_EQ(QUERIES, w.done);
	}
	alarm(0);
	EXPECT_EQ(0U, s.libset_fallbacks);
}

static void sq_unprotected(void)
{
	struct sq_run r;

	watchdog_arm(10);
	sq_run(&r);
	fprintf(stderr, "finished: %d wrong, %d unfinished, launcher %d wrong\n",
		r.wrong, r.unfinished, r.launcher_wrong);
	_exit(r.wrong || r.unfinished || r.launcher_wrong ? 3 : 0);
}

/* The workload without either is what the issue reported: a deadlock. */
TEST_F_TIMEOUT(sq, sqlite_unprotected_fails, 60)
{
	struct child_result res;

	child_run(sq_unprotected, &res);
	TH_LOG("unprotected: status 0x%x (%s): %.200s", res.status,
	       WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGALRM ?
	       "no progress in 10 s: deadlock" : "see stderr", res.err);
	/* deadlocked (the watchdog killed it), or wrong results (status 3) */
	EXPECT_TRUE((WIFSIGNALED(res.status) &&
		     WTERMSIG(res.status) == SIGALRM) ||
		    (WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3));
}

TEST_HARNESS_MAIN
