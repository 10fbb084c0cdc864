// SPDX-License-Identifier: GPL-2.0
/*
 * kpf limits: what an unprivileged thread may ask of the module.
 *
 * /dev/kpf is open to everyone (mode 0666), so two things are bounded:
 *  - interrupt rate: a period or one-shot distance below min_period_ns
 *    (min_period_cap_ns with CAP_SYS_NICE) is refused or clamped;
 *  - pinned memory: each registration pins one page; a user may hold at
 *    most max_contexts_per_user registrations (more with
 *    CAP_SYS_RESOURCE).
 * All three are module parameters, writable by root at run time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "kpf_internal.h"

/* No setting may go below this: a timer faster than this is a storm. */
#define KPF_PERIOD_FLOOR_NS	100

static int kpf_param_set_period(const char *val, const struct kernel_param *kp)
{
	u64 ns;
	int ret;

	ret = kstrtou64(val, 0, &ns);
	if (ret)
		return ret;
	if (ns < KPF_PERIOD_FLOOR_NS || ns > NSEC_PER_SEC)
		return -EINVAL;
	*(u64 *)kp->arg = ns;
	return 0;
}

static const struct kernel_param_ops kpf_period_ops = {
	.set = kpf_param_set_period,
	.get = param_get_ullong,
};

static u64 min_period_ns = 2000;
module_param_cb(min_period_ns, &kpf_period_ops, &min_period_ns, 0644);
MODULE_PARM_DESC(min_period_ns,
		 "Shortest period and one-shot distance without CAP_SYS_NICE (ns, default 2000)");

static u64 min_period_cap_ns = 200;
module_param_cb(min_period_cap_ns, &kpf_period_ops, &min_period_cap_ns, 0644);
MODULE_PARM_DESC(min_period_cap_ns,
		 "Shortest period and one-shot distance with CAP_SYS_NICE (ns, default 200)");

static unsigned int max_contexts_per_user = 4096;
module_param(max_contexts_per_user, uint, 0644);
MODULE_PARM_DESC(max_contexts_per_user,
		 "Registered contexts per user without CAP_SYS_RESOURCE (default 4096)");

/**
 * kpf_sys_nice() - may the calling task use the privileged minimum period?
 *
 * Evaluated once per registration (and per KPF_IOC_INFO), without an audit
 * record: it only selects a limit, and ARM is a hot path that must neither
 * ask the LSMs every time nor fill the audit log.
 *
 * Return: true with CAP_SYS_NICE in the initial user namespace.
 */
bool kpf_sys_nice(void)
{
	return ns_capable_noaudit(&init_user_ns, CAP_SYS_NICE);
}

/**
 * kpf_min_period_ns() - shortest period and one-shot distance
 * @sys_nice:	the caller had CAP_SYS_NICE (kpf_sys_nice()).
 *
 * Return: min_period_cap_ns with @sys_nice, else the larger of the two
 * parameters (so lowering only the privileged one never helps the
 * unprivileged).
 */
u64 kpf_min_period_ns(bool sys_nice)
{
	u64 cap = READ_ONCE(min_period_cap_ns);

	if (sys_nice)
		return cap;
	return max(READ_ONCE(min_period_ns), cap);
}

/**
 * kpf_max_contexts() - registrations allowed per user
 *
 * Return: the max_contexts_per_user parameter.
 */
unsigned int kpf_max_contexts(void)
{
	return READ_ONCE(max_contexts_per_user);
}

/* Registered contexts of one user; lives while @count > 0. */
struct kpf_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int count;
};

static DEFINE_HASHTABLE(kpf_users, 6);
static DEFINE_MUTEX(kpf_users_lock);
static int kpf_registered;

static struct kpf_user *kpf_user_find(kuid_t uid)
{
	struct kpf_user *user;

	hash_for_each_possible(kpf_users, user, node, __kuid_val(uid))
		if (uid_eq(user->uid, uid))
			return user;
	return NULL;
}

/**
 * kpf_user_charge() - account one more registration to the current user
 * @userp:	set to the accounting entry to pass to kpf_user_uncharge().
 *
 * Return: 0, -EAGAIN when the user is at max_contexts_per_user and lacks
 * CAP_SYS_RESOURCE, or -ENOMEM.
 */
int kpf_user_charge(struct kpf_user **userp)
{
	kuid_t uid = current_uid();
	struct kpf_user *user;
	int ret = 0;

	mutex_lock(&kpf_users_lock);
	user = kpf_user_find(uid);
	if (!user) {
		user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
		if (!user) {
			ret = -ENOMEM;
			goto out;
		}
		user->uid = uid;
		hash_add(kpf_users, &user->node, __kuid_val(uid));
	}
	if (user->count >= kpf_max_contexts() &&
	    !capable(CAP_SYS_RESOURCE)) {
		pr_info_ratelimited("uid %u reached max_contexts_per_user (%u)\n",
				    from_kuid(&init_user_ns, uid),
				    kpf_max_contexts());
		ret = -EAGAIN;
		if (!user->count) {
			hash_del(&user->node);
			kfree(user);
		}
		goto out;
	}
	user->count++;
	kpf_registered++;
	*userp = user;
out:
	mutex_unlock(&kpf_users_lock);
	return ret;
}

/**
 * kpf_user_uncharge() - drop a registration charged by kpf_user_charge()
 * @user:	the entry kpf_user_charge() returned.
 */
void kpf_user_uncharge(struct kpf_user *user)
{
	mutex_lock(&kpf_users_lock);
	kpf_registered--;
	if (!--user->count) {
		hash_del(&user->node);
		kfree(user);
	}
	mutex_unlock(&kpf_users_lock);
}

/**
 * kpf_registered_contexts() - registered contexts of all users
 *
 * Return: the number of contexts bound to a thread right now.
 */
int kpf_registered_contexts(void)
{
	return READ_ONCE(kpf_registered);
}
