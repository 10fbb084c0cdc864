// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 3, arming cost: time per call to arm and disarm a timer:
 * KPF_IOC_ARM / KPF_IOC_ARM_AT / KPF_IOC_DISARM, storing a deadline into
 * the kpf area (no system call while a timer is queued for an earlier
 * time), timer_settime and setitimer; and, to show where a call's time
 * goes, calls that stop at a known point (getppid: entry and exit only; a
 * bad fd: fdget; FIOQSIZE: do_vfs_ioctl after the LSM hook; a foreign
 * ioctl type: kpf's first check; timer_settime of a bad timer id).
 *
 * The timers are armed far in the future, so nothing fires. Each system
 * call is timed on its own and a row is the median minus the median clock
 * read: a mean carries whatever else the machine did meanwhile (right
 * after insmod, the icount guest's mean for ARM was 1621-1675 ns against
 * a median of 1041). In the -icount guest 1 ns is one instruction and the
 * median is exact. The deadline store, far cheaper than a clock read, is
 * timed as a loop. Writes results.csv.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <linux/fs.h>

#include "bench.h"

#define KB_FAR_NS	(100 * NSEC_PER_SEC)

enum kb_arm_call {
	KB_CALL_GETPPID,
	KB_CALL_BAD_FD,
	KB_CALL_FIOQSIZE,
	KB_CALL_BAD_TYPE,
	KB_CALL_BAD_TIMER,
	KB_CALL_ARM_IDLE,
	KB_CALL_DISARM,
	KB_CALL_ARM_MOVE,
	KB_CALL_ARM_AT_IDLE,
	KB_CALL_ARM_AT_MOVE,
	KB_CALL_SETITIMER_ARM,
	KB_CALL_SETITIMER_DISARM,
};

/* A row: the call, its name on kmod and on signal (NULL: not there). */
static const struct kb_arm_op {
	enum kb_arm_call call;
	const char *name[KB_NR_BACKENDS];
} kb_arm_ops[] = {
	{ KB_CALL_GETPPID, { "getppid (entry+exit)", NULL } },
	{ KB_CALL_BAD_FD, { "ioctl bad fd (fdget)", NULL } },
	{ KB_CALL_FIOQSIZE, { "ioctl FIOQSIZE (LSM+vfs)", NULL } },
	{ KB_CALL_BAD_TYPE, { "ioctl bad type (kpf_ioctl)", NULL } },
	{ KB_CALL_BAD_TIMER, { NULL, "timer_settime bad id" } },
	{ KB_CALL_ARM_IDLE, { "ioctl ARM (idle timer)",
			      "timer_settime arm (idle)" } },
	{ KB_CALL_DISARM, { "ioctl DISARM", "timer_settime disarm" } },
	{ KB_CALL_ARM_MOVE, { "ioctl ARM (move queued)",
			      "timer_settime (move queued)" } },
	{ KB_CALL_ARM_AT_IDLE, { "ioctl ARM_AT (idle timer)", NULL } },
	{ KB_CALL_ARM_AT_MOVE, { "ioctl ARM_AT (move queued)", NULL } },
	{ KB_CALL_SETITIMER_ARM, { NULL, "setitimer arm" } },
	{ KB_CALL_SETITIMER_DISARM, { NULL, "setitimer disarm" } },
};

struct kb_arm_row {
	const char *backend;
	const char *op;
	double ns;
};

/* every row on both backends, and the store */
#define KB_MAX_ARM_ROWS	(ARRAY_SIZE(kb_arm_ops) * KB_NR_BACKENDS + 1)

static struct kb_arm_row kb_arm_rows[KB_MAX_ARM_ROWS];
static unsigned int kb_nr_arm_rows;

static void kb_arm_add(const char *backend, const char *op, double ns)
{
	if (kb_nr_arm_rows < KB_MAX_ARM_ROWS)
		kb_arm_rows[kb_nr_arm_rows++] =
			(struct kb_arm_row){ backend, op, ns };
}

static double kb_arm_find(const char *op)
{
	unsigned int i;

	for (i = 0; i < kb_nr_arm_rows; i++)
		if (!strcmp(kb_arm_rows[i].op, op))
			return kb_arm_rows[i].ns;
	return 0;
}

/* the median of @v (sorted here) */
static uint64_t kb_arm_median(uint64_t *v, unsigned long n)
{
	struct kb_dist d;

	kb_dist_compute(v, n, &d);
	return d.p50;
}

/* median cost of reading the clock, subtracted from every row */
static uint64_t kb_clock_cost(uint64_t *v, unsigned long ops)
{
	unsigned long i;
	uint64_t a;

	for (i = 0; i < ops; i++) {
		a = kb_now_ns();
		v[i] = kb_now_ns() - a;
	}
	return kb_arm_median(v, ops);
}

static int kb_setitimer(uint64_t ns)
{
	struct itimerval it = {
		.it_value = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC / 1000 },
	};

	return setitimer(ITIMER_REAL, &it, NULL) ? -errno : 0;
}

/*
 * Put the timer where call @c of the @i-th sample starts from: idle for
 * an arm, queued for a disarm, queued far later for a move (the first
 * sample only: each move is earlier than the last).
 */
static int kb_arm_prepare(struct kb_timer *t, enum kb_arm_call c,
			  unsigned long i, uint64_t far)
{
	switch (c) {
	case KB_CALL_ARM_IDLE:
	case KB_CALL_ARM_AT_IDLE:
		return kb_timer_disarm(t);
	case KB_CALL_DISARM:
		return kb_timer_arm(t, far + i, 0);
	case KB_CALL_ARM_MOVE:
	case KB_CALL_ARM_AT_MOVE:
		return i ? 0 : kb_timer_arm(t, far + KB_FAR_NS, 0);
	case KB_CALL_SETITIMER_DISARM:
		return kb_setitimer(KB_FAR_NS);
	default:
		return 0;
	}
}

/* Make call @c; 0, or -errno where the call was meant to succeed. */
static int kb_arm_make(struct kb_timer *t, enum kb_arm_call c,
		       unsigned long i, uint64_t far)
{
	struct itimerspec bad = { .it_value = { 1, 0 } };

	switch (c) {
	case KB_CALL_GETPPID:
		syscall(SYS_getppid);
		return 0;
	case KB_CALL_BAD_FD:
		ioctl(-1, _IO('x', 0), 0);
		return 0;
	case KB_CALL_FIOQSIZE:
		ioctl(t->k.fd, FIOQSIZE, 0);
		return 0;
	case KB_CALL_BAD_TYPE:
		ioctl(t->k.fd, _IO('x', 0), 0);
		return 0;
	case KB_CALL_BAD_TIMER:
		syscall(SYS_timer_settime, 12345, TIMER_ABSTIME, &bad, NULL);
		return 0;
	case KB_CALL_ARM_IDLE:
		return kb_timer_arm(t, far + i, 0);
	case KB_CALL_DISARM:
		return kb_timer_disarm(t);
	case KB_CALL_ARM_MOVE:
		return kb_timer_arm(t, far + KB_FAR_NS - i - 1, 0);
	case KB_CALL_ARM_AT_IDLE:
		return ioctl(t->k.fd, KPF_IOC_ARM_AT, far + i) ? -errno : 0;
	case KB_CALL_ARM_AT_MOVE:
		return ioctl(t->k.fd, KPF_IOC_ARM_AT,
			     far + KB_FAR_NS - i - 1) ? -errno : 0;
	case KB_CALL_SETITIMER_ARM:
		return kb_setitimer(KB_FAR_NS);
	case KB_CALL_SETITIMER_DISARM:
		return kb_setitimer(0);
	}
	return -EINVAL;
}

/* Every row of backend @b, each call timed on its own. */
static int kb_arm_timer(unsigned int b, uint64_t *v, unsigned long ops,
			uint64_t clk)
{
	bool kmod = (1U << b) == KB_BACKEND_KMOD;
	uint64_t far, t0, store;
	unsigned long i, slow = 0;
	const struct kb_arm_op *o;
	struct kb_timer t;
	int err;

	err = kb_timer_open(&t, kmod);
	if (err)
		return err;
	far = kb_now_ns() + KB_FAR_NS;
	for (o = kb_arm_ops; !err && o < kb_arm_ops + ARRAY_SIZE(kb_arm_ops);
	     o++) {
		if (!o->name[b])
			continue;
		for (i = 0; i < ops && !err; i++) {
			err = kb_arm_prepare(&t, o->call, i, far);
			t0 = kb_now_ns();
			if (!err)
				err = kb_arm_make(&t, o->call, i, far);
			v[i] = kb_now_ns() - t0;
		}
		/* ARM_AT is newer than the module may be: no row then */
		if (err == -ENOTTY && (o->call == KB_CALL_ARM_AT_IDLE ||
				       o->call == KB_CALL_ARM_AT_MOVE)) {
			err = kb_timer_disarm(&t);
			continue;
		}
		t0 = kb_arm_median(v, i);
		kb_arm_add(kb_backend_name[b], o->name[b],
			   t0 > clk ? (double)(t0 - clk) : 0);
		kb_timer_disarm(&t);
	}

	/* kmod, queued for "far": every later deadline is a plain store */
	if (!err && kmod)
		err = kb_timer_arm(&t, far, 0);
	t0 = kb_now_ns();
	for (i = 0; i < ops && !err && kmod; i++)
		if (!kpf_raw_set_deadline(t.k.area, far + KB_FAR_NS + i))
			slow++;
	store = kb_now_ns() - t0;
	kb_setitimer(0);
	kb_timer_close(&t);
	if (err)
		return err;
	if (slow)
		fprintf(stderr, "kpf-bench: arming: %lu deadline stores needed an ioctl\n",
			slow);
	if (kmod)
		kb_arm_add(kb_backend_name[b], "area deadline store",
			   (double)store / ops);
	return 0;
}

/**
 * kb_bench_arming() - benchmark 3: cost of arming and disarming
 *
 * Return: 0, or 1 on failure.
 */
int kb_bench_arming(void)
{
	unsigned long ops = kb_opt.ops;
	uint64_t *v, clk;
	unsigned int i, b;
	double base;
	char buf[32];
	int err = 0;

	v = malloc(ops * sizeof(*v));
	if (!v)
		return 1;
	kb_nr_arm_rows = 0;
	clk = kb_clock_cost(v, ops);
	for (b = 0; b < KB_NR_BACKENDS && !err; b++) {
		if (!kb_backend_on(b))
			continue;
		kb_progress("arming %s: %lu of each call", kb_backend_name[b],
			    ops);
		err = kb_arm_timer(b, v, ops, clk);
		if (err)
			fprintf(stderr, "kpf-bench: arming %s: %s\n",
				kb_backend_name[b], strerror(-err));
	}
	free(v);
	if (err)
		return 1;

	base = kb_arm_find("timer_settime arm (idle)");
	kb_section("3. arming cost: time per call (median of %lu, clock read of %llu ns subtracted)",
		   ops, (unsigned long long)clk);
	printf("%-8s %-28s %12s   %s\n", "backend", "operation", "time/op",
	       base ? "vs timer_settime arm" : "");
	for (i = 0; i < kb_nr_arm_rows; i++) {
		struct kb_arm_row *r = &kb_arm_rows[i];

		printf("%-8s %-28s %12s", r->backend, r->op,
		       kb_fmt_ns(buf, sizeof(buf), r->ns));
		if (base)
			printf("   %6.3fx", r->ns / base);
		printf("\n");
		kb_result("arming", r->backend, r->op, "time_per_op", r->ns, "ns");
		if (base)
			kb_result("arming", r->backend, r->op, "ratio_vs_timer_settime_arm",
				  r->ns / base, "ratio");
	}
	return 0;
}
