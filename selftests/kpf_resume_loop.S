/* SPDX-License-Identifier: GPL-2.0 */
/*
 * void kpf_resume_loop(struct loop_state *st, uint64_t iters)
 *
 * A loop whose whole state lives in registers, flags, the red zone and
 * SSE state, so that any register, flag, red-zone word, xmm register or
 * MXCSR bit an upcall fails to restore changes the result:
 *   - 14 GPRs are mixed by an adc chain; r15 counts iterations;
 *   - the carry out of the last adc is consumed by the first adc of the
 *     next iteration (only flag-preserving instructions run in between:
 *     bswap, lea, xchg, SSE, dec, jnz), so CF is live almost everywhere;
 *   - four red-zone words are swapped with registers every iteration;
 *   - xmm0-5 compute x = x * c + d in the loaded (non-default) rounding
 *     mode, xmm8-15 are an integer chain fed by their bits.
 * iters must be non-zero. The state is loaded from and stored back to
 * *st, so the loop can run in chunks.
 *
 * struct loop_state (see kpf_resume.c):
 *	0	gpr[14]: rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14
 *	112	carry
 *	120	red[4]: -16, -48, -88, -120 (%rsp)
 *	152	mxcsr (u32), pad
 *	160	xmm[16]
 */
#define ST_CARRY	112
#define ST_RED		120
#define ST_MXCSR	152
#define ST_XMM		160

	.text
	.globl kpf_resume_loop
	.type kpf_resume_loop, @function
	.p2align 4
kpf_resume_loop:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$16, %rsp
	stmxcsr	8(%rsp)			/* the caller's MXCSR */
	movq	%rdi, (%rsp)		/* st, needed again after the loop */
	movq	%rsi, %r15

	ldmxcsr	ST_MXCSR(%rdi)
	.irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu	ST_XMM + 16 * \i(%rdi), %xmm\i
	.endr
	movq	ST_RED + 0(%rdi), %rax
	movq	%rax, -16(%rsp)
	movq	ST_RED + 8(%rdi), %rax
	movq	%rax, -48(%rsp)
	movq	ST_RED + 16(%rdi), %rax
	movq	%rax, -88(%rsp)
	movq	ST_RED + 24(%rdi), %rax
	movq	%rax, -120(%rsp)
	movq	0(%rdi), %rax
	movq	8(%rdi), %rbx
	movq	16(%rdi), %rcx
	movq	24(%rdi), %rdx
	movq	32(%rdi), %rsi
	movq	48(%rdi), %rbp
	movq	56(%rdi), %r8
	movq	64(%rdi), %r9
	movq	72(%rdi), %r10
	movq	80(%rdi), %r11
	movq	88(%rdi), %r12
	movq	96(%rdi), %r13
	movq	104(%rdi), %r14
	btq	$0, ST_CARRY(%rdi)	/* CF = saved carry */
	movq	40(%rdi), %rdi		/* mov leaves CF alone */

	.p2align 4
1:	adcq	%r14, %rax
	adcq	%rax, %rbx
	adcq	%rbx, %rcx
	adcq	%rcx, %rdx
	adcq	%rdx, %rsi
	adcq	%rsi, %rdi
	adcq	%rdi, %rbp
	adcq	%rbp, %r8
	adcq	%r8, %r9
	adcq	%r9, %r10
	adcq	%r10, %r11
	adcq	%r11, %r12
	adcq	%r12, %r13
	adcq	%r13, %r14
	/* From here to the next adc nothing may write the flags. */
	bswapq	%rax
	leaq	0x9e37(%rbx, %rcx, 4), %rbx
	bswapq	%rdx
	leaq	(%rsi, %rsi, 8), %rsi
	bswapq	%r9
	leaq	1(%r11, %r12, 2), %r11
	xchgq	%rbp, -16(%rsp)
	xchgq	%r10, -48(%rsp)
	xchgq	%r13, -88(%rsp)
	xchgq	%rdi, -120(%rsp)
	mulpd	%xmm6, %xmm0
	addpd	%xmm7, %xmm0
	mulpd	%xmm6, %xmm1
	addpd	%xmm7, %xmm1
	mulpd	%xmm6, %xmm2
	addpd	%xmm7, %xmm2
	mulpd	%xmm6, %xmm3
	addpd	%xmm7, %xmm3
	mulpd	%xmm7, %xmm4
	divpd	%xmm7, %xmm4
	mulpd	%xmm6, %xmm5
	paddq	%xmm0, %xmm8
	pxor	%xmm8, %xmm9
	paddq	%xmm9, %xmm10
	pshufd	$0x4e, %xmm10, %xmm10
	paddq	%xmm10, %xmm11
	pxor	%xmm11, %xmm12
	paddq	%xmm12, %xmm13
	pshufd	$0xb1, %xmm13, %xmm13
	pxor	%xmm13, %xmm14
	paddq	%xmm14, %xmm15
	paddq	%xmm15, %xmm8
	paddq	%xmm1, %xmm9
	paddq	%xmm4, %xmm10
	paddq	%xmm5, %xmm11
	decq	%r15			/* dec keeps CF */
	jnz	1b
	.globl kpf_resume_loop_end
kpf_resume_loop_end:

	movq	%rdi, -128(%rsp)	/* red zone; mov keeps CF */
	movq	(%rsp), %rdi
	movq	$0, ST_CARRY(%rdi)
	setc	ST_CARRY(%rdi)
	movq	%rax, 0(%rdi)
	movq	%rbx, 8(%rdi)
	movq	%rcx, 16(%rdi)
	movq	%rdx, 24(%rdi)
	movq	%rsi, 32(%rdi)
	movq	-128(%rsp), %rax
	movq	%rax, 40(%rdi)
	movq	%rbp, 48(%rdi)
	movq	%r8, 56(%rdi)
	movq	%r9, 64(%rdi)
	movq	%r10, 72(%rdi)
	movq	%r11, 80(%rdi)
	movq	%r12, 88(%rdi)
	movq	%r13, 96(%rdi)
	movq	%r14, 104(%rdi)
	movq	-16(%rsp), %rax
	movq	%rax, ST_RED + 0(%rdi)
	movq	-48(%rsp), %rax
	movq	%rax, ST_RED + 8(%rdi)
	movq	-88(%rsp), %rax
	movq	%rax, ST_RED + 16(%rdi)
	movq	-120(%rsp), %rax
	movq	%rax, ST_RED + 24(%rdi)
	stmxcsr	ST_MXCSR(%rdi)
	.irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	movdqu	%xmm\i, ST_XMM + 16 * \i(%rdi)
	.endr

	ldmxcsr	8(%rsp)
	addq	$16, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
	.size kpf_resume_loop, . - kpf_resume_loop

	.section .note.GNU-stack, "", @progbits
