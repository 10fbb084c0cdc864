// SPDX-License-Identifier: GPL-2.0
/*
 * The timers the benchmarks compare, per thread: a /dev/kpf context
 * (kb_upcall_entry, upcall_hook.c) or a POSIX timer (timer_create with
 * SIGEV_THREAD_ID and a real-time signal, as libkpf's signal backend
 * does), and kb_log, where both record each delivery. kb_log is allocated
 * and touched up front, so handlers never fault or allocate.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
/* upcall_entry.S's offsets, checked against <linux/kpf.h> */
#include "kpf_frame_resume.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define KB_UPCALL_STACK_SIZE	(64 * 1024)

struct kb_log kb_log;

/**
 * kb_log_alloc() - make room for @cap events and reset the count
 * @cap: events to record (more are counted, not recorded)
 *
 * Return: 0 or -ENOMEM.
 */
int kb_log_alloc(uint64_t cap)
{
	uint64_t *a = calloc(4 * cap, sizeof(*a));

	kb_log_free();
	if (!a)
		return -ENOMEM;
	kb_log.handler_ns = a;
	kb_log.expiry_ns = a + cap;
	kb_log.irq_ns = a + 2 * cap;
	kb_log.deliver_ns = a + 3 * cap;
	kb_log.cap = cap;
	return 0;
}

/**
 * kb_log_reset() - forget the recorded events, keep the arrays
 */
void kb_log_reset(void)
{
	__atomic_store_n(&kb_log.count, 0, __ATOMIC_SEQ_CST);
}

/**
 * kb_log_free() - release the arrays; handlers then only count
 */
void kb_log_free(void)
{
	kb_log.cap = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	free(kb_log.handler_ns);
	kb_log.handler_ns = NULL;
	kb_log_reset();
}

/* the one POSIX timer's setting: first expiry at @when_ns (0: disarmed) */
static int kb_sig_timer_set(timer_t timer, uint64_t when_ns,
			    uint64_t period_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(when_ns / NSEC_PER_SEC),
			      (long)(when_ns % NSEC_PER_SEC) },
		.it_interval = { (time_t)(period_ns / NSEC_PER_SEC),
				 (long)(period_ns % NSEC_PER_SEC) },
	};

	/* async-signal-safe: the handler disarms with it */
	return timer_settime(timer, TIMER_ABSTIME, &its, NULL) ? -errno : 0;
}

/* record a delivery in kb_log; the benchmark knows the intended expiry */
static void kb_sig_log_handler(int signo)
{
	uint64_t t = kb_now_ns();
	uint64_t n = kb_log.count;

	(void)signo;
	if (n < kb_log.cap)
		kb_log.handler_ns[n] = t;
	__atomic_store_n(&kb_log.count, n + 1, __ATOMIC_RELEASE);
	if (kb_log.stop_ns && t > kb_log.stop_ns && kb_log.stop_timer) {
		kb_sig_timer_set(kb_log.stop_timer, 0, 0);
		kb_log.stopped++;
	}
}

/**
 * kb_sig_install() - record @signo's deliveries in kb_log
 * @signo: the signal
 *
 * With SA_RESTART, what a runtime would use to limit EINTR.
 *
 * Return: 0 or -errno.
 */
int kb_sig_install(int signo)
{
	struct sigaction sa = { .sa_handler = kb_sig_log_handler,
				.sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL) ? -errno : 0;
}

/**
 * kb_timer_open() - a timer of the calling thread that records into kb_log
 * @t: filled in
 * @kmod: a /dev/kpf context; else a POSIX timer sending KB_SIGNO_TIMER
 *
 * Return: 0 or -errno.
 */
int kb_timer_open(struct kb_timer *t, bool kmod)
{
	struct sigevent sev;
	int err;

	memset(t, 0, sizeof(*t));
	t->kmod = kmod;
	if (kmod)
		return kpf_raw_open(&t->k, kb_upcall_entry, KB_UPCALL_STACK_SIZE,
				    MAP_POPULATE);
	t->k.fd = -1;
	err = kb_sig_install(KB_SIGNO_TIMER);
	if (err)
		return err;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = KB_SIGNO_TIMER;
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer)) {
		err = -errno;
		signal(KB_SIGNO_TIMER, SIG_DFL);
	}
	return err;
}

/**
 * kb_timer_arm() - arm one-shot at @when_ns, or every @period_ns
 * @t: the timer
 * @when_ns: the one-shot (or, on signal, the first) expiry
 * @period_ns: 0, or the period (kmod: from one period on)
 *
 * Return: 0 or -errno.
 */
int kb_timer_arm(struct kb_timer *t, uint64_t when_ns, uint64_t period_ns)
{
	if (!t->kmod)
		return kb_sig_timer_set(t->timer, when_ns, period_ns);
	if (period_ns)
		return kpf_raw_arm(t->k.fd, KPF_ARM_PERIODIC, 0, period_ns);
	return kpf_raw_arm(t->k.fd, KPF_ARM_ABSOLUTE, when_ns, 0);
}

/**
 * kb_timer_disarm() - stop the timer
 * @t: the timer
 *
 * Return: 0 or -errno.
 */
int kb_timer_disarm(struct kb_timer *t)
{
	return t->kmod ? kpf_raw_disarm(t->k.fd) : kb_sig_timer_set(t->timer, 0, 0);
}

/**
 * kb_timer_close() - stop and release a timer from kb_timer_open()
 * @t: the timer
 */
void kb_timer_close(struct kb_timer *t)
{
	if (t->kmod) {
		kpf_raw_disarm(t->k.fd);
		kpf_raw_close(&t->k);
	} else {
		timer_delete(t->timer);
		signal(KB_SIGNO_TIMER, SIG_DFL);
	}
}
