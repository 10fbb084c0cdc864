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
 * interrupted code without a system call (KPF_FRAME_RESUME).
 */
#include "kpf_frame_resume.h"

	.text
	.globl kb_upcall_entry
	.type kb_upcall_entry, @function
	.p2align 4
kb_upcall_entry:
	movq	%rdi, %rbx		/* callee-saved: the area */
	andq	$-16, %rsp		/* ABI alignment for the call */
	call	kb_upcall_hook

	KPF_FRAME_RESUME %rbx
	.size kb_upcall_entry, . - kb_upcall_entry

	.section .note.GNU-stack, "", @progbits
