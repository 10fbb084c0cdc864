/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkpf context switching for x86-64.
 *
 * Two kinds of saved context (struct kpf_exec_ctx):
 *  - voluntary: made by kpf_switch() at a function call, so only what the
 *    ABI makes callee-saved is kept: rbx, rbp, r12-r15, the MXCSR control
 *    bits and the x87 control word, pushed on the context's own stack;
 *  - full: made by a preemption, which can stop code anywhere: all 15
 *    GPRs, rflags, rip, rsp (struct kpf_frame) and an xsave image.
 *
 * A full context is resumed without a system call: the C code builds a
 * resume frame [r15..rdi, rflags, rip] on the interrupted stack *below*
 * its 128-byte red zone; the assembly restores the extended state with
 * xrstor, points rsp at the frame, pops the GPRs, popfq, and "ret $128"
 * lands on rip with rsp back at its interrupted value. Nothing at or
 * above rsp - 128 is written, so leaf code using the red zone survives.
 *
 * An upcall that lands in the middle of the pops finds the rest of the
 * frame above its rsp, out of the way of its own resume frame; but that
 * frame then lies up to 264 bytes below the one being popped, and a chain
 * of such coincidences walks down the stack. Both pop sequences are
 * therefore labelled (KPF_FRAME_POP in kpf_frame_resume.h):
 * kpf_frame_pop_offsets holds the offset of each pop from the first, and
 * kpf_upcall() takes an interrupt at pop k as the frame still at rsp with
 * k entries already in registers, i.e. as the code the frame resumes,
 * at its own rip and rsp (kpf_frame_popped(), kpf_frame_unwind()).
 */
#include "kpf_offsets.h"
#include "kpf_frame_resume.h"

#define KPF_UPCALL_ACTIVE	1

	.text

/* Load the xsave mask into edx:eax; clobbers nothing else. */
.macro KPF_XMASK
	movl	kpf_xsave_mask_lo(%rip), %eax
	movl	kpf_xsave_mask_hi(%rip), %edx
.endm

/* xrstor (or fxrstor without XSAVE) from (\reg); clobbers eax, edx. */
.macro KPF_XRSTOR reg
	KPF_XMASK
	cmpl	$0, kpf_xsave_mode(%rip)
	je	1f
	xrstor64 (\reg)
	jmp	2f
1:	fxrstor64 (\reg)
2:
.endm

/*
 * The pops of a resume frame, at symbol \name, each labelled for
 * kpf_frame_pop_offsets (see above).
 */
.macro KPF_FRAME_POPS name
	.globl	\name
	.hidden	\name
\name:
	KPF_FRAME_POP \name
.endm

/*
 * void kpf_switch(struct kpf_exec_ctx *save, const struct kpf_exec_ctx *load,
 *                 struct kpf_thread *self)
 *
 * Save the caller as a voluntary context in *save, then continue *load.
 * Returns when something loads *save again.
 */
	.globl	kpf_switch
	.hidden	kpf_switch
	.type	kpf_switch, @function
	.p2align 4
kpf_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, KPF_CTX_RSP(%rdi)
	movl	$KPF_CTX_VOLUNTARY, KPF_CTX_KIND(%rdi)
	movq	%rsi, %rdi
	movq	%rdx, %rsi
	jmp	kpf_ctx_load
	.cfi_endproc
	.size	kpf_switch, . - kpf_switch

/*
 * void kpf_ctx_load(const struct kpf_exec_ctx *load, struct kpf_thread *self)
 *
 * Continue *load; never returns. A voluntary context returns from its
 * kpf_switch() call (library code, which clears self->busy itself). A
 * full context is the task's own code, so self->busy is cleared here,
 * once rsp is on the task's stack.
 *
 * The pops after that (kpf_ctx_load_pops) are then the task's code too:
 * an expiry there preempts the task, rightly, since its registers are
 * all in the frame or in registers already. Saved as it stands, though,
 * with rip a pop and rsp the partly popped frame, the task's next resume
 * frame would go up to 264 bytes below this one, and each further such
 * coincidence lower again. kpf_upcall() unwinds the frame instead: the
 * task is stopped at the rip and rsp it had before this resume.
 */
	.globl	kpf_ctx_load
	.hidden	kpf_ctx_load
	.type	kpf_ctx_load, @function
	.p2align 4
kpf_ctx_load:
	.cfi_startproc
	cmpl	$KPF_CTX_FULL, KPF_CTX_KIND(%rdi)
	je	.Lload_full
	movq	KPF_CTX_RSP(%rdi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
.Lload_full:
	movq	%rdi, %r8
	movq	%rsi, %r9
	movq	KPF_CTX_XSAVE(%r8), %rcx
	KPF_XRSTOR %rcx
	movq	KPF_CTX_RSP(%r8), %rsp
	movl	$0, KPF_THREAD_BUSY(%r9)
	KPF_FRAME_POPS kpf_ctx_load_pops
	.cfi_endproc
	.size	kpf_ctx_load, . - kpf_ctx_load

/*
 * void kpf_frame_return(struct kpf_thread *self, const void *xsave,
 *                       uint64_t frame_sp)
 *
 * Resume the code an upcall interrupted, exactly as it was (the expiry
 * came too early or hit library code). in_upcall is released only after
 * rsp has left the upcall stack, so a new upcall cannot overwrite the
 * stack we run on; if an expiry was deferred meanwhile (pending), the
 * same frame goes through the upcall again.
 *
 * In kpf_critical_text: once in_upcall is released, a new expiry can
 * interrupt this code on the task's stack, and the frame it is about to
 * return to may be inside libc with no mark (a call through a dlsym()
 * pointer: only its rip said "library"). Stopping the task here would
 * stop it inside that call, holding whatever lock it holds; an expiry
 * here is retried instead, like one in library code. (Every instruction
 * after the release is now in the window or the pops, both unwound
 * below to the frame being returned to, whose own rip decides; the
 * section still covers a change that adds one.)
 *
 * Between the release and the pending branch's new in_upcall
 * (kpf_frame_return_window .. _end) such an upcall also overwrites
 * area->frame, which the pending branch is about to hand to
 * kpf_upcall() again. Resumed there, the branch would re-enter with the
 * frame of this very code, whose retry resumes it there again: an upcall
 * loop that never returns to the task. kpf_upcall() therefore takes an
 * interrupted rip in the window as the frame still waiting at rsp
 * (kpf_frame_unwind()). The window holds no instruction that
 * moves rsp.
 *
 * An upcall in the pops after it (kpf_frame_return_pops) is not one in
 * this code: built below the red zone of the pops' rsp, a retry's resume
 * frame would lie up to 264 bytes below this one, and a chain of such
 * coincidences would walk down the task's stack. kpf_upcall() takes it
 * as an upcall at the code the pops resume (the frame at rsp, less what
 * was already popped) and decides as for that code: a retry's frame goes
 * where this one is, and a task whose deadline passed since the upcall
 * that resumed it is preempted there (library code, the call through a
 * dlsym() pointer above, is still told by that rip).
 */
	.section kpf_critical_text, "ax", @progbits
	.globl	kpf_frame_return
	.hidden	kpf_frame_return
	.type	kpf_frame_return, @function
	.p2align 4
kpf_frame_return:
	.cfi_startproc
	movq	%rdi, %r9
	movq	%rdx, %r8
	movq	%rsi, %rcx
	KPF_XRSTOR %rcx
	movq	%r8, %rsp
	xorl	%eax, %eax
	xchgl	%eax, KPF_AREA_IN_UPCALL(%r9)
	.globl	kpf_frame_return_window
	.hidden	kpf_frame_return_window
kpf_frame_return_window:
	cmpl	$0, KPF_AREA_PENDING(%r9)
	je	1f
	movl	$0, KPF_AREA_PENDING(%r9)
	movl	$KPF_UPCALL_ACTIVE, KPF_AREA_IN_UPCALL(%r9)
	.globl	kpf_frame_return_window_end
	.hidden	kpf_frame_return_window_end
kpf_frame_return_window_end:
	movq	%r9, %rdi
	movq	KPF_THREAD_UPCALL_TOP(%r9), %rsp
	jmp	kpf_upcall_entry
1:	KPF_FRAME_POPS kpf_frame_return_pops
	.cfi_endproc
	.size	kpf_frame_return, . - kpf_frame_return

/*
 * The offset of each pop of a resume frame from the first: k at pop k.
 * Both sequences are the same code; the assembler checks that each pop
 * is at the same offset in both.
 */
	.section .rodata
	.globl	kpf_frame_pop_offsets
	.hidden	kpf_frame_pop_offsets
	.type	kpf_frame_pop_offsets, @object
	.p2align 2
kpf_frame_pop_offsets:
	.irp	k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
	.long	.Lkpf_frame_return_pops_\k - kpf_frame_return_pops
	.endr
	.size	kpf_frame_pop_offsets, . - kpf_frame_pop_offsets
	/*
	 * kpf_ctx_load_pops pops at these offsets too. Each pair of .org
	 * moves back, an error, unless the two offsets are equal: GNU as
	 * and LLVM's assembler alike (LLVM's .if cannot fold the
	 * differences, which are only known after layout).
	 */
	.irp	k, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
	.org	. - (.Lkpf_ctx_load_pops_\k - kpf_ctx_load_pops) + \
		(.Lkpf_frame_return_pops_\k - kpf_frame_return_pops)
	.org	. + (.Lkpf_ctx_load_pops_\k - kpf_ctx_load_pops) - \
		(.Lkpf_frame_return_pops_\k - kpf_frame_return_pops)
	.endr
	.text

/*
 * kpf_upcall_entry: where preemption lands, on the upcall stack, with
 * rdi = &self->area and the interrupted GPRs already in area->frame
 * (written by the kernel or by the signal handler). The extended state
 * is still live: save it before any C code can touch a vector register.
 */
	.globl	kpf_upcall_entry
	.hidden	kpf_upcall_entry
	.type	kpf_upcall_entry, @function
	.p2align 4
kpf_upcall_entry:
	.cfi_startproc
	.cfi_undefined rip
	cld
	movq	%rdi, %rbx
	movq	KPF_THREAD_XSAVE(%rdi), %rcx
	KPF_XMASK
	cmpl	$0, kpf_xsave_mode(%rip)
	je	1f
	xsave64	(%rcx)
	jmp	2f
1:	fxsave64 (%rcx)
2:	andq	$-16, %rsp
	xorl	%ebp, %ebp
	movq	%rbx, %rdi
	call	kpf_upcall
	ud2
	.cfi_endproc
	.size	kpf_upcall_entry, . - kpf_upcall_entry

/*
 * kpf_task_trampoline: first code of a new task, "returned to" from a
 * prepared voluntary context with r12 = task and rsp 16-byte aligned.
 */
	.globl	kpf_task_trampoline
	.hidden	kpf_task_trampoline
	.type	kpf_task_trampoline, @function
	.p2align 4
kpf_task_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r12, %rdi
	call	kpf_task_main
	ud2
	.cfi_endproc
	.size	kpf_task_trampoline, . - kpf_task_trampoline

	.section .note.GNU-stack, "", @progbits
