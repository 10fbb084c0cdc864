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
 * A preemption that lands in the middle of the pops is itself correct:
 * the rest of the frame is above the new rsp, out of the way of the next
 * resume frame.
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
	KPF_FRAME_POP
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
 * here is retried instead, like one in library code.
 *
 * Between the release and the pending branch's new in_upcall
 * (kpf_frame_return_window .. _end) such an upcall also overwrites
 * area->frame, which the pending branch is about to hand to
 * kpf_upcall() again. Resumed there, the branch would re-enter with the
 * frame of this very code, whose retry resumes it there again: an upcall
 * loop that never returns to the task. kpf_upcall() therefore takes an
 * interrupted rip in the window as the frame still waiting at rsp
 * (kpf_frame_return_unwind()). The window holds no instruction that
 * moves rsp.
 *
 * An upcall in the pops after it (label 1) is retried like any other
 * here; built below the red zone of the pops' rsp, its resume frame would
 * lie up to 264 bytes below this one, and a chain of such coincidences
 * would walk down the task's stack. kpf_upcall() takes those too as the
 * frame at rsp, less what was already popped: kpf_frame_return_pops
 * holds each pop's offset in this function (the 17 entries of a resume
 * frame, in its order), so the retry's frame goes where this one is.
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
1:					/* KPF_FRAME_POP, each insn labelled */
.Lfr_pop0:	popq	%r15
.Lfr_pop1:	popq	%r14
.Lfr_pop2:	popq	%r13
.Lfr_pop3:	popq	%r12
.Lfr_pop4:	popq	%rbp
.Lfr_pop5:	popq	%rbx
.Lfr_pop6:	popq	%r11
.Lfr_pop7:	popq	%r10
.Lfr_pop8:	popq	%r9
.Lfr_pop9:	popq	%r8
.Lfr_pop10:	popq	%rax
.Lfr_pop11:	popq	%rcx
.Lfr_pop12:	popq	%rdx
.Lfr_pop13:	popq	%rsi
.Lfr_pop14:	popq	%rdi
.Lfr_pop15:	popfq
.Lfr_pop16:	ret	$KPF_RED_ZONE
	.cfi_endproc
	.size	kpf_frame_return, . - kpf_frame_return

	.section .rodata
	.globl	kpf_frame_return_pops
	.hidden	kpf_frame_return_pops
	.type	kpf_frame_return_pops, @object
	.p2align 2
kpf_frame_return_pops:
	.long	.Lfr_pop0 - kpf_frame_return
	.long	.Lfr_pop1 - kpf_frame_return
	.long	.Lfr_pop2 - kpf_frame_return
	.long	.Lfr_pop3 - kpf_frame_return
	.long	.Lfr_pop4 - kpf_frame_return
	.long	.Lfr_pop5 - kpf_frame_return
	.long	.Lfr_pop6 - kpf_frame_return
	.long	.Lfr_pop7 - kpf_frame_return
	.long	.Lfr_pop8 - kpf_frame_return
	.long	.Lfr_pop9 - kpf_frame_return
	.long	.Lfr_pop10 - kpf_frame_return
	.long	.Lfr_pop11 - kpf_frame_return
	.long	.Lfr_pop12 - kpf_frame_return
	.long	.Lfr_pop13 - kpf_frame_return
	.long	.Lfr_pop14 - kpf_frame_return
	.long	.Lfr_pop15 - kpf_frame_return
	.long	.Lfr_pop16 - kpf_frame_return
	.size	kpf_frame_return_pops, . - kpf_frame_return_pops
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
