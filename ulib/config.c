// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Configuration and initialization: kpf_init(), the backend choice and
 * the environment overrides (KPF_BACKEND, KPF_SIGNAL).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "libset/defer_auto.h"

#define KPF_DEFAULT_STACK	(2u << 20)
#define KPF_DEFAULT_RETRY_NS	20000
#define KPF_DEFAULT_POOL_MAX	64
#define KPF_MIN_STACK		(16u << 10)

struct kpf_globals kpf_g;

static pthread_mutex_t kpf_init_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Weak: a static program links libset.c (and the loader) only if it calls
 * kpf_libset_declare() itself; KPF_LIBSETS needs a dynamic program.
 */
#pragma weak kpf_libset_env_init

static int kpf_env_backend(int backend, int *forced)
{
	const char *env = getenv("KPF_BACKEND");

	if (!env || !*env)
		return backend;
	if (!strcmp(env, "kmod")) {
		*forced = 1;
		return KPF_BACKEND_KMOD;
	}
	if (!strcmp(env, "signal"))
		return KPF_BACKEND_SIGNAL;
	if (!strcmp(env, "auto"))
		return KPF_BACKEND_AUTO;
	fprintf(stderr, "kpf: ignoring KPF_BACKEND=%s (kmod, signal or auto)\n",
		env);
	return backend;
}

/* KPF_SIGNAL: a real-time signal number; 0 = let the backend pick one */
static int kpf_env_signal(int *signo)
{
	const char *env = getenv("KPF_SIGNAL");
	char *end;
	long v;

	if (!env || !*env)
		return 0;
	errno = 0;
	v = strtol(env, &end, 10);
	if (*end || errno || v < SIGRTMIN || v > SIGRTMAX) {
		fprintf(stderr,
			"kpf: KPF_SIGNAL=%s is not a real-time signal number (%d..%d); unset it to let libkpf pick a free one\n",
			env, SIGRTMIN, SIGRTMAX);
		return -EINVAL;
	}
	*signo = (int)v;
	return 0;
}

static int kpf_init_locked(const struct kpf_config *cfg)
{
	struct kpf_config c;
	int forced = 0, err;

	memset(&c, 0, sizeof(c));
	if (cfg) {
		size_t n = cfg->size ? cfg->size : sizeof(c);

		if (n < offsetof(struct kpf_config, flags) + sizeof(c.flags))
			return -EINVAL;
		memcpy(&c, cfg, n < sizeof(c) ? n : sizeof(c));
	}
	if ((c.flags & ~KPF_CONFIG_NO_DEFER_AUTO) || c.backend < KPF_BACKEND_AUTO ||
	    c.backend > KPF_BACKEND_SIGNAL)
		return -EINVAL;
	if (c.backend == KPF_BACKEND_KMOD)
		forced = 1;
	c.backend = kpf_env_backend(c.backend, &forced);
	err = kpf_env_signal(&c.signal);
	if (err)
		return err;
	if (c.signal && (c.signal < SIGRTMIN || c.signal > SIGRTMAX)) {
		fprintf(stderr,
			"kpf: kpf_config.signal %d is not a real-time signal (%d..%d; 0 picks a free one)\n",
			c.signal, SIGRTMIN, SIGRTMAX);
		return -EINVAL;
	}
	if (!c.stack_size)
		c.stack_size = KPF_DEFAULT_STACK;
	if (c.stack_size < KPF_MIN_STACK || c.stack_size > (1ull << 36))
		return -EINVAL;

	/* first: a bad KPF_LIBSETS fails before anything is set up */
	if (kpf_libset_env_init) {
		err = kpf_libset_env_init();
		if (err)
			return err;
	}

	kpf_g.stack_size = (c.stack_size + 4095) & ~(size_t)4095;
	kpf_g.signo = c.signal;
	kpf_g.retry_ns = c.retry_ns ? c.retry_ns : KPF_DEFAULT_RETRY_NS;
	kpf_g.pool_max = c.pool_max ? c.pool_max : KPF_DEFAULT_POOL_MAX;
	kpf_xstate_init();
	kpf_clock_init();

	if (c.backend == KPF_BACKEND_AUTO || c.backend == KPF_BACKEND_KMOD) {
		err = kpf_kmod_process_init(forced);
		if (!err)
			c.backend = KPF_BACKEND_KMOD;
		else if (forced)
			return err;
		else
			c.backend = KPF_BACKEND_SIGNAL;
	}
	kpf_g.backend = c.backend;
	if (c.backend == KPF_BACKEND_SIGNAL) {
		err = kpf_signal_process_init();
		if (err)
			return err;
	}
	err = kpf_fault_init();
	if (err)
		return err;
	err = kpf_thread_init_process();
	if (err)
		return err;
	err = kpf_defer_auto_init(c.flags);
	if (err)
		return err;
	__atomic_store_n(&kpf_g.initialized, 1, __ATOMIC_RELEASE);
	return 0;
}

/**
 * kpf_init() - set the configuration and backend; see <kpf.h>
 */
KPF_EXPORT int kpf_init(const struct kpf_config *cfg)
{
	int err = 0;

	if (__atomic_load_n(&kpf_g.initialized, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&kpf_init_lock);
	if (!kpf_g.initialized)
		err = kpf_init_locked(cfg);
	pthread_mutex_unlock(&kpf_init_lock);
	return err;
}

/**
 * kpf_ensure_init() - initialize with the defaults unless done already
 *
 * Return: 0 or the -errno of kpf_init().
 */
int kpf_ensure_init(void)
{
	if (__builtin_expect(__atomic_load_n(&kpf_g.initialized,
					     __ATOMIC_ACQUIRE), 1))
		return 0;
	return kpf_init(NULL);
}

/**
 * kpf_backend() - "kmod" or "signal"; see <kpf.h>
 */
KPF_EXPORT const char *kpf_backend(void)
{
	if (kpf_ensure_init())
		return "none";
	return kpf_g.backend == KPF_BACKEND_KMOD ? "kmod" : "signal";
}
