// SPDX-License-Identifier: GPL-2.0
/*
 * The signal baseline: a POSIX timer per thread (timer_create with
 * SIGEV_THREAD_ID and a real-time signal, as libkpf's signal backend does)
 * and the handler that records a delivery in kb_log.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/**
 * kb_sig_log_handler() - signal handler recording a delivery in kb_log
 * @signo: unused
 *
 * The intended expiry is written to kb_log.expiry_ns by the benchmark.
 */
void kb_sig_log_handler(int signo)
{
	uint64_t t = kb_now_ns();
	uint64_t n = kb_log.count;

	(void)signo;
	if (n < kb_log.cap)
		kb_log.handler_ns[n] = t;
	kb_log.eintr_probe = 1;
	__atomic_store_n(&kb_log.count, n + 1, __ATOMIC_RELEASE);
	if (kb_log.stop_ns && t > kb_log.stop_ns && kb_log.stop_timer) {
		kb_sig_timer_disarm(kb_log.stop_timer);	/* async-signal-safe */
		kb_log.stopped++;
	}
}

/**
 * kb_sig_install() - install a handler
 * @signo: the signal
 * @handler: the handler
 * @restart: SA_RESTART (what a runtime would use to limit EINTR)
 *
 * Return: 0 or -errno.
 */
int kb_sig_install(int signo, void (*handler)(int), bool restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL) ? -errno : 0;
}

/**
 * kb_sig_restore() - back to the default disposition
 * @signo: the signal
 */
void kb_sig_restore(int signo)
{
	signal(signo, SIG_DFL);
}

/**
 * kb_sig_timer_create() - a CLOCK_MONOTONIC timer signalling this thread
 * @timer: receives the timer
 * @signo: the signal it sends
 *
 * Return: 0 or -errno.
 */
int kb_sig_timer_create(timer_t *timer, int signo)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = signo;
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	return timer_create(CLOCK_MONOTONIC, &sev, timer) ? -errno : 0;
}

/**
 * kb_sig_timer_arm_abs() - arm at an absolute CLOCK_MONOTONIC time
 * @timer: the timer
 * @when_ns: first expiry
 * @period_ns: period, 0 for one-shot
 *
 * Return: 0 or -errno.
 */
int kb_sig_timer_arm_abs(timer_t timer, uint64_t when_ns, uint64_t period_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(when_ns / NSEC_PER_SEC),
			      (long)(when_ns % NSEC_PER_SEC) },
		.it_interval = { (time_t)(period_ns / NSEC_PER_SEC),
				 (long)(period_ns % NSEC_PER_SEC) },
	};

	return timer_settime(timer, TIMER_ABSTIME, &its, NULL) ? -errno : 0;
}

/**
 * kb_sig_timer_disarm() - stop the timer
 * @timer: the timer
 *
 * Return: 0 or -errno.
 */
int kb_sig_timer_disarm(timer_t timer)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	return timer_settime(timer, 0, &its, NULL) ? -errno : 0;
}
