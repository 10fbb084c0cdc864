/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * void torture_run(struct torture_state *st, uint64_t iters, int mode)
 *
 * A loop that keeps live state in all 15 GPRs, in the flags (CF carried
 * over the back edge through adc; dec does not touch CF), in xmm0-15
 * (mode 0), ymm0-15 (mode >= 1, AVX), zmm16-31 and k1-k2 (mode 2,
 * AVX-512F), in the red zone below rsp, and whose floating-point results
 * depend on the MXCSR rounding mode. Any register a preemption fails to
 * restore changes the final state, which the test compares bit for bit
 * with an undisturbed run.
 *
 * struct torture_state layout: see ST_* below and kpf_torture.h.
 */
#define ST_GPR		0	/* rax rbx rcx rdx rsi rdi rbp r8-r15 (15) */
#define ST_FLAGS	120
#define ST_MXCSR	128
#define ST_FCW		132
#define ST_RED		136	/* red zone fold */
#define ST_VEC		192	/* 16 x 32 bytes: xmm/ymm0-15 */
#define ST_ZMM		704	/* 16 x 64 bytes: zmm16-31 */
#define ST_K		1728	/* k1, k2 */

	.text
/*
 * The general-register half of one iteration, the same in every variant:
 * a carry chain (adc), rotates, a multiply and red-zone loads/stores, so
 * that any register, flag or red-zone byte lost by a preemption changes
 * the result.
 */
.macro TORTURE_GPR_HEAD
	adcq	%rax, %rbx
	rolq	$13, %rbx
	xorq	%rbx, %rcx
	leaq	(%rcx,%rdx,2), %rdx
	addq	%rdx, %rsi
	adcq	%rsi, %rdi
	xorq	%r15, %rdi
	imulq	%rdi, %rbp
	addq	%rbp, %r8
	movq	-24(%rsp), %r9
	xorq	%r8, %r9
	movq	%r9, -24(%rsp)
	subq	%r9, %r10
	rorq	$5, %r10
	addq	%r10, %r11
	xorq	-96(%rsp), %r11
	movq	%r11, -96(%rsp)
.endm

.macro TORTURE_GPR_TAIL
	addq	%r13, %r14
	rolq	$17, %r14
	movq	%r14, %rax
.endm

	.globl	torture_run
	.type	torture_run, @function
torture_run:
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	%rdi			/* st at (%rsp) */
	movl	%edx, %r8d		/* mode, for the stores below */
	pushq	%r8
	movq	%rsi, %r15		/* iteration counter */
	ldmxcsr	ST_MXCSR(%rdi)
	fldcw	ST_FCW(%rdi)
	cmpl	$0, %edx
	je	1f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	ST_VEC+\n*32(%rdi), %ymm\n
	.endr
	cmpl	$2, %edx
	jne	2f
	.irp n,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 ST_ZMM+(\n-16)*64(%rdi), %zmm\n
	.endr
	kmovq	ST_K(%rdi), %k1
	kmovq	ST_K+8(%rdi), %k2
	jmp	2f
1:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	ST_VEC+\n*32(%rdi), %xmm\n
	.endr
2:
	/* seed the red zone */
	movq	ST_GPR+0(%rdi), %rax
	.irp off,8,16,24,32,40,48,56,64,72,80,88,96,104,112,120,128
	movq	%rax, -\off(%rsp)
	addq	$0x1e3779b9, %rax
	.endr
	movq	ST_GPR+0(%rdi), %rax
	movq	ST_GPR+8(%rdi), %rbx
	movq	ST_GPR+16(%rdi), %rcx
	movq	ST_GPR+24(%rdi), %rdx
	movq	ST_GPR+32(%rdi), %rsi
	movq	ST_GPR+48(%rdi), %rbp
	movq	ST_GPR+56(%rdi), %r8
	movq	ST_GPR+64(%rdi), %r9
	movq	ST_GPR+72(%rdi), %r10
	movq	ST_GPR+80(%rdi), %r11
	movq	ST_GPR+88(%rdi), %r12
	movq	ST_GPR+96(%rdi), %r13
	movq	ST_GPR+104(%rdi), %r14
	pushq	ST_FLAGS(%rdi)
	movq	ST_GPR+40(%rdi), %rdi
	popfq

	cmpl	$0, (%rsp)
	jne	.Lavx_loop
.Lsse_loop:
	TORTURE_GPR_HEAD
	paddq	%xmm0, %xmm1
	pxor	%xmm1, %xmm2
	pshufd	$0x4e, %xmm2, %xmm3
	paddd	%xmm3, %xmm4
	pmuludq	%xmm4, %xmm5
	pxor	%xmm5, %xmm6
	paddq	%xmm6, %xmm7
	psllq	$3, %xmm8
	pxor	%xmm7, %xmm8
	paddq	%xmm8, %xmm9
	pxor	%xmm9, %xmm10
	paddq	%xmm10, %xmm11
	pxor	%xmm11, %xmm12
	paddq	%xmm12, %xmm13
	cvtsi2sdq %r11, %xmm14
	divsd	%xmm15, %xmm14
	sqrtsd	%xmm14, %xmm14
	movq	%xmm14, %r12
	xorq	%r12, %r13
	movq	%r13, %xmm0
	TORTURE_GPR_TAIL
	addq	%r12, %r13		/* CF for the next adc */
	decq	%r15
	jnz	.Lsse_loop
	jmp	.Ldone

.Lavx_loop:
	TORTURE_GPR_HEAD
	vpaddq	%ymm0, %ymm1, %ymm1
	vpxor	%ymm1, %ymm2, %ymm2
	vpermq	$0x4e, %ymm2, %ymm3
	vpaddd	%ymm3, %ymm4, %ymm4
	vpmuludq %ymm4, %ymm5, %ymm5
	vpxor	%ymm5, %ymm6, %ymm6
	vpaddq	%ymm6, %ymm7, %ymm7
	vpsllq	$3, %ymm8, %ymm8
	vpxor	%ymm7, %ymm8, %ymm8
	vpaddq	%ymm8, %ymm9, %ymm9
	vpxor	%ymm9, %ymm10, %ymm10
	vpaddq	%ymm10, %ymm11, %ymm11
	vpxor	%ymm11, %ymm12, %ymm12
	vpaddq	%ymm12, %ymm13, %ymm13
	vcvtsi2sdq %r11, %xmm14, %xmm14
	vdivsd	%xmm15, %xmm14, %xmm14
	vsqrtsd	%xmm14, %xmm14, %xmm14
	vmovq	%xmm14, %r12
	xorq	%r12, %r13
	vmovq	%r13, %xmm0
	vpbroadcastq %xmm0, %ymm0
	TORTURE_GPR_TAIL
	cmpl	$2, (%rsp)
	jne	3f
	vpaddq	%zmm16, %zmm17, %zmm17
	vpxorq	%zmm17, %zmm18, %zmm18
	vpaddq	%zmm18, %zmm19, %zmm19
	vpxorq	%zmm19, %zmm20, %zmm20
	vpaddq	%zmm20, %zmm21, %zmm21
	vpxorq	%zmm21, %zmm22, %zmm22
	vpaddq	%zmm22, %zmm23, %zmm23
	vpxorq	%zmm23, %zmm24, %zmm24
	vpaddq	%zmm24, %zmm25, %zmm25
	vpxorq	%zmm25, %zmm26, %zmm26
	vpaddq	%zmm26, %zmm27, %zmm27
	vpxorq	%zmm27, %zmm28, %zmm28
	vpaddq	%zmm28, %zmm29, %zmm29
	vpxorq	%zmm29, %zmm30, %zmm30
	vpaddq	%zmm30, %zmm31, %zmm31
	vpbroadcastq %r13, %zmm16
	vpcmpuq	$1, %zmm31, %zmm30, %k1{%k2}
	kaddq	%k1, %k2, %k2
3:
	addq	%r12, %r13		/* CF for the next adc */
	decq	%r15
	jnz	.Lavx_loop

.Ldone:
	pushfq
	pushq	%rdi
	movq	24(%rsp), %rdi		/* st (above flags, rdi, mode) */
	movq	%rax, ST_GPR+0(%rdi)
	popq	%rax
	movq	%rax, ST_GPR+40(%rdi)
	popq	%rax
	andq	$0x8d5, %rax		/* CF PF AF ZF SF OF */
	movq	%rax, ST_FLAGS(%rdi)
	movq	%rbx, ST_GPR+8(%rdi)
	movq	%rcx, ST_GPR+16(%rdi)
	movq	%rdx, ST_GPR+24(%rdi)
	movq	%rsi, ST_GPR+32(%rdi)
	movq	%rbp, ST_GPR+48(%rdi)
	movq	%r8, ST_GPR+56(%rdi)
	movq	%r9, ST_GPR+64(%rdi)
	movq	%r10, ST_GPR+72(%rdi)
	movq	%r11, ST_GPR+80(%rdi)
	movq	%r12, ST_GPR+88(%rdi)
	movq	%r13, ST_GPR+96(%rdi)
	movq	%r14, ST_GPR+104(%rdi)
	movq	%r15, ST_GPR+112(%rdi)
	/* fold the red zone (slots 8 and 16 were overwritten by the pushes) */
	xorl	%eax, %eax
	.irp off,8,16,24,32,40,48,56,64,72,80,88,96,104,112,120,128
	addq	-\off(%rsp), %rax
	rolq	$3, %rax
	.endr
	movq	%rax, ST_RED(%rdi)
	stmxcsr	ST_MXCSR(%rdi)
	fnstcw	ST_FCW(%rdi)
	popq	%r8			/* mode */
	cmpl	$0, %r8d
	je	4f
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	%ymm\n, ST_VEC+\n*32(%rdi)
	.endr
	cmpl	$2, %r8d
	jne	5f
	.irp n,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 %zmm\n, ST_ZMM+(\n-16)*64(%rdi)
	.endr
	kmovq	%k1, ST_K(%rdi)
	kmovq	%k2, ST_K+8(%rdi)
5:	vzeroupper
	jmp	6f
4:
	.irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	%xmm\n, ST_VEC+\n*32(%rdi)
	.endr
6:	popq	%rdi
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	ret
	.size	torture_run, . - torture_run

	.section .note.GNU-stack, "", @progbits
