// SPDX-License-Identifier: GPL-2.0
/*
 * A randomized stress program for /dev/kpf (issue 8, item 9).
 *
 * Several threads run random sequences of REGISTER, ARM, DISARM,
 * UNREGISTER and INFO with valid and invalid arguments, stores to the
 * areas (deadline, defer, pending), opening, closing and dup'ing
 * contexts, sending them over SCM_RIGHTS, creating short-lived threads
 * that exit with a timer armed, fork (the child plays with the inherited
 * files), exec, signals, ptrace attach, munmap of registered areas and
 * rmmod attempts. It checks only what must hold whatever the sequence:
 * every call returns 0 or a documented errno, rmmod fails while files are
 * open, and the process survives. The kernel side is judged by the guest:
 * KASAN, lockdep, kmemleak, UBSAN and a clean rmmod afterwards.
 *
 * KPF_FUZZ_SECONDS sets the duration (default: 60 on a kernel with
 * kmemleak, the debug guest; 10 elsewhere); KPF_FUZZ_SEED replays a run.
 * The seed is printed first.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

#include "kselftest_harness.h"
#include "kpf_test_util.h"

#define WORKERS		4
#define SLOTS		8
#define FUZZ_TIMEOUT	(30 * 60 + 120)

/* One context slot: a file and the memory it may register. */
struct slot {
	pthread_mutex_t lock;
	int fd;
	pid_t owner;		/* last thread that registered it */
	struct kpf_area *area;	/* NULL after munmap */
	void *stack;
};

struct fuzz {
	struct slot slots[SLOTS];
	uint64_t end_ns;
	uint64_t seed;
	char *self_exe;
	pthread_t workers[WORKERS];
	unsigned long ops[WORKERS];
	int bad_errno[WORKERS];
	unsigned long bad_count[WORKERS];
	int rmmod_succeeded;
	int go;		/* all worker ids are known: signals may start */
};

static struct fuzz fz;

static uint64_t rnd_next(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rnd_next(s) % n : 0;
}

/* errnos the ABI documents for some input; anything else is a finding. */
static int errno_ok(int ret)
{
	switch (-ret) {
	case 0: case EINVAL: case EFAULT: case EPERM: case EBUSY:
	case ENOENT: case E2BIG: case EAGAIN: case ENOMEM: case ENOTTY:
	case EBADF:
		return 1;
	}
	return 0;
}

static void note(int w, int ret)
{
	if (errno_ok(ret))
		return;
	fz.bad_errno[w] = ret;
	fz.bad_count[w]++;
}

static void on_signal(int sig)
{
	(void)sig;
}

/* A crash of the fuzzer itself: say where, for the log. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	ucontext_t *u = uc;
	char msg[160];
	int n;

	n = snprintf(msg, sizeof(msg),
		     "# signal %d at rip %#llx, address %p, tid %d\n", sig,
		     (unsigned long long)u->uc_mcontext.gregs[REG_RIP],
		     si->si_addr, gettid());
	if (write(STDOUT_FILENO, msg, n) != n)
		_exit(3);
	_exit(2);
}

static void slot_memory(struct slot *s)
{
	if (!s->area) {
		s->area = kpf_map(KPF_TEST_PAGE_SIZE, PROT_READ | PROT_WRITE);
		if (s->area)
			s->area->size = sizeof(*s->area);
	}
	if (!s->stack)
		s->stack = kpf_map(KPF_TEST_STACK_SIZE, PROT_READ | PROT_WRITE);
}

static int do_register(uint64_t *r, struct slot *s)
{
	struct kpf_register reg;
	uint32_t size = sizeof(reg);

	if (!s->area || !s->stack)
		return -ENOMEM;
	memset(&reg, 0, sizeof(reg));
	reg.size = sizeof(reg);
	reg.area = (uintptr_t)s->area;
	reg.entry = (uintptr_t)kpf_test_upcall_entry;
	reg.stack = (uintptr_t)s->stack;
	reg.stack_size = KPF_TEST_STACK_SIZE;
	/* One in four is broken one way or another. */
	switch (rnd(r, 16)) {
	case 0: reg.area += 8; break;
	case 1: reg.area = KPF_KERNEL_ADDR; break;
	case 2: reg.entry = 0; break;
	case 3: reg.stack_size = rnd(r, KPF_MIN_UPCALL_STACK); break;
	case 4: reg.flags = 1U << rnd(r, 32); break;
	case 5: reg.size = size = (uint32_t)rnd(r, 80); break;
	case 6: reg.stack = KPF_KERNEL_ADDR; break;
	}
	return kpf_ioctl(s->fd, KPF_IOC_SIZED(KPF_IOC_REGISTER, size),
			 (uintptr_t)&reg);
}

static int do_arm(uint64_t *r, struct slot *s)
{
	struct kpf_arm arm = { .size = sizeof(arm) };

	switch (rnd(r, 7)) {
	case 0:		/* periodic at or near the limit */
		arm.flags = KPF_ARM_PERIODIC;
		arm.period_ns = 2 * NSEC_PER_USEC + rnd(r, 200 * NSEC_PER_USEC);
		break;
	case 1:		/* one-shot, soon */
		arm.value_ns = rnd(r, 100 * NSEC_PER_USEC);
		break;
	case 2:		/* absolute, maybe in the past */
		arm.flags = KPF_ARM_ABSOLUTE;
		arm.value_ns = kpf_now_ns() - NSEC_PER_MSEC +
			       rnd(r, 2 * NSEC_PER_MSEC);
		break;
	case 3:		/* garbage */
		arm.flags = (uint32_t)rnd_next(r);
		arm.value_ns = rnd_next(r);
		arm.period_ns = rnd_next(r);
		arm.reserved[rnd(r, 2)] = rnd(r, 2);
		arm.linger_ns = rnd_next(r) >> rnd(r, 64);
		arm.linger_max = (uint32_t)rnd(r, 2 * KPF_MAX_LINGER);
		arm.reserved1 = rnd(r, 2);
		break;
	case 4:		/* one-shot that lingers while idle */
		arm.flags = KPF_ARM_LINGER;
		arm.value_ns = rnd(r, 5 * NSEC_PER_MSEC);
		arm.linger_ns = 2 * NSEC_PER_USEC + rnd(r, 500 * NSEC_PER_USEC);
		arm.linger_max = 1 + rnd(r, KPF_MAX_LINGER);
		break;
	default:	/* one-shot, a few ms */
		arm.value_ns = rnd(r, 5 * NSEC_PER_MSEC);
		break;
	}
	return kpf_ioctl(s->fd, KPF_IOC_ARM, (uintptr_t)&arm);
}

/* Stores a program may make to an area it does not own right now. */
static void do_store(uint64_t *r, struct slot *s)
{
	struct kpf_area *a = s->area;

	if (!a)
		return;
	switch (rnd(r, 4)) {
	case 0:
		__atomic_exchange_n(&a->deadline_ns,
				    kpf_now_ns() + rnd(r, 2 * NSEC_PER_MSEC),
				    __ATOMIC_SEQ_CST);
		break;
	case 1:
		WRITE_ONCE(a->deadline_ns, 0);
		break;
	case 2:
		WRITE_ONCE(a->defer, (uint32_t)rnd(r, 2));
		break;
	default:
		WRITE_ONCE(a->pending, 0);
		break;
	}
}

struct short_lived {
	uint64_t seed;
	struct kpf_test_ctx c;
};

/* A thread that registers, arms a fast periodic timer and exits. */
static void *short_lived(void *arg)
{
	struct short_lived *sl = arg;

	if (kpf_test_ctx_setup(&sl->c))
		return NULL;
	if (rnd(&sl->seed, 2))
		WRITE_ONCE(sl->c.area->defer, 1);
	kpf_test_arm(&sl->c, KPF_ARM_PERIODIC, 0, 2 * NSEC_PER_USEC);
	kpf_spin_ns(rnd(&sl->seed, NSEC_PER_MSEC));
	return NULL;
}

/* Its file outlives it (it is the process's); close it a while later. */
static void do_short_lived(uint64_t *r)
{
	struct short_lived sl = { .seed = rnd_next(r) };
	pthread_t t;

	if (pthread_create(&t, NULL, short_lived, &sl))
		return;
	pthread_join(t, NULL);
	kpf_spin_ns(rnd(r, NSEC_PER_MSEC));
	kpf_test_ctx_destroy(&sl.c);
}

static void do_fork(uint64_t *r)
{
	pid_t pid = fork();
	int i;

	if (pid < 0)
		return;
	if (!pid) {
		/* Inherited files: every ioctl but INFO is EPERM or ENOENT. */
		for (i = 0; i < SLOTS; i++) {
			struct slot *s = &fz.slots[i];

			if (s->fd < 0)
				continue;
			kpf_ioctl(s->fd, KPF_IOC_DISARM, 0);
			do_arm(r, s);
			if (rnd(r, 2))
				close(s->fd);
		}
		if (rnd(r, 4) == 0)
			execl(fz.self_exe, fz.self_exe, "--kpf-fuzz-exit",
			      (char *)NULL);
		_exit(0);
	}
	if (rnd(r, 3) == 0)
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A registered, armed child that a debugger attaches to and leaves. */
static void do_ptrace(uint64_t *r)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return;
	if (!pid) {
		struct kpf_test_ctx c;

		if (!kpf_test_ctx_setup(&c))
			kpf_test_arm(&c, KPF_ARM_PERIODIC, 0,
				     20 * NSEC_PER_USEC);
		kpf_spin_ns(50 * NSEC_PER_MSEC);
		_exit(0);
	}
	if (!ptrace(PTRACE_SEIZE, pid, 0, 0)) {
		ptrace(PTRACE_INTERRUPT, pid, 0, 0);
		if (waitpid(pid, &status, 0) == pid && WIFSTOPPED(status)) {
			if (rnd(r, 2))
				ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
			else
				ptrace(PTRACE_SYSCALL, pid, 0, 0);
			waitpid(pid, &status, __WALL);
			if (WIFSTOPPED(status))
				ptrace(PTRACE_DETACH, pid, 0, 0);
		}
	}
	waitpid(pid, NULL, 0);
}

static void do_scm_rights(struct slot *s)
{
	int sock, got;

	if (s->fd < 0)
		return;
	sock = kpf_test_send_unreceived(s->fd);
	if (sock < 0)
		return;
	got = kpf_test_recv_fd(sock);
	if (got >= 0)
		close(got);
	close(sock);
}

static void one_op(int w, uint64_t *r)
{
	struct slot *s = &fz.slots[rnd(r, SLOTS)];
	int fd;

	pthread_mutex_lock(&s->lock);
	if (s->fd < 0 && rnd(r, 2))
		s->fd = open(KPF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	slot_memory(s);
	switch (rnd(r, 24)) {
	case 0: case 1: case 2: {
		int ret = do_register(r, s);

		if (!ret)
			s->owner = gettid();
		note(w, ret);
		break;
	}
	case 3: case 4: case 5: case 6:
		note(w, do_arm(r, s));
		break;
	case 7:
		note(w, kpf_ioctl(s->fd, KPF_IOC_DISARM, 0));
		break;
	case 8:
		note(w, kpf_ioctl(s->fd, KPF_IOC_UNREGISTER, 0));
		break;
	case 9: {
		struct kpf_info info;

		note(w, kpf_test_info(s->fd, &info));
		break;
	}
	case 10: case 11: case 12:
		do_store(r, s);
		break;
	case 13:
		if (s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
		break;
	case 14:
		fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0) {
			if (rnd(r, 2)) {
				close(s->fd);
				s->fd = fd;
			} else {
				close(fd);
			}
		}
		break;
	case 15:
		do_scm_rights(s);
		break;
	case 16:
		/* munmap a maybe-registered area; defer first so no frame
		 * goes to a page this process can no longer read */
		/*
		 * Only by the thread that registered it last (or never
		 * registered): another owner could be inside its upcall
		 * entry, reading the frame from this very page.
		 */
		if (s->area && (!s->owner || s->owner == gettid())) {
			WRITE_ONCE(s->area->defer, 1);
			munmap(s->area, KPF_TEST_PAGE_SIZE);
			s->area = NULL;
		}
		break;
	case 17:
		do_short_lived(r);
		break;
	case 18:
		pthread_mutex_unlock(&s->lock);
		do_fork(r);
		return;
	case 19:
		pthread_mutex_unlock(&s->lock);
		do_ptrace(r);
		return;
	case 20:
		pthread_kill(fz.workers[rnd(r, WORKERS)], SIGUSR1);
		break;
	case 21:
		/* Our own open files keep the module in. */
		if (s->fd >= 0 &&
		    !syscall(SYS_delete_module, "kpf", O_NONBLOCK))
			fz.rmmod_succeeded = 1;
		break;
	case 22:
		sched_yield();
		break;
	default:
		kpf_spin_ns(rnd(r, 200 * NSEC_PER_USEC));
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
	int w = (int)(uintptr_t)arg;
	uint64_t r = fz.seed + 0x9E3779B97F4A7C15ULL * (w + 1);

	while (!__atomic_load_n(&fz.go, __ATOMIC_ACQUIRE))
		sched_yield();
	while (kpf_now_ns() < fz.end_ns) {
		one_op(w, &r);
		fz.ops[w]++;
	}
	return NULL;
}

static uint64_t fuzz_seconds(void)
{
	const char *e = getenv("KPF_FUZZ_SECONDS");

	if (e && *e)
		return strtoull(e, NULL, 0);
	return access("/sys/kernel/debug/kmemleak", F_OK) ? 10 : 60;
}

FIXTURE(fuzz) {};
FIXTURE_SETUP(fuzz) {}
FIXTURE_TEARDOWN(fuzz) {}

TEST_F_TIMEOUT(fuzz, random_ops, FUZZ_TIMEOUT)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	const char *e = getenv("KPF_FUZZ_SEED");
	unsigned long total = 0, bad = 0;
	uint64_t secs = fuzz_seconds();
	int i;

	KPF_REQUIRE_DEVICE();
	fz.seed = e && *e ? strtoull(e, NULL, 0) : kpf_now_ns();
	if (!fz.seed)
		fz.seed = 1;
	kpf_log("seed %llu (KPF_FUZZ_SEED=%llu replays), %llu s, %d threads\n",
		(unsigned long long)fz.seed, (unsigned long long)fz.seed,
		(unsigned long long)secs, WORKERS);
	fz.self_exe = realpath("/proc/self/exe", NULL);
	ASSERT_NE(NULL, fz.self_exe);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	ASSERT_EQ(0, sigaction(SIGSEGV, &sa, NULL));
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	for (i = 0; i < SLOTS; i++) {
		pthread_mutex_init(&fz.slots[i].lock, NULL);
		fz.slots[i].fd = -1;
	}
	fz.end_ns = kpf_now_ns() + secs * NSEC_PER_SEC;
	for (i = 0; i < WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&fz.workers[i], NULL, worker,
					    (void *)(uintptr_t)i));
	__atomic_store_n(&fz.go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < WORKERS; i++) {
		pthread_join(fz.workers[i], NULL);
		total += fz.ops[i];
		bad += fz.bad_count[i];
		if (fz.bad_count[i])
			kpf_log("worker %d: %lu undocumented results, last %d\n",
				i, fz.bad_count[i], fz.bad_errno[i]);
	}
	for (i = 0; i < SLOTS; i++) {
		if (fz.slots[i].fd >= 0)
			close(fz.slots[i].fd);
		if (fz.slots[i].area)
			munmap(fz.slots[i].area, KPF_TEST_PAGE_SIZE);
		if (fz.slots[i].stack)
			munmap(fz.slots[i].stack, KPF_TEST_STACK_SIZE);
	}
	kpf_log("%lu operations, %lu undocumented results, rmmod %s\n",
		total, bad, fz.rmmod_succeeded ? "SUCCEEDED while in use" :
		"refused while in use");
	EXPECT_LT(0, total);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, fz.rmmod_succeeded);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--kpf-fuzz-exit"))
		return 0;
	return test_harness_run(argc, argv);
}
