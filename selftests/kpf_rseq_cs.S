/* SPDX-License-Identifier: GPL-2.0 */
/*
 * long kpf_rseq_spin(struct rseq *rs, uint64_t iters)
 *
 * Spins @iters times inside an rseq critical section. Returns 0 if the
 * section completed, 1 if the kernel aborted it (ip moved to the abort
 * handler). An upcall that preempts the section must be delivered with
 * the abort already applied to the saved frame: resuming inside the
 * section would silently break rseq's guarantee.
 */
/* glibc's registration signature (bits/rseq.h, x86) */
#define RSEQ_SIG	0x53053053
#define RSEQ_CS_OFF	8	/* offsetof(struct rseq, rseq_cs) */

	.section .data.rel.ro, "aw"
	.p2align 5
	.globl kpf_rseq_cs_desc
kpf_rseq_cs_desc:			/* struct rseq_cs */
	.long	0			/* version */
	.long	0			/* flags */
	.quad	kpf_rseq_start
	.quad	kpf_rseq_post_commit - kpf_rseq_start
	.quad	kpf_rseq_abort

	.text
	.globl kpf_rseq_spin
	.type kpf_rseq_spin, @function
	.p2align 4
kpf_rseq_spin:
	leaq	kpf_rseq_cs_desc(%rip), %rax
	movq	%rax, RSEQ_CS_OFF(%rdi)
	.globl kpf_rseq_start
kpf_rseq_start:
1:	decq	%rsi
	jnz	1b
	.globl kpf_rseq_post_commit
kpf_rseq_post_commit:
	movq	$0, RSEQ_CS_OFF(%rdi)
	xorl	%eax, %eax
	ret
	/* The kernel checks these 4 bytes just before the abort ip. */
	.long	RSEQ_SIG
	.globl kpf_rseq_abort
kpf_rseq_abort:
	movq	$0, RSEQ_CS_OFF(%rdi)
	movl	$1, %eax
	ret
	.size kpf_rseq_spin, . - kpf_rseq_spin

/*
 * long kpf_rseq_read(struct rseq *rs, int fd, void *buf): a critical
 * section that blocks in read(fd, buf, 1). The kernel aborts it when the
 * thread slept in it: returns 1 then, 0 if it reached the commit.
 */
	.section .data.rel.ro, "aw"
	.p2align 5
	.globl kpf_rseq_read_desc
kpf_rseq_read_desc:			/* struct rseq_cs */
	.long	0
	.long	0
	.quad	kpf_rseq_read_start
	.quad	kpf_rseq_read_post_commit - kpf_rseq_read_start
	.quad	kpf_rseq_read_abort

	.text
	.globl kpf_rseq_read
	.type kpf_rseq_read, @function
	.p2align 4
kpf_rseq_read:
	movq	%rdi, %r8		/* syscall keeps r8 */
	leaq	kpf_rseq_read_desc(%rip), %rax
	movq	%rax, RSEQ_CS_OFF(%r8)
	.globl kpf_rseq_read_start
kpf_rseq_read_start:
	movl	%esi, %edi
	movq	%rdx, %rsi
	movl	$1, %edx
	xorl	%eax, %eax		/* SYS_read */
	syscall
	nop				/* the return lands inside the section */
	.globl kpf_rseq_read_post_commit
kpf_rseq_read_post_commit:
	movq	$0, RSEQ_CS_OFF(%r8)
	xorl	%eax, %eax
	ret
	.long	RSEQ_SIG
	.globl kpf_rseq_read_abort
kpf_rseq_read_abort:
	movq	$0, RSEQ_CS_OFF(%r8)
	movl	$1, %eax
	ret
	.size kpf_rseq_read, . - kpf_rseq_read

	.section .note.GNU-stack, "", @progbits
