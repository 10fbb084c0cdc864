/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Spin in 32-bit compatibility mode (the x86-64 kernel's __USER32_CS,
 * 0x23) until a flag in memory becomes non-zero, then come back to 64-bit
 * mode (__USER_CS, 0x33). kpf cannot deliver an upcall to a 32-bit frame
 * and drops such expiries: kpf_transient checks that a periodic timer
 * delivers again once the thread is back.
 *
 * The selftests are static, non-PIE executables: code and .bss lie below
 * 4 GiB, where 32-bit code can address them. The 64-bit registers are
 * saved in memory and restored after the round trip: their upper halves
 * are not guaranteed to survive compatibility mode.
 */
#define USER32_CS	0x23
#define USER_CS		0x33

	.bss
	.balign 8
saved:	.skip 8 * 7

	.data
	.balign 8
to32:	.long 1f
	.word USER32_CS

	.text
/* void kpf_test_compat_spin(volatile uint32_t *flag), @flag below 4 GiB */
	.globl kpf_test_compat_spin
	.type kpf_test_compat_spin, @function
kpf_test_compat_spin:
	movq %rsp, saved + 0(%rip)
	movq %rbx, saved + 8(%rip)
	movq %rbp, saved + 16(%rip)
	movq %r12, saved + 24(%rip)
	movq %r13, saved + 32(%rip)
	movq %r14, saved + 40(%rip)
	movq %r15, saved + 48(%rip)
	movl %edi, %ebx
	ljmpl *to32(%rip)

	.code32
1:	pause
	cmpl $0, (%ebx)
	je 1b
	ljmp $USER_CS, $2f

	.code64
2:	movq saved + 0(%rip), %rsp
	movq saved + 8(%rip), %rbx
	movq saved + 16(%rip), %rbp
	movq saved + 24(%rip), %r12
	movq saved + 32(%rip), %r13
	movq saved + 40(%rip), %r14
	movq saved + 48(%rip), %r15
	ret
	.size kpf_test_compat_spin, . - kpf_test_compat_spin

	.section .note.GNU-stack, "", @progbits
