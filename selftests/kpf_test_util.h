/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kpf selftests: open/register/arm wrappers that
 * return -errno (so the tests can ASSERT on exact error codes), sysfs
 * access, clocks, and the assembly upcall entry in upcall_entry.S.
 */
#ifndef KPF_TEST_UTIL_H
#define KPF_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sys/capability.h>
#include <linux/kpf.h>
#include "kpf_raw.h"

#define KPF_SYSFS_DIR		"/sys/class/misc/kpf/"
#define KPF_PARAM_DIR		"/sys/module/kpf/parameters/"
#define KPF_TEST_STACK_SIZE	(64 * 1024)
#define KPF_TEST_PAGE_SIZE	4096UL
/* Start of the x86-64 direct map: real kernel memory, never user memory. */
#define KPF_KERNEL_ADDR		0xffff888000000000ULL
#define NSEC_PER_USEC		1000UL
#define NSEC_PER_MSEC		1000000UL
#define NSEC_PER_SEC		1000000000UL

/* The kernel writes the area from interrupt context: never cache it. */
#define READ_ONCE(x)		(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile typeof(x) *)&(x) = (v))

/* upcall_entry.S */
void kpf_test_upcall_entry(void);
long kpf_test_raw_syscall(long nr, long a1, long a2, long a3, long a4,
			  long a5);
extern const char kpf_test_raw_syscall_ret[];
/* Per-thread records written by the upcall entry. */
extern __thread uint64_t kpf_test_upcall_count;
extern __thread uint64_t kpf_test_reg_mismatch;
extern __thread uint64_t kpf_test_entry_rsp;
extern __thread uint64_t kpf_test_entry_rdi;
extern __thread uint64_t kpf_test_entry_rflags;
extern __thread struct kpf_frame kpf_test_last_frame;

/* upcall_entry.S hard-codes these offsets (and kpf_frame_resume.h checks its own). */
#include "kpf_frame_resume.h"
_Static_assert(sizeof(struct kpf_frame) == 18 * 8, "frame size");
_Static_assert(sizeof(struct kpf_area) == KPF_AREA_SIZE_VER0, "area");
_Static_assert(sizeof(struct kpf_register) == KPF_REGISTER_SIZE_VER0, "reg");
_Static_assert(sizeof(struct kpf_arm) == KPF_ARM_SIZE_VER1, "arm");
_Static_assert(sizeof(struct kpf_info) == KPF_INFO_SIZE_VER0, "info");

#define X86_EFLAGS_CF		0x0001UL
#define X86_EFLAGS_TF		0x0100UL
#define X86_EFLAGS_DF		0x0400UL

/*
 * Progress lines for the log. The harness runs each test in a child that
 * leaves with _exit(), so stdout must be flushed here or the line is lost.
 */
#define kpf_log(fmt, ...) do {						\
	printf("# " fmt, ##__VA_ARGS__);				\
	fflush(stdout);							\
} while (0)

/*
 * No expiry is lost: each one the kernel counted in @fires was delivered,
 * deferred, dropped, or found the previous delivery still queued (then it
 * is also an overrun; overruns also count missed periods, which are not
 * fires, hence only an upper bound).
 */
#define EXPECT_EXPIRIES_ACCOUNTED(a) do {				\
	uint64_t __f = READ_ONCE((a)->fires);				\
	uint64_t __d = READ_ONCE((a)->delivered) +			\
		       READ_ONCE((a)->deferred) + READ_ONCE((a)->dropped); \
	EXPECT_LE(__d, __f);						\
	EXPECT_GE(__d + READ_ONCE((a)->overruns), __f);			\
} while (0)

/*
 * A test either needs the module or is meaningless: inside the guest
 * (KPF_GUEST=1) a missing /dev/kpf is a failure, elsewhere a skip.
 */
#define KPF_REQUIRE_DEVICE() do {					\
	if (access(KPF_DEVICE_PATH, R_OK | W_OK)) {			\
		if (getenv("KPF_GUEST"))				\
			ASSERT_EQ(0, -errno) TH_LOG("no " KPF_DEVICE_PATH); \
		SKIP(return, KPF_DEVICE_PATH " missing: kpf.ko not loaded"); \
	}								\
} while (0)

/*
 * A fixture whose every test starts with a context registered for the
 * calling thread (self->c) and ends with it destroyed.
 */
#define KPF_CTX_FIXTURE(name)						\
FIXTURE(name)								\
{									\
	struct kpf_test_ctx c;						\
};									\
FIXTURE_SETUP(name)							\
{									\
	KPF_REQUIRE_DEVICE();						\
	ASSERT_EQ(0, kpf_test_ctx_setup(&self->c));			\
}									\
FIXTURE_TEARDOWN(name)							\
{									\
	if (self->c.stack)						\
		kpf_test_ctx_destroy(&self->c);				\
}

/**
 * struct kpf_test_ctx - one /dev/kpf context and the memory it names
 * @fd:		the open /dev/kpf file
 * @area:	the shared area, alone in its own page
 * @stack:	the upcall stack
 * @stack_size:	its size
 * @ioctls:	ioctls issued through the helpers (syscall-free checks)
 */
struct kpf_test_ctx {
	int fd;
	struct kpf_area *area;
	void *stack;
	size_t stack_size;
	unsigned long ioctls;
};

static inline uint64_t kpf_now_ns(void)
{
	return kpf_raw_now_ns();
}

/* Busy-wait in user mode: no system call, so nothing blocks delivery. */
static inline void kpf_spin_ns(uint64_t ns)
{
	kpf_raw_spin_ns(ns);
}

static inline int kpf_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Is CAP_SYS_NICE in the effective set (the module's privileged limit)? */
static inline int kpf_test_have_sys_nice(void)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (!caps)
		return 0;
	cap_get_flag(caps, CAP_SYS_NICE, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}

/*
 * Write @s to the file @path (a procfs/tracefs control file: one write),
 * opened with O_WRONLY | @oflags. Returns 0 or -errno.
 */
static inline int kpf_test_write_file(const char *path, const char *s,
				      int oflags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | oflags), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The same for a file below /sys/kernel/tracing/, appended to or
 * truncated (which clears "trace").
 */
static inline int kpf_test_tracefs_write(const char *file, const char *s,
					 int append)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/%s", file);
	return kpf_test_write_file(path, s, append ? O_APPEND : O_TRUNC);
}

static inline void *kpf_map(size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Allocate area and stack and open the device; nothing registered yet. */
static inline int kpf_test_ctx_init(struct kpf_test_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->area = kpf_map(KPF_TEST_PAGE_SIZE, PROT_READ | PROT_WRITE);
	c->stack_size = KPF_TEST_STACK_SIZE;
	c->stack = kpf_map(c->stack_size, PROT_READ | PROT_WRITE);
	if (!c->area || !c->stack)
		return -ENOMEM;
	c->area->size = sizeof(*c->area);
	c->fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	return c->fd < 0 ? -errno : 0;
}

static inline void kpf_test_reg_fill(const struct kpf_test_ctx *c,
				     struct kpf_register *reg)
{
	memset(reg, 0, sizeof(*reg));
	reg->size = sizeof(*reg);
	reg->area = (uintptr_t)c->area;
	reg->entry = (uintptr_t)kpf_test_upcall_entry;
	reg->stack = (uintptr_t)c->stack;
	reg->stack_size = c->stack_size;
}

static inline int kpf_test_register(struct kpf_test_ctx *c)
{
	struct kpf_register reg;

	kpf_test_reg_fill(c, &reg);
	c->ioctls++;
	return kpf_ioctl(c->fd, KPF_IOC_REGISTER, (uintptr_t)&reg);
}

/* Open, allocate and register for the calling thread. */
static inline int kpf_test_ctx_setup(struct kpf_test_ctx *c)
{
	int ret = kpf_test_ctx_init(c);

	return ret ? ret : kpf_test_register(c);
}

static inline int kpf_test_arm(struct kpf_test_ctx *c, uint32_t flags,
			       uint64_t value_ns, uint64_t period_ns)
{
	c->ioctls++;
	return kpf_raw_arm(c->fd, flags, value_ns, period_ns);
}

static inline int kpf_test_disarm(struct kpf_test_ctx *c)
{
	c->ioctls++;
	return kpf_raw_disarm(c->fd);
}

static inline int kpf_test_unregister(struct kpf_test_ctx *c)
{
	c->ioctls++;
	return kpf_ioctl(c->fd, KPF_IOC_UNREGISTER, 0);
}

static inline int kpf_test_info(int fd, struct kpf_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kpf_ioctl(fd, KPF_IOC_INFO, (uintptr_t)info);
}

static inline void kpf_test_ctx_destroy(struct kpf_test_ctx *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->area)
		munmap(c->area, KPF_TEST_PAGE_SIZE);
	if (c->stack)
		munmap(c->stack, c->stack_size);
	c->area = NULL;
	c->stack = NULL;
}

/*
 * Send @fd over a new unix socket pair and leave it unreceived: the
 * message in flight holds a reference on the file, as a fork child would.
 * Returns the receiving end, whose close drops that reference, or -errno.
 */
static inline int kpf_test_send_unreceived(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'k';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ret = sendmsg(sv[0], &msg, 0) == 1 ? sv[1] : -EIO;
	close(sv[0]);
	if (ret < 0)
		close(sv[1]);
	return ret;
}

/* Receive the descriptor kpf_test_send_unreceived() left on @sock. */
static inline int kpf_test_recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -errno;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Spin in user mode until @n upcalls were delivered; -ETIMEDOUT if not. */
static inline int kpf_test_wait_delivered(struct kpf_test_ctx *c, uint64_t n,
					  uint64_t timeout_ns)
{
	uint64_t end = kpf_now_ns() + timeout_ns;

	while (READ_ONCE(c->area->delivered) < n) {
		if (kpf_now_ns() > end)
			return -ETIMEDOUT;
		__asm__ volatile("pause" ::: "memory");
	}
	return 0;
}

static inline int kpf_read_u64(const char *path, uint64_t *val)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*val = strtoull(buf, NULL, 10);
	return 0;
}

static inline int kpf_write_u64(const char *path, uint64_t val)
{
	char buf[32];
	int fd, len, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", val);
	if (write(fd, buf, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

/* A global counter from /sys/class/misc/kpf/, UINT64_MAX if unreadable. */
static inline uint64_t kpf_counter(const char *name)
{
	char path[128];
	uint64_t val = 0;

	snprintf(path, sizeof(path), KPF_SYSFS_DIR "%s", name);
	return kpf_read_u64(path, &val) ? UINT64_MAX : val;
}

/* A module parameter, UINT64_MAX if unreadable. */
static inline uint64_t kpf_param(const char *name)
{
	char path[128];
	uint64_t val = 0;

	snprintf(path, sizeof(path), KPF_PARAM_DIR "%s", name);
	return kpf_read_u64(path, &val) ? UINT64_MAX : val;
}

static inline int kpf_set_param(const char *name, uint64_t val)
{
	char path[128];

	snprintf(path, sizeof(path), KPF_PARAM_DIR "%s", name);
	return kpf_write_u64(path, val);
}

static inline int kpf_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v in place and returns its @pct-th percentile. */
static inline uint64_t kpf_percentile(uint64_t *v, size_t n, unsigned int pct)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), kpf_cmp_u64);
	i = (n * pct + 99) / 100;
	return v[i ? i - 1 : 0];
}

#endif /* KPF_TEST_UTIL_H */
