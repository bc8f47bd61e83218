/* SPDX-License-Identifier: MIT */
#ifndef CTNET_CAPS_H
#define CTNET_CAPS_H

#include "err.h"

enum ctnet_cap {
	CTNET_CAP_NET_ADMIN = 1 << 0,
	CTNET_CAP_SYS_ADMIN = 1 << 1, /* setns() into another namespace, mounts for netns */
	CTNET_CAP_DAC_OVERRIDE = 1 << 2,
	CTNET_CAP_CHOWN = 1 << 3,
	CTNET_CAP_SYS_PTRACE = 1 << 4, /* /proc/PID/ns/net of another user's process */
	CTNET_CAP_BPF = 1 << 5,        /* loopback forwards' BPF programs (with CAP_NET_ADMIN) */
};

/*
 * Keeps only the `keep` capabilities (those we have of them) in the effective and
 * permitted sets, clears the inheritable set, and sets PR_SET_NO_NEW_PRIVS. Returns
 * 0 or -errno.
 */
int ctnet_caps_limit(unsigned keep, struct ctnet_err *err);
/*
 * Fails with -EPERM and "WHAT: needs CAP_NET_ADMIN" when one of `need` is not in the
 * effective set.
 */
int ctnet_caps_require(unsigned need, const char *what, struct ctnet_err *err);

#endif
