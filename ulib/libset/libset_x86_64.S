/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libset first-call path, reached from the per-function entries of
 * the first-call table that libset_stub.c generates, with r11d = function
 * id and the stack exactly as the caller left it for the library function
 * ([rsp] = return address, stack arguments above it).
 *
 * Every argument register a call may use is saved (rdi, rsi, rdx, rcx,
 * r8, r9, rax = number of vector registers of a varargs call, r10 =
 * static chain, xmm0-7),
 * the C decision is called, everything is restored and the call continues
 * with a jump to the function the C code returned: the library function
 * sees the original arguments, stack and return address.
 */
	.text

.macro KPF_LIBSET_SLOW name, decide
	.globl \name
	.hidden \name
	.type \name, @function
	.p2align 4
\name:
	.cfi_startproc
	push	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	mov	%rsp, %rbp
	.cfi_def_cfa_register rbp
	push	%rdi
	push	%rsi
	push	%rdx
	push	%rcx
	push	%r8
	push	%r9
	push	%rax
	push	%r10			/* static chain */
	/* entry rsp = 0 mod 16 + 8: rbp and the 8 pushes leave it aligned */
	sub	$128, %rsp
	movdqa	%xmm0, 0(%rsp)
	movdqa	%xmm1, 16(%rsp)
	movdqa	%xmm2, 32(%rsp)
	movdqa	%xmm3, 48(%rsp)
	movdqa	%xmm4, 64(%rsp)
	movdqa	%xmm5, 80(%rsp)
	movdqa	%xmm6, 96(%rsp)
	movdqa	%xmm7, 112(%rsp)
	mov	%r11d, %edi		/* id */
	call	\decide
	mov	%rax, %r11		/* where the call goes */
	movdqa	0(%rsp), %xmm0
	movdqa	16(%rsp), %xmm1
	movdqa	32(%rsp), %xmm2
	movdqa	48(%rsp), %xmm3
	movdqa	64(%rsp), %xmm4
	movdqa	80(%rsp), %xmm5
	movdqa	96(%rsp), %xmm6
	movdqa	112(%rsp), %xmm7
	add	$128, %rsp
	pop	%r10
	pop	%rax
	pop	%r9
	pop	%r8
	pop	%rcx
	pop	%rdx
	pop	%rsi
	pop	%rdi
	pop	%rbp
	.cfi_def_cfa rsp, 8
	.cfi_restore rbp
	jmp	*%r11
	.cfi_endproc
	.size \name, . - \name
.endm

	KPF_LIBSET_SLOW kpf_libset_first_call_entry, kpf_libset_first_call

	.section .note.GNU-stack, "", @progbits
