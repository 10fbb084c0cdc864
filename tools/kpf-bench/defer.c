// SPDX-License-Identifier: GPL-2.0
/*
 * kpf-bench-defer: what automatic deferral (issue 7) costs and buys.
 * A separate, dynamically linked program: GOT rewriting needs a GOT, and
 * kpf-bench itself is static (it also runs in the guest without libs).
 *
 *   kpf-bench-defer [--quick] [--out FILE.csv]
 *
 * Each variant runs in a child process of its own (deferral is decided
 * once per process, at kpf_init()), all in one run:
 *  1. stub: ns per call of strlen("x") from inside a task, through the
 *     PLT (deferral off) and through PLT + deferral stub (on);
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
 * Output: a table, and CSV rows "bench,variant,metric,value,unit".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kpf.h>

static int quick;
static FILE *csv;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
	if (csv)
		fprintf(csv, "%s,%s,%s,%.3f,%s\n", bench, variant, metric, v,
			unit);
	fflush(stdout);
}

/* ---- 1. per-call cost ---- */

static const char *volatile one = "x";

struct calls {
	unsigned long n;
	double ns;
};

/*
 * The host is shared: the best of many 10,000-call windows is what a call
 * costs when nothing else interferes.
 */
#define WINDOW 10000

static void calls_task(void *p)
{
	struct calls *c = p;
	unsigned long i, w, sum = 0;
	uint64_t t0, dt, best = UINT64_MAX;

	for (w = 0; w < c->n / WINDOW; w++) {
		t0 = now_ns();
		for (i = 0; i < WINDOW; i++)
			sum += strlen(one);
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	c->ns = (double)best / WINDOW;
	sink += sum;
}

static void bench_stub(const char *variant)
{
	struct calls c = { .n = quick ? 2000000 : 50000000 };
	kpf_task *t;

	if (kpf_launch(&t, calls_task, &c, KPF_FOREVER) != KPF_DONE)
		exit(1);
	row("stub", variant, "ns/call", c.ns, "ns");
}

/* ---- 2. malloc-heavy ---- */

static void malloc_task(void *p)
{
	struct calls *c = p;
	unsigned long i, w;
	uint64_t t0, dt, best = UINT64_MAX;
	void *live[256] = { 0 };
	unsigned int j;

	for (w = 0; w < c->n / WINDOW; w++) {
		t0 = now_ns();
		for (i = w * WINDOW; i < (w + 1) * WINDOW; i++) {
			j = (unsigned int)(i * 2654435761u) & 255;
			free(live[j]);
			live[j] = malloc(16 + (i * 37) % 1024);
			if (!live[j])
				abort();
			*(char *)live[j] = 1;
		}
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	for (j = 0; j < 256; j++)
		free(live[j]);
	c->ns = (double)best / WINDOW;
}

static void bench_malloc(const char *variant)
{
	struct calls c = { .n = quick ? 1000000 : 20000000 };
	kpf_task *t;

	if (kpf_launch(&t, malloc_task, &c, KPF_FOREVER) != KPF_DONE)
		exit(1);
	row("malloc", variant, "ns/malloc+free", c.ns, "ns");
}

/*
 * 2b. binary-trees (the benchmark-game program): allocation-bound, but
 * the nodes are also filled and walked, like real code that allocates.
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

static long tree_check(const struct node *n)
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

static void trees_task(void *p)
{
	struct calls *c = p;
	uint64_t t0, dt, best = UINT64_MAX;
	unsigned long w, nodes = 0;
	struct node *t;

	for (w = 0; w < c->n; w++) {
		t0 = now_ns();
		t = tree_make(14);
		nodes = (unsigned long)tree_check(t);
		tree_free(t);
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	c->ns = (double)best / nodes;
}

static void bench_trees(const char *variant)
{
	struct calls c = { .n = quick ? 20 : 200 };
	kpf_task *t;

	if (kpf_launch(&t, trees_task, &c, KPF_FOREVER) != KPF_DONE)
		exit(1);
	row("trees", variant, "ns/node", c.ns, "ns");
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
		t0 = now_ns();
		r = kpf_resume(t, BUDGET_NS);
		t1 = now_ns();
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

static void print_backend(const char *variant)
{
	(void)variant;
	printf("kpf-bench-defer: backend %s; %lu GOT slots rewritten with deferral on\n",
	       kpf_backend(), kpf_defer_auto_slots());
}

/* run fn(variant) in a child with automatic deferral on or off */
static void in_child(void (*fn)(const char *), const char *variant, int on)
{
	struct kpf_config cfg = { .size = sizeof(cfg) };
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		exit(1);
	if (!pid) {
		if (!on)
			cfg.flags = KPF_CONFIG_NO_DEFER_AUTO;
		if (kpf_init(&cfg))
			_exit(1);
		if (!on && kpf_defer_auto_slots())
			_exit(3);	/* deferral still on: a bug */
		fn(variant);
		fflush(NULL);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fprintf(stderr, "kpf-bench-defer: %s failed (status 0x%x)\n",
			variant, status);
}

static void over_pure(const char *v) { bench_overshoot(v, PURE); }
static void over_libc(const char *v) { bench_overshoot(v, LIBC); }
static void over_api(const char *v) { bench_overshoot(v, LIBC_DEFER_API); }

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			csv = fopen(argv[++i], "w");
			if (!csv) {
				perror(argv[i]);
				return 1;
			}
			fprintf(csv, "bench,variant,metric,value,unit\n");
		} else {
			fprintf(stderr, "usage: kpf-bench-defer [--quick] [--out FILE.csv]\n");
			return 2;
		}
	}
	/* the parent never initializes libkpf: each child chooses */
	if (unsetenv("KPF_DEFER_AUTO"))
		return 1;
	in_child(print_backend, NULL, 1);
	in_child(bench_stub, "plt (deferral off)", 0);
	in_child(bench_stub, "plt + stub (deferral on)", 1);
	in_child(bench_malloc, "deferral off", 0);
	in_child(bench_malloc, "deferral on", 1);
	in_child(bench_trees, "binary-trees 14, deferral off", 0);
	in_child(bench_trees, "binary-trees 14, deferral on", 1);
	in_child(over_pure, "pure compute (deferral on)", 1);
	in_child(over_libc, "30% libc, automatic deferral", 1);
	in_child(over_api, "30% libc, kpf_defer_begin/end", 0);
	in_child(over_libc, "30% libc, unprotected (unsafe)", 0);
	if (csv)
		fclose(csv);
	return 0;
}
