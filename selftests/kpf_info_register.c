// SPDX-License-Identifier: GPL-2.0
/*
 * KPF_IOC_INFO values, register/unregister/re-register, ownership by the
 * registering thread, the per-user context limit and a first upcall with
 * the entry conditions the ABI promises.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/capability.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

TEST(info_values)
{
	struct kpf_info info;
	uint64_t want_min;
	int fd;

	KPF_REQUIRE_DEVICE();
	fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	memset(&info, 0xa5, sizeof(info));	/* kernel must overwrite */
	info.size = sizeof(info);
	info.flags = 0;
	ASSERT_EQ(0, kpf_ioctl(fd, KPF_IOC_INFO, (uintptr_t)&info));
	EXPECT_EQ(KPF_INFO_SIZE_VER0, info.size);
	EXPECT_EQ(KPF_ABI_VERSION, info.abi_version);
	EXPECT_EQ(0, info.reserved0);
	EXPECT_EQ(KPF_AREA_SIZE_VER0, info.area_size);
	EXPECT_EQ(0, info.reserved[0]);
	EXPECT_EQ(0, info.reserved[1]);
	EXPECT_EQ(KPF_FEAT_ONESHOT | KPF_FEAT_PERIODIC |
		  KPF_FEAT_AREA_DEADLINE | KPF_FEAT_DEFER,
		  info.features & (KPF_FEAT_ONESHOT | KPF_FEAT_PERIODIC |
				   KPF_FEAT_AREA_DEADLINE | KPF_FEAT_DEFER));
	want_min = kpf_param(kpf_test_have_sys_nice() ? "min_period_cap_ns" :
			     "min_period_ns");
	EXPECT_NE(UINT64_MAX, want_min);
	EXPECT_EQ(want_min, info.min_period_ns);
	EXPECT_EQ(kpf_param("max_contexts_per_user"), info.max_contexts);
	kpf_log("features %#llx min_period_ns %llu max_contexts %llu\n",
		(unsigned long long)info.features,
		(unsigned long long)info.min_period_ns,
		(unsigned long long)info.max_contexts);
	close(fd);
}

/*
 * A newer, larger struct with zeroed tail is accepted (the command carries
 * the larger size too); size says 64.
 */
TEST(info_larger_struct)
{
	union {
		struct kpf_info info;
		unsigned char raw[128];
	} u;
	unsigned int i;
	int fd;

	KPF_REQUIRE_DEVICE();
	fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	memset(&u, 0, sizeof(u));
	u.info.size = sizeof(u.raw);
	ASSERT_EQ(0, kpf_ioctl(fd, KPF_IOC_SIZED(KPF_IOC_INFO, sizeof(u.raw)),
			       (uintptr_t)&u));
	EXPECT_EQ(KPF_INFO_SIZE_VER0, u.info.size);
	EXPECT_EQ(KPF_ABI_VERSION, u.info.abi_version);
	/* Bytes the kernel does not know stay untouched. */
	for (i = sizeof(u.info); i < sizeof(u.raw); i++)
		ASSERT_EQ(0, u.raw[i]);
	close(fd);
}

TEST(register_unregister_reregister)
{
	struct kpf_test_ctx c;
	uint64_t contexts0;

	KPF_REQUIRE_DEVICE();
	contexts0 = kpf_counter("contexts");
	ASSERT_NE(UINT64_MAX, contexts0);
	ASSERT_EQ(0, kpf_test_ctx_init(&c));
	ASSERT_EQ(0, kpf_test_register(&c));
	EXPECT_EQ(contexts0 + 1, kpf_counter("contexts"));
	EXPECT_EQ(KPF_ABI_VERSION, READ_ONCE(c.area->version));
	EXPECT_EQ(KPF_AREA_SIZE_VER0, READ_ONCE(c.area->size));
	EXPECT_EQ(KPF_UPCALL_IDLE, READ_ONCE(c.area->in_upcall));
	EXPECT_EQ(0, READ_ONCE(c.area->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(c.area->armed_ns));
	/* One context per file. */
	EXPECT_EQ(-EBUSY, kpf_test_register(&c));
	ASSERT_EQ(0, kpf_test_unregister(&c));
	EXPECT_EQ(-ENOENT, kpf_test_unregister(&c));
	EXPECT_EQ(-ENOENT, kpf_test_arm(&c, 0, NSEC_PER_MSEC, 0));
	EXPECT_EQ(-ENOENT, kpf_test_disarm(&c));
	/* The file can be registered again, and still works. */
	ASSERT_EQ(0, kpf_test_register(&c));
	ASSERT_EQ(0, kpf_test_arm(&c, 0, 100 * NSEC_PER_USEC, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC));
	EXPECT_EQ(1, kpf_test_upcall_count);
	ASSERT_EQ(0, kpf_test_unregister(&c));
	kpf_test_ctx_destroy(&c);
	EXPECT_EQ(contexts0, kpf_counter("contexts"));
}

/* The entry conditions of struct kpf_register's comment. */
TEST(first_upcall_entry_state)
{
	struct kpf_test_ctx c;
	uint64_t top;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_arm(&c, 0, NSEC_PER_MSEC, 0));
	ASSERT_EQ(0, kpf_test_wait_delivered(&c, 1, 5 * NSEC_PER_SEC));
	top = ((uintptr_t)c.stack + c.stack_size) & ~15ULL;
	EXPECT_EQ(1, kpf_test_upcall_count);
	EXPECT_EQ(1, READ_ONCE(c.area->delivered));
	EXPECT_EQ(1, READ_ONCE(c.area->fires));
	EXPECT_EQ(top - 8, kpf_test_entry_rsp);
	EXPECT_EQ((uintptr_t)c.area, kpf_test_entry_rdi);
	EXPECT_EQ(0, kpf_test_entry_rflags & (X86_EFLAGS_DF | X86_EFLAGS_TF));
	EXPECT_EQ(0, kpf_test_reg_mismatch);
	EXPECT_EQ(KPF_UPCALL_IDLE, READ_ONCE(c.area->in_upcall));
	EXPECT_EQ(0, READ_ONCE(c.area->deadline_ns));
	EXPECT_EQ(0, READ_ONCE(c.area->armed_ns));
	/* The frame is this thread's: user rip and a stack below ours. */
	EXPECT_GT(KPF_KERNEL_ADDR, kpf_test_last_frame.rip);
	EXPECT_NE(0, kpf_test_last_frame.rip);
	EXPECT_GT((uintptr_t)&c + 4096, kpf_test_last_frame.rsp);
	EXPECT_LT((uintptr_t)&c - 65536, kpf_test_last_frame.rsp);
	kpf_test_ctx_destroy(&c);
}

struct foreign_result {
	struct kpf_test_ctx *c;
	int info, arm, arm_at, disarm, unreg, reg;
};

static void *foreign_thread(void *arg)
{
	struct foreign_result *r = arg;
	struct kpf_info info;

	r->info = kpf_test_info(r->c->fd, &info);
	r->arm = kpf_test_arm(r->c, 0, NSEC_PER_MSEC, 0);
	r->arm_at = kpf_ioctl(r->c->fd, KPF_IOC_ARM_AT,
			      kpf_now_ns() + NSEC_PER_MSEC);
	r->disarm = kpf_test_disarm(r->c);
	r->unreg = kpf_test_unregister(r->c);
	r->reg = kpf_test_register(r->c);
	return NULL;
}

/* Only the registering thread may use a registered context. */
TEST(other_thread_eperm)
{
	struct foreign_result r = { 0 };
	struct kpf_test_ctx c;
	pthread_t t;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	r.c = &c;
	ASSERT_EQ(0, pthread_create(&t, NULL, foreign_thread, &r));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, r.info);
	EXPECT_EQ(-EPERM, r.arm);
	EXPECT_EQ(-EPERM, r.arm_at);
	EXPECT_EQ(-EPERM, r.disarm);
	EXPECT_EQ(-EPERM, r.unreg);
	EXPECT_EQ(-EPERM, r.reg);
	/* Still ours and intact. */
	EXPECT_EQ(0, kpf_test_arm(&c, 0, NSEC_PER_MSEC, 0));
	EXPECT_EQ(0, kpf_test_disarm(&c));
	EXPECT_EQ(0, kpf_test_unregister(&c));
	kpf_test_ctx_destroy(&c);
}

struct takeover {
	struct kpf_test_ctx *c;
	int reg, arm, wait, unreg;
	uint64_t upcalls;
};

static void *takeover_thread(void *arg)
{
	struct takeover *t = arg;

	t->reg = kpf_test_register(t->c);
	t->arm = kpf_test_arm(t->c, 0, 200 * NSEC_PER_USEC, 0);
	t->wait = kpf_test_wait_delivered(t->c, 1, 5 * NSEC_PER_SEC);
	t->upcalls = kpf_test_upcall_count;
	t->unreg = kpf_test_unregister(t->c);
	return NULL;
}

/* After UNREGISTER any thread may register the same file. */
TEST(reregister_other_thread)
{
	struct takeover tk = { 0 };
	struct kpf_test_ctx c;
	pthread_t t;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	ASSERT_EQ(0, kpf_test_unregister(&c));
	tk.c = &c;
	ASSERT_EQ(0, pthread_create(&t, NULL, takeover_thread, &tk));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, tk.reg);
	EXPECT_EQ(0, tk.arm);
	EXPECT_EQ(0, tk.wait);
	EXPECT_EQ(1, tk.upcalls);
	EXPECT_EQ(0, tk.unreg);
	/* Delivered to the thread that registered, not to us. */
	EXPECT_EQ(0, kpf_test_upcall_count);
	EXPECT_EQ(0, kpf_test_register(&c));
	EXPECT_EQ(0, kpf_test_unregister(&c));
	kpf_test_ctx_destroy(&c);
}

struct limit_holder {
	struct kpf_test_ctx c;
	pthread_barrier_t *registered, *release;
	int reg;
};

static void *limit_thread(void *arg)
{
	struct limit_holder *h = arg;

	h->reg = kpf_test_ctx_setup(&h->c);
	pthread_barrier_wait(h->registered);
	pthread_barrier_wait(h->release);
	kpf_test_ctx_destroy(&h->c);
	return NULL;
}

static int set_cap(cap_value_t cap, cap_flag_value_t v)
{
	cap_t caps = cap_get_proc();
	int ret;

	if (!caps)
		return -1;
	ret = cap_set_flag(caps, CAP_EFFECTIVE, 1, &cap, v);
	if (!ret)
		ret = cap_set_proc(caps);
	cap_free(caps);
	return ret;
}

/*
 * Two threads hold registered contexts while the caller tries a third
 * with max_contexts_per_user = 2. Returns the third REGISTER's result,
 * or a positive code if the setup failed.
 */
static int third_context(void)
{
	pthread_barrier_t registered, release;
	struct limit_holder h[2];
	struct kpf_test_ctx c;
	struct kpf_info info;
	pthread_t t[2];
	int i, ret;

	pthread_barrier_init(&registered, NULL, 3);
	pthread_barrier_init(&release, NULL, 3);
	for (i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].registered = &registered;
		h[i].release = &release;
		if (pthread_create(&t[i], NULL, limit_thread, &h[i]))
			return 100;
	}
	pthread_barrier_wait(&registered);
	if (kpf_test_ctx_init(&c) || kpf_test_info(c.fd, &info))
		ret = 101;
	else if (info.max_contexts != 2)
		ret = 102;
	else
		ret = kpf_test_register(&c);
	pthread_barrier_wait(&release);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (h[0].reg || h[1].reg)
		ret = 103;
	/* The holders closed theirs: registering works again. */
	if (ret == -EAGAIN && kpf_test_register(&c))
		ret = 104;
	kpf_test_ctx_destroy(&c);
	return ret;
}

/*
 * max_contexts_per_user caps registered contexts: EAGAIN beyond it, unless
 * the caller has CAP_SYS_RESOURCE (the module's rule for root). The user
 * check runs in a child that drops CAP_SYS_RESOURCE before any thread.
 */
TEST(per_user_limit)
{
	int status, with_cap;
	uint64_t old;
	pid_t pid;

	KPF_REQUIRE_DEVICE();
	old = kpf_param("max_contexts_per_user");
	ASSERT_NE(UINT64_MAX, old);
	ASSERT_EQ(0, kpf_set_param("max_contexts_per_user", 2));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (set_cap(CAP_SYS_RESOURCE, CAP_CLEAR))
			_exit(99);
		_exit(-third_context());
	}
	waitpid(pid, &status, 0);
	with_cap = third_context();
	EXPECT_EQ(0, kpf_set_param("max_contexts_per_user", old));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(EAGAIN, WEXITSTATUS(status));
	/* CAP_SYS_RESOURCE lifts the limit. */
	EXPECT_EQ(0, with_cap);
}

static const char * const counters[] = {
	"fires", "delivered", "deferred", "overruns", "rearms", "dropped",
};

static uint64_t area_counter(const struct kpf_area *a, unsigned int i)
{
	const __u64 *f[] = { &a->fires, &a->delivered, &a->deferred,
			     &a->overruns, &a->rearms, &a->dropped };

	return READ_ONCE(*f[i]);
}

/*
 * The global counters in /sys/class/misc/kpf/ move exactly as the area's
 * (no other context is active while a selftest runs).
 */
TEST(global_counters_match_area)
{
	uint64_t g0[6], g1[6], end, d;
	struct kpf_test_ctx c;
	struct kpf_area *a;
	unsigned int i;

	KPF_REQUIRE_DEVICE();
	ASSERT_EQ(0, kpf_test_ctx_setup(&c));
	a = c.area;
	for (i = 0; i < 6; i++) {
		g0[i] = kpf_counter(counters[i]);
		ASSERT_NE(UINT64_MAX, g0[i]) TH_LOG("%s", counters[i]);
	}
	/*
	 * A postponed one-shot: a rearm, a fire, a delivery. Again if a
	 * vCPU stall let the expiry pass before the store (seen in the
	 * debug guest with other guests running): no rearm then.
	 */
	for (i = 0; i < 5 && !READ_ONCE(a->rearms); i++) {
		ASSERT_EQ(0, kpf_test_arm(&c, 0, 200 * NSEC_PER_MSEC, 0));
		d = READ_ONCE(a->deadline_ns);
		__atomic_exchange_n(&a->deadline_ns, d + 50 * NSEC_PER_MSEC,
				    __ATOMIC_SEQ_CST);
		ASSERT_EQ(0, kpf_test_wait_delivered(&c, i + 1,
						     5 * NSEC_PER_SEC));
	}
	/* Periodic with defer toggled: deferrals and overruns too. */
	ASSERT_EQ(0, kpf_test_arm(&c, KPF_ARM_PERIODIC, 0,
				  100 * NSEC_PER_USEC));
	end = kpf_now_ns() + 40 * NSEC_PER_MSEC;
	while (kpf_now_ns() < end)
		WRITE_ONCE(a->defer, (kpf_now_ns() / (2 * NSEC_PER_MSEC)) & 1);
	WRITE_ONCE(a->defer, 1);
	kpf_spin_ns(5 * NSEC_PER_MSEC);
	ASSERT_EQ(0, kpf_test_disarm(&c));
	for (i = 0; i < 6; i++)
		g1[i] = kpf_counter(counters[i]);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(area_counter(a, i), g1[i] - g0[i])
			TH_LOG("%s", counters[i]);
	EXPECT_LE(1, READ_ONCE(a->rearms));
	EXPECT_LE(1, READ_ONCE(a->deferred));
	kpf_test_ctx_destroy(&c);
}

TEST(unknown_ioctl_enotty)
{
	int fd;

	KPF_REQUIRE_DEVICE();
	fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOTTY, kpf_ioctl(fd, _IO(KPF_IOC_MAGIC, 99), 0));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(fd, _IOW(KPF_IOC_MAGIC, 5, int), 0));
	EXPECT_EQ(-ENOTTY, kpf_ioctl(fd, _IO('T', 1), 0));
	close(fd);
}

TEST_HARNESS_MAIN
