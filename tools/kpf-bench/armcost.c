// SPDX-License-Identifier: GPL-2.0
/*
 * kpf-armcost: where KPF_IOC_ARM, KPF_IOC_ARM_AT and timer_settime spend
 * their time, one system call at a time, including calls that fail at a
 * known point (bad fd: fdget; FIOQSIZE: do_vfs_ioctl after the LSM hook;
 * a foreign ioctl type: kpf_ioctl's first check; EINVAL after kpf reads
 * its argument; timer_settime with a bad tv_nsec or timer id). Meant for
 * the -icount guest, where 1 ns is one instruction and the median of
 * identical calls is exact:
 *
 *   tools/guest/run.sh --kernel stock --icount \
 *       --extra build/tools/kpf-bench --cmd '/tests/kpf-bench/kpf-armcost 2000'
 *
 * Prints mean, min and median per row, the clock read subtracted.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <linux/fs.h>
#include "kpf_raw.h"

#define FAR (100ULL * 1000000000ULL)
static unsigned long N = 4000;
static double clk;
static uint64_t clkmin = ~0ULL;

static void dummy(void) { }

static uint64_t v[100000];
static int cmpu(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
#define TIME(label, setup, op) do { \
	uint64_t _s = 0, _a, _b; unsigned long _i; \
	for (_i = 0; _i < N; _i++) { setup; _a = kpf_raw_now_ns(); op; _b = kpf_raw_now_ns(); v[_i] = _b - _a; _s += _b - _a; } \
	qsort(v, N, sizeof(v[0]), cmpu); \
	printf("armcost %-40s mean %7.1f min %5lu med %5lu\n", label, (double)_s / N - clk, (unsigned long)(v[0] - clkmin), (unsigned long)(v[N / 2] - clkmin)); \
} while (0)

int main(int argc, char **argv)
{
	struct kpf_raw k;
	struct kpf_arm arm;
	struct itimerspec its, off;
	struct sigevent sev;
	timer_t tid;
	uint64_t far, s = 0, a, b;
	unsigned long i;
	int err, fd;

	if (argc > 1)
		N = strtoul(argv[1], NULL, 0);
	for (i = 0; i < N; i++) {
		a = kpf_raw_now_ns();
		b = kpf_raw_now_ns();
		s += b - a;
		if (b - a < clkmin)
			clkmin = b - a;
	}
	clk = (double)s / N;
	printf("armcost %-40s %8.1f\n", "clock read (subtracted)", clk);
	err = kpf_raw_open(&k, dummy, 1 << 20, MAP_POPULATE);
	if (err) {
		printf("open: %s\n", strerror(-err));
		return 1;
	}
	fd = k.fd;
	far = kpf_raw_now_ns() + FAR;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tid))
		return 1;
	memset(&off, 0, sizeof(off));
	memset(&its, 0, sizeof(its));

	TIME("getppid", , syscall(SYS_getppid));
	TIME("ioctl bad fd (EBADF in fdget)", , ioctl(-1, _IO('x', 0), 0));
	TIME("ioctl FIOQSIZE (ENOTTY in do_vfs_ioctl)", , ioctl(fd, FIOQSIZE, 0));
	TIME("ioctl bad type (ENOTTY in kpf_ioctl)", , ioctl(fd, _IO('x', 0), 0));
	TIME("ioctl bad nr (ENOTTY in kpf_ioctl)", , ioctl(fd, _IO(KPF_IOC_MAGIC, 99), 0));
	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = KPF_ARM_ABSOLUTE;
	arm.reserved1 = 1;
	TIME("ioctl ARM EINVAL (reserved1)", , ioctl(fd, KPF_IOC_ARM, &arm));
	arm.reserved1 = 0;
	arm.size = 1;
	TIME("ioctl ARM EINVAL (size field)", , ioctl(fd, KPF_IOC_ARM, &arm));
	arm.size = sizeof(arm);
	TIME("ioctl ARM idle", kpf_raw_disarm(fd); arm.value_ns = far + _i, ioctl(fd, KPF_IOC_ARM, &arm));
	kpf_raw_disarm(fd);
	TIME("ioctl ARM idle (+DISARM)", arm.value_ns = far + _i, ioctl(fd, KPF_IOC_ARM, &arm); kpf_raw_disarm(fd));
	TIME("ioctl DISARM (idle)", , kpf_raw_disarm(fd));
	kpf_raw_arm(fd, KPF_ARM_ABSOLUTE, far + FAR, 0);
	TIME("ioctl ARM move earlier", arm.value_ns = far + FAR - _i - 1, ioctl(fd, KPF_IOC_ARM, &arm));
	TIME("ioctl ARM move later", arm.value_ns = far + FAR + _i + 1, ioctl(fd, KPF_IOC_ARM, &arm));
	kpf_raw_disarm(fd);
#ifdef KPF_IOC_ARM_AT
	TIME("ioctl ARM_AT idle", kpf_raw_disarm(fd), ioctl(fd, KPF_IOC_ARM_AT, far + _i));
	kpf_raw_disarm(fd);
	TIME("ioctl ARM_AT EINVAL (0)", , ioctl(fd, KPF_IOC_ARM_AT, 0));
	kpf_raw_arm(fd, KPF_ARM_ABSOLUTE, far + FAR, 0);
	TIME("ioctl ARM_AT move earlier", , ioctl(fd, KPF_IOC_ARM_AT, far + FAR - _i - 1));
	TIME("ioctl ARM_AT move later", , ioctl(fd, KPF_IOC_ARM_AT, far + FAR + _i + 1));
	kpf_raw_disarm(fd);
#endif

	TIME("timer_settime bad id", , syscall(SYS_timer_settime, 12345, TIMER_ABSTIME, &its, NULL));
	its.it_value.tv_nsec = 2000000000;
	TIME("timer_settime EINVAL (tv_nsec)", , timer_settime(tid, TIMER_ABSTIME, &its, NULL));
	its.it_value.tv_nsec = 0;
#define SETF(x) do { its.it_value.tv_sec = (x) / 1000000000ULL; its.it_value.tv_nsec = (x) % 1000000000ULL; } while (0)
	TIME("timer_settime arm idle", timer_settime(tid, 0, &off, NULL); SETF(far + _i), timer_settime(tid, TIMER_ABSTIME, &its, NULL));
	timer_settime(tid, 0, &off, NULL);
	TIME("timer_settime disarm (idle)", , timer_settime(tid, 0, &off, NULL));
	SETF(far + FAR);
	timer_settime(tid, TIMER_ABSTIME, &its, NULL);
	TIME("timer_settime move earlier", SETF(far + FAR - _i - 1), timer_settime(tid, TIMER_ABSTIME, &its, NULL));
	TIME("timer_settime move later", SETF(far + FAR + _i + 1), timer_settime(tid, TIMER_ABSTIME, &its, NULL));
	return 0;
}
