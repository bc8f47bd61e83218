/* SPDX-License-Identifier: MIT */
#include "caps.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#ifndef CAP_BPF
#define CAP_BPF 39 /* Linux 5.8; older kernels want CAP_SYS_ADMIN for BPF instead */
#endif

static const struct {
	unsigned bit;
	cap_value_t cap;
	const char *name;
} cap_table[] = {
	{ CTNET_CAP_NET_ADMIN, CAP_NET_ADMIN, "CAP_NET_ADMIN" },
	{ CTNET_CAP_SYS_ADMIN, CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
	{ CTNET_CAP_DAC_OVERRIDE, CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE" },
	{ CTNET_CAP_CHOWN, CAP_CHOWN, "CAP_CHOWN" },
	{ CTNET_CAP_SYS_PTRACE, CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },
	{ CTNET_CAP_BPF, CAP_BPF, "CAP_BPF" },
};

int ctnet_caps_limit(unsigned keep, struct ctnet_err *err)
{
	cap_t cur = cap_get_proc(), want = cap_init();
	int r = 0;

	if (!cur || !want) {
		r = ctnet_err_sys(err, errno ? errno : ENOMEM, "read capabilities");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cap_table); i++) {
		cap_flag_value_t have = CAP_CLEAR;
		if (!(keep & cap_table[i].bit))
			continue;
		if (cap_get_flag(cur, cap_table[i].cap, CAP_PERMITTED, &have) < 0 || have != CAP_SET)
			continue;
		cap_value_t v = cap_table[i].cap;
		cap_set_flag(want, CAP_PERMITTED, 1, &v, CAP_SET);
		cap_get_flag(cur, v, CAP_EFFECTIVE, &have);
		if (have == CAP_SET)
			cap_set_flag(want, CAP_EFFECTIVE, 1, &v, CAP_SET);
	}
	if (cap_set_proc(want) < 0) {
		r = ctnet_err_sys(err, errno, "drop capabilities");
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = ctnet_err_sys(err, errno, "set no_new_privs");
out:
	if (cur)
		cap_free(cur);
	if (want)
		cap_free(want);
	return r;
}

int ctnet_caps_require(unsigned need, const char *what, struct ctnet_err *err)
{
	cap_t cur = cap_get_proc();
	int r = 0;

	if (!cur)
		return ctnet_err_sys(err, errno ? errno : ENOMEM, "read capabilities");
	for (size_t i = 0; i < ARRAY_SIZE(cap_table); i++) {
		cap_flag_value_t have = CAP_CLEAR;
		if (!(need & cap_table[i].bit))
			continue;
		if (cap_get_flag(cur, cap_table[i].cap, CAP_EFFECTIVE, &have) < 0 || have != CAP_SET) {
			r = ctnet_errf(err, EPERM, "%s: needs %s (run as root or grant it with setcap/capsh)",
				       what, cap_table[i].name);
			break;
		}
	}
	cap_free(cur);
	return r;
}
