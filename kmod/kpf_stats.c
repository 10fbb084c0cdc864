// SPDX-License-Identifier: GPL-2.0
/*
 * kpf counters: module-wide totals under /sys/class/misc/kpf/.
 *
 * The hot paths (hardirq and task_work) only bump a per-CPU counter; a
 * sysfs read sums them. A read racing with an increment may miss it, which
 * is fine for statistics. The per-thread counters that tests rely on are
 * in each thread's struct kpf_area.
 */
#include <linux/device.h>
#include <linux/percpu.h>

#include "kpf_internal.h"

DEFINE_PER_CPU(struct kpf_stats, kpf_stats);

static u64 kpf_stat_sum(enum kpf_stat stat)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(kpf_stats, cpu).count[stat];
	return sum;
}

#define KPF_STAT_ATTR(name, stat)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%llu\n", kpf_stat_sum(stat));		\
}									\
static DEVICE_ATTR_RO(name)

KPF_STAT_ATTR(fires, KPF_STAT_FIRES);
KPF_STAT_ATTR(delivered, KPF_STAT_DELIVERED);
KPF_STAT_ATTR(delivered_irq, KPF_STAT_DELIVERED_IRQ);
KPF_STAT_ATTR(deferred, KPF_STAT_DEFERRED);
KPF_STAT_ATTR(overruns, KPF_STAT_OVERRUNS);
KPF_STAT_ATTR(rearms, KPF_STAT_REARMS);
KPF_STAT_ATTR(dropped, KPF_STAT_DROPPED);
KPF_STAT_ATTR(lingers, KPF_STAT_LINGERS);

static ssize_t contexts_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", kpf_registered_contexts());
}
static DEVICE_ATTR_RO(contexts);

static struct attribute *kpf_stat_attrs[] = {
	&dev_attr_contexts.attr,
	&dev_attr_fires.attr,
	&dev_attr_delivered.attr,
	&dev_attr_delivered_irq.attr,
	&dev_attr_deferred.attr,
	&dev_attr_overruns.attr,
	&dev_attr_rearms.attr,
	&dev_attr_dropped.attr,
	&dev_attr_lingers.attr,
	NULL,
};

static const struct attribute_group kpf_stat_group = {
	.attrs = kpf_stat_attrs,
};

const struct attribute_group *kpf_stat_groups[] = {
	&kpf_stat_group,
	NULL,
};
