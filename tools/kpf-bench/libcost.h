/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The libkpf half of benchmark 4 (libcost_kpf.c), built only when
 * build/ulib/libkpf.a exists; KB_HAVE_LIBKPF says whether it was.
 */
#ifndef KPF_BENCH_LIBCOST_H
#define KPF_BENCH_LIBCOST_H

#ifndef KB_HAVE_LIBKPF
#define KB_HAVE_LIBKPF	0
#endif

/* what kb_libcost_kpf() measures, in this order */
enum {
	KB_LC_LAUNCH_RETURN,
	KB_LC_LAUNCH_BUDGET,
	KB_LC_PAUSE_RESUME,
	KB_LC_PREEMPT_RESUME,
	KB_LC_CANCEL,
	KB_LC_KPF_NR
};

static const char *const kb_lc_kpf_ops[KB_LC_KPF_NR] __attribute__((unused)) = {
	"kpf_launch of an empty function (DONE)",
	"same with a 1 ms budget (arm; disarm on return)",
	"kpf_pause + kpf_resume round trip",
	"launch + preempt + resume (budget excluded)",
	"launch + pause + kpf_cancel",
};

int kb_libcost_kpf(const void *backend, double *ns);

#endif /* KPF_BENCH_LIBCOST_H */
