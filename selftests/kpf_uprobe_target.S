/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The function kpf_uprobe probes. Its first instruction is a lea, which
 * x86 uprobes do not emulate: every hit single-steps it out of line (XOL),
 * the window in which kpf must not deliver.
 */
	.text
	.globl kpf_test_uprobe_target
	.type kpf_test_uprobe_target, @function
/* uint64_t kpf_test_uprobe_target(uint64_t x): 3 * x + 1 */
kpf_test_uprobe_target:
	lea 1(%rdi,%rdi,2), %rax
	ret
	.size kpf_test_uprobe_target, . - kpf_test_uprobe_target

	.section .note.GNU-stack, "", @progbits
