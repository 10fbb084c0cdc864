/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The interface between test_defer_cxx.c and defer_cxx_work.cc. */
#ifndef KPF_DEFER_CXX_H
#define KPF_DEFER_CXX_H

#ifdef __cplusplus
extern "C" {
#endif

struct cxx_arg {
	unsigned int rounds;
	unsigned int done;	/* rounds run (defer_test_more) */
	unsigned long caught;
	unsigned long strings;
	int preempted_after;
};

void cxx_task(void *arg);		/* 20000 throws and catches */
void cxx_between(void *unused);		/* the launcher throws too */
unsigned long cxx_expected_strings(unsigned int n);

#ifdef __cplusplus
}
#endif

#endif /* KPF_DEFER_CXX_H */
