/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The common half of the deferral stubs (defer_auto.c generates one
 * "endbr64; movabs $target, %r11; jmp *common" stub per target).
 *
 * Entered by a jump with r11 = the real function and [rsp] = the return
 * address into the caller: for the OUTERMOST deferred call it records the
 * deferral mark (rsp and [rsp]) in the thread, then JUMPS to the target.
 * Nothing is pushed and nothing stays on the stack, so stack-passed and
 * varargs arguments (al = vector count), r10 (static chain), unwinding,
 * longjmp and exit see the caller's own frame. Only r11 and the flags are
 * clobbered, as the PLT itself may do. rax is kept in the red zone below
 * rsp while it is borrowed: the callee has not started, and signal or
 * upcall frames are built below the red zone.
 *
 * An outer mark is still active when rsp is below it and its return
 * address is unchanged (an inner call from a callback keeps it);
 * otherwise it is stale and this call becomes the outermost. rsp equal
 * to the mark is a new call from the same place at the same depth: the
 * old call has returned (a call made by code inside it would have pushed
 * its own return address below the mark).
 *
 * When an expiry found the task inside the previous outermost call
 * (defer_want), the next outermost call is preempted at its stub, before
 * the call: a task that calls libc in a tight loop is stopped within one
 * iteration instead of waiting for a retry to land between two calls.
 *
 * In kpf_critical_text: an expiry that lands here is retried, so the
 * thread pointer read here is never used after a migration. The CFA is
 * rsp + 8 and the return address at [rsp], as at a function's entry,
 * except around the call in the preemption path (described by CFI).
 */
#include "../kpf_offsets.h"

	.section kpf_critical_text, "ax", @progbits
	.globl	kpf_defer_stub_common
	.hidden	kpf_defer_stub_common
	.type	kpf_defer_stub_common, @function
	.p2align 4
kpf_defer_stub_common:
	.cfi_startproc
	endbr64
	movq	%rax, -8(%rsp)
	movq	%r11, -16(%rsp)
	movq	kpf_tls_self@gottpoff(%rip), %r11
	movq	%fs:(%r11), %rax
	testq	%rax, %rax
	jz	2f				/* a thread kpf never saw */
	movq	KPF_THREAD_MARK(%rax), %r11
	cmpq	%rsp, %r11
	jbe	1f				/* mark not above rsp: stale */
	movq	(%r11), %r11
	cmpq	KPF_THREAD_MARK_RET(%rax), %r11
	je	2f				/* an outer call is active */
1:	cmpl	$0, KPF_THREAD_DEFER_WANT(%rax)
	jne	3f				/* an expiry waits for this */
	movq	%rsp, KPF_THREAD_MARK(%rax)
	movq	(%rsp), %r11
	movq	%r11, KPF_THREAD_MARK_RET(%rax)
2:	movq	-8(%rsp), %rax
	jmp	*-16(%rsp)

	/*
	 * A new outermost call while an expiry that found the task inside
	 * the previous one is still owed: the task is in its own code, so
	 * preempt it here, before the call. Everything a callee may take as
	 * an argument is saved (rdi-r9, rax = vector count, r10 = static
	 * chain, xmm0-7); kpf_defer_stub_preempt() clears defer_want, so
	 * the second pass through the stub goes on to the call.
	 */
3:	movq	-8(%rsp), %rax
	movq	-16(%rsp), %r11
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
	jmp	kpf_defer_stub_common		/* maybe on another thread now */
	.cfi_endproc
	.size	kpf_defer_stub_common, . - kpf_defer_stub_common

	.section .note.GNU-stack, "", @progbits
