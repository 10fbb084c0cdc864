/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Upcall entry shared by the kpf selftests.
 *
 * The kernel enters kpf_test_upcall_entry on the registered upcall stack
 * with rsp = top - 8, rdi = the area, DF/TF clear and every other register
 * as it was when the thread was preempted. The entry records what the
 * tests check (per-thread, in TLS, so several threads can use it at once)
 * and then resumes the interrupted code without a system call, with
 * KPF_FRAME_RESUME (tools/include/kpf_frame_resume.h).
 *
 * No FPU/SSE instruction is used: extended state stays as interrupted.
 */
/*
 * <linux/kpf.h> has no __ASSEMBLY__ guard: the offsets used here are
 * checked against it in kpf_frame_resume.h and kpf_test_util.h.
 */
#include "kpf_frame_resume.h"

#define AREA_FRAME	KPF_ASM_AREA_FRAME
#define FRAME(reg)	(AREA_FRAME + 8 * (reg))
#define F_R15		0
#define F_R14		1
#define F_R13		2
#define F_R12		3
#define F_RBP		4
#define F_RBX		5
#define F_R11		6
#define F_R10		7
#define F_R9		8
#define F_R8		9
#define F_RAX		10
#define F_RCX		11
#define F_RDX		12
#define F_RSI		13
#define F_RDI		14
#define F_RIP		15
#define F_RSP		16
#define F_RFLAGS	17
#define NR_FRAME	18

	.section .tbss, "awT", @nobits
	.p2align 3
	.globl kpf_test_upcall_count
kpf_test_upcall_count:		.zero 8
	.globl kpf_test_reg_mismatch
kpf_test_reg_mismatch:		.zero 8
	.globl kpf_test_entry_rsp
kpf_test_entry_rsp:		.zero 8
	.globl kpf_test_entry_rdi
kpf_test_entry_rdi:		.zero 8
	.globl kpf_test_entry_rflags
kpf_test_entry_rflags:		.zero 8
	.globl kpf_test_last_frame
kpf_test_last_frame:		.zero 8 * NR_FRAME

	.text
	.globl kpf_test_upcall_entry
	.type kpf_test_upcall_entry, @function
	.p2align 4
kpf_test_upcall_entry:
	/* Flags as the kernel handed them over (DF and TF must be clear). */
	pushfq
	/*
	 * Every register except rsp, rdi (and rip) must still hold its
	 * interrupted value: compare with the frame before touching any.
	 */
	cmpq	%r15, FRAME(F_R15)(%rdi)
	jne	1f
	cmpq	%r14, FRAME(F_R14)(%rdi)
	jne	1f
	cmpq	%r13, FRAME(F_R13)(%rdi)
	jne	1f
	cmpq	%r12, FRAME(F_R12)(%rdi)
	jne	1f
	cmpq	%rbp, FRAME(F_RBP)(%rdi)
	jne	1f
	cmpq	%rbx, FRAME(F_RBX)(%rdi)
	jne	1f
	cmpq	%r11, FRAME(F_R11)(%rdi)
	jne	1f
	cmpq	%r10, FRAME(F_R10)(%rdi)
	jne	1f
	cmpq	%r9, FRAME(F_R9)(%rdi)
	jne	1f
	cmpq	%r8, FRAME(F_R8)(%rdi)
	jne	1f
	cmpq	%rax, FRAME(F_RAX)(%rdi)
	jne	1f
	cmpq	%rcx, FRAME(F_RCX)(%rdi)
	jne	1f
	cmpq	%rdx, FRAME(F_RDX)(%rdi)
	jne	1f
	cmpq	%rsi, FRAME(F_RSI)(%rdi)
	jne	1f
	jmp	2f
1:	incq	%fs:kpf_test_reg_mismatch@tpoff
2:	popq	%fs:kpf_test_entry_rflags@tpoff
	movq	%rsp, %fs:kpf_test_entry_rsp@tpoff
	movq	%rdi, %fs:kpf_test_entry_rdi@tpoff
	incq	%fs:kpf_test_upcall_count@tpoff

	/* Keep a copy of the frame: the kernel may reuse area->frame. */
	movq	%fs:0, %rdx
	leaq	kpf_test_last_frame@tpoff(%rdx), %rdx
	xorl	%ecx, %ecx
3:	movq	AREA_FRAME(%rdi, %rcx, 8), %rax
	movq	%rax, (%rdx, %rcx, 8)
	incl	%ecx
	cmpl	$NR_FRAME, %ecx
	jne	3b

	KPF_FRAME_RESUME %rdi
	.size kpf_test_upcall_entry, . - kpf_test_upcall_entry

/*
 * long kpf_test_raw_syscall(long nr, long a1, long a2, long a3, long a4,
 *			     long a5)
 *
 * A system call whose return address is known (kpf_test_raw_syscall_ret),
 * so a test can check that an upcall arrived exactly when the call
 * returned. Returns the raw result (-errno on failure).
 */
	.globl kpf_test_raw_syscall
	.type kpf_test_raw_syscall, @function
	.p2align 4
kpf_test_raw_syscall:
	movq	%rdi, %rax
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	movq	%rcx, %rdx
	movq	%r8, %r10
	movq	%r9, %r8
	syscall
	.globl kpf_test_raw_syscall_ret
kpf_test_raw_syscall_ret:
	ret
	.size kpf_test_raw_syscall, . - kpf_test_raw_syscall

	.section .note.GNU-stack, "", @progbits
