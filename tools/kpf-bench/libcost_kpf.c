// SPDX-License-Identifier: GPL-2.0
/*
 * libkpf's operations, timed (benchmark 4). Built only with libkpf; runs
 * in a child process of kpf-bench, one per backend.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kpf.h>

#include "bench.h"
#include "libcost.h"

#define KB_LC_BUDGET_NS	(50 * NSEC_PER_USEC)

/* say which step failed, with its return value */
#define KB_LC_CHECK(expr, want) do {					\
	int __r = (expr);						\
	if (__r != (want)) {						\
		fprintf(stderr, "kpf-bench: libkpf %s: %s returned %d%s%s\n", \
			backend, #expr, __r, __r < 0 ? ": " : "",	\
			__r < 0 ? strerror(-__r) : "");			\
		return __r < 0 ? __r : -EIO;				\
	}								\
} while (0)

static volatile int kb_lc_release;

static void kb_lc_empty(void *arg)
{
	(void)arg;
}

static void kb_lc_pauser(void *arg)
{
	(void)arg;
	for (;;)
		kpf_pause();
}

static void kb_lc_spinner(void *arg)
{
	(void)arg;
	while (!kb_lc_release)
		__builtin_ia32_pause();
}

/**
 * kb_libcost_kpf() - time libkpf's operations with one backend
 * @arg: the backend, "kmod" or "signal"
 * @ns: receives KB_LC_KPF_NR times per operation, in ns
 *
 * Return: 0 or -errno.
 */
int kb_libcost_kpf(const void *arg, double *ns)
{
	const char *backend = arg;
	struct kpf_config cfg = { .size = sizeof(cfg) };
	unsigned long n = kb_opt.ops, few = n / 10 ? n / 10 : 1, i;
	struct kpf_stats st0 = { .size = sizeof(st0) };
	struct kpf_stats st1 = { .size = sizeof(st1) };
	kpf_task *t;
	uint64_t t0, spent;

	setenv("KPF_BACKEND", backend, 1);
	cfg.backend = strcmp(backend, "kmod") ? KPF_BACKEND_SIGNAL : KPF_BACKEND_KMOD;
	KB_LC_CHECK(kpf_init(&cfg), 0);
	if (strcmp(kpf_backend(), backend)) {
		fprintf(stderr, "kpf-bench: libkpf: backend is %s, not %s\n",
			kpf_backend(), backend);
		return -ENODEV;
	}

	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_launch(&t, kb_lc_empty, NULL, KPF_FOREVER), KPF_DONE);
	ns[KB_LC_LAUNCH_RETURN] = (double)(kb_now_ns() - t0) / n;

	/*
	 * A finite budget: the timer is armed at launch and, on the signal
	 * backend, really disarmed on return (no signal may reach a thread
	 * outside tasks); kmod only stores deadlines (arm_syscalls says).
	 */
	KB_LC_CHECK(kpf_thread_stats(&st0), 0);
	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_launch(&t, kb_lc_empty, NULL, NSEC_PER_MSEC),
			    KPF_DONE);
	ns[KB_LC_LAUNCH_BUDGET] = (double)(kb_now_ns() - t0) / n;
	KB_LC_CHECK(kpf_thread_stats(&st1), 0);
	fprintf(stderr, "kpf-bench: libkpf %s: %.2f arming system calls per budgeted launch + return\n",
		backend, (double)(st1.arm_syscalls - st0.arm_syscalls) / n);

	KB_LC_CHECK(kpf_launch(&t, kb_lc_pauser, NULL, KPF_FOREVER), KPF_PREEMPTED);
	t0 = kb_now_ns();
	for (i = 0; i < n; i++)
		KB_LC_CHECK(kpf_resume(t, KPF_FOREVER), KPF_PREEMPTED);
	ns[KB_LC_PAUSE_RESUME] = (double)(kb_now_ns() - t0) / n;
	kpf_cancel(t);

	spent = 0;
	for (i = 0; i < few; i++) {
		kb_lc_release = 0;
		t0 = kb_now_ns();
		KB_LC_CHECK(kpf_launch(&t, kb_lc_spinner, NULL, KB_LC_BUDGET_NS),
			    KPF_PREEMPTED);
		kb_lc_release = 1;
		KB_LC_CHECK(kpf_resume(t, KPF_FOREVER), KPF_DONE);
		spent += kb_now_ns() - t0 - KB_LC_BUDGET_NS;
	}
	ns[KB_LC_PREEMPT_RESUME] = (double)spent / few;

	t0 = kb_now_ns();
	for (i = 0; i < n; i++) {
		KB_LC_CHECK(kpf_launch(&t, kb_lc_pauser, NULL, KPF_FOREVER),
			    KPF_PREEMPTED);
		kpf_cancel(t);
	}
	ns[KB_LC_CANCEL] = (double)(kb_now_ns() - t0) / n;
	return 0;
}
