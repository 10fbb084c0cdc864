// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 1, delivery latency: from the intended expiry of a timer to
 * the first instruction of user code that handles it, for kpf's upcalls
 * (one-shot ioctl, periodic, deadline moved by a store) and for signals
 * (timer_create with SIGEV_THREAD_ID, setitimer).
 *
 * The thread spins in user mode while it waits, so every variant
 * interrupts the same kind of code; the variants take turns in blocks of
 * KB_LAT_BLOCK samples, so host noise hits them alike. Writes
 * latency_cdf.dat (gnuplot blocks, one per variant) and results.csv.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bench.h"

#define KB_LAT_TIMEOUT_NS	(2 * NSEC_PER_SEC)
#define KB_LAT_DELAY_NS		(50 * NSEC_PER_USEC)	/* one-shots: now + this */
#define KB_LAT_PERIOD_NS	(100 * NSEC_PER_USEC)	/* the periodic variant */
#define KB_CDF_POINTS		1000
#define KB_CDF_TAIL		100
#define KB_LAT_BLOCK		100

/**
 * struct kb_lat_run - one variant's state and samples
 * @t:		the timer (setitimer: unused)
 * @lat:	latencies in ns, warm-up excluded
 * @stage:	kmod variants: per-sample stage times (expiry->irq,
 *		irq->frame written, frame->handler)
 * @n:		samples in @lat
 * @cap:	room in @lat and @stage
 * @warm:	samples still to be thrown away
 * @dropped:	samples left out (see the variant)
 * @stage_p50:	p50 of @stage, in ns
 * @note:	what else to know (overruns, dropped samples)
 */
struct kb_lat_run {
	struct kb_timer t;
	uint64_t *lat;
	uint64_t *stage[3];
	unsigned long n, cap, warm, dropped;
	double stage_p50[3];
	char note[160];
};

/**
 * struct kb_lat_variant - one way of getting a timer expiry to user code
 * @name:	variant name in tables and files
 * @kmod:	a kpf upcall, else a signal
 * @what:	one line for the progress output
 * @block:	collect @m more samples (0 or -errno)
 */
struct kb_lat_variant {
	const char *name;
	bool kmod;
	const char *what;
	int (*block)(struct kb_lat_run *r, unsigned long m);
};

/* wait until the handler has run @n times in all; false on timeout */
static bool kb_wait_count(uint64_t n, uint64_t timeout_ns)
{
	uint64_t end = kb_now_ns() + timeout_ns;

	while (kb_log_count() < n) {
		__builtin_ia32_pause();
		if (kb_now_ns() > end)
			return false;
	}
	return true;
}

/* record event @ev of kb_log as a sample whose intended expiry is @intended */
static void kb_lat_add(struct kb_lat_run *r, uint64_t ev, uint64_t intended,
		       bool kmod)
{
	uint64_t h;

	if (ev >= kb_log.cap)
		return;
	if (r->warm) {
		r->warm--;
		return;
	}
	if (r->n >= r->cap)
		return;
	h = kb_log.handler_ns[ev];
	r->lat[r->n] = h > intended ? h - intended : 0;
	if (kmod) {
		uint64_t e = kb_log.expiry_ns[ev], i = kb_log.irq_ns[ev];
		uint64_t d = kb_log.deliver_ns[ev];

		r->stage[0][r->n] = i > e ? i - e : 0;
		r->stage[1][r->n] = d > i ? d - i : 0;
		r->stage[2][r->n] = h > d ? h - d : 0;
	}
	r->n++;
}

/*
 * One-shot samples: KPF_IOC_ARM or timer_settime for an event at absolute
 * time t = now + delay, every sample; then we wait for it.
 */
static int kb_lat_oneshot(struct kb_lat_run *r, unsigned long m)
{
	uint64_t ev, t;
	unsigned long i;
	int err;

	for (i = 0; i < m; i++) {
		ev = kb_log_count();
		t = kb_now_ns() + KB_LAT_DELAY_NS;
		err = kb_timer_arm(&r->t, t, 0);
		if (err)
			return err;
		if (!kb_wait_count(ev + 1, KB_LAT_TIMEOUT_NS))
			return -ETIMEDOUT;
		kb_lat_add(r, ev, t, r->t.kmod);
	}
	return 0;
}

/* kmod periodic: one KPF_IOC_ARM per block; the kernel's intended expiries */
static int kb_lat_kmod_periodic(struct kb_lat_run *r, unsigned long m)
{
	uint64_t ev = kb_log_count(), i;
	int err;

	err = kb_timer_arm(&r->t, 0, KB_LAT_PERIOD_NS);
	if (err)
		return err;
	if (!kb_wait_count(ev + m, m * KB_LAT_PERIOD_NS * 20 + KB_LAT_TIMEOUT_NS))
		err = -ETIMEDOUT;
	kb_timer_disarm(&r->t);
	for (i = ev; !err && i < ev + m; i++)
		kb_lat_add(r, i, kb_log.expiry_ns[i], true);
	return err;
}

/*
 * kmod area deadline: the timer is armed for a provisional expiry and the
 * real deadline, later, is then set by a store into the area; the timer
 * finds it and moves itself there in the kernel (a "rearm"), as when a
 * runtime postpones a preemption without a system call.
 */
static int kb_lat_kmod_deadline(struct kb_lat_run *r, unsigned long m)
{
	uint64_t ev, t;
	unsigned long i;
	bool moved;
	int err;

	for (i = 0; i < m; i++) {
		ev = kb_log_count();
		t = kb_now_ns();
		err = kb_timer_arm(&r->t, t + KB_LAT_DELAY_NS, 0);
		if (err)
			return err;
		t += 2 * KB_LAT_DELAY_NS;
		moved = kpf_raw_set_deadline(r->t.k.area, t);
		if (!kb_wait_count(ev + 1, KB_LAT_TIMEOUT_NS))
			return -ETIMEDOUT;
		if (moved)
			kb_lat_add(r, ev, t, true);
		else
			r->dropped++;	/* the provisional expiry came first */
	}
	return 0;
}

/*
 * signal: setitimer(ITIMER_REAL) / SIGALRM. It only takes a relative
 * time; the intended expiry is taken as (time after setitimer returned) +
 * delay, which is at or after the kernel's: it favours the baseline. A
 * signal that arrives before that clock read (the vCPU stalled in the
 * system call) leaves no valid sample and is dropped.
 */
static int kb_lat_setitimer(struct kb_lat_run *r, unsigned long m)
{
	struct itimerval itv;
	uint64_t ev, t;
	unsigned long i;
	bool early;

	memset(&itv, 0, sizeof(itv));
	itv.it_value.tv_usec = (long)(KB_LAT_DELAY_NS / NSEC_PER_USEC);
	for (i = 0; i < m; i++) {
		ev = kb_log_count();
		if (setitimer(ITIMER_REAL, &itv, NULL))
			return -errno;
		t = kb_now_ns() + KB_LAT_DELAY_NS;
		early = kb_log_count() > ev;
		if (!kb_wait_count(ev + 1, KB_LAT_TIMEOUT_NS))
			return -ETIMEDOUT;
		if (early)
			r->dropped++;	/* delivered before we could read the clock */
		else
			kb_lat_add(r, ev, t, false);
	}
	return 0;
}

static const struct kb_lat_variant kb_lat_variants[] = {
	{ "kmod-oneshot", true, "one-shot, KPF_IOC_ARM per sample",
	  kb_lat_oneshot },
	{ "kmod-periodic", true, "periodic, one KPF_IOC_ARM per block",
	  kb_lat_kmod_periodic },
	{ "kmod-deadline", true,
	  "ARM at +delay, deadline stored at +2*delay, timer moves itself",
	  kb_lat_kmod_deadline },
	{ "signal-timer_create", false,
	  "timer_create(SIGEV_THREAD_ID)+timer_settime per sample",
	  kb_lat_oneshot },
	{ "signal-setitimer", false, "setitimer(ITIMER_REAL)/SIGALRM per sample",
	  kb_lat_setitimer },
};

#define KB_NR_LAT_VARIANTS ARRAY_SIZE(kb_lat_variants)

static int kb_lat_setup(const struct kb_lat_variant *v, struct kb_lat_run *r)
{
	if (v->block == kb_lat_setitimer)
		return kb_sig_install(SIGALRM);
	return kb_timer_open(&r->t, v->kmod);
}

/* release the timer; note what else there is to know */
static void kb_lat_teardown(const struct kb_lat_variant *v,
			    struct kb_lat_run *r)
{
	unsigned long long us = KB_LAT_DELAY_NS / NSEC_PER_USEC;

	if (v->block == kb_lat_kmod_periodic)
		snprintf(r->note, sizeof(r->note), "period %llu us, %llu overruns",
			 (unsigned long long)(KB_LAT_PERIOD_NS / NSEC_PER_USEC),
			 (unsigned long long)READ_ONCE(r->t.k.area->overruns));
	else if (v->block == kb_lat_kmod_deadline)
		snprintf(r->note, sizeof(r->note),
			 "%llu kernel rearms; %lu samples dropped (the ioctl took longer than the provisional %llu us)",
			 (unsigned long long)READ_ONCE(r->t.k.area->rearms),
			 r->dropped, us);
	else if (r->dropped)
		snprintf(r->note, sizeof(r->note),
			 "%lu samples dropped (SIGALRM arrived before setitimer returned)",
			 r->dropped);
	if (v->block == kb_lat_setitimer)
		signal(SIGALRM, SIG_DFL);
	else
		kb_timer_close(&r->t);
}

/*
 * Collect every selected variant's samples in interleaved blocks, so that
 * a slow phase of the host (TCG, other load) hits all variants alike.
 */
static int kb_lat_collect(const bool *want, struct kb_lat_run *runs)
{
	unsigned long block = KB_LAT_BLOCK, warm = KB_LAT_BLOCK, done, m;
	uint64_t t0 = kb_now_ns(), events;
	unsigned int i, nr = 0;
	int s, err = 0;

	for (i = 0; i < KB_NR_LAT_VARIANTS; i++)
		nr += want[i];
	/* room for every event (periodic blocks may see a few extra) */
	events = (uint64_t)(kb_opt.samples + warm) * nr * 2 + 1000;
	if (kb_log_alloc(events))
		return -ENOMEM;
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++) {
		if (!want[i])
			continue;
		/* the latencies, then the three stages */
		runs[i].lat = calloc(4 * kb_opt.samples, sizeof(uint64_t));
		if (!runs[i].lat)
			return -ENOMEM;
		for (s = 0; s < 3; s++)
			runs[i].stage[s] = runs[i].lat + (s + 1) * kb_opt.samples;
		runs[i].cap = kb_opt.samples;
		runs[i].warm = warm;
		err = kb_lat_setup(&kb_lat_variants[i], &runs[i]);
		if (err) {
			fprintf(stderr, "kpf-bench: latency %s: %s\n",
				kb_lat_variants[i].name, strerror(-err));
			return err;
		}
	}
	kb_progress("latency: %lu samples (+%lu warm-up) for each of %u variants, interleaved in blocks of %lu; one-shots %llu us ahead, period %llu us",
		    kb_opt.samples, warm, nr, block,
		    (unsigned long long)(KB_LAT_DELAY_NS / NSEC_PER_USEC),
		    (unsigned long long)(KB_LAT_PERIOD_NS / NSEC_PER_USEC));
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++)
		if (want[i])
			kb_progress("latency   %-20s %s", kb_lat_variants[i].name,
				    kb_lat_variants[i].what);
	for (done = 0; !err && done < kb_opt.samples + warm; done += m) {
		m = block;
		if (m > kb_opt.samples + warm - done)
			m = kb_opt.samples + warm - done;
		for (i = 0; !err && i < KB_NR_LAT_VARIANTS; i++) {
			if (!want[i])
				continue;
			err = kb_lat_variants[i].block(&runs[i], m);
			if (err)
				fprintf(stderr, "kpf-bench: latency %s failed: %s\n",
					kb_lat_variants[i].name, strerror(-err));
		}
		if (done / 2500 != (done + m) / 2500 && done + m < kb_opt.samples + warm)
			kb_progress("latency: %lu/%lu samples per variant", done + m,
				    kb_opt.samples + warm);
		if (kb_log_count() + block * 4 > kb_log.cap)
			kb_log_reset();
	}
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++) {
		if (!want[i])
			continue;
		kb_lat_teardown(&kb_lat_variants[i], &runs[i]);
		if (kb_lat_variants[i].kmod) {
			struct kb_dist d;

			for (s = 0; s < 3; s++) {
				kb_dist_compute(runs[i].stage[s], runs[i].n, &d);
				runs[i].stage_p50[s] = d.p50;
			}
		}
	}
	kb_log_free();
	kb_progress("latency: done in %.1f s", (kb_now_ns() - t0) / 1e9);
	return err;
}

/*
 * The CDF of sorted @v as one gnuplot data block: about KB_CDF_POINTS
 * evenly spaced quantiles, then every one of the last KB_CDF_TAIL samples.
 */
static void kb_lat_write_cdf(FILE *f, const char *name, const uint64_t *v,
			     unsigned long n)
{
	unsigned long i, step = n / KB_CDF_POINTS ? n / KB_CDF_POINTS : 1;

	if (!f || !n)
		return;
	fprintf(f, "# %s (%s): latency_ns fraction\n", name, kb_opt.where);
	for (i = 0; i < n; i++)
		if (i % step == 0 || i + KB_CDF_TAIL >= n)
			fprintf(f, "%llu %.6f\n",
				(unsigned long long)(v[i] ? v[i] : 1),
				(double)(i + 1) / n);
	fprintf(f, "\n\n");
}

static void kb_lat_print(const struct kb_lat_variant *v,
			 const struct kb_dist *d, const struct kb_dist *base)
{
	char b[5][32];

	printf("%-20s %-7s %6lu  %9s %9s %9s %9s %9s", v->name,
	       kb_backend_name[!v->kmod], d->n, kb_fmt_ns(b[0], 32, d->p50),
	       kb_fmt_ns(b[1], 32, d->p90), kb_fmt_ns(b[2], 32, d->p99),
	       kb_fmt_ns(b[3], 32, d->p999), kb_fmt_ns(b[4], 32, d->max));
	if (base && base->n && d->n && v->kmod)
		printf("   %5.2fx  %5.2fx", (double)d->p50 / base->p50,
		       (double)d->p99 / base->p99);
	printf("\n");
}

static void kb_lat_record(const struct kb_lat_variant *v,
			  const struct kb_lat_run *r, const struct kb_dist *d,
			  const struct kb_dist *base)
{
	static const char *const stage_name[] = {
		"stage_expiry_to_irq_p50", "stage_irq_to_frame_p50",
		"stage_frame_to_handler_p50"
	};
	const char *be = kb_backend_name[!v->kmod];
	int s;

	kb_result("latency", be, v->name, "samples", d->n, "count");
	kb_result("latency", be, v->name, "p50", d->p50, "ns");
	kb_result("latency", be, v->name, "p90", d->p90, "ns");
	kb_result("latency", be, v->name, "p99", d->p99, "ns");
	kb_result("latency", be, v->name, "p99.9", d->p999, "ns");
	kb_result("latency", be, v->name, "max", d->max, "ns");
	kb_result("latency", be, v->name, "mean", d->mean, "ns");
	if (!v->kmod)
		return;
	for (s = 0; s < 3; s++)
		kb_result("latency", be, v->name, stage_name[s],
			  r->stage_p50[s], "ns");
	if (!base)
		return;
	kb_result("latency", be, v->name, "p50_ratio_vs_signal",
		  (double)d->p50 / base->p50, "ratio");
	kb_result("latency", be, v->name, "p99_ratio_vs_signal",
		  (double)d->p99 / base->p99, "ratio");
}

/**
 * kb_bench_latency() - benchmark 1: delivery latency of every variant
 *
 * Return: 0, or 1 if a variant failed.
 */
int kb_bench_latency(void)
{
	struct kb_lat_run runs[KB_NR_LAT_VARIANTS];
	struct kb_dist dist[KB_NR_LAT_VARIANTS];
	const struct kb_dist *base = NULL;
	bool want[KB_NR_LAT_VARIANTS];
	FILE *cdf;
	unsigned int i;
	char b[3][32];
	int err;

	memset(runs, 0, sizeof(runs));
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++)
		want[i] = kb_backend_on(!kb_lat_variants[i].kmod);
	err = kb_lat_collect(want, runs);
	if (err) {
		for (i = 0; i < KB_NR_LAT_VARIANTS; i++)
			free(runs[i].lat);
		return 1;
	}
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++) {
		if (!want[i])
			continue;
		kb_dist_compute(runs[i].lat, runs[i].n, &dist[i]);
		if (!strcmp(kb_lat_variants[i].name, "signal-timer_create"))
			base = &dist[i];
	}

	kb_section("1. delivery latency: intended expiry -> first user instruction of the handler");
	printf("%-20s %-7s %6s  %9s %9s %9s %9s %9s   %s\n", "variant", "backend",
	       "n", "p50", "p90", "p99", "p99.9", "max",
	       base ? "kmod/signal(timer_create) p50, p99" : "");
	cdf = kb_csv_open("latency_cdf.dat", NULL);
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++) {
		if (!want[i])
			continue;
		kb_lat_print(&kb_lat_variants[i], &dist[i], base);
		kb_lat_record(&kb_lat_variants[i], &runs[i], &dist[i], base);
		kb_lat_write_cdf(cdf, kb_lat_variants[i].name, runs[i].lat,
				 runs[i].n);
	}
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++) {
		if (!want[i])
			continue;
		if (kb_lat_variants[i].kmod)
			printf("  %s stages (p50): expiry->irq %s, irq->frame written %s, frame->handler %s\n",
			       kb_lat_variants[i].name,
			       kb_fmt_ns(b[0], 32, runs[i].stage_p50[0]),
			       kb_fmt_ns(b[1], 32, runs[i].stage_p50[1]),
			       kb_fmt_ns(b[2], 32, runs[i].stage_p50[2]));
		if (runs[i].note[0])
			printf("  %s: %s\n", kb_lat_variants[i].name, runs[i].note);
	}
	if (cdf)
		fclose(cdf);
	for (i = 0; i < KB_NR_LAT_VARIANTS; i++)
		free(runs[i].lat);
	return 0;
}
