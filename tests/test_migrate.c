// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration: a task launched with KPF_LAUNCH_MIGRATE resumes on other
 * threads with its registers exact - on fresh threads one hop at a time,
 * and 16 tasks passed around 4 worker threads through a shared queue.
 * Tasks without the flag stay on their thread (test_task_state).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kpf.h>
#include "kselftest_harness.h"
#include "calibrate.h"

struct hop {
	struct torture_state st;
	uint64_t iters;
	int mode;
};

static void hop_task(void *arg)
{
	struct hop *h = arg;

	torture_run(&h->st, h->iters, h->mode);
}

struct resumer {
	kpf_task *t;
	int r;
};

static void *resume_once(void *arg)
{
	struct resumer *rs = arg;

	rs->r = kpf_resume(rs->t, 100000);
	return NULL;
}

/* About 2 ms of work at full speed (10 ms in the emulated guest). */
static uint64_t work_iters(int mode)
{
	return torture_iters_for(getenv("KPF_GUEST") ? 10000000 : 2000000,
				 mode);
}

FIXTURE(mig) {
};

FIXTURE_SETUP(mig)
{
}

FIXTURE_TEARDOWN(mig)
{
}

/* emulated guests are slow: generous timeouts */
TEST_F_TIMEOUT(mig, resume_on_fresh_threads, 300)
{
	static struct hop h;
	struct torture_state ref;
	struct resumer rs;
	int r, hops = 0, tries = 0;
	pthread_t th;

	h.mode = torture_cpu_mode();
	h.iters = work_iters(h.mode);
	torture_init(&ref, 5);
	torture_run(&ref, h.iters, h.mode);
	/* a late first expiry (emulators) can let the task finish: retry */
	do {
		torture_init(&h.st, 5);
		r = kpf_launch_flags(&rs.t, hop_task, &h, 100000,
				     KPF_LAUNCH_MIGRATE);
	} while (r == KPF_DONE && ++tries < 10);
	while (r == KPF_PREEMPTED) {
		ASSERT_EQ(0, pthread_create(&th, NULL, resume_once, &rs));
		pthread_join(th, NULL);
		r = rs.r;
		hops++;
	}
	EXPECT_EQ(KPF_DONE, r);
	EXPECT_LE(1, hops);
	EXPECT_EQ(0, memcmp(&h.st, &ref, sizeof(ref)))
		TH_LOG("registers differ after %d hops", hops);
}

#define QTASKS		16
#define QWORKERS	4

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static kpf_task *queue[QTASKS];
static int qhead, qcount, qdone, qerrors;
static struct hop qjobs[QTASKS];

static void *queue_worker(void *arg)
{
	kpf_task *t;
	int r;

	for (;;) {
		pthread_mutex_lock(&qlock);
		if (qdone == QTASKS) {
			pthread_mutex_unlock(&qlock);
			return NULL;
		}
		t = NULL;
		if (qcount) {
			t = queue[qhead];
			qhead = (qhead + 1) % QTASKS;
			qcount--;
		}
		pthread_mutex_unlock(&qlock);
		if (!t) {
			sched_yield();
			continue;
		}
		r = kpf_resume(t, 30000 + rand() % 100000);
		pthread_mutex_lock(&qlock);
		if (r == KPF_PREEMPTED) {
			queue[(qhead + qcount) % QTASKS] = t;
			qcount++;
		} else {
			if (r != KPF_DONE)
				qerrors++;
			qdone++;
		}
		pthread_mutex_unlock(&qlock);
	}
}

TEST_F_TIMEOUT(mig, queue_of_workers, 600)
{
	struct torture_state ref;
	pthread_t th[QWORKERS];
	int i, r, bad = 0, mode = torture_cpu_mode();
	uint64_t iters = work_iters(mode);

	for (i = 0; i < QTASKS; i++) {
		torture_init(&qjobs[i].st, 100 + i);
		qjobs[i].iters = iters;
		qjobs[i].mode = mode;
		r = kpf_launch_flags(&queue[qcount], hop_task, &qjobs[i],
				     10000, KPF_LAUNCH_MIGRATE);
		if (r == KPF_PREEMPTED)
			qcount++;
		else if (r == KPF_DONE)
			qdone++;	/* a late timer (emulators) let it finish */
		else
			qerrors++;
	}
	for (i = 0; i < QWORKERS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, queue_worker, NULL));
	for (i = 0; i < QWORKERS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < QTASKS; i++) {
		torture_init(&ref, 100 + i);
		torture_run(&ref, iters, mode);
		bad += !!memcmp(&ref, &qjobs[i].st, sizeof(ref));
	}
	EXPECT_EQ(0, qerrors);
	EXPECT_EQ(QTASKS, qdone);
	EXPECT_EQ(0, bad) TH_LOG("%d of %d tasks not bit-exact", bad, QTASKS);
}

TEST_HARNESS_MAIN
