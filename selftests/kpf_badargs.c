// SPDX-License-Identifier: GPL-2.0
/*
 * Every ioctl rejects bad input with the errno the ABI documents: bad
 * pointers EFAULT, sizes below version 0 EINVAL, unknown non-zero tails
 * E2BIG (zero tails are accepted), unknown flags and non-zero reserved
 * fields EINVAL. A rejected call must leave the context unchanged.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define PAGE	KPF_TEST_PAGE_SIZE

/* Big enough for any "newer" struct we pretend to pass. */
union big_arg {
	struct kpf_info info;
	struct kpf_register reg;
	struct kpf_arm arm;
	unsigned char raw[128];
};

FIXTURE(bad)
{
	struct kpf_test_ctx c;
	char *unmapped;		/* a page without access (PROT_NONE) */
	char *ro;		/* a read-only page */
	char *edge;		/* two pages: the second one PROT_NONE */
	uint64_t min_period;
};

FIXTURE_SETUP(bad)
{
	struct kpf_info info;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&self->c));
	/*
	 * PROT_NONE rather than munmap(): an unmapped hole would be reused
	 * by the next mmap() and stop being a bad address.
	 */
	self->unmapped = kpf_map(PAGE, PROT_NONE);
	ASSERT_NE(NULL, self->unmapped);
	self->ro = kpf_map(PAGE, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->ro);
	/* A well-formed area, so only the protection is wrong. */
	((struct kpf_area *)self->ro)->size = KPF_AREA_SIZE_VER0;
	ASSERT_EQ(0, mprotect(self->ro, PAGE, PROT_READ));
	self->edge = kpf_map(2 * PAGE, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->edge);
	ASSERT_EQ(0, mprotect(self->edge + PAGE, PAGE, PROT_NONE));
	ASSERT_EQ(0, kpf_test_info(self->c.fd, &info));
	self->min_period = info.min_period_ns;
}

FIXTURE_TEARDOWN(bad)
{
	if (self->c.stack)
		kpf_test_ctx_destroy(&self->c);
	if (self->unmapped)
		munmap(self->unmapped, PAGE);
	if (self->ro)
		munmap(self->ro, PAGE);
	if (self->edge)
		munmap(self->edge, 2 * PAGE);
}

static int do_info(int fd, const void *arg)
{
	return kpf_ioctl(fd, KPF_IOC_INFO, (uintptr_t)arg);
}

/* As a caller built with a @size-byte structure issues the command. */
static int do_sized(int fd, unsigned long cmd, const void *arg, uint32_t size)
{
	return kpf_ioctl(fd, KPF_IOC_SIZED(cmd, size), (uintptr_t)arg);
}

TEST_F(bad, info)
{
	union big_arg u;
	struct kpf_info *tail;
	int fd = self->c.fd;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	EXPECT_EQ(-EFAULT, do_info(fd, NULL));
	EXPECT_EQ(-EFAULT, do_info(fd, self->unmapped));
	EXPECT_EQ(-EFAULT, do_info(fd, (void *)KPF_KERNEL_ADDR));

	memset(&u, 0, sizeof(u));
	u.info.size = 0;
	EXPECT_EQ(-EINVAL, do_info(fd, &u));
	u.info.size = KPF_INFO_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, do_info(fd, &u));
	u.info.size = sizeof(u.raw);
	u.raw[100] = 1;
	EXPECT_EQ(-E2BIG, do_sized(fd, KPF_IOC_INFO, &u, sizeof(u.raw)));
	u.raw[100] = 0;
	/* The size field must say what the command says. */
	EXPECT_EQ(-EINVAL, do_info(fd, &u));
	EXPECT_EQ(0, do_sized(fd, KPF_IOC_INFO, &u, sizeof(u.raw)));
	EXPECT_EQ(KPF_INFO_SIZE_VER0, u.info.size);

	memset(&u, 0, sizeof(u));
	u.info.size = sizeof(u.info);
	u.info.flags = 1;
	EXPECT_EQ(-EINVAL, do_info(fd, &u));
	u.info.flags = 0x80000000;
	EXPECT_EQ(-EINVAL, do_info(fd, &u));

	/* Valid head, but the size claims bytes in an unmapped page. */
	tail = (struct kpf_info *)(self->edge + PAGE - sizeof(*tail));
	memset(tail, 0, sizeof(*tail));
	tail->size = 128;
	EXPECT_EQ(-EFAULT, do_sized(fd, KPF_IOC_INFO, tail, 128));
}

static int do_reg(struct kpf_test_ctx *c, const void *arg)
{
	return kpf_ioctl(c->fd, KPF_IOC_REGISTER, (uintptr_t)arg);
}

/* Each mutation of a valid struct kpf_register and the errno it gets. */
TEST_F(bad, register_struct)
{
	struct kpf_test_ctx *c = &self->c;
	union big_arg u;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	EXPECT_EQ(-EFAULT, do_reg(c, NULL));
	EXPECT_EQ(-EFAULT, do_reg(c, self->unmapped));
	EXPECT_EQ(-EFAULT, do_reg(c, (void *)KPF_KERNEL_ADDR));

	memset(&u, 0, sizeof(u));
	kpf_test_reg_fill(c, &u.reg);
	u.reg.size = 0;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.size = KPF_REGISTER_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.size = 64;
	u.raw[60] = 1;
	EXPECT_EQ(-E2BIG, do_sized(c->fd, KPF_IOC_REGISTER, &u, 64));
	u.raw[60] = 0;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.size = sizeof(u.reg);
	u.reg.flags = 1;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.flags = 0;
	u.reg.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.reserved[0] = 0;
	u.reg.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, do_reg(c, &u));
	u.reg.reserved[1] = 0;
	/* Nothing above registered anything. */
	EXPECT_EQ(-ENOENT, kpf_test_unregister(c));
	/* A larger struct with a zero tail is fine. */
	EXPECT_EQ(0, do_reg(c, &u));
	EXPECT_EQ(0, kpf_test_unregister(c));
}

/* Register with one field of a valid request replaced. */
static int reg_with(struct kpf_test_ctx *c, uint64_t area, uint64_t entry,
		    uint64_t stack, uint64_t stack_size)
{
	struct kpf_register reg;

	kpf_test_reg_fill(c, &reg);
	if (area != ~0ULL)
		reg.area = area;
	if (entry != ~0ULL)
		reg.entry = entry;
	if (stack != ~0ULL)
		reg.stack = stack;
	if (stack_size != ~0ULL)
		reg.stack_size = stack_size;
	return kpf_ioctl(c->fd, KPF_IOC_REGISTER, (uintptr_t)&reg);
}

#define KEEP	(~0ULL)

TEST_F(bad, register_area)
{
	struct kpf_test_ctx *c = &self->c;
	struct kpf_area *a = c->area;
	char *page = (char *)c->area;
	struct kpf_area *end;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	EXPECT_EQ(-EFAULT, reg_with(c, 0, KEEP, KEEP, KEEP));
	EXPECT_EQ(-EINVAL, reg_with(c, (uintptr_t)page + 8, KEEP, KEEP, KEEP));
	EXPECT_EQ(-EINVAL, reg_with(c, (uintptr_t)page + 32, KEEP, KEEP, KEEP));
	EXPECT_EQ(-EFAULT, reg_with(c, KPF_KERNEL_ADDR, KEEP, KEEP, KEEP));
	EXPECT_EQ(-EFAULT, reg_with(c, (uintptr_t)self->unmapped, KEEP, KEEP,
				    KEEP));
	/* The kernel writes the area: a read-only one is refused. */
	EXPECT_EQ(-EFAULT, reg_with(c, (uintptr_t)self->ro, KEEP, KEEP, KEEP));

	a->size = 0;
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, KEEP));
	a->size = KPF_AREA_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, KEEP));
	a->size = KPF_AREA_SIZE_VER0;
	a->flags = 1;
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, KEEP));
	a->flags = 0;
	a->reserved0 = 1;
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, KEEP));
	a->reserved0 = 0;
	a->reserved1 = 1;
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, KEEP));
	a->reserved1 = 0;

	/* 64-byte aligned but running over the end of the page. */
	end = (struct kpf_area *)(page + PAGE - 256);
	memset(end, 0, 256);
	end->size = KPF_AREA_SIZE_VER0;
	EXPECT_EQ(-EINVAL, reg_with(c, (uintptr_t)end, KEEP, KEEP, KEEP));
	/* A bigger (future) size that no longer fits the page. */
	end = (struct kpf_area *)(page + PAGE - KPF_AREA_SIZE_VER0);
	memset(end, 0, KPF_AREA_SIZE_VER0);
	end->size = KPF_AREA_SIZE_VER0 + 64;
	EXPECT_EQ(-EINVAL, reg_with(c, (uintptr_t)end, KEEP, KEEP, KEEP));
	/* The same place with the exact size ends on the page: fine. */
	end->size = KPF_AREA_SIZE_VER0;
	EXPECT_EQ(-ENOENT, kpf_test_unregister(c));
	EXPECT_EQ(0, reg_with(c, (uintptr_t)end, KEEP, KEEP, KEEP));
	EXPECT_EQ(KPF_ABI_VERSION, READ_ONCE(end->version));
	EXPECT_EQ(0, kpf_test_unregister(c));
}

TEST_F(bad, register_entry_and_stack)
{
	struct kpf_test_ctx *c = &self->c;
	uintptr_t stack = (uintptr_t)c->stack;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, 0, KEEP, KEEP));
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KPF_KERNEL_ADDR, KEEP, KEEP));

	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, 0, KEEP));
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, KPF_KERNEL_ADDR, KEEP));
	/* (Sizes of the minimum: anything smaller is EINVAL first.) */
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, (uintptr_t)self->unmapped,
				    KPF_MIN_UPCALL_STACK));
	/* First page mapped, the second not. */
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, (uintptr_t)self->edge,
				    KPF_MIN_UPCALL_STACK));
	/* Runs past the end of our stack mapping into whatever follows. */
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, (uintptr_t)self->edge + 64,
				    KPF_MIN_UPCALL_STACK));
	/* The upcall pushes onto it: read-only is refused. */
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, (uintptr_t)self->ro,
				    KPF_MIN_UPCALL_STACK));
	/* Wraps around the address space. */
	EXPECT_EQ(-EFAULT, reg_with(c, KEEP, KEEP, stack, ~0ULL - 4096));

	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP,
				    KPF_MIN_UPCALL_STACK - 1));
	EXPECT_EQ(-EINVAL, reg_with(c, KEEP, KEEP, KEEP, 0));
	EXPECT_EQ(-ENOENT, kpf_test_unregister(c));
	/* The smallest stack, at the very end of the mapping, is fine. */
	EXPECT_EQ(0, reg_with(c, KEEP, KEEP,
			      stack + c->stack_size - KPF_MIN_UPCALL_STACK,
			      KPF_MIN_UPCALL_STACK));
	EXPECT_EQ(0, kpf_test_unregister(c));
}

static int do_arm(struct kpf_test_ctx *c, const void *arg)
{
	return kpf_ioctl(c->fd, KPF_IOC_ARM, (uintptr_t)arg);
}

static int arm_raw(struct kpf_test_ctx *c, uint32_t flags, uint64_t value,
		   uint64_t period, uint64_t res0, uint64_t res1)
{
	struct kpf_arm arm = {
		.size = sizeof(arm),
		.flags = flags,
		.value_ns = value,
		.period_ns = period,
		.reserved = { res0, res1 },
	};

	return do_arm(c, &arm);
}

#define FAR	NSEC_PER_SEC	/* never expires during the test */

TEST_F(bad, arm)
{
	struct kpf_test_ctx *c = &self->c;
	uint64_t minp = self->min_period;
	union big_arg u;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	/* Not registered yet. */
	EXPECT_EQ(-ENOENT, arm_raw(c, 0, FAR, 0, 0, 0));
	ASSERT_EQ(0, kpf_test_register(c));

	EXPECT_EQ(-EFAULT, do_arm(c, NULL));
	EXPECT_EQ(-EFAULT, do_arm(c, self->unmapped));
	EXPECT_EQ(-EFAULT, do_arm(c, (void *)KPF_KERNEL_ADDR));

	memset(&u, 0, sizeof(u));
	u.arm.value_ns = FAR;
	u.arm.size = 0;
	EXPECT_EQ(-EINVAL, do_arm(c, &u));
	u.arm.size = KPF_ARM_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, do_arm(c, &u));
	u.arm.size = KPF_ARM_SIZE_VER1 + 8;
	u.raw[KPF_ARM_SIZE_VER1 + 4] = 1;
	EXPECT_EQ(-E2BIG, do_sized(c->fd, KPF_IOC_ARM, &u,
				   KPF_ARM_SIZE_VER1 + 8));
	u.raw[KPF_ARM_SIZE_VER1 + 4] = 0;
	EXPECT_EQ(-EINVAL, do_arm(c, &u));
	u.arm.size = sizeof(u.arm);

	/* KPF_ARM_LINGER without linger_max (kpf_linger tests the rest) */
	EXPECT_EQ(-EINVAL, arm_raw(c, 1U << 2, FAR, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, 1U << 3, FAR, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, 1U << 31, FAR, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, 0, FAR, 0, 1, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, 0, FAR, 0, 0, 1));
	/* A period needs KPF_ARM_PERIODIC. */
	EXPECT_EQ(-EINVAL, arm_raw(c, 0, FAR, FAR, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_ABSOLUTE, kpf_now_ns() + FAR,
				   FAR, 0, 0));
	/* Periods below the caller's minimum, including 0. */
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_PERIODIC, 0, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_PERIODIC, 0, minp - 1, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_PERIODIC, FAR, 1, 0, 0));
	/* Times beyond ktime_t. */
	EXPECT_EQ(-EINVAL, arm_raw(c, 0, 1ULL << 63, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, 0, ~0ULL, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_ABSOLUTE, 1ULL << 63, 0, 0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_PERIODIC, 1ULL << 63, FAR,
				   0, 0));
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_PERIODIC, 0, 1ULL << 63, 0, 0));
	/* An absolute one-shot at time 0 is a bug, not "now". */
	EXPECT_EQ(-EINVAL, arm_raw(c, KPF_ARM_ABSOLUTE, 0, 0, 0, 0));

	/* None of that armed anything. */
	EXPECT_EQ(0, READ_ONCE(c->area->armed_ns));
	EXPECT_EQ(0, READ_ONCE(c->area->deadline_ns));

	/* Larger struct, zero tail: accepted. */
	EXPECT_EQ(0, do_arm(c, &u));
	EXPECT_NE(0, READ_ONCE(c->area->armed_ns));
	EXPECT_EQ(0, kpf_test_disarm(c));
	EXPECT_EQ(0, READ_ONCE(c->area->armed_ns));
	EXPECT_EQ(0, READ_ONCE(c->area->deadline_ns));
	/* The smallest period is accepted. */
	EXPECT_EQ(0, arm_raw(c, KPF_ARM_PERIODIC, FAR, minp, 0, 0));
	EXPECT_EQ(0, kpf_test_disarm(c));
	EXPECT_EQ(0, READ_ONCE(c->area->delivered));
	EXPECT_EQ(0, READ_ONCE(c->area->fires));
}

/* _IO ioctls take no argument: anything but 0 is EINVAL. */
TEST_F(bad, io_arg_nonzero)
{
	struct kpf_test_ctx *c = &self->c;

	/* Setup cannot skip the body: skip here too. */
	KPF_REQUIRE_DEVICE();

	EXPECT_EQ(-ENOENT, kpf_ioctl(c->fd, KPF_IOC_UNREGISTER, 0));
	EXPECT_EQ(-ENOENT, kpf_ioctl(c->fd, KPF_IOC_DISARM, 0));
	ASSERT_EQ(0, kpf_test_register(c));
	ASSERT_EQ(0, kpf_test_arm(c, 0, FAR, 0));
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd, KPF_IOC_DISARM, 1));
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd, KPF_IOC_DISARM,
				     (uintptr_t)c->area));
	/* Still armed. */
	EXPECT_NE(0, READ_ONCE(c->area->armed_ns));
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd, KPF_IOC_UNREGISTER, 1));
	EXPECT_EQ(-EINVAL, kpf_ioctl(c->fd, KPF_IOC_UNREGISTER, ~0UL));
	/* Still registered. */
	EXPECT_EQ(0, kpf_ioctl(c->fd, KPF_IOC_DISARM, 0));
	EXPECT_EQ(0, kpf_ioctl(c->fd, KPF_IOC_UNREGISTER, 0));
}

#define COMPAT_NR_GETPID	20	/* i386 syscall numbers */
#define COMPAT_NR_IOCTL		54

/* A 32-bit (compat) system call from this 64-bit process. */
static long int80(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static sigjmp_buf no_int80;

static void int80_segv(int sig)
{
	siglongjmp(no_int80, sig);
}

/*
 * The ABI is 64-bit only: compat callers get ENOTTY for every command.
 * There is no 32-bit libc here, but "int $0x80" from a 64-bit process is
 * a compat system call (with IA32_EMULATION), arguments below 4 GiB.
 */
/*
 * The ABI can grow (issue 8, item 7): the kernel dispatches on the command
 * number and takes the size from the command, so a caller built with a
 * bigger structure (zero tail) or with the first version both work, and
 * a wrong type, direction or number is ENOTTY.
 */
TEST_F(bad, abi_sizes)
{
	struct kpf_test_ctx *c = &self->c;
	union big_arg u;

	KPF_REQUIRE_DEVICE();
	/* New-size and old-size REGISTER. */
	memset(&u, 0, sizeof(u));
	kpf_test_reg_fill(c, &u.reg);
	u.reg.size = 64;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_REGISTER, &u, 64));
	EXPECT_EQ(0, kpf_test_unregister(c));
	u.reg.size = KPF_REGISTER_SIZE_VER0;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_REGISTER, &u,
			      KPF_REGISTER_SIZE_VER0));

	/* New-size and old-size ARM. */
	memset(&u, 0, sizeof(u));
	u.arm.value_ns = FAR;
	u.arm.size = 64;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_ARM, &u, 64));
	u.arm.size = 48;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_ARM, &u, 48));
	u.arm.size = KPF_ARM_SIZE_VER0;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_ARM, &u, KPF_ARM_SIZE_VER0));
	u.arm.size = KPF_ARM_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, do_sized(c->fd, KPF_IOC_ARM, &u,
				    KPF_ARM_SIZE_VER0 - 8));
	EXPECT_EQ(0, kpf_test_disarm(c));

	/* New-size INFO: the kernel says how much it filled in. */
	memset(&u, 0xa5, sizeof(u));
	memset(&u.info, 0, 80);
	u.info.size = 80;
	EXPECT_EQ(0, do_sized(c->fd, KPF_IOC_INFO, &u, 80));
	EXPECT_EQ(KPF_INFO_SIZE_VER0, u.info.size);
	EXPECT_EQ(KPF_ABI_VERSION, u.info.abi_version);
	EXPECT_EQ(0, u.raw[KPF_INFO_SIZE_VER0]);
	EXPECT_EQ(0xa5, u.raw[80]);

	/* Wrong type, direction, number, or a size on a no-argument one. */
	memset(&u, 0, sizeof(u));
	u.arm.size = sizeof(u.arm);
	u.arm.value_ns = FAR;
	EXPECT_EQ(-ENOTTY, kpf_ioctl(c->fd, _IOW(0xB9, 3, struct kpf_arm),
				     (uintptr_t)&u));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(c->fd, _IOR(KPF_IOC_MAGIC, 3,
						  struct kpf_arm),
				     (uintptr_t)&u));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(c->fd, _IOW(KPF_IOC_MAGIC, 5,
						  struct kpf_arm),
				     (uintptr_t)&u));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(c->fd, _IOW(KPF_IOC_MAGIC, 4, __u64), 0));
	EXPECT_EQ(0, kpf_test_disarm(c));
}

TEST(compat_enotty)
{
	struct sigaction sa = { .sa_handler = int80_segv }, old;
	struct kpf_register *reg;
	struct kpf_test_ctx c;
	struct kpf_info *info;
	long ret;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	info = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	ASSERT_NE(MAP_FAILED, info);
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(no_int80, 1)) {
		sigaction(SIGSEGV, &old, NULL);
		SKIP(goto out, "kernel without IA32_EMULATION");
	}
	ret = int80(COMPAT_NR_GETPID, 0, 0, 0);
	sigaction(SIGSEGV, &old, NULL);
	if (ret != getpid())
		SKIP(goto out, "int $0x80 is not a compat getpid here");

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	EXPECT_EQ(-ENOTTY, int80(COMPAT_NR_IOCTL, c.fd, KPF_IOC_INFO,
				 (long)info));
	EXPECT_EQ(0, info->abi_version);
	reg = (struct kpf_register *)((char *)info + 128);
	kpf_test_reg_fill(&c, reg);
	EXPECT_EQ(-ENOTTY, int80(COMPAT_NR_IOCTL, c.fd, KPF_IOC_REGISTER,
				 (long)reg));
	EXPECT_EQ(-ENOENT, kpf_test_unregister(&c));
	EXPECT_EQ(-ENOTTY, int80(COMPAT_NR_IOCTL, c.fd, KPF_IOC_UNREGISTER, 0));
	EXPECT_EQ(-ENOTTY, int80(COMPAT_NR_IOCTL, c.fd, KPF_IOC_DISARM, 0));
	/* The same request the 64-bit way works. */
	EXPECT_EQ(0, kpf_ioctl(c.fd, KPF_IOC_INFO, (uintptr_t)info));
	EXPECT_EQ(KPF_ABI_VERSION, info->abi_version);
out:
	munmap(info, PAGE);
	kpf_test_ctx_destroy(&c);
}

TEST_HARNESS_MAIN
