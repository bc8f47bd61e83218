/* SPDX-License-Identifier: MIT */
/* ctnet-nat's program files (main.c, main_host.c): not part of the library. */
#ifndef CTNET_NAT_MAIN_INT_H
#define CTNET_NAT_MAIN_INT_H

#include <stdbool.h>

#include "hostconf.h"
#include "nat.h"

/* h (init's options) completed from the host config hc (hc_ext: its interface names'
 * pointers): the file's key where no option names it; an option that differs from the
 * file's key is refused (-EINVAL naming the file). has_cluster, no_cluster: which cluster
 * option was given. */
int init_host(const struct ctnet_hostconf *hc, struct nat_host *h, const char **hc_ext, bool has_cluster,
	      bool no_cluster, struct ctnet_err *err);
/* restore: the host config's keys recorded (nat_set_host), then nat_restore. */
int host_restore(struct ctnet_kern *kern, struct ctnet_err *err);

#endif
