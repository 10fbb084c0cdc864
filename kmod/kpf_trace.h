/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpf tracepoints: every arm, expiry, deferral and delivery, so that
 * perf and trace-cmd can follow an upcall from the timer to user mode.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kpf

#if !defined(KPF_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KPF_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(kpf_arm,
	    TP_PROTO(pid_t pid, u64 expiry_ns, u64 period_ns),
	    TP_ARGS(pid, expiry_ns, period_ns),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(u64, expiry_ns)
			     __field(u64, period_ns)),
	    TP_fast_assign(__entry->pid = pid;
			   __entry->expiry_ns = expiry_ns;
			   __entry->period_ns = period_ns;),
	    TP_printk("pid=%d expiry=%llu period=%llu", __entry->pid,
		      __entry->expiry_ns, __entry->period_ns)
);

TRACE_EVENT(kpf_fire,
	    TP_PROTO(pid_t pid, u64 expiry_ns, u64 now_ns),
	    TP_ARGS(pid, expiry_ns, now_ns),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(u64, expiry_ns)
			     __field(u64, now_ns)),
	    TP_fast_assign(__entry->pid = pid;
			   __entry->expiry_ns = expiry_ns;
			   __entry->now_ns = now_ns;),
	    TP_printk("pid=%d expiry=%llu late=%lluns", __entry->pid,
		      __entry->expiry_ns, __entry->now_ns - __entry->expiry_ns)
);

TRACE_EVENT(kpf_defer,
	    TP_PROTO(pid_t pid, u32 defer, u32 in_upcall),
	    TP_ARGS(pid, defer, in_upcall),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(u32, defer)
			     __field(u32, in_upcall)),
	    TP_fast_assign(__entry->pid = pid;
			   __entry->defer = defer;
			   __entry->in_upcall = in_upcall;),
	    TP_printk("pid=%d defer=%u in_upcall=%u", __entry->pid,
		      __entry->defer, __entry->in_upcall)
);

TRACE_EVENT(kpf_deliver,
	    TP_PROTO(pid_t pid, u64 ip, u64 expiry_ns, u64 now_ns),
	    TP_ARGS(pid, ip, expiry_ns, now_ns),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(u64, ip)
			     __field(u64, expiry_ns)
			     __field(u64, now_ns)),
	    TP_fast_assign(__entry->pid = pid;
			   __entry->ip = ip;
			   __entry->expiry_ns = expiry_ns;
			   __entry->now_ns = now_ns;),
	    TP_printk("pid=%d ip=0x%llx latency=%lluns", __entry->pid,
		      __entry->ip, __entry->now_ns - __entry->expiry_ns)
);

#endif /* KPF_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kpf_trace
#include <trace/define_trace.h>
