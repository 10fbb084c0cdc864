// SPDX-License-Identifier: GPL-2.0
/*
 * kpf-bench: kpf's kernel upcalls against signal timers, in one run.
 *
 *   kpf-bench <latency|overhead|arming|libcost|blocking|all> [options]
 *
 * See usage() and Documentation/benchmarks.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

struct kb_options kb_opt;
const char *const kb_backend_name[KB_NR_BACKENDS] = { "kmod", "signal" };

struct kb_command {
	const char *name;
	int (*run)(void);
	const char *what;
};

static const struct kb_command kb_commands[] = {
	{ "latency", kb_bench_latency,
	  "1. delivery latency, intended expiry -> handler (p50..max, CDF)" },
	{ "overhead", kb_bench_overhead,
	  "2. throughput lost to preemption every 5..1000 us" },
	{ "arming", kb_bench_arming,
	  "3. ns per arm/disarm: ioctl, area store, timer_settime, setitimer" },
	{ "libcost", kb_bench_libcost,
	  "4. libkpf operations vs pthread_create, fork, swapcontext" },
	{ "blocking", kb_bench_blocking,
	  "5. EINTR seen by nanosleep/epoll_wait/read under preemption" },
	{ "libset", kb_bench_libset,
	  "6. libsets: stub vs PLT call, switch cost, time/memory per copy" },
	{ "pool", kb_bench_pool,
	  "7. kpf_pool: short-request tail latency next to 1:1000 long ones" },
};

#define KB_NR_COMMANDS ARRAY_SIZE(kb_commands)

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
		"usage: kpf-bench <command>[,<command>...] [options]\n"
		"\n"
		"commands:\n");
	for (i = 0; i < KB_NR_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", kb_commands[i].name, kb_commands[i].what);
	fprintf(f,
		"  %-10s latency, overhead, arming, libcost, blocking, libset, pool\n"
		"\n"
		"options:\n"
		"  --backend B     kmod, signal or all (default all: kmod is skipped\n"
		"                  with a notice when /dev/kpf is missing; forcing\n"
		"                  kmod without /dev/kpf is an error)\n"
		"  --samples N     latency samples per variant (default 10000)\n"
		"  --run-ms N      length of each overhead run (default 60)\n"
		"  --ops N         operations per cost measurement (default 20000)\n"
		"  --quick         smoke-test sizes (1000 samples, short runs)\n"
		"  --out DIR       write CSV files into DIR (created if missing)\n"
		"  --where LABEL   where this runs, printed with every table (default:\n"
		"                  guest-$KPF_GUEST_MODE in the kpf guest, else native)\n"
		"  -h, --help      this text\n",
		"all");
}

static int kb_bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "kpf-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n");
	usage(stderr);
	return 2;
}

/**
 * struct kb_num_option - a numeric option, --name N
 * @name:	the option
 * @val:	where it goes, times @scale
 * @max:	the largest N (the smallest is 1)
 * @scale:	the unit of N in the stored value
 * @full:	the default
 * @quick:	the default with --quick
 */
struct kb_num_option {
	const char *name;
	unsigned long *val;
	unsigned long max, scale, full, quick;
};

static const struct kb_num_option kb_num_options[] = {
	{ "samples", &kb_opt.samples, 10000000, 1, 10000, 1000 },
	{ "run-ms", &kb_opt.run_ns, 100000, NSEC_PER_MSEC, 60, 30 },
	{ "ops", &kb_opt.ops, 100000000, 1, 20000, 2000 },
};

static bool kb_parse_num(const struct kb_num_option *o, const char *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (!*s || *s == '-')
		return false;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > o->max)
		return false;
	*o->val = v * o->scale;
	return true;
}

/* which benchmarks @list names; 0 if it names an unknown one */
static unsigned int kb_parse_commands(const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL;
	unsigned int mask = 0, i;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			mask |= (1U << KB_NR_COMMANDS) - 1;
			continue;
		}
		for (i = 0; i < KB_NR_COMMANDS; i++)
			if (!strcmp(tok, kb_commands[i].name))
				break;
		if (i == KB_NR_COMMANDS) {
			mask = 0;
			break;
		}
		mask |= 1U << i;
	}
	free(copy);
	return mask;
}

/* the kernel's clocksource: with "tsc" the clock is read in user space */
static const char *kb_clocksource(char *buf, size_t len)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			"r");

	snprintf(buf, len, "unknown");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
	return buf;
}

static int kb_check_kmod(void)
{
	int err;

	if (!(kb_opt.backends & KB_BACKEND_KMOD))
		return 0;
	err = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (err >= 0)
		return close(err);
	err = -errno;
	if (kb_opt.kmod_forced) {
		fprintf(stderr,
			"kpf-bench: --backend kmod: cannot open %s: %s\n"
			"kpf-bench: the kpf module is not loaded on this machine: load it (make load),\n"
			"kpf-bench: or run the benchmarks in the QEMU guest (make run).\n",
			KPF_DEVICE_PATH, strerror(-err));
		return 1;
	}
	kb_progress("notice: %s: %s: kmod rows skipped (module not loaded)",
		    KPF_DEVICE_PATH, strerror(-err));
	kb_opt.backends &= ~KB_BACKEND_KMOD;
	return 0;
}

int main(int argc, char **argv)
{
	/* val 0..2: kb_num_options[] */
	static const struct option longopts[] = {
		{ "samples", required_argument, NULL, 0 },
		{ "run-ms", required_argument, NULL, 1 },
		{ "ops", required_argument, NULL, 2 },
		{ "backend", required_argument, NULL, 'b' },
		{ "quick", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'O' },
		{ "where", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct kb_num_option *o;
	unsigned int mask, i;
	char where[64], clk[32];
	const char *mode;
	int c, rc = 0;

	/* the pool benchmark's server process (pool.c) */
	if (argc > 1 && !strcmp(argv[1], "pool-server"))
		return kb_pool_server(argc, argv);
	kb_opt.backends = KB_BACKEND_KMOD | KB_BACKEND_SIGNAL;
	mode = getenv("KPF_GUEST_MODE");
	if (getenv("KPF_GUEST") && mode && *mode) {
		snprintf(where, sizeof(where), "guest-%s", mode);
		kb_opt.where = where;
	} else {
		kb_opt.where = "native";
	}

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 0 ... ARRAY_SIZE(kb_num_options) - 1:
			o = &kb_num_options[c];
			if (!kb_parse_num(o, optarg)) {
				fprintf(stderr, "kpf-bench: --%s: '%s' is not a number in 1..%lu\n",
					o->name, optarg, o->max);
				return 2;
			}
			break;
		case 'b':
			if (!strcmp(optarg, "kmod")) {
				kb_opt.backends = KB_BACKEND_KMOD;
				kb_opt.kmod_forced = true;
			} else if (!strcmp(optarg, "signal")) {
				kb_opt.backends = KB_BACKEND_SIGNAL;
			} else if (strcmp(optarg, "all")) {
				return kb_bad_usage("unknown backend '%s' (kmod, signal, all)",
						    optarg);
			}
			break;
		case 'q':
			kb_opt.quick = true;
			break;
		case 'O':
			kb_opt.out_dir = optarg;
			break;
		case 'w':
			kb_opt.where = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "\n");
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return kb_bad_usage("%s", "no command given");
	if (optind + 1 < argc)
		return kb_bad_usage("unexpected argument '%s'", argv[optind + 1]);
	mask = kb_parse_commands(argv[optind]);
	if (!mask)
		return kb_bad_usage("unknown command '%s'", argv[optind]);
	for (o = kb_num_options; o < kb_num_options + ARRAY_SIZE(kb_num_options); o++)
		if (!*o->val)
			*o->val = (kb_opt.quick ? o->quick : o->full) * o->scale;
	if (kb_opt.out_dir && mkdir(kb_opt.out_dir, 0755) && errno != EEXIST) {
		perror(kb_opt.out_dir);
		return 1;
	}

	if (kb_check_kmod())
		return 1;
	kb_upcall_clock_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	kb_progress("backends: %s%s; times are CLOCK_MONOTONIC on %s (clocksource %s)",
		    kb_opt.backends & KB_BACKEND_KMOD ? "kmod " : "",
		    kb_opt.backends & KB_BACKEND_SIGNAL ? "signal" : "",
		    kb_opt.where, kb_clocksource(clk, sizeof(clk)));
	for (i = 0; i < KB_NR_COMMANDS; i++) {
		if (!(mask & (1U << i)))
			continue;
		c = kb_commands[i].run();
		if (c > rc)
			rc = c;
	}
	kb_results_close();
	return rc;
}
