/* SPDX-License-Identifier: MIT */
/* Shared by up.c and judge.c (not part of the library's interface). */
#ifndef CTNET_LAUNCH_UP_INT_H
#define CTNET_LAUNCH_UP_INT_H

#include "../netd/netd.h"
#include "err.h"
#include "record.h"

/* The namespace a record names, to look at or change the running container. */
int open_record_netns(const struct ct_record *r, struct ctnet_err *err);
/* netd's view of a recorded container (spec fields from want, allocation from r). */
/* The bridge a spec with a bridge gateway names, made (or its address and state put back). */
int ct_bridge_ensure(struct ctnet_kern *kern, const struct ct_spec *spec, struct ctnet_err *err);
struct netd_spec link_spec(const struct ct_spec *want, const struct ct_record *r, int nsfd);
/*
 * A host port held by another container: say who that is as the user knows it (the
 * runtime's id, its origin) and, when it is not running, how to free the port.
 */
void explain_port_clash(struct ctnet_kern *kern, const struct ct_spec *spec, struct ctnet_err *err);

#endif
