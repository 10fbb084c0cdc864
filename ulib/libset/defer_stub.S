/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deferral stubs. defer_auto.c copies kpf_defer_stub_tmpl once per
 * target into the stub region and patches three things: the thread
 * pointer's TLS offset (an immediate, so no GOT load), the target and the
 * address of kpf_defer_stub_slow (both in the stub's own tail).
 *
 * A stub is entered instead of its target, by a jump through a GOT slot,
 * with [rsp] = the return address into the caller. For the OUTERMOST
 * deferred call it records the deferral mark (rsp and [rsp]) in the
 * thread, then JUMPS to the target. Nothing is pushed and nothing stays
 * on the stack, so stack-passed and varargs arguments (al = vector
 * count), r10 (static chain), unwinding, longjmp and exit see the
 * caller's own frame. Only r11 and the flags are clobbered, as the PLT
 * itself may do. rax is kept in the red zone below rsp while it is
 * borrowed: the callee has not started, and signal or upcall frames are
 * built below the red zone.
 *
 * An outer mark is still active when rsp is below it and its return
 * address is unchanged (an inner call from a callback keeps it);
 * otherwise it is stale and this call becomes the outermost. rsp equal
 * to the mark is a new call from the same place at the same depth: the
 * old call has returned (a call made by code inside it would have pushed
 * its own return address below the mark).
 *
 * Only a call on the running task's own stack (run_stack_lo..hi) may
 * become the outermost: a signal handler running on the alternate stack
 * (libkpf installs one per thread, so every SA_ONSTACK handler does) is
 * above or below the task's stack, and its libc calls must neither
 * replace the task's live mark nor preempt the task from the handler.
 *
 * When an expiry found the task inside the previous outermost call
 * (defer_want), the next outermost call is preempted before the call, in
 * kpf_defer_stub_slow: a task that calls libc in a tight loop is stopped
 * within one iteration instead of waiting for a retry to land between
 * two calls.
 *
 * The stub region counts as library code for kpf_upcall() (like
 * kpf_critical_text): an expiry there is retried, so the thread pointer
 * read here is never used after a migration. At every instruction of a
 * stub the CFA is rsp + 8 and the return address at [rsp], as at a
 * function's entry.
 */
#include "../kpf_offsets.h"

#define KPF_TLS_PLACEHOLDER	0x7ffffff0

	.section .rodata
	.globl	kpf_defer_stub_tmpl
	.hidden	kpf_defer_stub_tmpl
	.p2align 4
kpf_defer_stub_tmpl:
	endbr64
	movq	%rax, -8(%rsp)
.Ltls:	movq	%fs:KPF_TLS_PLACEHOLDER, %r11
	testq	%r11, %r11
	jz	2f				/* a thread kpf never saw */
	movq	KPF_THREAD_MARK(%r11), %rax
	cmpq	%rsp, %rax
	jbe	1f				/* mark not above rsp: stale */
	movq	(%rax), %rax
	cmpq	KPF_THREAD_MARK_RET(%r11), %rax
	je	2f				/* an outer call is active */
1:	cmpq	KPF_THREAD_RUN_LO(%r11), %rsp
	jb	2f				/* not the running task's */
	cmpq	KPF_THREAD_RUN_HI(%r11), %rsp
	jae	2f				/* stack: an alt-stack handler */
	cmpl	$0, KPF_THREAD_DEFER_WANT(%r11)
	jne	3f				/* an expiry waits for this */
	movq	%rsp, KPF_THREAD_MARK(%r11)
	movq	(%rsp), %rax
	movq	%rax, KPF_THREAD_MARK_RET(%r11)
2:	movq	-8(%rsp), %rax
	jmp	*.Ltarget(%rip)
3:	movq	-8(%rsp), %rax
	leaq	kpf_defer_stub_tmpl(%rip), %r11	/* this stub, in a copy */
	jmp	*.Lslow(%rip)
	.p2align 3
.Ltarget:
	.quad	0
.Lslow:
	.quad	0
.Lend:
	.size	kpf_defer_stub_tmpl, .Lend - kpf_defer_stub_tmpl

	/* where defer_auto.c patches a copy */
	.globl	kpf_defer_stub_tmpl_size, kpf_defer_stub_tmpl_tls
	.globl	kpf_defer_stub_tmpl_target, kpf_defer_stub_tmpl_slow
	.hidden	kpf_defer_stub_tmpl_size, kpf_defer_stub_tmpl_tls
	.hidden	kpf_defer_stub_tmpl_target, kpf_defer_stub_tmpl_slow
	.p2align 2
kpf_defer_stub_tmpl_size:
	.long	.Lend - kpf_defer_stub_tmpl
kpf_defer_stub_tmpl_tls:
	.long	.Lr11 - kpf_defer_stub_tmpl - 4
kpf_defer_stub_tmpl_target:
	.long	.Ltarget - kpf_defer_stub_tmpl
kpf_defer_stub_tmpl_slow:
	.long	.Lslow - kpf_defer_stub_tmpl

	/* .Lr11: the end of the "movq %fs:disp32, %r11" instruction */
	.set	.Lr11, .Ltls + 9

/*
 * kpf_defer_stub_slow: a stub found defer_want set at a new outermost
 * call; r11 = that stub, every other register as the caller left it.
 * Everything a callee may take as an argument is saved (rdi-r9, rax =
 * vector count, r10 = static chain, xmm0-7) around
 * kpf_defer_stub_preempt(), which clears defer_want and may stop the
 * task; then the stub runs again (on whatever thread the task was resumed
 * on) and this time records the mark and jumps to the target.
 */
	.section kpf_critical_text, "ax", @progbits
	.globl	kpf_defer_stub_slow
	.hidden	kpf_defer_stub_slow
	.type	kpf_defer_stub_slow, @function
	.p2align 4
kpf_defer_stub_slow:
	.cfi_startproc
	endbr64
	subq	$200, %rsp
	.cfi_adjust_cfa_offset 200
	movq	%rdi, 0(%rsp)
	movq	%rsi, 8(%rsp)
	movq	%rdx, 16(%rsp)
	movq	%rcx, 24(%rsp)
	movq	%r8, 32(%rsp)
	movq	%r9, 40(%rsp)
	movq	%rax, 48(%rsp)
	movq	%r10, 56(%rsp)
	movq	%r11, 64(%rsp)
	movdqu	%xmm0, 72(%rsp)
	movdqu	%xmm1, 88(%rsp)
	movdqu	%xmm2, 104(%rsp)
	movdqu	%xmm3, 120(%rsp)
	movdqu	%xmm4, 136(%rsp)
	movdqu	%xmm5, 152(%rsp)
	movdqu	%xmm6, 168(%rsp)
	movdqu	%xmm7, 184(%rsp)
	call	kpf_defer_stub_preempt
	movq	0(%rsp), %rdi
	movq	8(%rsp), %rsi
	movq	16(%rsp), %rdx
	movq	24(%rsp), %rcx
	movq	32(%rsp), %r8
	movq	40(%rsp), %r9
	movq	48(%rsp), %rax
	movq	56(%rsp), %r10
	movq	64(%rsp), %r11
	movdqu	72(%rsp), %xmm0
	movdqu	88(%rsp), %xmm1
	movdqu	104(%rsp), %xmm2
	movdqu	120(%rsp), %xmm3
	movdqu	136(%rsp), %xmm4
	movdqu	152(%rsp), %xmm5
	movdqu	168(%rsp), %xmm6
	movdqu	184(%rsp), %xmm7
	addq	$200, %rsp
	.cfi_adjust_cfa_offset -200
	jmp	*%r11
	.cfi_endproc
	.size	kpf_defer_stub_slow, . - kpf_defer_stub_slow

	.section .note.GNU-stack, "", @progbits
