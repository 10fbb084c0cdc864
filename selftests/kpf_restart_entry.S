/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Upcall entry for kpf_restart: calls kpf_restart_upcall(area) in C on
 * the upcall stack, then resumes the interrupted frame.
 */
#include "kpf_frame_resume.h"

	.text
	.globl kpf_restart_entry
	.type kpf_restart_entry, @function
	.p2align 4
kpf_restart_entry:
	/* rbx is restored from the frame like every other register. */
	movq	%rdi, %rbx
	andq	$-16, %rsp
	call	kpf_restart_upcall
	movq	%rbx, %rdi
	KPF_FRAME_RESUME %rdi
	.size kpf_restart_entry, . - kpf_restart_entry

	.section .note.GNU-stack, "", @progbits
