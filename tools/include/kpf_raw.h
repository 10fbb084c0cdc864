/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * The raw /dev/kpf calls every user-space test and tool needs, in one
 * place: the clock, a user-mode spin, and opening, registering, arming
 * and disarming a context (with the store-then-check protocol for moving
 * a deadline without a system call). Functions return 0 or -errno.
 * The frame resume is in kpf_frame_resume.h next to this file.
 *
 * Used by selftests/ (kpf_test_util.h) and tools/kpf-bench/; libkpf has
 * its own backend but the same protocol.
 */
#ifndef KPF_RAW_H
#define KPF_RAW_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kpf.h>

#define KPF_RAW_PAGE_SIZE	4096UL

/* CLOCK_MONOTONIC in ns: the clock of the kernel's hrtimers and of kpf. */
static inline uint64_t kpf_raw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Busy-wait in user mode: no system call, so nothing blocks delivery. */
static inline void kpf_raw_spin_ns(uint64_t ns)
{
	uint64_t end = kpf_raw_now_ns() + ns;

	while (kpf_raw_now_ns() < end)
		__asm__ volatile("pause" ::: "memory");
}

/**
 * struct kpf_raw - one context and the memory it names
 * @fd:		the open /dev/kpf file, -1 when closed
 * @area:	the shared area, alone in its own page
 * @stack:	the upcall stack
 * @stack_size:	its size
 */
struct kpf_raw {
	int fd;
	struct kpf_area *area;
	void *stack;
	size_t stack_size;
};

/* Close the file and free the memory of a (partly) opened context. */
static inline void kpf_raw_close(struct kpf_raw *k)
{
	if (k->fd >= 0)
		close(k->fd);
	if (k->area)
		munmap(k->area, KPF_RAW_PAGE_SIZE);
	if (k->stack)
		munmap(k->stack, k->stack_size);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

/*
 * Open a context and allocate its area and upcall stack (@mmap_flags:
 * e.g. MAP_POPULATE); with @entry, also register it for the calling
 * thread. On failure everything is freed again.
 */
static inline int kpf_raw_open(struct kpf_raw *k, void (*entry)(void),
			       size_t stack_size, int mmap_flags)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | mmap_flags;
	struct kpf_register reg;
	int err = -ENOMEM;

	memset(k, 0, sizeof(*k));
	k->fd = -1;
	k->area = mmap(NULL, KPF_RAW_PAGE_SIZE, PROT_READ | PROT_WRITE, flags,
		       -1, 0);
	k->stack_size = stack_size;
	k->stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (k->area == MAP_FAILED)
		k->area = NULL;
	if (k->stack == MAP_FAILED)
		k->stack = NULL;
	if (!k->area || !k->stack)
		goto fail;
	k->area->size = sizeof(*k->area);
	k->fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		err = -errno;
		goto fail;
	}
	if (!entry)
		return 0;
	memset(&reg, 0, sizeof(reg));
	reg.size = sizeof(reg);
	reg.area = (uintptr_t)k->area;
	reg.entry = (uintptr_t)entry;
	reg.stack = (uintptr_t)k->stack;
	reg.stack_size = stack_size;
	if (!ioctl(k->fd, KPF_IOC_REGISTER, &reg))
		return 0;
	err = -errno;
fail:
	kpf_raw_close(k);
	return err;
}

/* KPF_IOC_ARM: KPF_ARM_* @flags, first expiry @value_ns, @period_ns. */
static inline int kpf_raw_arm(int fd, uint32_t flags, uint64_t value_ns,
			      uint64_t period_ns)
{
	struct kpf_arm arm;

	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = flags;
	arm.value_ns = value_ns;
	arm.period_ns = period_ns;
	return ioctl(fd, KPF_IOC_ARM, &arm) ? -errno : 0;
}

/*
 * KPF_IOC_ARM with KPF_ARM_LINGER: a one-shot at @value_ns that, when it
 * finds no deadline due, waits @linger_ns more, at most @linger_max times.
 */
static inline int kpf_raw_arm_linger(int fd, uint64_t value_ns,
				     uint64_t linger_ns, uint32_t linger_max)
{
	struct kpf_arm arm;

	memset(&arm, 0, sizeof(arm));
	arm.size = sizeof(arm);
	arm.flags = KPF_ARM_ABSOLUTE | KPF_ARM_LINGER;
	arm.value_ns = value_ns;
	arm.linger_ns = linger_ns;
	arm.linger_max = linger_max;
	return ioctl(fd, KPF_IOC_ARM, &arm) ? -errno : 0;
}

static inline int kpf_raw_disarm(int fd)
{
	return ioctl(fd, KPF_IOC_DISARM, 0) ? -errno : 0;
}

/*
 * Move the deadline with a store, if that suffices: exchange it (a full
 * barrier), then look at the expiry the timer is queued for. Returns
 * true when the queued timer will find the new deadline by itself; false
 * when the caller must KPF_IOC_ARM (none queued, or queued for later).
 */
static inline bool kpf_raw_set_deadline(struct kpf_area *area, uint64_t when)
{
	uint64_t armed;

	__atomic_exchange_n(&area->deadline_ns, when, __ATOMIC_SEQ_CST);
	armed = __atomic_load_n(&area->armed_ns, __ATOMIC_RELAXED);
	return armed != 0 && armed <= when;
}

#endif /* KPF_RAW_H */
