/* SPDX-License-Identifier: MIT */
/* Named and anonymous network namespaces (netns.c). */
#ifndef CTNET_LAUNCH_NETNS_H
#define CTNET_LAUNCH_NETNS_H

#include "err.h"

/* Makes /run/netns/NAME (the `ip netns add` way); -EEXIST when it exists. */
int netns_create_named(const char *name, struct ctnet_err *err);
int netns_remove_named(const char *name, struct ctnet_err *err);
/* A fresh anonymous network namespace, returned as an fd; we stay where we are. */
int netns_new_anon(struct ctnet_err *err);
int netns_identity(int fd, unsigned long long *dev, unsigned long long *ino,
		   struct ctnet_err *err);
const char *netns_run_dir(void);

#endif
