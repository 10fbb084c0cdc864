/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Structure offsets shared by the assembly in switch_x86_64.S and the C
 * code. internal.h checks every one of them with _Static_assert, so a
 * layout change that forgets the assembly does not compile.
 */
#ifndef KPF_OFFSETS_H
#define KPF_OFFSETS_H

/* struct kpf_exec_ctx */
#define KPF_CTX_RSP		0
#define KPF_CTX_KIND		8
#define KPF_CTX_XSAVE		16

/* kpf_exec_ctx.kind */
#define KPF_CTX_VOLUNTARY	0	/* callee-saved regs on its stack */
#define KPF_CTX_FULL		1	/* full frame + xsave image */

/* struct kpf_area (uapi) */
#define KPF_AREA_PENDING	36
#define KPF_AREA_IN_UPCALL	40

/* struct kpf_thread */
#define KPF_THREAD_XSAVE	320
#define KPF_THREAD_UPCALL_TOP	328
#define KPF_THREAD_BUSY		336
#define KPF_THREAD_MARK		360
#define KPF_THREAD_MARK_RET	368
#define KPF_THREAD_DEFER_WANT	376
#define KPF_THREAD_RUN_LO	384
#define KPF_THREAD_RUN_HI	392

/* Bytes of the frame that resumes a full context: 15 GPRs, rflags, rip. */
#define KPF_RESUME_FRAME	(17 * 8)
/* The x86-64 red zone below rsp that the interrupted code may be using. */
#define KPF_RED_ZONE		128

#endif /* KPF_OFFSETS_H */
