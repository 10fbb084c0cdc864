/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kb_upcall_entry: kpf-bench's upcall entry.
 *
 * The kernel enters it on the upcall stack with rsp = top - 8, rdi = the
 * area and every other register as interrupted. All 15 GPRs, rip, rsp and
 * rflags are saved in area->frame, so the entry may clobber any GPR; the
 * FPU/SSE state is still the interrupted code's, so the C hook it calls
 * is built with -mgeneral-regs-only.
 *
 * It calls kb_upcall_hook(area) (timestamps, counters), then resumes the
 * interrupted code without a system call, as the ABI describes: the GPRs,
 * rflags and rip are copied below the interrupted red zone
 * (frame.rsp - 128 - 17 * 8), in_upcall goes back to KPF_UPCALL_IDLE, rsp
 * moves there, the GPRs are popped, popfq, and "ret $128" returns to rip
 * with rsp = frame.rsp.
 *
 * <linux/kpf.h> cannot be included here (no __ASSEMBLY__ guard); kmod.c
 * checks these offsets with _Static_assert.
 */
#define KPF_UPCALL_IDLE	0
#define AREA_IN_UPCALL	40
#define AREA_FRAME	48
#define F_RIP		15
#define F_RSP		16
#define F_RFLAGS	17
#define RED_ZONE	128
#define RESUME_BYTES	(17 * 8)

	.text
	.globl kb_upcall_entry
	.type kb_upcall_entry, @function
	.p2align 4
kb_upcall_entry:
	movq	%rdi, %rbx		/* callee-saved: the area */
	andq	$-16, %rsp		/* ABI alignment for the call */
	call	kb_upcall_hook

	/* Build the resume block below the interrupted red zone. */
	movq	AREA_FRAME + 8 * F_RSP(%rbx), %rsi
	subq	$(RED_ZONE + RESUME_BYTES), %rsi
	xorl	%ecx, %ecx
1:	movq	AREA_FRAME(%rbx, %rcx, 8), %rax	/* r15 .. rdi */
	movq	%rax, (%rsi, %rcx, 8)
	incl	%ecx
	cmpl	$15, %ecx
	jne	1b
	movq	AREA_FRAME + 8 * F_RFLAGS(%rbx), %rax
	movq	%rax, 15 * 8(%rsi)
	movq	AREA_FRAME + 8 * F_RIP(%rbx), %rax
	movq	%rax, 16 * 8(%rsi)

	/* The frame is copied: the kernel may deliver again from here on. */
	movl	$KPF_UPCALL_IDLE, AREA_IN_UPCALL(%rbx)
	movq	%rsi, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rax
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
	popfq
	ret	$RED_ZONE
	.size kb_upcall_entry, . - kb_upcall_entry

	.section .note.GNU-stack, "", @progbits
