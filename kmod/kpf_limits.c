// SPDX-License-Identifier: GPL-2.0
/*
 * kpf limits: what an unprivileged thread may ask of the module.
 *
 * /dev/kpf is open to everyone (mode 0666), so two things are bounded:
 *  - interrupt rate: a period or one-shot distance below min_period_ns
 *    (min_period_cap_ns with CAP_SYS_NICE) is refused or clamped;
 *  - pinned memory: each registration pins one page; a user may hold at
 *    most max_contexts_per_user registrations (more with
 *    CAP_SYS_RESOURCE), counted like the kernel's ucounts: per user in
 *    each user namespace and, for the uids of a namespace, together with
 *    the owner of every namespace above it.
 * All three are module parameters, writable by root at run time.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

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

/* Not static: kpf_min_period_ns() reads them inline on every ARM. */
u64 kpf_min_period_param_ns = 2000;
module_param_cb(min_period_ns, &kpf_period_ops, &kpf_min_period_param_ns, 0644);
MODULE_PARM_DESC(min_period_ns,
		 "Shortest period and one-shot distance without CAP_SYS_NICE (ns, default 2000)");

u64 kpf_min_period_cap_param_ns = 200;
module_param_cb(min_period_cap_ns, &kpf_period_ops,
		&kpf_min_period_cap_param_ns, 0644);
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
 * kpf_max_contexts() - registrations allowed per user
 *
 * Return: the max_contexts_per_user parameter.
 */
unsigned int kpf_max_contexts(void)
{
	return READ_ONCE(max_contexts_per_user);
}

/*
 * Registered contexts of one user in one user namespace, the module's own
 * ucounts (kernel/ucount.c): a module cannot add a UCOUNT_* type, and
 * inc_ucount() is not exported. As there, a registration is charged to
 * the caller's (user namespace, uid) and to the owner of every ancestor
 * namespace up to the initial one, and each level must stay within
 * max_contexts_per_user. So the uids of a namespace, however many its
 * creator mapped (a subordinate uid range), share their creator's quota.
 *
 * @parent is the next level, (ns->parent, ns->owner), or NULL at the
 * initial namespace. Every charge goes through the whole chain, so a
 * level's count is at least any of its children's: an entry lives while
 * its count is above 0, and its parent outlives it. All under
 * kpf_users_lock.
 */
struct kpf_user {
	struct hlist_node node;
	struct user_namespace *ns;
	kuid_t uid;
	unsigned int count;
	struct kpf_user *parent;
};

static DEFINE_HASHTABLE(kpf_users, 6);
static DEFINE_MUTEX(kpf_users_lock);
static int kpf_registered;

static unsigned long kpf_user_key(const struct user_namespace *ns, kuid_t uid)
{
	return (unsigned long)ns ^ __kuid_val(uid);
}

static struct kpf_user *kpf_user_find(const struct user_namespace *ns,
				      kuid_t uid)
{
	struct kpf_user *user;

	hash_for_each_possible(kpf_users, user, node, kpf_user_key(ns, uid))
		if (user->ns == ns && uid_eq(user->uid, uid))
			return user;
	return NULL;
}

/*
 * A new level with no charge yet. It holds a reference on its namespace:
 * the key must not be reused by another namespace while it is counted,
 * even if the owner moves to another namespace (setns, unshare).
 */
static struct kpf_user *kpf_user_new(struct user_namespace *ns, kuid_t uid)
{
	struct kpf_user *user;

	user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
	if (!user)
		return NULL;
	user->ns = get_user_ns(ns);
	user->uid = uid;
	hash_add(kpf_users, &user->node, kpf_user_key(ns, uid));
	return user;
}

/* Free the levels from @user up that hold no charge (a prefix of the chain). */
static void kpf_user_prune(struct kpf_user *user)
{
	struct kpf_user *parent;

	while (user && !user->count) {
		parent = user->parent;
		hash_del(&user->node);
		put_user_ns(user->ns);
		kfree(user);
		user = parent;
	}
}

/*
 * The chain of levels of @uid in @ns, created where missing. It stops at
 * the first level that exists (its ancestors exist too) or at the initial
 * namespace. On -ENOMEM, @bottom still leads to what was created, for
 * kpf_user_prune().
 */
static int kpf_user_chain(struct user_namespace *ns, kuid_t uid,
			  struct kpf_user **bottom)
{
	struct kpf_user **link = bottom;
	struct kpf_user *user;

	*bottom = NULL;
	for (;;) {
		user = kpf_user_find(ns, uid);
		if (user) {
			*link = user;
			return 0;
		}
		user = kpf_user_new(ns, uid);
		if (!user)
			return -ENOMEM;
		*link = user;
		if (!ns->parent)
			return 0;
		link = &user->parent;
		uid = ns->owner;
		ns = ns->parent;
	}
}

/**
 * kpf_user_charge() - account one more registration to the current user
 * @userp:	set to the accounting entry to pass to kpf_user_uncharge().
 *
 * Charges the caller's real uid in its user namespace and the owner of
 * each ancestor namespace, as inc_ucount() does.
 *
 * Return: 0, -EAGAIN when a level is at max_contexts_per_user and the
 * caller lacks CAP_SYS_RESOURCE (in the initial namespace), or -ENOMEM.
 */
int kpf_user_charge(struct kpf_user **userp)
{
	unsigned int max = kpf_max_contexts();
	struct kpf_user *bottom, *iter;
	bool full = false;
	int ret;

	mutex_lock(&kpf_users_lock);
	ret = kpf_user_chain(current_user_ns(), current_uid(), &bottom);
	if (ret)
		goto fail;
	for (iter = bottom; iter; iter = iter->parent)
		full |= iter->count >= max;
	if (full && !capable(CAP_SYS_RESOURCE)) {
		pr_info_ratelimited("uid %u reached max_contexts_per_user (%u)\n",
				    from_kuid(&init_user_ns, current_uid()),
				    max);
		ret = -EAGAIN;
		goto fail;
	}
	for (iter = bottom; iter; iter = iter->parent)
		iter->count++;
	kpf_registered++;
	*userp = bottom;
	mutex_unlock(&kpf_users_lock);
	return 0;
fail:
	kpf_user_prune(bottom);
	mutex_unlock(&kpf_users_lock);
	return ret;
}

/**
 * kpf_user_uncharge() - drop a registration charged by kpf_user_charge()
 * @user:	the entry kpf_user_charge() returned.
 */
void kpf_user_uncharge(struct kpf_user *user)
{
	struct kpf_user *iter;

	mutex_lock(&kpf_users_lock);
	kpf_registered--;
	for (iter = user; iter; iter = iter->parent)
		iter->count--;
	kpf_user_prune(user);
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
