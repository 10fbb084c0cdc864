/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * User-side helpers in tools/include/ are dual-licensed so that both the
 * GPL-2.0 tools and selftests and the LGPL libkpf (ulib/switch_x86_64.S)
 * may include them.
 */
/*
 * Resume the code an upcall interrupted, from assembly, without a system
 * call: KPF_FRAME_RESUME area_reg.
 *
 * The interrupted function may keep live data in the 128-byte red zone
 * below its rsp, so nothing may be written there. The macro
 *  - copies r15..rdi, rflags and rip from area->frame onto the
 *    *interrupted* stack below its red zone (frame.rsp - 128 - 17 * 8);
 *  - sets area->in_upcall back to KPF_UPCALL_IDLE: from here on the
 *    kernel may write a new frame;
 *  - moves rsp to the copy, pops the GPRs, popfq, and "ret $128" jumps to
 *    rip and drops the gap, leaving rsp exactly at frame.rsp.
 * If another upcall lands during the pops, its frame describes them, and
 * resuming it copies below the current rsp again: the data still to be
 * popped is never overwritten.
 *
 * No FPU/SSE instruction is used. It clobbers everything (all registers
 * are restored from the frame). The offsets are those of struct kpf_area
 * in <linux/kpf.h>, which has no assembler guard; C code that includes
 * both checks them with kpf_frame_resume_check().
 */
#ifndef KPF_FRAME_RESUME_H
#define KPF_FRAME_RESUME_H

#define KPF_ASM_UPCALL_IDLE	0
#define KPF_ASM_AREA_IN_UPCALL	40
#define KPF_ASM_AREA_FRAME	48
#define KPF_ASM_FRAME_RIP	15	/* index of rip in struct kpf_frame */
#define KPF_ASM_FRAME_RSP	16
#define KPF_ASM_FRAME_RFLAGS	17
#define KPF_ASM_RED_ZONE	128

#ifdef __ASSEMBLER__

/*
 * rsp points at r15..rdi (pt_regs order), rflags, rip, copied below the
 * red zone of the stack being resumed: restore them, leaving rsp 128
 * bytes above the block's end.
 *
 * KPF_FRAME_POP at, with @at the symbol of its first instruction, also
 * labels each instruction .L<at>_<k>, k the entries popped before it
 * (0..16): a frame interrupted there has k of them in registers and the
 * rest at rsp. libkpf lists the offsets to unwind such an interrupt
 * (ulib/switch_x86_64.S).
 */
.macro KPF_FRAME_POP_INSN at, k, insn:vararg
.ifnb \at
	.set	.L\at\()_\k, .
.endif
	\insn
.endm

.macro KPF_FRAME_POP at
	KPF_FRAME_POP_INSN \at, 0, popq %r15
	KPF_FRAME_POP_INSN \at, 1, popq %r14
	KPF_FRAME_POP_INSN \at, 2, popq %r13
	KPF_FRAME_POP_INSN \at, 3, popq %r12
	KPF_FRAME_POP_INSN \at, 4, popq %rbp
	KPF_FRAME_POP_INSN \at, 5, popq %rbx
	KPF_FRAME_POP_INSN \at, 6, popq %r11
	KPF_FRAME_POP_INSN \at, 7, popq %r10
	KPF_FRAME_POP_INSN \at, 8, popq %r9
	KPF_FRAME_POP_INSN \at, 9, popq %r8
	KPF_FRAME_POP_INSN \at, 10, popq %rax
	KPF_FRAME_POP_INSN \at, 11, popq %rcx
	KPF_FRAME_POP_INSN \at, 12, popq %rdx
	KPF_FRAME_POP_INSN \at, 13, popq %rsi
	KPF_FRAME_POP_INSN \at, 14, popq %rdi
	KPF_FRAME_POP_INSN \at, 15, popfq
	KPF_FRAME_POP_INSN \at, 16, ret $KPF_ASM_RED_ZONE
.endm

.macro KPF_FRAME_RESUME area:req
	movq	KPF_ASM_AREA_FRAME + 8 * KPF_ASM_FRAME_RSP(\area), %rsi
	subq	$(KPF_ASM_RED_ZONE + 17 * 8), %rsi
	/*
	 * r15 .. rdi, pt_regs order. Unrolled: two instructions a register
	 * instead of five, a tenth of what the rest of an upcall costs in
	 * user space.
	 */
	.irp kpf_i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
	movq	KPF_ASM_AREA_FRAME + 8 * \kpf_i(\area), %rax
	movq	%rax, 8 * \kpf_i(%rsi)
	.endr
	movq	KPF_ASM_AREA_FRAME + 8 * KPF_ASM_FRAME_RFLAGS(\area), %rax
	movq	%rax, 15 * 8(%rsi)
	movq	KPF_ASM_AREA_FRAME + 8 * KPF_ASM_FRAME_RIP(\area), %rax
	movq	%rax, 16 * 8(%rsi)
	movl	$KPF_ASM_UPCALL_IDLE, KPF_ASM_AREA_IN_UPCALL(\area)
	movq	%rsi, %rsp
	KPF_FRAME_POP
.endm

#else

#include <stddef.h>
#include <linux/kpf.h>

/* The constants above are struct kpf_area's layout. */
static inline void kpf_frame_resume_check(void)
{
	_Static_assert(KPF_ASM_UPCALL_IDLE == KPF_UPCALL_IDLE, "idle");
	_Static_assert(KPF_ASM_AREA_IN_UPCALL ==
		       offsetof(struct kpf_area, in_upcall), "in_upcall");
	_Static_assert(KPF_ASM_AREA_FRAME ==
		       offsetof(struct kpf_area, frame), "frame");
	_Static_assert(KPF_ASM_FRAME_RIP * 8 ==
		       offsetof(struct kpf_frame, rip), "rip");
	_Static_assert(KPF_ASM_FRAME_RSP * 8 ==
		       offsetof(struct kpf_frame, rsp), "rsp");
	_Static_assert(KPF_ASM_FRAME_RFLAGS * 8 ==
		       offsetof(struct kpf_frame, rflags), "rflags");
	_Static_assert(offsetof(struct kpf_frame, rdi) == 14 * 8, "gprs");
}

#endif /* __ASSEMBLER__ */
#endif /* KPF_FRAME_RESUME_H */
