// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 3, arming cost: nanoseconds per operation to arm and disarm a
 * timer: KPF_IOC_ARM / KPF_IOC_DISARM, storing a deadline into the kpf
 * area (no system call while a timer is queued for an earlier time),
 * timer_settime and setitimer. The timers are armed far in the future, so
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

static int kb_arm_kmod(unsigned long ops, double clk)
{
	uint64_t t0, t1, t2, far, arm = 0, disarm = 0, rearm = 0, store;
	unsigned long i, slow = 0;
	struct kpf_raw k;
	int err;

	err = kb_kmod_open(&k);
	if (err)
		return err;
	far = kb_now_ns() + KB_FAR_NS;
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_kmod_arm_abs(&k, far + i);
		t1 = kb_now_ns();
		if (!err)
			err = kb_kmod_disarm(&k);
		t2 = kb_now_ns();
		arm += t1 - t0;
		disarm += t2 - t1;
	}
	/* moving a queued timer to an earlier time needs the ioctl too */
	if (!err)
		err = kb_kmod_arm_abs(&k, far + KB_FAR_NS);
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_kmod_arm_abs(&k, far + KB_FAR_NS - i - 1);
		rearm += kb_now_ns() - t0;
	}

	/* queued for "far": every later deadline is a plain store */
	if (!err)
		err = kb_kmod_arm_abs(&k, far);
	t0 = kb_now_ns();
	for (i = 0; i < ops && !err; i++)
		if (!kb_kmod_set_deadline(&k, far + KB_FAR_NS + i))
			slow++;
	store = kb_now_ns() - t0;
	kb_kmod_disarm(&k);
	kb_kmod_close(&k);
	if (err)
		return err;
	if (slow)
		fprintf(stderr, "kpf-bench: arming: %lu deadline stores needed an ioctl\n",
			slow);
	kb_arm_add("kmod", "ioctl ARM (idle timer)", kb_per_op(arm, ops, clk));
	kb_arm_add("kmod", "ioctl DISARM", kb_per_op(disarm, ops, clk));
	kb_arm_add("kmod", "ioctl ARM (move queued)", kb_per_op(rearm, ops, clk));
	kb_arm_add("kmod", "area deadline store", (double)store / ops);
	return 0;
}

static int kb_arm_signal(unsigned long ops, double clk)
{
	uint64_t t0, t1, t2, far, arm = 0, disarm = 0, rearm = 0;
	uint64_t it_arm = 0, it_disarm = 0;
	struct itimerval on, off;
	unsigned long i;
	timer_t timer;
	int err;

	err = kb_sig_install(KB_SIGNO_TIMER, kb_sig_log_handler, true);
	if (!err)
		err = kb_sig_timer_create(&timer, KB_SIGNO_TIMER);
	if (err)
		return err;
	far = kb_now_ns() + KB_FAR_NS;
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_sig_timer_arm_abs(timer, far + i, 0);
		t1 = kb_now_ns();
		if (!err)
			err = kb_sig_timer_disarm(timer);
		t2 = kb_now_ns();
		arm += t1 - t0;
		disarm += t2 - t1;
	}
	if (!err)
		err = kb_sig_timer_arm_abs(timer, far + KB_FAR_NS, 0);
	for (i = 0; i < ops && !err; i++) {
		t0 = kb_now_ns();
		err = kb_sig_timer_arm_abs(timer, far + KB_FAR_NS - i - 1, 0);
		rearm += kb_now_ns() - t0;
	}
	timer_delete(timer);
	kb_sig_restore(KB_SIGNO_TIMER);
	if (err)
		return err;

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
		it_arm += t1 - t0;
		it_disarm += t2 - t1;
	}

	kb_arm_add("signal", "timer_settime arm (idle)", kb_per_op(arm, ops, clk));
	kb_arm_add("signal", "timer_settime disarm", kb_per_op(disarm, ops, clk));
	kb_arm_add("signal", "timer_settime (move queued)", kb_per_op(rearm, ops, clk));
	kb_arm_add("signal", "setitimer arm", kb_per_op(it_arm, ops, clk));
	kb_arm_add("signal", "setitimer disarm", kb_per_op(it_disarm, ops, clk));
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
	double base, clk;
	unsigned int i;
	char buf[32];
	int err;

	kb_nr_arm_rows = 0;
	clk = kb_clock_cost(ops);
	if (kb_opt.backends & KB_BACKEND_KMOD) {
		kb_progress("arming kmod: %lu x ARM+DISARM, ARM moving a queued timer, deadline store",
			    ops);
		err = kb_arm_kmod(ops, clk);
		if (err) {
			fprintf(stderr, "kpf-bench: arming kmod: %s\n", strerror(-err));
			return 1;
		}
	}
	if (kb_opt.backends & KB_BACKEND_SIGNAL) {
		kb_progress("arming signal: %lu x timer_settime arm+disarm, move, setitimer arm+disarm",
			    ops);
		err = kb_arm_signal(ops, clk);
		if (err) {
			fprintf(stderr, "kpf-bench: arming signal: %s\n", strerror(-err));
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
