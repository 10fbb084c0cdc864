// SPDX-License-Identifier: GPL-2.0
/*
 * kpf-bench-defer: what automatic deferral (issue 7) costs and buys.
 * A separate, dynamically linked program: GOT rewriting needs a GOT, and
 * kpf-bench itself is static (it also runs in the guest without libs).
 *
 *   kpf-bench-defer [--quick]
 *
 * Each variant runs in a child process of its own (deferral is decided
 * once per process, at kpf_init()), all in one run:
 *  1. stub: ns per call of labs(1) from inside a task, through the
 *     PLT (deferral off) and through PLT + deferral stub (on) - not
 *     strlen: it is a leaf function, called without a stub;
 *  2. malloc: a malloc/free loop and binary-trees (allocate, fill, walk
 *     and free a tree of depth 14) in a task without budget, off vs on;
 *  (1 and 2: best 10,000-call window, so a loaded host shows the cost
 *  of the code, not of the neighbours)
 *  3. overshoot: how far past a 50 us budget control returns to the
 *     launcher, p50/p99, for a pure compute task and for one spending
 *     ~30% of its time in short libc calls; with automatic deferral, with
 *     the old kpf_defer_begin/end workaround around each call (deferral
 *     off), and with no protection at all (unsafe, for reference only).
 *     Slices with an involuntary context switch (the host's doing) are
 *     left out and counted.
 * Output: a table, one row "bench variant metric value unit" per number.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <kpf.h>

#include "child.h"
#include "kpf_raw.h"

static int quick;
static volatile uint64_t sink;

static void compute(unsigned long n)
{
	uint64_t x = sink;

	while (n--) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ __volatile__("" : "+r"(x));
	}
	sink = x;
}

static void row(const char *bench, const char *variant, const char *metric,
		double v, const char *unit)
{
	printf("  %-10s %-34s %-14s %12.2f %s\n", bench, variant, metric, v,
	       unit);
	fflush(stdout);
}

/* ---- 1. and 2.: per-call cost, malloc-heavy code ---- */

/* one window of work; returns how many operations it did */
typedef unsigned long (*window_fn)(unsigned long w);

#define WINDOW 10000

static volatile long one = 1;

static unsigned long labs_window(unsigned long w)
{
	unsigned long i, sum = 0;

	for (i = 0; i < WINDOW; i++)
		sum += labs(one);
	sink += sum + w;
	return WINDOW;
}

static unsigned long malloc_window(unsigned long w)
{
	static void *live[256];
	unsigned long i;
	unsigned int j;

	for (i = w * WINDOW; i < (w + 1) * WINDOW; i++) {
		j = (unsigned int)(i * 2654435761u) & 255;
		free(live[j]);
		live[j] = malloc(16 + (i * 37) % 1024);
		if (!live[j])
			abort();
		*(char *)live[j] = 1;
	}
	return WINDOW;
}

/*
 * binary-trees (the benchmark-game program): allocation-bound, but the
 * nodes are also filled and walked, like real code that allocates.
 */
struct node {
	struct node *l, *r;
};

static struct node *tree_make(int depth)
{
	struct node *n = malloc(sizeof(*n));

	if (!n)
		abort();
	n->l = depth ? tree_make(depth - 1) : NULL;
	n->r = depth ? tree_make(depth - 1) : NULL;
	return n;
}

static unsigned long tree_check(const struct node *n)
{
	return 1 + (n->l ? tree_check(n->l) + tree_check(n->r) : 0);
}

static void tree_free(struct node *n)
{
	if (n->l) {
		tree_free(n->l);
		tree_free(n->r);
	}
	free(n);
}

static unsigned long trees_window(unsigned long w)
{
	struct node *t = tree_make(14);
	unsigned long nodes = tree_check(t);

	(void)w;
	tree_free(t);
	return nodes;
}

struct windows {
	window_fn fn;
	unsigned long n;
	double ns;
};

/*
 * The host is shared: the best of many windows is what an operation
 * costs when nothing else interferes.
 */
static void windows_task(void *p)
{
	struct windows *c = p;
	uint64_t t0, dt, best = UINT64_MAX;
	unsigned long w, ops = 1;

	for (w = 0; w < c->n; w++) {
		t0 = kpf_raw_now_ns();
		ops = c->fn(w);
		dt = kpf_raw_now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	c->ns = (double)best / ops;
}

/* ---- 3. overshoot of a 50 us budget ---- */

#define BUDGET_NS 50000

enum work { PURE, LIBC, LIBC_DEFER_API };

struct loop {
	enum work work;
	volatile int stop;
};

/*
 * One round: ~1.4 us of compute, then ~0.6 us in libc (snprintf with
 * doubles, a 2 KiB memcpy, malloc/free): ~30% of the time in libc.
 */
static void loop_task(void *p)
{
	struct loop *l = p;
	static char src[2048], dst[2048];
	char buf[128];
	void *m;

	while (!l->stop) {
		compute(1400);
		if (l->work == PURE) {
			compute(600);
			continue;
		}
		if (l->work == LIBC_DEFER_API)
			kpf_defer_begin();
		snprintf(buf, sizeof(buf), "%d %f %f", (int)sink, 1.5,
			 (double)(sink & 1023));
		memcpy(dst, src, sizeof(dst));
		m = malloc(100 + (sink & 511));
		free(m);
		if (l->work == LIBC_DEFER_API)
			kpf_defer_end();
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static long involuntary_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

/*
 * A slice during which the host took the CPU away (an involuntary context
 * switch) measures the host, not kpf: those are counted and left out.
 */
static void bench_overshoot(const char *variant, enum work work)
{
	unsigned int n = quick ? 500 : 5000, i, got = 0, dropped = 0;
	uint64_t *over = calloc(n, sizeof(*over)), t0, t1;
	struct loop l = { .work = work };
	struct kpf_stats s = { .size = sizeof(s) };
	long sw;
	kpf_task *t;
	int r;

	if (!over)
		exit(1);
	r = kpf_launch(&t, loop_task, &l, BUDGET_NS);
	for (i = 0; i < n && r == KPF_PREEMPTED; i++) {
		sw = involuntary_switches();
		t0 = kpf_raw_now_ns();
		r = kpf_resume(t, BUDGET_NS);
		t1 = kpf_raw_now_ns();
		if (involuntary_switches() != sw) {
			dropped++;
			continue;
		}
		if (r == KPF_PREEMPTED)
			over[got++] = t1 - t0 > BUDGET_NS ?
				      t1 - t0 - BUDGET_NS : 0;
	}
	l.stop = 1;
	while (r == KPF_PREEMPTED)
		r = kpf_resume(t, KPF_FOREVER);
	qsort(over, got, sizeof(*over), cmp_u64);
	kpf_thread_stats(&s);
	if (!got)
		exit(1);
	row("overshoot", variant, "p50", over[got / 2] / 1000.0, "us");
	row("overshoot", variant, "p99", over[got * 99 / 100] / 1000.0, "us");
	row("overshoot", variant, "max", over[got - 1] / 1000.0, "us");
	row("overshoot", variant, "deferred", (double)s.deferred_in_library,
	    "expiries");
	row("overshoot", variant, "descheduled", dropped, "slices left out");
	row("overshoot", variant, "upcalls", (double)s.upcalls, "");
	row("overshoot", variant, "retries", (double)s.retries,
	    "in library code");
	row("overshoot", variant, "preemptions", (double)s.preemptions, "");
	free(over);
}

/**
 * struct job - one child process: a variant of one benchmark
 * @bench:	stub, malloc, trees, overshoot; NULL: print the backend
 * @variant:	its row label
 * @on:		automatic deferral on
 * @work:	overshoot: the work of the task
 * @fn:		windows: one window of work
 * @quick:	windows: how many with --quick
 * @full:	windows: how many without
 * @metric:	windows: what the number is per
 */
struct job {
	const char *bench, *variant;
	int on;
	enum work work;
	window_fn fn;
	unsigned long quick, full;
	const char *metric;
};

static int run_job(const void *arg, double *out)
{
	const struct job *j = arg;
	struct kpf_config cfg = { .size = sizeof(cfg) };
	struct windows c = { .fn = j->fn, .n = quick ? j->quick : j->full };
	kpf_task *t;

	(void)out;
	if (!j->on)
		cfg.flags = KPF_CONFIG_NO_DEFER_AUTO;
	if (kpf_init(&cfg))
		return -EIO;
	if (!j->on && kpf_defer_auto_slots())
		return -EPROTO;	/* deferral still on: a bug */
	if (!j->bench) {
		printf("kpf-bench-defer: backend %s; %lu GOT slots rewritten with deferral on\n",
		       kpf_backend(), kpf_defer_auto_slots());
	} else if (!j->fn) {
		bench_overshoot(j->variant, j->work);
	} else {
		if (kpf_launch(&t, windows_task, &c, KPF_FOREVER) != KPF_DONE)
			return -EIO;
		row(j->bench, j->variant, j->metric, c.ns, "ns");
	}
	return 0;
}

#define WINDOWS(b, v, d, f, q, n, m)	{ .bench = b, .variant = v, .on = d, \
	.fn = f, .quick = q, .full = n, .metric = m }
#define OVERSHOOT(v, d, w)	{ .bench = "overshoot", .variant = v, .on = d, \
	.work = w }

static const struct job jobs[] = {
	{ .on = 1 },
	WINDOWS("stub", "plt (deferral off)", 0, labs_window, 200, 5000,
		"ns/call"),
	WINDOWS("stub", "plt + stub (deferral on)", 1, labs_window, 200, 5000,
		"ns/call"),
	WINDOWS("malloc", "deferral off", 0, malloc_window, 100, 2000,
		"ns/malloc+free"),
	WINDOWS("malloc", "deferral on", 1, malloc_window, 100, 2000,
		"ns/malloc+free"),
	WINDOWS("trees", "binary-trees 14, deferral off", 0, trees_window, 20,
		200, "ns/node"),
	WINDOWS("trees", "binary-trees 14, deferral on", 1, trees_window, 20,
		200, "ns/node"),
	OVERSHOOT("pure compute (deferral on)", 1, PURE),
	OVERSHOOT("30% libc, automatic deferral", 1, LIBC),
	OVERSHOOT("30% libc, kpf_defer_begin/end", 0, LIBC_DEFER_API),
	OVERSHOOT("30% libc, unprotected (unsafe)", 0, LIBC),
};

int main(int argc, char **argv)
{
	unsigned int i;

	quick = argc == 2 && !strcmp(argv[1], "--quick");
	if (argc > 1 + quick) {
		fprintf(stderr, "usage: kpf-bench-defer [--quick]\n");
		return 2;
	}
	/* the parent never initializes libkpf: each child chooses */
	if (unsetenv("KPF_DEFER_AUTO"))
		return 1;
	for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
		if (kb_in_child(run_job, &jobs[i], NULL, 0))
			fprintf(stderr, "kpf-bench-defer: %s failed\n",
				jobs[i].variant ? jobs[i].variant : "kpf_init");
	return 0;
}
