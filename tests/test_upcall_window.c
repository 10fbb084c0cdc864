// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * An expiry in the last instructions of kpf_frame_return(): after it
 * released in_upcall and found an expiry deferred meanwhile (pending), on
 * its way back into the upcall. That expiry's upcall overwrites
 * area->frame with the frame of kpf_frame_return() itself; handled as it
 * stands, its retry resumes kpf_frame_return(), which re-enters the
 * upcall with that same frame, forever: the task never runs again (a CI
 * hang of test_defer_edges under the debug kernel, where a due expiry
 * waits for a translation block boundary and so lands in such windows).
 *
 * The window is four instructions wide; the test steps through the upcall
 * with the trap flag and makes the expiries itself: the first one as the
 * task enters libkpf code (an upcall that resumes it), the pending flag
 * right after the release, the second one at the first instruction of
 * the re-entry. Signal backend whatever KPF_BACKEND says: its handler is
 * the one the test can fire at an exact instruction (a due deadline and
 * a queued timer signal), and the window is the same code on both
 * backends.
 *
 * Static only: it reaches libkpf's internals (the thread, its area, the
 * signal backend's arming).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../ulib/internal.h"
#include "kselftest_harness.h"

#define X86_EFLAGS_TF	0x100
/* upcalls the whole sequence needs: 1 + (1 + 1 for pending) */
#define UPCALLS_NEEDED	3
/* a loop is far more; the watchdog gives up then */
#define UPCALLS_LOOP	10000

enum step {
	STEP_ENTRY,	/* waiting for the task to enter kpf_in_task() */
	STEP_UPCALL,	/* first expiry sent: waiting for its upcall */
	STEP_RELEASE,	/* in the upcall: waiting for the release */
	STEP_BRANCH,	/* pending set: stepping to the re-entry */
	STEP_DONE,	/* second expiry sent */
};

static volatile int step;
static int branch_steps;
static struct kpf_thread *task_thread;
static volatile unsigned long traps;
static volatile uint64_t released_rip, second_rip;

/*
 * Make an expiry due and send the signal of the thread's timer, as its
 * timer would (the handler checks si_code and the value): queued right
 * now, not at the next timer interrupt, and delivered where the trap
 * handler returns to (it blocks the signal meanwhile).
 */
static void expire_now(struct kpf_thread *self)
{
	siginfo_t si;

	self->area.deadline_ns = 1;
	memset(&si, 0, sizeof(si));
	si.si_signo = kpf_g.signo;
	si.si_code = SI_TIMER;
	si.si_value.sival_ptr = self;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), self->tid, kpf_g.signo, &si);
}

static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	struct kpf_area *area = &task_thread->area;

	traps++;
	switch (step) {
	case STEP_ENTRY:
		if ((uintptr_t)g[REG_RIP] == (uintptr_t)kpf_in_task) {
			expire_now(task_thread);
			step = STEP_UPCALL;
		}
		break;
	case STEP_UPCALL:
		if (area->in_upcall != KPF_UPCALL_IDLE)
			step = STEP_RELEASE;
		break;
	case STEP_RELEASE:
		if (area->in_upcall == KPF_UPCALL_IDLE) {
			/* an expiry deferred while the upcall ran */
			area->pending = 1;
			released_rip = g[REG_RIP];
			branch_steps = 0;
			step = STEP_BRANCH;
		}
		break;
	case STEP_BRANCH:
		/* the check, the branch, then the re-entry's first insn */
		if (++branch_steps == 2) {
			second_rip = g[REG_RIP];
			expire_now(task_thread);
			g[REG_EFL] &= ~X86_EFLAGS_TF;
			step = STEP_DONE;
		}
		break;
	default:
		/* the first frame, resumed, still has the flag: done */
		g[REG_EFL] &= ~X86_EFLAGS_TF;
		break;
	}
}

/* Single-step the calling code from here on (1) or stop stepping (0). */
static inline void trap_flag(int on)
{
	if (on)
		__asm__ __volatile__("pushfq; orq %0, (%%rsp); popfq"
				     :: "i"(X86_EFLAGS_TF) : "memory", "cc");
	else
		__asm__ __volatile__("pushfq; andq %0, (%%rsp); popfq"
				     :: "i"(~X86_EFLAGS_TF) : "memory", "cc");
}

static void stepped_task(void *arg)
{
	task_thread = kpf_thread_peek();
	trap_flag(1);
	/* libkpf code: the first expiry lands at its entry */
	*(int *)arg = kpf_in_task();
	trap_flag(0);
}

/* The loop never returns to the launcher: fail from another thread. */
static void *watchdog(void *arg)
{
	for (;;) {
		usleep(10000);
		if (task_thread && task_thread->stats.upcalls > UPCALLS_LOOP) {
			fprintf(stderr,
				"# %lu upcalls: kpf_upcall() loops on the frame of kpf_frame_return() (second expiry at %#llx)\n",
				(unsigned long)task_thread->stats.upcalls,
				(unsigned long long)second_rip);
			_exit(1);
		}
	}
	return NULL;
}

/*
 * The vDSO's clock read retries while the kernel updates the time. Stepped
 * on the debug guest, about a millisecond a trap, it rarely gets through:
 * one run spent 2094 rounds in its 23-instruction loop, and the counts grow
 * with the host's load. Calls into the vDSO run unstepped instead: at
 * their first instruction the trap handler clears the flag and has the
 * call return to vdso_return, which sets it again and goes on to the
 * caller.
 */
static void (*test_trap)(int, siginfo_t *, void *);
static uintptr_t vdso_lo, vdso_hi, trap_prev_rip;
uint64_t vdso_return_to;

__asm__(".pushsection .text\n"
	".type vdso_return, @function\n"
	"vdso_return:\n\t"
	"pushfq\n\t"
	"orq $0x100, (%rsp)\n\t"
	"popfq\n\t"
	"jmp *vdso_return_to(%rip)\n"
	".size vdso_return, . - vdso_return\n"
	".popsection");
void vdso_return(void);

static void trap_dispatch(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t rip = g[REG_RIP], prev = trap_prev_rip;
	uint64_t *ret = (uint64_t *)g[REG_RSP];

	trap_prev_rip = rip;
	if (rip >= vdso_lo && rip < vdso_hi &&
	    !(prev >= vdso_lo && prev < vdso_hi)) {
		/* called (or jumped to): [rsp] is the return address */
		vdso_return_to = *ret;
		*ret = (uintptr_t)vdso_return;
		g[REG_EFL] &= ~X86_EFLAGS_TF;
		return;
	}
	test_trap(sig, si, ucv);
}

/* [vdso] in /proc/self/maps; 0 or -1 */
static int find_vdso(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/maps", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (ret && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%lx-%lx", &vdso_lo, &vdso_hi) == 2)
			ret = 0;
	fclose(f);
	return ret;
}

/*
 * The signal backend (its expiry can be sent at an exact instruction) and
 * @handler for SIGTRAP; the expiries the handler sends arrive after it,
 * at the stepped instruction. Return: 0 or -1.
 */
static int init_with_trap_handler(void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	if (setenv("KPF_BACKEND", "signal", 1) || kpf_init(NULL) ||
	    find_vdso())
		return -1;
	test_trap = handler;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_dispatch;
	sa.sa_flags = SA_SIGINFO;
	sigaddset(&sa.sa_mask, kpf_g.signo);
	return sigaction(SIGTRAP, &sa, NULL);
}

TEST(expiry_at_pending_reentry_resumes_the_task)
{
	struct kpf_stats st = { .size = sizeof(st) };
	pthread_t w;
	kpf_task *t;
	int depth = -1, rc;

	ASSERT_EQ(0, init_with_trap_handler(trap_handler));
	ASSERT_EQ(0, pthread_create(&w, NULL, watchdog, NULL));

	rc = kpf_launch(&t, stepped_task, &depth, KPF_FOREVER);
	ASSERT_EQ(KPF_DONE, rc);
	ASSERT_EQ(1, depth);
	ASSERT_EQ(STEP_DONE, step);
	/* the second expiry hit the re-entry, before in_upcall was set */
	ASSERT_LE((uintptr_t)kpf_frame_return, released_rip);
	ASSERT_LT(released_rip, second_rip);
	ASSERT_EQ(0, kpf_thread_stats(&st));
	TH_LOG("%lu traps, %lu upcalls, re-entry at kpf_frame_return+%#lx",
	       traps, (unsigned long)st.upcalls,
	       (unsigned long)(second_rip - (uintptr_t)kpf_frame_return));
	EXPECT_EQ(UPCALLS_NEEDED, (int)st.upcalls);
}

/*
 * An expiry at each instruction of kpf_frame_return()'s pops (with no
 * pending expiry): the resume frame is still at rsp, all of it or the
 * part not yet popped. Retried, as code in kpf_critical_text, its resume
 * frame must go where the first one was, below the red zone of the
 * interrupted task's rsp; built below the pops' rsp instead, it is
 * 264 bytes lower at every such coincidence, and a chain of them walks
 * down the task's stack while the task never runs (the debug guest,
 * where a due expiry waits for a translation block boundary, takes it
 * at the pops' first instruction, the jump target).
 */
#define FRAME_POPS	17	/* 15 GPRs, popfq, ret */
/* one expiry at each pop; the upcalls are stepped too */
#define CREEP_ROUNDS	FRAME_POPS

static volatile int creep_round, creep_done, pop_index = -1;
static volatile uint64_t creep_prev_rip, first_pop_rsp[CREEP_ROUNDS + 1];

static void creep_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = g[REG_RIP], prev = creep_prev_rip;

	traps++;
	creep_prev_rip = rip;
	if (creep_done) {
		g[REG_EFL] &= ~X86_EFLAGS_TF;
		return;
	}
	if (!task_thread)
		return;
	if (step == STEP_ENTRY) {
		if (rip == (uintptr_t)kpf_in_task) {
			expire_now(task_thread);
			step = STEP_UPCALL;
		}
		return;
	}
	if (task_thread->area.in_upcall != KPF_UPCALL_IDLE)
		return;
	/* the je just taken: the first pop */
	if (prev >= (uintptr_t)kpf_frame_return_window &&
	    prev < (uintptr_t)kpf_frame_return_window_end &&
	    rip >= (uintptr_t)kpf_frame_return_window_end) {
		first_pop_rsp[creep_round] = g[REG_RSP];
		if (creep_round == CREEP_ROUNDS) {
			creep_done = 1;
			return;
		}
		pop_index = 0;
	} else if (pop_index >= 0) {
		pop_index++;
	}
	if (pop_index >= 0 && pop_index == creep_round % FRAME_POPS) {
		/* its upcall resumes this very instruction */
		pop_index = -1;
		creep_round++;
		expire_now(task_thread);
	}
}

static void creep_task(void *arg)
{
	uint64_t r12 = 0x1212121212121212ull, r15 = 0x1515151515151515ull;
	int d;

	task_thread = kpf_thread_peek();
	trap_flag(1);
	/* libkpf code: the first expiry lands at its entry */
	__asm__ __volatile__("call kpf_in_task"
			     : "=a"(d), "+r"(r12), "+r"(r15)
			     :: "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
				"r11", "memory", "cc");
	trap_flag(0);
	((uint64_t *)arg)[0] = d;
	((uint64_t *)arg)[1] = r12;
	((uint64_t *)arg)[2] = r15;
}

FIXTURE(pops) {};
FIXTURE_SETUP(pops) {}
FIXTURE_TEARDOWN(pops) {}

/*
 * ~300 traps an upcall; the debug guest takes about a millisecond a
 * trap (the vDSO unstepped: 5072 traps there as natively)
 */
TEST_F_TIMEOUT(pops, expiries_resume_at_the_same_stack_depth, 600)
{
	uint64_t out[3] = { 0 };
	uint64_t lowest = ~0ull;
	kpf_task *t;
	int i;

	ASSERT_EQ(0, init_with_trap_handler(creep_trap));

	ASSERT_EQ(KPF_DONE, kpf_launch(&t, creep_task, out, KPF_FOREVER));
	ASSERT_EQ(1, creep_done);
	ASSERT_EQ(1, (int)out[0]);
	ASSERT_EQ(0x1212121212121212ull, out[1]);
	ASSERT_EQ(0x1515151515151515ull, out[2]);
	for (i = 1; i <= CREEP_ROUNDS; i++)
		if (first_pop_rsp[i] < lowest)
			lowest = first_pop_rsp[i];
	TH_LOG("%lu traps; %d expiries in the pops: the pops started at most %llu bytes lower",
	       traps, CREEP_ROUNDS,
	       (unsigned long long)(first_pop_rsp[0] - lowest));
	for (i = 1; i <= CREEP_ROUNDS; i++)
		ASSERT_EQ(first_pop_rsp[0], first_pop_rsp[i]);
}

/*
 * A preempted task resumed: kpf_ctx_load() clears busy, then pops the
 * resume frame that kpf_resume_frame() built below the red zone of the
 * task's rsp. An expiry in those pops hits the task's own code (busy is
 * clear) and preempts it; saved as it stands, with rip a pop and rsp the
 * partly popped frame, the task's next resume frame goes up to 264 bytes
 * lower, and every further such coincidence lower again. The task is
 * stopped at load_point first (a ret: task code), then resumed once for
 * each pop with an expiry at that pop, and once more to finish: every
 * preemption must save the context of the first one, at load_point.
 */
__asm__(".pushsection .text\n"
	".globl load_point\n"
	".type load_point, @function\n"
	"load_point:\n\t"
	"ret\n"
	".size load_point, . - load_point\n"
	".popsection");
void load_point(void);

static volatile int load_stopped, load_round, load_pop = -1;
static volatile int load_prev_in, load_prev_busy;
/* rsp at the first pop of each resume; rip of each round's expiry */
static volatile uint64_t load_frame_sp[FRAME_POPS + 1];
static volatile uint64_t load_expiry_rip[FRAME_POPS];

/*
 * An expiry that finds the running task past its deadline, at the
 * instruction the trap handler returns to; the upcall (a memcpy() of the
 * xsave image) and the launcher after it are not stepped.
 */
static void preempt_now(greg_t *g)
{
	task_thread->current->deadline_ns = 1;
	expire_now(task_thread);
	g[REG_EFL] &= ~X86_EFLAGS_TF;
}

static void load_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = g[REG_RIP];
	int in = rip >= (uintptr_t)kpf_ctx_load &&
		 rip < (uintptr_t)kpf_upcall_entry;
	int busy = task_thread->busy;

	traps++;
	if (!load_stopped) {
		if (rip == (uintptr_t)load_point) {
			load_stopped = 1;
			preempt_now(g);
		}
	} else if (in && load_prev_in && load_prev_busy && !busy) {
		/* .Lload_full's busy store just ran: this is the first pop */
		load_frame_sp[load_round] = g[REG_RSP];
		load_pop = 0;
	} else if (load_pop >= 0) {
		load_pop++;
	}
	if (load_pop >= 0 && load_pop == load_round &&
	    load_round < FRAME_POPS) {
		load_expiry_rip[load_round] = rip;
		load_pop = -1;
		load_round++;
		preempt_now(g);
	}
	load_prev_in = in;
	load_prev_busy = busy;
}

/* out: two GPRs, and xmm15 (extended state) kept across the preemptions */
static void load_task(void *arg)
{
	uint64_t r12 = 0x1212121212121212ull, r15 = 0x1515151515151515ull;
	uint64_t x = 0x7f7f7f7f7f7f7f7full;

	task_thread = kpf_thread_peek();
	trap_flag(1);
	__asm__ __volatile__("movq %2, %%xmm15\n\t"
			     "call load_point\n\t"
			     "movq %%xmm15, %2"
			     : "+r"(r12), "+r"(r15), "+r"(x)
			     :: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9",
				"r10", "r11", "xmm15", "memory", "cc");
	trap_flag(0);
	((uint64_t *)arg)[0] = r12;
	((uint64_t *)arg)[1] = r15;
	((uint64_t *)arg)[2] = x;
}

/* the launcher's 18 kpf_resume() calls are stepped too: ~11000 traps */
TEST_F_TIMEOUT(pops, expiries_in_ctx_load_preempt_at_the_original_rip, 600)
{
	struct kpf_stats st = { .size = sizeof(st) };
	struct kpf_frame first, saved[FRAME_POPS];
	uint64_t out[3] = { 0 }, lowest = ~0ull, frame_sp;
	kpf_task *t;
	int i, rc, same = 0;

	ASSERT_EQ(0, init_with_trap_handler(load_trap));

	ASSERT_EQ(KPF_PREEMPTED, kpf_launch(&t, load_task, out, KPF_FOREVER));
	ASSERT_EQ((uintptr_t)load_point, t->ctx.frame.rip);
	first = t->ctx.frame;
	frame_sp = first.rsp - KPF_RED_ZONE - KPF_RESUME_FRAME;
	for (i = 0; i <= FRAME_POPS; i++) {
		trap_flag(1);
		rc = kpf_resume(t, KPF_FOREVER);
		trap_flag(0);
		if (i == FRAME_POPS)
			break;
		ASSERT_EQ(KPF_PREEMPTED, rc);
		saved[i] = t->ctx.frame;
		if (!memcmp(&saved[i], &first, sizeof(first)))
			same++;
		if (saved[i].rsp < lowest)
			lowest = saved[i].rsp;
	}
	ASSERT_EQ(KPF_DONE, rc);
	ASSERT_EQ(0x1212121212121212ull, out[0]);
	ASSERT_EQ(0x1515151515151515ull, out[1]);
	ASSERT_EQ(0x7f7f7f7f7f7f7f7full, out[2]);
	ASSERT_EQ(0, kpf_thread_stats(&st));
	ASSERT_EQ(FRAME_POPS, load_round);
	EXPECT_EQ(FRAME_POPS + 1, (int)st.preemptions);
	for (i = 0; i <= FRAME_POPS; i++)
		if (load_frame_sp[i] < lowest)
			lowest = load_frame_sp[i];
	TH_LOG("%lu traps; %d expiries in kpf_ctx_load()'s pops: %d of them saved the first context, the task's stack went %llu bytes lower",
	       traps, FRAME_POPS, same,
	       (unsigned long long)(frame_sp - lowest));
	for (i = 0; i < FRAME_POPS; i++) {
		/* one expiry at each pop, in order */
		ASSERT_EQ((uintptr_t)kpf_ctx_load_pops +
			  kpf_frame_pop_offsets[i], load_expiry_rip[i]);
		ASSERT_EQ(frame_sp, load_frame_sp[i]);
		ASSERT_EQ(first.rip, saved[i].rip);
		ASSERT_EQ(first.rsp, saved[i].rsp);
		ASSERT_EQ(0, memcmp(&saved[i], &first, sizeof(first)));
	}
	ASSERT_EQ(frame_sp, load_frame_sp[FRAME_POPS]);
}

/*
 * An expiry in kpf_frame_return()'s pops is decided like one at the code
 * they resume, not retried as libkpf code: here the task at load_point,
 * where a first expiry found no deadline passed (KPF_FOREVER) and
 * resumed it. With the deadline passed by the time of the second, at pop
 * k, the task is preempted at load_point with load_point's rsp, whatever
 * k, and runs on from there when resumed.
 */
static volatile int ret_state, ret_pop, ret_k;
static volatile uint64_t ret_expiry_rip;
/* the GPRs at load_point, as the first expiry found them */
static struct kpf_frame ret_point;

static void ret_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = g[REG_RIP];

	traps++;
	if (ret_state == 0) {
		if (rip == (uintptr_t)load_point) {
			ret_point = (struct kpf_frame){
				.r15 = g[REG_R15], .r14 = g[REG_R14],
				.r13 = g[REG_R13], .r12 = g[REG_R12],
				.rbp = g[REG_RBP], .rbx = g[REG_RBX],
				.r11 = g[REG_R11], .r10 = g[REG_R10],
				.r9 = g[REG_R9], .r8 = g[REG_R8],
				.rax = g[REG_RAX], .rcx = g[REG_RCX],
				.rdx = g[REG_RDX], .rsi = g[REG_RSI],
				.rdi = g[REG_RDI], .rip = rip,
				.rsp = g[REG_RSP], .rflags = g[REG_EFL],
			};
			/* early: the task has no deadline */
			expire_now(task_thread);
			ret_state = 1;
		}
		return;
	}
	if (ret_state == 1) {
		if (rip == (uintptr_t)kpf_frame_return_pops &&
		    task_thread->area.in_upcall == KPF_UPCALL_IDLE)
			ret_pop = 0;
		else if (ret_pop >= 0)
			ret_pop++;
		if (ret_pop == ret_k) {
			ret_expiry_rip = rip;
			ret_state = 2;
			preempt_now(g);
		}
		return;
	}
	/* resumed at load_point, TF still set in its frame: done */
	g[REG_EFL] &= ~X86_EFLAGS_TF;
}

TEST_F_TIMEOUT(pops, expiries_in_frame_return_preempt_at_the_resumed_rip, 600)
{
	struct kpf_frame saved;
	uint64_t out[3];
	kpf_task *t;
	int k;

	ASSERT_EQ(0, init_with_trap_handler(ret_trap));

	for (k = 0; k < FRAME_POPS; k++) {
		ret_state = 0;
		ret_pop = -1;
		ret_k = k;
		out[0] = out[1] = out[2] = 0;
		ASSERT_EQ(KPF_PREEMPTED,
			  kpf_launch(&t, load_task, out, KPF_FOREVER));
		ASSERT_EQ(2, ret_state);
		ASSERT_EQ((uintptr_t)kpf_frame_return_pops +
			  kpf_frame_pop_offsets[k], ret_expiry_rip);
		ASSERT_EQ((uintptr_t)load_point, t->ctx.frame.rip);
		ASSERT_EQ(ret_point.rsp, t->ctx.frame.rsp);
		/*
		 * All of it, rflags too: before the popfq (k < 16), the
		 * frame's, with the trap flag; at the ret, popped already,
		 * and the flag cleared by preempt_now() there.
		 */
		saved = t->ctx.frame;
		if (k == FRAME_POPS - 1)
			saved.rflags |= X86_EFLAGS_TF;
		ASSERT_EQ(0, memcmp(&ret_point, &saved, sizeof(saved)));
		ASSERT_EQ(KPF_DONE, kpf_resume(t, KPF_FOREVER));
		ASSERT_EQ(0x1212121212121212ull, out[0]);
		ASSERT_EQ(0x1515151515151515ull, out[1]);
		ASSERT_EQ(0x7f7f7f7f7f7f7f7full, out[2]);
	}
	TH_LOG("%lu traps; an expiry at each pop of kpf_frame_return() preempted the task at load_point",
	       traps);
}

TEST_HARNESS_MAIN
