// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 3, arming cost: nanoseconds per operation to arm and disarm a
 * timer: KPF_IOC_ARM / KPF_IOC_ARM_AT / KPF_IOC_DISARM, storing a deadline
 * into the kpf area (no system call while a timer is queued for an earlier
 * time), timer_settime and setitimer. The timers are armed far in the future, so
 * nothing fires during the loops. System calls are timed one by one (the
 * mean clock read is subtracted); the store, far cheaper than a clock
 * read, is timed as a loop. Writes results.csv.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "bench.h"

#define KB_FAR_NS	(100 * NSEC_PER_SEC)

struct kb_arm_row {
	const char *backend;
	const char *op;
	double ns;
};

#define KB_MAX_ARM_ROWS	16

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

/* mean cost of reading the clock, subtracted from per-operation timings */
static double kb_clock_cost(unsigned long ops)
{
	uint64_t sum = 0, a, b;
	unsigned long i;

	for (i = 0; i < ops; i++) {
		a = kb_now_ns();
		b = kb_now_ns();
		sum += b - a;
	}
	return (double)sum / ops;
}

/* per-operation mean minus the clock read, never below 0 */
static double kb_per_op(uint64_t sum, unsigned long ops, double clk)
{
	double v = (double)sum / ops - clk;

	return v > 0 ? v : 0;
}

/* setitimer(ITIMER_REAL) arm + disarm, far in the future */
static int kb_arm_setitimer(unsigned long ops, double clk)
{
	struct itimerval on, off;
	uint64_t t0, t1, t2, arm = 0, disarm = 0;
	unsigned long i;

	memset(&on, 0, sizeof(on));
	memset(&off, 0, sizeof(off));
	on.it_value.tv_sec = KB_FAR_NS / NSEC_PER_SEC;
	for (i = 0; i < ops; i++) {
		t0 = kb_now_ns();
		if (setitimer(ITIMER_REAL, &on, NULL))
			return -errno;
		t1 = kb_now_ns();
		if (setitimer(ITIMER_REAL, &off, NULL))
			return -errno;
		t2 = kb_now_ns();
		arm += t1 - t0;
		disarm += t2 - t1;
	}
	kb_arm_add("signal", "setitimer arm", kb_per_op(arm, ops, clk));
	kb_arm_add("signal", "setitimer disarm", kb_per_op(disarm, ops, clk));
	return 0;
}

/*
 * KPF_IOC_ARM/DISARM, KPF_IOC_ARM_AT (if the module has it) and the
 * deadline store, or timer_settime
 */
static int kb_arm_timer(bool kmod, unsigned long ops, double clk)
{
	static const char *const op[2][3] = {
		{ "timer_settime arm (idle)", "timer_settime disarm",
		  "timer_settime (move queued)" },
		{ "ioctl ARM (idle timer)", "ioctl DISARM", "ioctl ARM (move queued)" },
	};
	const char *be = kb_backend_name[!kmod];
	uint64_t t0, t1, t2, far, arm = 0, disarm = 0, rearm = 0, store;
	uint64_t at_arm = 0, at_rearm = 0;
	bool at;
	unsigned long i, slow = 0;
	struct kb_timer t;
	int err;

	err = kb_timer_open(&t, kmod);
	if (err)
		return err;
	far = kb_now_ns() + KB_FAR_NS;
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_timer_arm(&t, far + i, 0);
		t1 = kb_now_ns();
		if (!err)
			err = kb_timer_disarm(&t);
		t2 = kb_now_ns();
		arm += t1 - t0;
		disarm += t2 - t1;
	}
	/* moving a queued timer to an earlier time needs the system call */
	if (!err)
		err = kb_timer_arm(&t, far + KB_FAR_NS, 0);
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_timer_arm(&t, far + KB_FAR_NS - i - 1, 0);
		rearm += kb_now_ns() - t0;
	}

	/* kmod: the same two with KPF_IOC_ARM_AT (the expiry by value) */
	at = kmod && !err && !ioctl(t.k.fd, KPF_IOC_ARM_AT, far);
	if (at)
		err = kb_timer_disarm(&t);
	for (i = 0; i < ops && !err && at; i++) {
		t0 = kb_now_ns();
		if (ioctl(t.k.fd, KPF_IOC_ARM_AT, far + i))
			err = -errno;
		t1 = kb_now_ns();
		if (!err)
			err = kb_timer_disarm(&t);
		at_arm += t1 - t0;
	}
	if (!err && at)
		err = kb_timer_arm(&t, far + KB_FAR_NS, 0);
	for (i = 0; i < ops && !err && at; i++) {
		t0 = kb_now_ns();
		if (ioctl(t.k.fd, KPF_IOC_ARM_AT, far + KB_FAR_NS - i - 1))
			err = -errno;
		at_rearm += kb_now_ns() - t0;
	}

	/* kmod, queued for "far": every later deadline is a plain store */
	if (!err && kmod)
		err = kb_timer_arm(&t, far, 0);
	t0 = kb_now_ns();
	for (i = 0; i < ops && !err && kmod; i++)
		if (!kpf_raw_set_deadline(t.k.area, far + KB_FAR_NS + i))
			slow++;
	store = kb_now_ns() - t0;
	kb_timer_close(&t);
	if (err)
		return err;
	if (slow)
		fprintf(stderr, "kpf-bench: arming: %lu deadline stores needed an ioctl\n",
			slow);
	kb_arm_add(be, op[kmod][0], kb_per_op(arm, ops, clk));
	kb_arm_add(be, op[kmod][1], kb_per_op(disarm, ops, clk));
	kb_arm_add(be, op[kmod][2], kb_per_op(rearm, ops, clk));
	if (at) {
		kb_arm_add(be, "ioctl ARM_AT (idle timer)",
			   kb_per_op(at_arm, ops, clk));
		kb_arm_add(be, "ioctl ARM_AT (move queued)",
			   kb_per_op(at_rearm, ops, clk));
	}
	if (kmod)
		kb_arm_add(be, "area deadline store", (double)store / ops);
	return kmod ? 0 : kb_arm_setitimer(ops, clk);
}

/**
 * kb_bench_arming() - benchmark 3: cost of arming and disarming
 *
 * Return: 0, or 1 on failure.
 */
int kb_bench_arming(void)
{
	unsigned long ops = kb_opt.ops;
	double base, clk;
	unsigned int i, b;
	char buf[32];
	int err;

	kb_nr_arm_rows = 0;
	clk = kb_clock_cost(ops);
	for (b = 0; b < KB_NR_BACKENDS; b++) {
		if (!kb_backend_on(b))
			continue;
		kb_progress("arming %s: %lu x %s", kb_backend_name[b], ops, b ?
			    "timer_settime arm+disarm, move, setitimer arm+disarm" :
			    "ARM+DISARM, ARM moving a queued timer, deadline store");
		err = kb_arm_timer(!b, ops, clk);
		if (err) {
			fprintf(stderr, "kpf-bench: arming %s: %s\n",
				kb_backend_name[b], strerror(-err));
			return 1;
		}
	}

	base = kb_arm_find("timer_settime arm (idle)");
	kb_section("3. arming cost: time per operation (mean of %lu, clock read of %.0f ns subtracted)",
		   ops, clk);
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
