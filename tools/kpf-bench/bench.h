/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpf-bench: kpf's kernel upcalls against signal timers, in one run.
 *
 * Shared declarations: options, clocks, the timers (a /dev/kpf context
 * with its upcall entry, or a POSIX timer), statistics and result files. Every
 * benchmark is one file with one kb_bench_*() entry point.
 */
#ifndef KPF_BENCH_H
#define KPF_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <linux/kpf.h>
#include "kpf_raw.h"

#define NSEC_PER_USEC	1000ULL
#define NSEC_PER_MSEC	1000000ULL
#define NSEC_PER_SEC	1000000000ULL

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

#define READ_ONCE(x)		(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile typeof(x) *)&(x) = (v))

/* which timer backends a run compares: bit b is kb_backend_name[b] */
#define KB_BACKEND_KMOD		(1U << 0)
#define KB_BACKEND_SIGNAL	(1U << 1)
#define KB_NR_BACKENDS		2

extern const char *const kb_backend_name[KB_NR_BACKENDS];

/**
 * struct kb_options - command line settings shared by every benchmark
 * @backends:	KB_BACKEND_* bits to run
 * @kmod_forced: --backend kmod was given: a missing /dev/kpf is an error
 * @samples:	latency samples per variant
 * @run_ns:	duration of each throughput measurement (overhead)
 * @ops:	operations per cost measurement (arming, library costs)
 * @quick:	smoke-test sizes
 * @where:	where the numbers come from: native, guest-tcg, guest-icount
 * @out_dir:	directory for CSV files, or NULL
 */
struct kb_options {
	unsigned int backends;
	bool kmod_forced;
	unsigned long samples;
	unsigned long run_ns;
	unsigned long ops;
	bool quick;
	const char *where;
	const char *out_dir;
};

extern struct kb_options kb_opt;

/* the run compares backend @b (0: kmod, 1: signal) */
static inline bool kb_backend_on(unsigned int b)
{
	return kb_opt.backends & (1U << b);
}

/* CLOCK_MONOTONIC, the clock of the kernel's hrtimers and of kpf */
#define kb_now_ns()	kpf_raw_now_ns()

/**
 * struct kb_log - what an upcall or signal handler records, per event
 * @count:	events handled so far
 * @cap:	entries the arrays below hold (0: count only)
 * @handler_ns:	CLOCK_MONOTONIC when the handler started
 * @expiry_ns:	kmod: the intended expiry (signal: the benchmark knows it)
 * @irq_ns:	kmod: when the timer interrupt ran
 * @deliver_ns:	kmod: when the frame was written
 * @stop_ns:	if non-zero, a handler running after this time stops its
 *		timer (so a timer faster than its own delivery cannot starve
 *		the benchmark forever): kmod by KPF_IOC_DISARM on @stop_fd,
 *		signal by disarming @stop_timer
 * @stop_fd:	see @stop_ns
 * @stop_timer:	see @stop_ns
 * @stopped:	a handler stopped its timer
 *
 * One thread at a time uses it; the handler interrupts that same thread.
 */
struct kb_log {
	uint64_t count;
	uint64_t cap;
	uint64_t *handler_ns;
	uint64_t *expiry_ns;
	uint64_t *irq_ns;
	uint64_t *deliver_ns;
	uint64_t stop_ns;
	int stop_fd;
	timer_t stop_timer;
	uint64_t stopped;
};

extern struct kb_log kb_log;

static inline uint64_t kb_log_count(void)
{
	return __atomic_load_n(&kb_log.count, __ATOMIC_ACQUIRE);
}

/* upcall_entry.S and upcall_hook.c */
void kb_upcall_entry(void);
void kb_upcall_hook(struct kpf_area *area);
void kb_upcall_clock_init(void);

/**
 * struct kb_timer - a timer of one thread that records into kb_log
 * @kmod:	a /dev/kpf context (@k) rather than a POSIX timer (@timer)
 * @k:		kmod: the context
 * @timer:	signal: the timer, sending KB_SIGNO_TIMER
 */
struct kb_timer {
	bool kmod;
	struct kpf_raw k;
	timer_t timer;
};

#define KB_SIGNO_TIMER	(SIGRTMIN + 1)

/* timer.c */
int kb_log_alloc(uint64_t cap);
void kb_log_reset(void);
void kb_log_free(void);
int kb_sig_install(int signo);
int kb_timer_open(struct kb_timer *t, bool kmod);
int kb_timer_arm(struct kb_timer *t, uint64_t when_ns, uint64_t period_ns);
int kb_timer_disarm(struct kb_timer *t);
void kb_timer_close(struct kb_timer *t);

/* stats.c */
/**
 * struct kb_dist - summary of a latency distribution, in ns
 */
struct kb_dist {
	unsigned long n;
	uint64_t min, p50, p90, p99, p999, max;
	double mean;
};

void kb_dist_compute(uint64_t *v, unsigned long n, struct kb_dist *d);
const char *kb_fmt_ns(char *buf, size_t len, double ns);
double kb_median(double *v, unsigned int n);

/* results.c: CSV files in --out and the progress lines */
FILE *kb_csv_open(const char *name, const char *header);
void kb_result(const char *bench, const char *backend, const char *variant,
	       const char *metric, double value, const char *unit);
void kb_results_close(void);
void kb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kb_section(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* the benchmarks; each returns 0 or a non-zero exit status */
int kb_bench_latency(void);
int kb_bench_overhead(void);
int kb_bench_arming(void);
int kb_bench_libcost(void);
int kb_bench_libset(void);
int kb_bench_blocking(void);
int kb_bench_pool(void);
int kb_pool_server(int argc, char **argv);

#endif /* KPF_BENCH_H */
