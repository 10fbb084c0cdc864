// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark 2, preemption overhead: the throughput of a fixed compute
 * loop while a periodic timer interrupts it every quantum, with kpf's
 * upcalls (interrupt, save the frame, run the upcall entry, resume in user
 * space) against a signal timer (interrupt, signal frame, handler,
 * sigreturn) and against no timer at all. The "irq-only" row is the
 * physical floor: a kpf timer interrupting about as often, every expiry
 * handled in hardirq without an upcall - the timer interrupt alone - so
 * the upcall's own cost is the difference between the kmod and irq-only
 * rows. It holds the defer count and keeps a deadline one quantum ahead
 * (a store per loop chunk): an expiry before the deadline moves the timer
 * there, one that finds it due is deferred, and the timer then lingers
 * one quantum ahead (KPF_ARM_LINGER) until the next store. (A periodic
 * timer would not do: with in_upcall set the kernel backs off, with the
 * defer count held it stops.)
 *
 * For each quantum, none/kmod/signal runs take turns, several rounds;
 * the overhead of a round is the extra time the same work takes,
 * (throughput without timer / throughput with it - 1) * 100 %, against
 * the "none" run of the same round, and the median round is reported.
 * Writes overhead.dat (for the plot) and results.csv.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "bench.h"

#define KB_WORK_CHUNK	4096
#define KB_MAX_REPS	9

static const uint64_t kb_quanta_us[] = { 5, 10, 20, 50, 100, 1000 };
#define KB_NR_QUANTA	ARRAY_SIZE(kb_quanta_us)

enum { KB_OV_NONE, KB_OV_KMOD, KB_OV_SIGNAL, KB_OV_IRQ, KB_OV_NR };
static const char *const kb_ov_name[KB_OV_NR] = {
	"none", "kmod", "signal", "irq-only"
};

static volatile uint64_t kb_work_sink;

/* the fixed compute loop: an LCG with a shift, KB_WORK_CHUNK rounds */
static uint64_t __attribute__((noinline)) kb_work_chunk(uint64_t x)
{
	unsigned int i;

	for (i = 0; i < KB_WORK_CHUNK; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

/**
 * struct kb_ov_sample - one timed run
 * @chunks_per_s: throughput
 * @events:	timer deliveries during the run
 * @elapsed_ns:	duration
 * @starved:	the loop could not finish its run; the handler stopped the
 *		timer after twice the run time
 */
struct kb_ov_sample {
	double chunks_per_s;
	uint64_t events;
	uint64_t elapsed_ns;
	bool starved;
};

static int kb_ov_run(int backend, uint64_t quantum_ns, struct kb_ov_sample *s)
{
	uint64_t chunks = 0, x = 1, t0, t1 = 0, end;
	struct kb_timer t;
	int err = 0;

	kb_log_reset();
	memset(s, 0, sizeof(*s));
	if (backend != KB_OV_NONE) {
		err = kb_timer_open(&t, backend != KB_OV_SIGNAL);
		if (err)
			return err;
	}
	/* irq-only: nothing is ever delivered (see the file comment) */
	if (backend == KB_OV_IRQ)
		WRITE_ONCE(t.k.area->defer, 1);

	/*
	 * A timer faster than its delivery may starve the loop, and even the
	 * arming call's return to user mode: the handler stops it past
	 * stop_ns, which must therefore be set before the timer starts.
	 */
	kb_log.stop_fd = backend == KB_OV_KMOD ? t.k.fd : -1;
	kb_log.stop_timer = backend == KB_OV_SIGNAL ? t.timer : 0;
	kb_log.stopped = 0;
	t0 = kb_now_ns();
	end = t0 + kb_opt.run_ns;
	__atomic_store_n(&kb_log.stop_ns, end + kb_opt.run_ns, __ATOMIC_SEQ_CST);
	if (backend == KB_OV_IRQ)
		err = kpf_raw_arm_linger(t.k.fd, t0 + quantum_ns, quantum_ns,
					 KPF_MAX_LINGER);
	else if (backend != KB_OV_NONE)
		err = kb_timer_arm(&t, t0 + quantum_ns, quantum_ns);
	while (!err) {
		x = kb_work_chunk(x);
		chunks++;
		t1 = kb_now_ns();
		if (t1 >= end)
			break;
		if (backend == KB_OV_IRQ)
			kpf_raw_set_deadline(t.k.area, t1 + quantum_ns);
	}
	kb_work_sink = x;
	__atomic_store_n(&kb_log.stop_ns, 0, __ATOMIC_SEQ_CST);
	s->starved = kb_log.stopped;
	/* irq-only: every expiry is exactly one of these */
	s->events = backend == KB_OV_IRQ ?
		    READ_ONCE(t.k.area->deferred) + READ_ONCE(t.k.area->rearms) +
		    READ_ONCE(t.k.area->lingers) : kb_log_count();
	if (backend != KB_OV_NONE)
		kb_timer_close(&t);
	if (err)
		return err;
	s->elapsed_ns = t1 - t0;
	s->chunks_per_s = chunks * 1e9 / (double)(t1 - t0);
	return 0;
}

/**
 * kb_bench_overhead() - benchmark 2: overhead of periodic preemption
 *
 * Return: 0, or 1 on failure.
 */
int kb_bench_overhead(void)
{
	double thr[KB_NR_QUANTA][KB_OV_NR], per_ev[KB_NR_QUANTA][KB_OV_NR];
	double ov[KB_NR_QUANTA][KB_OV_NR], rate[KB_NR_QUANTA][KB_OV_NR];
	double reps_thr[KB_OV_NR][KB_MAX_REPS], reps_ev[KB_OV_NR][KB_MAX_REPS];
	double reps_ov[KB_OV_NR][KB_MAX_REPS];
	bool starved[KB_NR_QUANTA][KB_OV_NR], any_starved = false;
	unsigned int reps = kb_opt.quick ? 2 : 5;
	bool want[KB_OV_NR] = {
		true,
		kb_opt.backends & KB_BACKEND_KMOD,
		kb_opt.backends & KB_BACKEND_SIGNAL,
		kb_opt.backends & KB_BACKEND_KMOD,
	};
	struct kb_ov_sample s;
	unsigned int q, b, r;
	FILE *dat;
	char buf[32];
	int err;

	memset(starved, 0, sizeof(starved));
	kb_progress("overhead: %zu quanta x {none,%s%s} taking turns, %u rounds of %llu ms each, of a fixed compute loop",
		    KB_NR_QUANTA, want[KB_OV_KMOD] ? "kmod,irq-only," : "",
		    want[KB_OV_SIGNAL] ? "signal" : "", reps,
		    (unsigned long long)(kb_opt.run_ns / NSEC_PER_MSEC));
	for (q = 0; q < KB_NR_QUANTA; q++) {
		uint64_t quantum = kb_quanta_us[q] * NSEC_PER_USEC;
		double none_thr[KB_MAX_REPS];

		/* none, kmod, signal take turns, so host noise hits all */
		for (r = 0; r < reps; r++) {
			for (b = 0; b < KB_OV_NR; b++) {
				if (!want[b])
					continue;
				err = kb_ov_run(b, quantum, &s);
				if (err) {
					fprintf(stderr, "kpf-bench: overhead %s: %s\n",
						kb_ov_name[b], strerror(-err));
					return 1;
				}
				if (b == KB_OV_NONE)
					none_thr[r] = s.chunks_per_s;
				reps_ov[b][r] = (none_thr[r] / s.chunks_per_s - 1) * 100;
				reps_thr[b][r] = s.chunks_per_s;
				reps_ev[b][r] = s.events * 1e9 / (double)s.elapsed_ns;
				/*
				 * A stopped timer alone may be a host stall
				 * (a VM's vCPU descheduled): starved means
				 * the loop also hardly ran.
				 */
				starved[q][b] |= s.starved && reps_ov[b][r] > 1000;
				any_starved |= starved[q][b];
			}
		}
		for (b = 0; b < KB_OV_NR; b++) {
			if (!want[b])
				continue;
			ov[q][b] = kb_median(reps_ov[b], reps);
			thr[q][b] = kb_median(reps_thr[b], reps);
			rate[q][b] = kb_median(reps_ev[b], reps);
			/* extra time per delivery: overhead / deliveries */
			per_ev[q][b] = rate[q][b] > 0 && ov[q][b] > 0 ?
				ov[q][b] / 100 / (1 + ov[q][b] / 100) * 1e9 / rate[q][b] : 0;
		}
		kb_progress("overhead: quantum %llu us done",
			    (unsigned long long)kb_quanta_us[q]);
	}

	kb_section("2. preemption overhead: a compute loop interrupted every quantum (extra time for the same work)");
	printf("%-10s", "quantum");
	for (b = 1; b < KB_OV_NR; b++)
		if (want[b])
			printf(" %12s %14s %14s", kb_ov_name[b], "deliveries", "per delivery");
	if (want[KB_OV_KMOD] && want[KB_OV_SIGNAL])
		printf("  %s", "kmod/signal");
	if (want[KB_OV_KMOD])
		printf("  %s", "kmod/irq-only per delivery");
	printf("\n");
	dat = kb_csv_open("overhead.dat", NULL);
	if (dat)
		fprintf(dat, "# %s: quantum_us kmod_overhead_pct signal_overhead_pct (-1: not run)\n",
			kb_opt.where);
	for (q = 0; q < KB_NR_QUANTA; q++) {
		char variant[32];

		snprintf(variant, sizeof(variant), "quantum-%lluus",
			 (unsigned long long)kb_quanta_us[q]);
		printf("%7llu us", (unsigned long long)kb_quanta_us[q]);
		for (b = 1; b < KB_OV_NR; b++) {
			if (!want[b])
				continue;
			if (starved[q][b])	/* timer stopped by the handler */
				printf(" %12s", "starved");
			else if (ov[q][b] < 100000)
				printf(" %10.1f %%", ov[q][b]);
			else	/* the loop hardly ran at all */
				printf(" %12s", ">100000 %");
			printf(" %10.0f /s %14s", rate[q][b],
			       per_ev[q][b] > 0 ?
			       kb_fmt_ns(buf, sizeof(buf), per_ev[q][b]) : "-");
			kb_result("overhead", kb_ov_name[b], variant, "overhead",
				  ov[q][b], "%");
			kb_result("overhead", kb_ov_name[b], variant, "starved",
				  starved[q][b], "bool");
			kb_result("overhead", kb_ov_name[b], variant,
				  "ns_per_delivery", per_ev[q][b], "ns");
			kb_result("overhead", kb_ov_name[b], variant,
				  "deliveries", rate[q][b], "1/s");
		}
		/* a ratio means something only if both loops ran */
		if (want[KB_OV_KMOD] && want[KB_OV_SIGNAL] && ov[q][KB_OV_SIGNAL] > 0 &&
		    ov[q][KB_OV_KMOD] > 0 && !starved[q][KB_OV_KMOD] &&
		    !starved[q][KB_OV_SIGNAL]) {
			printf("  %8.2fx", ov[q][KB_OV_KMOD] / ov[q][KB_OV_SIGNAL]);
			kb_result("overhead", "kmod", variant, "overhead_ratio_vs_signal",
				  ov[q][KB_OV_KMOD] / ov[q][KB_OV_SIGNAL], "ratio");
		}
		/* the upcall's cost over the bare interrupt, per expiry */
		if (want[KB_OV_KMOD] && per_ev[q][KB_OV_IRQ] > 0 &&
		    per_ev[q][KB_OV_KMOD] > 0 && !starved[q][KB_OV_KMOD]) {
			printf("  %8.2fx",
			       per_ev[q][KB_OV_KMOD] / per_ev[q][KB_OV_IRQ]);
			kb_result("overhead", "kmod", variant,
				  "per_delivery_ratio_vs_irq_only",
				  per_ev[q][KB_OV_KMOD] / per_ev[q][KB_OV_IRQ],
				  "ratio");
		}
		printf("\n");
		if (dat)
			fprintf(dat, "%llu %.3f %.3f\n",
				(unsigned long long)kb_quanta_us[q],
				want[KB_OV_KMOD] ? ov[q][KB_OV_KMOD] : -1,
				want[KB_OV_SIGNAL] ? ov[q][KB_OV_SIGNAL] : -1);
	}
	if (any_starved)
		printf("  starved: the loop could hardly run, deliveries took all the time; the handler\n"
		       "  stopped the timer after %llu ms (the overhead of such a run is a lower bound)\n",
		       (unsigned long long)(2 * kb_opt.run_ns / NSEC_PER_MSEC));
	printf("  (throughput without a timer: %.0f loop chunks/s of %d LCG rounds; overhead: the median of %u rounds of %llu ms per backend)\n",
	       thr[0][KB_OV_NONE], KB_WORK_CHUNK, reps,
	       (unsigned long long)(kb_opt.run_ns / NSEC_PER_MSEC));
	if (dat)
		fclose(dat);
	return 0;
}
